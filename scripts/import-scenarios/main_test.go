package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/mcp/scenario/archive"
	"github.com/healthsim/healthsim-go/scripts/internal/scripttest"
)

func TestMain(m *testing.M) { proctest.Main(m, nil) }

// source makes a database with three scenarios, one of them with entity
// JSON that encoding/json would not write.
func source(t *testing.T) string {
	path := scripttest.NewDB(t)
	scripttest.Store(t, path, func(s *scenario.Store) {
		scripttest.Save(t, s, "diabetes cohort", 4, "diabetes", "adults")
		scripttest.Save(t, s, "empty", 0)
		if _, err := s.Import(t.Context(), []*scenario.Record{scripttest.PrettyRecord("pretty")}, false); err != nil {
			t.Fatal(err)
		}
	})
	return path
}

// export runs the export-scenario script, built, on the database at path.
func export(t *testing.T, path string, format archive.Format, args ...string) string {
	t.Helper()
	exportBin := scripttest.Build(t, "github.com/healthsim/healthsim-go/scripts/export-scenario")
	out := filepath.Join(t.TempDir(), "export-"+string(format))
	cmd := exec.Command(exportBin, append([]string{"--db", path, "--format", string(format), "--out", out}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("export-scenario: %v\n%s", err, b)
	}
	return out
}

// sameScenarios compares two databases scenario by scenario: header, and
// every entity's JSON as Load returns it, byte for byte.
func sameScenarios(t *testing.T, want, got string) {
	t.Helper()
	load := func(path string) map[string]*scenario.Scenario {
		out := map[string]*scenario.Scenario{}
		scripttest.Store(t, path, func(s *scenario.Store) {
			list, err := s.Find(t.Context(), scenario.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range list {
				sc, err := s.Load(t.Context(), e.ID, true)
				if err != nil {
					t.Fatal(err)
				}
				out[sc.Name] = sc
			}
		})
		return out
	}
	w, g := load(want), load(got)
	if !slices.Equal(slices.Sorted(maps.Keys(w)), slices.Sorted(maps.Keys(g))) {
		t.Fatalf("scenarios %v, want %v", slices.Sorted(maps.Keys(g)), slices.Sorted(maps.Keys(w)))
	}
	for name, ws := range w {
		gs := g[name]
		if gs.ID != ws.ID || gs.Description != ws.Description || !slices.Equal(gs.Tags, ws.Tags) ||
			!gs.CreatedAt.Equal(ws.CreatedAt) || !gs.UpdatedAt.Equal(ws.UpdatedAt) || !maps.Equal(gs.EntityCounts, ws.EntityCounts) {
			t.Fatalf("%q: header\n got %+v\nwant %+v", name, gs.Overview, ws.Overview)
		}
		if len(gs.Entities) != len(ws.Entities) {
			t.Fatalf("%q: entity types %v, want %v", name, slices.Sorted(maps.Keys(gs.Entities)), slices.Sorted(maps.Keys(ws.Entities)))
		}
		for typ, docs := range ws.Entities {
			if !slices.EqualFunc(gs.Entities[typ], docs, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
				t.Fatalf("%q %s: entity JSON differs\n got %s\nwant %s", name, typ, gs.Entities[typ], docs)
			}
		}
	}
}

func TestRoundTripEveryFormat(t *testing.T) {
	src := source(t)
	for _, format := range archive.Formats() {
		t.Run(string(format), func(t *testing.T) {
			dir := export(t, src, format, "--all")
			dst := filepath.Join(t.TempDir(), "new", "fresh.duckdb") // created and migrated by the import

			// A dry run creates nothing, not even the file.
			out := scripttest.MustRun(t, run, "--db", dst, "--in", dir, "--dry-run")
			if !strings.Contains(out, "would create 3, replace 0 and leave 0 unchanged of 3 scenarios") {
				t.Fatalf("dry run into a new database:\n%s", out)
			}
			if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the dry run created %s: %v", dst, err)
			}

			out = scripttest.MustRun(t, run, "--db", dst, "--in", dir, "--batch", "2")
			if !strings.Contains(out, "3 created, 0 replaced, 0 unchanged; 15 entities written in 2 write windows") {
				t.Fatalf("import:\n%s", out)
			}
			sameScenarios(t, src, dst)
			if src, dst := scripttest.Counts(t, src), scripttest.Counts(t, dst); !maps.Equal(src, dst) {
				t.Fatalf("rows: %v, want %v", dst, src)
			}

			// Importing again changes nothing.
			before := scripttest.Counts(t, dst)
			out = scripttest.MustRun(t, run, "--db", dst, "--in", dir)
			if !strings.Contains(out, "0 created, 0 replaced, 3 unchanged; 0 entities written in 0 write windows") {
				t.Fatalf("second import:\n%s", out)
			}
			if after := scripttest.Counts(t, dst); !maps.Equal(before, after) {
				t.Fatalf("second import changed rows: %v -> %v", before, after)
			}
			sameScenarios(t, src, dst)
		})
	}
}

func TestConflictsAndOverwrite(t *testing.T) {
	src := source(t)
	dir := export(t, src, archive.JSONL, "--all")
	dst := scripttest.NewDB(t)
	scripttest.MustRun(t, run, "--db", dst, "--in", dir)
	// The target's "diabetes cohort" changes: importing again is a conflict.
	scripttest.Store(t, dst, func(s *scenario.Store) {
		if _, err := s.Save(t.Context(), scenario.SaveRequest{Name: "diabetes cohort", Overwrite: true,
			Entities: scripttest.Entities("other", 2)}); err != nil {
			t.Fatal(err)
		}
	})
	before := scripttest.Counts(t, dst)
	// A dry run lists the conflict and fails, as the import does.
	out, _, err := scripttest.Run(t, run, "--db", dst, "--in", dir, "--dry-run")
	if err == nil || !strings.Contains(out, `conflict  "diabetes cohort"`) || !strings.Contains(out, "1 in conflict") {
		t.Fatalf("dry run with a conflict: %v\n%s", err, out)
	}
	_, _, err = scripttest.Run(t, run, "--db", dst, "--in", dir)
	if err == nil || !strings.Contains(err.Error(), "nothing was imported") || !strings.Contains(err.Error(), `"diabetes cohort"`) ||
		!strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("conflicting import: %v", err)
	}
	if after := scripttest.Counts(t, dst); !maps.Equal(before, after) {
		t.Fatalf("a refused import changed rows: %v -> %v", before, after)
	}
	out = scripttest.MustRun(t, run, "--db", dst, "--in", dir, "--overwrite", "--dry-run")
	if !strings.Contains(out, `replace   "diabetes cohort"`) || !strings.Contains(out, "would create 0, replace 1 and leave 2 unchanged") {
		t.Fatalf("dry run with --overwrite:\n%s", out)
	}
	if after := scripttest.Counts(t, dst); !maps.Equal(before, after) {
		t.Fatalf("a dry run changed rows: %v -> %v", before, after)
	}
	out = scripttest.MustRun(t, run, "--db", dst, "--in", dir, "--overwrite")
	if !strings.Contains(out, "0 created, 1 replaced, 2 unchanged") {
		t.Fatalf("import with --overwrite:\n%s", out)
	}
	sameScenarios(t, src, dst)
}

