package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
	"github.com/healthsim/healthsim-go/scripts/internal/scripttest"
	"github.com/jmoiron/sqlx"
)

// The lock test runs proctest's hold-rw helper: a second process that
// holds the file read-write with plain duckdb-go.
func TestMain(m *testing.M) { proctest.Main(m, nil) }

// seed makes a database with "old a" (tag demo) and "old b", last saved 40
// days ago, and "new c" (tag demo).
func seed(t *testing.T) string {
	path := scripttest.NewDB(t)
	scripttest.Store(t, path, func(s *scenario.Store) {
		scripttest.Save(t, s, "old a", 3, "demo")
		scripttest.Save(t, s, "old b", 2)
		scripttest.Save(t, s, "new c", 4, "Demo")
	})
	scripttest.With(t, path, func(db *dbx.DB) {
		if err := db.Write(context.Background(), func(tx *sqlx.Tx) error {
			_, err := tx.Exec(`UPDATE scenarios SET updated_at = updated_at - INTERVAL 40 DAY WHERE name LIKE 'old%'`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	})
	return path
}

func names(t *testing.T, path string) []string {
	return slices.Sorted(maps.Keys(scripttest.Snapshot(t, path)))
}

func TestPrune(t *testing.T) {
	path := seed(t)
	before := scripttest.Counts(t, path)

	// A dry run lists what would go and changes nothing.
	out := scripttest.MustRun(t, run, "--db", path, "--older-than", "30d", "--dry-run")
	for _, want := range []string{`would delete "old a"`, `would delete "old b"`, "would delete 2 scenarios with 15 entities", "nothing was changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "new c") {
		t.Errorf("dry run would delete a new scenario:\n%s", out)
	}
	if after := scripttest.Counts(t, path); !maps.Equal(before, after) {
		t.Fatalf("dry run changed rows: %v -> %v", before, after)
	}

	// Both filters: only the old scenario with the tag.
	out = scripttest.MustRun(t, run, "--db", path, "--older-than", "720h", "--tag", "DEMO", "--batch", "1")
	if !strings.Contains(out, `deleted "old a"`) || !strings.Contains(out, "deleted 1 scenario with 9 entities, 1 tag and 9 canonical rows") {
		t.Fatalf("prune by age and tag:\n%s", out)
	}
	if got := names(t, path); !slices.Equal(got, []string{"new c", "old b"}) {
		t.Fatalf("left: %v", got)
	}
	// By tag alone; the deleted rows are gone from every table.
	scripttest.MustRun(t, run, "--db", path, "--tag", "demo")
	if got := names(t, path); !slices.Equal(got, []string{"old b"}) {
		t.Fatalf("left after --tag demo: %v", got)
	}
	counts := scripttest.Counts(t, path)
	if counts["scenarios"] != 1 || counts["scenario_entities"] != 6 || counts["patients"] != 2 || counts["claims"] != 2 || counts["scenario_tags"] != 0 {
		t.Fatalf("rows left: %v", counts)
	}
	// Nothing matches: a clean no-op.
	if out := scripttest.MustRun(t, run, "--db", path, "--older-than", "1000d"); !strings.Contains(out, "deleted 0 scenarios") {
		t.Fatalf("nothing to prune:\n%s", out)
	}
}

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"720h": 720 * time.Hour, "30d": 720 * time.Hour, "1d12h": 36 * time.Hour, "1.5d": 36 * time.Hour,
		"2w": 336 * time.Hour, "90m": 90 * time.Minute,
	} {
		if got, err := parseAge(in); err != nil || got != want {
			t.Errorf("parseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "soon", "0d", "-3h", "30", "99999999999999d"} {
		if _, err := parseAge(in); err == nil {
			t.Errorf("parseAge(%q) accepted", in)
		}
	}
}

func TestBadFlags(t *testing.T) {
	path := seed(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--db", path}, "give --older-than, --tag or both"},
		{[]string{"--db", path, "--older-than", "soon"}, `"soon" is not a duration`},
		{[]string{"--db", path, "--tag", "x", "--batch", "0"}, "--batch must be at least 1"},
		{[]string{"--db", path, "--tag", "x", "extra"}, `unexpected argument "extra"`},
		{[]string{"--no-such-flag"}, "flag provided but not defined"},
		{[]string{"--db", path, "--busy-timeout", "later", "--tag", "x"}, "invalid value"},
	} {
		_, stderr, err := scripttest.Run(t, run, tc.args...)
		if !errors.Is(err, cli.ErrUsage) || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "Usage: go run ./scripts/prune-scenarios") {
			t.Errorf("%v: err %v, stderr:\n%s\nwant a usage error with %q", tc.args, err, stderr, tc.want)
		}
	}
	_, _, err := scripttest.Run(t, run, "--db", filepath.Join(t.TempDir(), "missing.duckdb"), "--tag", "x")
	if !errors.Is(err, cli.ErrNoDatabase) {
		t.Errorf("missing database: %v", err)
	}
}

// TestLockedAndExitCodes: a foreign process holding the file gives a lock
// error naming it; the binary exits 1 for it and 2 for bad flags.
func TestLockedAndExitCodes(t *testing.T) {
	path := seed(t)
	before := scripttest.Counts(t, path)
	holder := proctest.StartReady(t, "hold-rw", path)
	_, _, err := scripttest.Run(t, run, "--db", path, "--tag", "demo", "--busy-timeout", "300ms")
	var le *dbx.LockError
	if !errors.As(err, &le) || le.PID != holder.PID() {
		t.Fatalf("prune beside a foreign writer: %v", err)
	}

	bin := scripttest.Build(t, "github.com/healthsim/healthsim-go/scripts/prune-scenarios")
	out, err := exec.Command(bin, "--db", path, "--tag", "demo", "--busy-timeout", "300ms").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), fmt.Sprintf("close %s (PID %d)", le.Exe, holder.PID())) {
		t.Fatalf("locked: exit %d\n%s", code, out)
	}
	holder.Stop()
	if after := scripttest.Counts(t, path); !maps.Equal(before, after) {
		t.Fatalf("a failed prune changed rows: %v -> %v", before, after)
	}
	out, err = exec.Command(bin, "--db", path).CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "give --older-than, --tag or both") {
		t.Fatalf("bad flags: exit %d\n%s", code, out)
	}
	out, err = exec.Command(bin, "--db", path, "--tag", "demo").CombinedOutput()
	if code := exitCode(err); code != 0 || !strings.Contains(string(out), "deleted 2 scenarios") {
		t.Fatalf("prune: exit %d\n%s", code, out)
	}
}

