package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/internal/benchsupport/latency"
	"github.com/healthsim/healthsim-go/internal/cli"
)

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// healthsimBinary builds cmd/healthsim once for the package's tests (without
// the race detector: the servers are the system under test, the race
// detector would only slow them down).
func healthsimBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "healthsim-stress-test-")
		if buildErr == nil {
			binPath, buildErr = buildHealthsim(context.Background(), binDir)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// TestThreeServers is the run the package documentation shows: three
// servers on one file, each client reading without pause and saving every
// 100 ms, for 20 s.
// Every save lands and nobody sees a lock error (or any other error).
func TestThreeServers(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s of load")
	}
	cfg := config{
		processes: 3, duration: 20 * time.Second, saveEvery: 100 * time.Millisecond, entities: 20,
		db: filepath.Join(t.TempDir(), "three.duckdb"), binary: healthsimBinary(t),
		busyTimeout: 5 * time.Second, queryTimeout: 5 * time.Second,
	}
	var progress bytes.Buffer
	sum, err := runLoad(context.Background(), cfg, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	var out bytes.Buffer
	sum.print(&out)
	t.Logf("summary:\n%s", out.String())

	st := sum.st
	saves, reads := st.saveTimes, st.readTimes
	t.Logf("save latency over %d saves: p50 %s, p99 %s, max %s; %d reads (%.0f/s), read latency p50 %s, p99 %s, max %s",
		len(saves), latency.Percentile(saves, 50), latency.Percentile(saves, 99), latency.Percentile(saves, 100),
		len(reads), float64(len(reads))/sum.elapsed.Seconds(), latency.Percentile(reads, 50), latency.Percentile(reads, 99), latency.Percentile(reads, 100))
	if n := st.errs[errLock]; n != 0 {
		t.Errorf("%d lock errors, e.g. %s", n, st.examples[errLock])
	}
	if n := sum.errors(); n != 0 {
		t.Errorf("%d failed calls (see the summary)", n)
	}
	if len(st.acked) != len(st.sent) {
		t.Errorf("%d saves sent, %d acknowledged", len(st.sent), len(st.acked))
	}
	if sum.found != len(st.sent) || sum.whole != sum.found {
		t.Errorf("the file holds %d of this run's scenarios (%d whole); %d were sent", sum.found, sum.whole, len(st.sent))
	}
	if len(sum.lost) > 0 || len(sum.torn) > 0 || len(sum.unexpected) > 0 {
		t.Errorf("lost %v, incomplete %v, unexpected %v", sum.lost, sum.torn, sum.unexpected)
	}
	if len(sum.serverErrs) > 0 {
		t.Errorf("servers: %v", sum.serverErrs)
	}
	for _, op := range []string{opList, opQuery, opSummary, opSave} {
		if st.calls[op] == 0 {
			t.Errorf("no %s calls", op)
		}
	}
	if !sum.ok() {
		t.Errorf("summary says FAILED")
	}
}

// TestRun runs the command itself briefly: the summary, exit status 0,
// and the temporary database removed afterwards.
func TestRun(t *testing.T) {
	bin := healthsimBinary(t) // built before TMPDIR points into this test's folder
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--processes", "2", "--duration", "2s", "--save-every", "50ms", "--entities", "5",
		"--binary", bin}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("\n%s", stdout.String())
	for _, want := range []string{"operations", "errors        0 (lock 0, protocol 0, other 0)", "lost writes   0", "2 of 2 stopped cleanly", "result        OK"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "healthsim-stress-db-*")); len(left) != 0 {
		t.Errorf("temporary database left behind: %v", left)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--processes", "0"}, {"--processes", "33"}, {"--duration", "0s"}, {"--duration", "11m"},
		{"--save-every", "0s"}, {"--entities", "0"}, {"--entities", "10001"}, {"--busy-timeout", "-1s"},
		{"--query-timeout", "0s"}, {"extra"}, {"--nope"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, &stdout, &stderr)
		if !errors.Is(err, cli.ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
		if !strings.Contains(stderr.String(), "Usage: go run ./scripts/stress") {
			t.Errorf("%v: no usage text:\n%s", args, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &stdout, &stderr); err != nil || !strings.Contains(stderr.String(), "--save-every") {
		t.Errorf("-h: %v\n%s", err, stderr.String())
	}
}

func TestClassify(t *testing.T) {
	for msg, want := range map[string]string{
		`Could not save scenario "x": the database /tmp/a.duckdb is held by healthsim (PID 42), which kept it read-write for 5s. Close that process`: errLock,
		`Could not list scenarios: dbx: open /x read-only: IO Error: Could not set lock on file "/x": Conflicting lock is held in duckdb (PID 7)`:    errLock,
		`Could not save scenario "x": scenario already exists: "x"`:                                                                                  `isError: Could not save scenario`,
		`Stopped: the query took longer than the 1s limit`:                                                                                           `isError: Stopped`,
	} {
		if got := classify(msg); got != want {
			t.Errorf("classify(%q) = %q, want %q", msg, got, want)
		}
	}
	if got := expectedEntities("stress-1 p0 s000001 n20"); got != 20 {
		t.Errorf("expectedEntities = %d", got)
	}
}