func TestBadInput(t *testing.T) {
	path := scripttest.NewDB(t)
	src := source(t)
	good := export(t, src, archive.CSV, "--scenario", "pretty")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--db", path}, "give the export folder with --in DIR"},
		{[]string{"--db", path, "--in", good, "--format", "xml"}, `unknown format "xml"`},
		{[]string{"--db", path, "--in", good, "--batch", "0"}, "--batch must be at least 1"},
		{[]string{"--db", path, "--in", good, "--pause", "never"}, "invalid value"},
	} {
		_, stderr, err := scripttest.Run(t, run, tc.args...)
		if !errors.Is(err, cli.ErrUsage) || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: err %v, stderr:\n%s\nwant a usage error with %q", tc.args, err, stderr, tc.want)
		}
	}

	// Folders that cannot be imported: nothing is written.
	bad := t.TempDir()
	os.CopyFS(filepath.Join(bad, "a"), os.DirFS(filepath.Join(good, "pretty")))
	os.CopyFS(filepath.Join(bad, "b"), os.DirFS(filepath.Join(good, "pretty")))
	for _, tc := range []struct {
		in, want string
	}{
		{filepath.Join(t.TempDir(), "missing"), "no such file"},
		{t.TempDir(), "no scenario folders"},
		{bad, "both hold the scenario \"pretty\""},
	} {
		if _, _, err := scripttest.Run(t, run, "--db", path, "--in", tc.in); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--in %s: %v, want %q", tc.in, err, tc.want)
		}
	}
	os.RemoveAll(filepath.Join(bad, "b"))
	os.WriteFile(filepath.Join(bad, "a", "entities.csv"), []byte("entity_type,entity_id,entity_data\nspaceships,s1,{}\n"), 0o644)
	if _, _, err := scripttest.Run(t, run, "--db", path, "--in", bad); err == nil || !strings.Contains(err.Error(), `unknown entity type "spaceships"`) {
		t.Errorf("unknown entity type: %v", err)
	}
	if counts := scripttest.Counts(t, path); counts["scenarios"] != 0 {
		t.Fatalf("bad input wrote rows: %v", counts)
	}
	// Into a database that does not exist yet, bad input creates nothing.
	fresh := filepath.Join(t.TempDir(), "fresh.duckdb")
	if _, _, err := scripttest.Run(t, run, "--db", fresh, "--in", bad); err == nil {
		t.Fatal("bad input was imported")
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("bad input created the database: %v", err)
	}
}

