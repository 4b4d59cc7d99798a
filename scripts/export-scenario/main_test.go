package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/mcp/scenario/archive"
	"github.com/healthsim/healthsim-go/scripts/internal/scripttest"
)

func TestMain(m *testing.M) { proctest.Main(m, nil) }

func seed(t *testing.T) string {
	path := scripttest.NewDB(t)
	scripttest.Store(t, path, func(s *scenario.Store) {
		scripttest.Save(t, s, "diabetes cohort", 3, "diabetes")
		scripttest.Save(t, s, "Diabetes/Cohort", 1) // the same folder name: gets a suffix
		if _, err := s.Import(t.Context(), []*scenario.Record{scripttest.PrettyRecord("pretty")}, false); err != nil {
			t.Fatal(err)
		}
	})
	return path
}

func TestExportEveryFormat(t *testing.T) {
	path := seed(t)
	before := scripttest.Counts(t, path)
	info, _ := os.Stat(path)
	want := scripttest.Snapshot(t, path)
	for _, format := range archive.Formats() {
		out := filepath.Join(t.TempDir(), "export")
		stdout := scripttest.MustRun(t, run, "--db", path, "--all", "--format", string(format), "--out", out)
		if !strings.Contains(stdout, "exported 3 scenarios with 15 entities") {
			t.Fatalf("%s: %s", format, stdout)
		}
		folders, err := archive.List(out, "")
		if err != nil || len(folders) != 3 {
			t.Fatalf("%s: folders %+v, %v", format, folders, err)
		}
		for i, name := range []string{"diabetes-cohort", "diabetes-cohort-2", "pretty"} {
			if filepath.Base(folders[i].Path) != name || folders[i].Format != format {
				t.Fatalf("%s: folder %d is %+v, want %s", format, i, folders[i], name)
			}
		}
		// What was written reads back as the database has it.
		r := archive.NewReader()
		for _, f := range folders {
			rec, err := r.Read(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			if w := want[rec.Name]; w == nil || !equal(rec, w) {
				t.Fatalf("%s: %s differs from the database:\n got %+v\nwant %+v", format, f.Path, rec, w)
			}
		}
		r.Close()
	}
	// Exporting reads only.
	if after, _ := os.Stat(path); !after.ModTime().Equal(info.ModTime()) || after.Size() != info.Size() {
		t.Fatal("export changed the database file")
	}
	if after := scripttest.Counts(t, path); !maps.Equal(before, after) {
		t.Fatalf("export changed rows: %v -> %v", before, after)
	}
}

func equal(a, b *scenario.Record) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestExportOne(t *testing.T) {
	path := seed(t)
	out := t.TempDir()
	var id string
	scripttest.Store(t, path, func(s *scenario.Store) { id, _ = s.ResolveID(t.Context(), "pretty") })
	for _, key := range []string{"pretty", id} {
		stdout := scripttest.MustRun(t, run, "--db", path, "--scenario", key, "--out", out)
		if !strings.Contains(stdout, "exported 1 scenario with 3 entities") {
			t.Fatalf("--scenario %s: %s", key, stdout)
		}
	}
	// The same scenario twice goes to the same folder.
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Fatalf("%d folders", len(entries))
	}
	// JSON Lines: one line per entity; the indented entity in entity_data_text.
	f, _ := os.Open(filepath.Join(out, "pretty", "entities.jsonl"))
	defer f.Close()
	var lines []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 3 || !strings.Contains(lines[1], `"entity_data_text":"{\n  \"id\": \"pp1\"`) ||
		!strings.Contains(lines[0], `"entity_data":{"id":"lab1","value":"7.2","unit":"%"}`) {
		t.Fatalf("entities.jsonl:\n%s", strings.Join(lines, "\n"))
	}
	_, _, err := scripttest.Run(t, run, "--db", path, "--scenario", "nope", "--out", out)
	if !errors.Is(err, scenario.ErrNotFound) {
		t.Fatalf("unknown scenario: %v", err)
	}
}

func TestBadFlags(t *testing.T) {
	path := seed(t)
	out := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--db", path, "--out", out}, "give either --scenario NAME_OR_ID or --all"},
		{[]string{"--db", path, "--out", out, "--all", "--scenario", "x"}, "give either --scenario NAME_OR_ID or --all"},
		{[]string{"--db", path, "--all"}, "give the export folder with --out DIR"},
		{[]string{"--db", path, "--all", "--out", out, "--format", "xml"}, `unknown format "xml"`},
		{[]string{"--db", path, "--all", "--out", out, "now"}, `unexpected argument "now"`},
	} {
		_, stderr, err := scripttest.Run(t, run, tc.args...)
		if !errors.Is(err, cli.ErrUsage) || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: err %v, stderr:\n%s\nwant a usage error with %q", tc.args, err, stderr, tc.want)
		}
	}
}

// TestBesideOtherProcesses: export reads, so it runs beside a foreign
// reader; a foreign writer makes it fail with a lock error that names it.
func TestBesideOtherProcesses(t *testing.T) {
	path := seed(t)
	reader := proctest.StartReady(t, "hold-ro", path)
	scripttest.MustRun(t, run, "--db", path, "--all", "--out", t.TempDir())
	reader.Stop()

	writer := proctest.StartReady(t, "hold-rw", path)
	_, _, err := scripttest.Run(t, run, "--db", path, "--all", "--out", t.TempDir(), "--busy-timeout", "300ms")
	var le *dbx.LockError
	if !errors.As(err, &le) || le.PID != writer.PID() {
		t.Fatalf("export beside a foreign writer: %v", err)
	}
	var msg strings.Builder
	cli.PrintError(&msg, name, err)
	if !strings.Contains(msg.String(), "close") || !strings.Contains(msg.String(), "healthsim locks") {
		t.Fatalf("message: %s", msg.String())
	}
}