// TestPruneBesideServer: pruning in many write windows while a healthsim
// server answers reads on the same file without pause: the prune completes
// and the server keeps answering throughout.
func TestPruneBesideServer(t *testing.T) {
	bin := scripttest.Build(t, "github.com/healthsim/healthsim-go/cmd/healthsim")
	path := scripttest.NewDB(t)
	scripttest.Store(t, path, func(s *scenario.Store) {
		for i := range 24 {
			scripttest.Save(t, s, fmt.Sprintf("bulk %02d", i), 20, "bulk")
		}
		scripttest.Save(t, s, "keeper", 2)
	})
	srv := scripttest.StartServer(t, bin, path)
	poll := scripttest.StartPoll(srv)
	time.Sleep(300 * time.Millisecond) // the server reads without pause by now

	start := time.Now()
	out := scripttest.MustRun(t, run, "--db", path, "--tag", "bulk", "--batch", "2", "--busy-timeout", "20s")
	end := time.Now()
	during := poll.Answered(start, end)
	time.Sleep(100 * time.Millisecond)
	answered, errs, slowest := poll.Stop()
	if !strings.Contains(out, "deleted 24 scenarios with 1440 entities") || !strings.Contains(out, "in 12 write windows") {
		t.Fatalf("prune beside a server:\n%s", out)
	}
	if len(errs) > 0 {
		t.Fatalf("the server failed %d calls, first: %v\nserver log:\n%s", len(errs), errs[0], srv.Stderr())
	}
	if during < 6 { // half the windows: the pause between windows lets the server in
		t.Fatalf("the server answered only %d calls during the prune's %s (%d in all)", during, end.Sub(start), answered)
	}
	t.Logf("prune took %s; the server answered %d calls meanwhile (%d in all), the slowest in %s", end.Sub(start), during, answered, slowest)
	list, err := srv.CallTool("healthsim_list_scenarios", map[string]any{})
	if err != nil || list["count"] != float64(1) {
		t.Fatalf("list after the prune: %v, %v", list, err)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