func TestLocked(t *testing.T) {
	dir := export(t, source(t), archive.JSONL, "--all")
	dst := scripttest.NewDB(t)
	holder := proctest.StartReady(t, "hold-rw", dst)
	_, _, err := scripttest.Run(t, run, "--db", dst, "--in", dir, "--busy-timeout", "300ms")
	var le *dbx.LockError
	if !errors.As(err, &le) || le.PID != holder.PID() {
		t.Fatalf("import beside a foreign writer: %v", err)
	}
	var msg strings.Builder
	cli.PrintError(&msg, name, err)
	if !strings.Contains(msg.String(), fmt.Sprintf("(PID %d)", holder.PID())) || cli.ExitCode(err) != 1 {
		t.Fatalf("message: %s", msg.String())
	}
}

// TestImportBesideServer: importing in many write windows while a
// healthsim server answers reads on the same file without pause: the
// import completes and the server keeps answering throughout.
func TestImportBesideServer(t *testing.T) {
	bin := scripttest.Build(t, "github.com/healthsim/healthsim-go/cmd/healthsim")
	src := scripttest.NewDB(t)
	scripttest.Store(t, src, func(s *scenario.Store) {
		for i := range 24 {
			scripttest.Save(t, s, fmt.Sprintf("bulk %02d", i), 20, "bulk")
		}
	})
	dir := export(t, src, archive.Parquet, "--all")
	dst := scripttest.NewDB(t)
	srv := scripttest.StartServer(t, bin, dst)
	poll := scripttest.StartPoll(srv)
	time.Sleep(300 * time.Millisecond)

	start := time.Now()
	out := scripttest.MustRun(t, run, "--db", dst, "--in", dir, "--batch", "2", "--busy-timeout", "20s")
	end := time.Now()
	during := poll.Answered(start, end)
	answered, errs, slowest := poll.Stop()
	if !strings.Contains(out, "24 created, 0 replaced, 0 unchanged; 1440 entities written in 12 write windows") {
		t.Fatalf("import beside a server:\n%s", out)
	}
	if len(errs) > 0 {
		t.Fatalf("the server failed %d calls, first: %v\nserver log:\n%s", len(errs), errs[0], srv.Stderr())
	}
	if during < 6 {
		t.Fatalf("the server answered only %d calls during the import's %s (%d in all)", during, end.Sub(start), answered)
	}
	t.Logf("import took %s; the server answered %d calls meanwhile (%d in all), the slowest in %s", end.Sub(start), during, answered, slowest)
	list, err := srv.CallTool("healthsim_list_scenarios", map[string]any{"tag": "bulk", "limit": 100})
	if err != nil || list["count"] != float64(24) {
		t.Fatalf("list after the import: %v, %v", list, err)
	}
	srv.Stop()
	sameScenarios(t, src, dst)
}
