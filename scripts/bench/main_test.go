package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthsim/healthsim-go/internal/cli"
)

func TestMain(m *testing.M) {
	if ok, err := runRole(); ok { // this test binary, run again as a serving process or a probe
		if err != nil {
			os.Stderr.WriteString("bench role: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestRun runs the whole comparison on a 1 MB file with short phases.
func TestRun(t *testing.T) {
	dir, out := t.TempDir(), t.TempDir()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--dir", dir, "--out", out, "--sizes", "1",
		"--readers", "1,2", "--duration", "300ms", "--trickle", "50ms", "--idle", "2500ms"}, &stdout, &stderr)
	t.Log(stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range strategyLabels {
		if !strings.Contains(string(md), " on disk) | "+label+" |") {
			t.Errorf("results.md has no row for %s:\n%s", label, md)
		}
	}
	png, err := os.ReadFile(filepath.Join(out, "chart.png"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10_000 {
		t.Errorf("chart.png is not a PNG with a chart in it (%d bytes)", len(png))
	}
	js, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var results []result
	if err := json.Unmarshal(js, &results); err != nil {
		t.Fatal(err)
	}
	by := map[string]result{}
	for _, r := range results {
		by[r.Strategy] = r
		if len(r.Reads) != 2 || r.Reads[0].PerSec <= 0 || r.Reads[1].PerSec <= 0 || r.Writes == 0 || r.PeakRSSMB <= 0 {
			t.Errorf("%s: reads, writes or RSS missing: %+v", r.Strategy, r)
		}
	}
	if len(by) != len(strategies) {
		t.Fatalf("got %d strategies, want %d", len(by), len(strategies))
	}
	// The point of dbx: strategy 1 never lets another process write;
	// dbx does, soon after its last read.
	if r := by["persistent-rw"]; r.RWTrickle != 0 || r.RWIdle != 0 || r.RWAfter >= 0 {
		t.Errorf("persistent read-write: others opened it read-write: %+v", r)
	}
	if r := by["dbx"]; r.Availability <= 0 || r.RWAfter < 0 || r.ROTrickle == 0 {
		t.Errorf("dbx: not available to others: %+v", r)
	}
	if r := by["ro-close-before-write"]; r.RWIdle != 0 || r.ROTrickle == 0 {
		t.Errorf("read-only, closed for writes: want others reading but never writing: %+v", r)
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--sizes", "x"}, {"--strategies", "nope"}, {"--duration", "0s"}, {"extra"}} {
		var stderr bytes.Buffer
		if err := run(context.Background(), args, &bytes.Buffer{}, &stderr); !errors.Is(err, cli.ErrUsage) {
			t.Errorf("%v: %v, want usage error", args, err)
		}
	}
}
