package main

import (
	"context"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/scripts/internal/scripttest"
	"github.com/jmoiron/sqlx"
)

func TestMain(m *testing.M) { proctest.Main(m, nil) }

func seed(t *testing.T) string {
	path := scripttest.NewDB(t)
	scripttest.Store(t, path, func(s *scenario.Store) {
		scripttest.Save(t, s, "cohort a", 3, "demo")
		scripttest.Save(t, s, "cohort b", 2)
	})
	return path
}

// plant runs statements with plain SQL in one dbx write window.
func plant(t *testing.T, path string, stmts ...string) {
	t.Helper()
	scripttest.With(t, path, func(db *dbx.DB) {
		if err := db.Write(context.Background(), func(tx *sqlx.Tx) error {
			for _, s := range stmts {
				if _, err := tx.Exec(s); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCleanDatabase(t *testing.T) {
	path := seed(t)
	before := scripttest.Counts(t, path)
	info, _ := os.Stat(path)
	out := scripttest.MustRun(t, run, "--db", path)
	for _, want := range []string{"schema     version", "scenarios  2", "patients", "no problems found"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// patients: 2 scenarios, 5 entities, 5 rows.
	if !strings.Contains(out, "patients                  2          5               5\n") {
		t.Errorf("patients line:\n%s", out)
	}
	if after, _ := os.Stat(path); !after.ModTime().Equal(info.ModTime()) {
		t.Error("check changed the database file")
	}
	if after := scripttest.Counts(t, path); !maps.Equal(before, after) {
		t.Fatalf("check changed rows: %v -> %v", before, after)
	}
}

func TestPlantedProblems(t *testing.T) {
	path := seed(t)
	var id string
	scripttest.Store(t, path, func(s *scenario.Store) { id, _ = s.ResolveID(t.Context(), "cohort a") })
	plant(t, path,
		`INSERT INTO scenario_entities (scenario_id, scenario_seq, entity_type, entity_id, entity_data) VALUES ('ghost', 0, 'patients', 'g1', '{"id":"g1"}')`,
		`INSERT INTO patients (id, scenario_id) VALUES ('g2', 'ghost'), ('g3', '`+id+`')`,
	)
	out, _, err := scripttest.Run(t, run, "--db", path)
	if cli.ExitCode(err) != 1 || !strings.Contains(err.Error(), "found 4 problems") {
		t.Fatalf("check of a planted inconsistency: %v\n%s", err, out)
	}
	for _, want := range []string{
		`scenario_entities: 1 row of type patients belong to scenario "ghost", which does not exist (e.g. "g1")`,
		`patients: 1 row belong to scenario "ghost", which does not exist (e.g. id "g2")`,
		`patients: 1 row of scenario "` + id + `" have no scenario_entities row (e.g. id "g3")`,
		`scenario "cohort a" (id ` + id + `) has 3 entities of type patients but 4 rows in patients`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// --show 1 lists one finding of each kind.
	plant(t, path, `INSERT INTO scenario_tags VALUES ('ghost1', 't'), ('ghost2', 't')`)
	out, _, _ = scripttest.Run(t, run, "--db", path, "--show", "1")
	if !strings.Contains(out, "… and 1 more groups of orphan tags") || !strings.Contains(out, "found 6 problems") {
		t.Fatalf("--show 1:\n%s", out)
	}

	// The binary exits 1 here, and 0 on a clean database.
	bin := scripttest.Build(t, "github.com/healthsim/healthsim-go/scripts/check")
	b, err := exec.Command(bin, "--db", path).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(b), "check: found 6 problems") {
		t.Fatalf("binary on a broken database: exit %d\n%s", code, b)
	}
	b, err = exec.Command(bin, "--db", seed(t)).CombinedOutput()
	if code := exitCode(err); code != 0 {
		t.Fatalf("binary on a clean database: exit %d\n%s", code, b)
	}
}

// The schema has no PRIMARY KEY or UNIQUE constraint (migration 00005):
// duplicates planted with plain SQL are reported.
func TestPlantedDuplicates(t *testing.T) {
	path := seed(t)
	var a, b string
	scripttest.Store(t, path, func(s *scenario.Store) {
		a, _ = s.ResolveID(t.Context(), "cohort a")
		b, _ = s.ResolveID(t.Context(), "cohort b")
	})
	plant(t, path,
		`INSERT INTO scenarios (id, name) VALUES ('`+b+`', 'cohort c'), ('x', 'cohort a')`,
		// An entity and its canonical row twice: the counts still agree.
		`INSERT INTO scenario_entities SELECT * FROM scenario_entities WHERE scenario_id = '`+a+`' AND entity_id = 'cohort_a-p0'`,
		`INSERT INTO patients SELECT * FROM patients WHERE scenario_id = '`+a+`' AND id = 'cohort_a-p0'`,
		`INSERT INTO scenario_tags VALUES ('`+a+`', 'demo')`,
	)
	out, _, err := scripttest.Run(t, run, "--db", path)
	// The planted rows also make the scenarios rows' copies stale (4 more).
	if cli.ExitCode(err) != 1 || !strings.Contains(err.Error(), "found 8 problems") {
		t.Fatalf("check of planted duplicates: %v\n%s", err, out)
	}
	ids := []string{a, "x"}
	slices.Sort(ids)
	for _, want := range []string{
		`scenario_entities: 2 rows of scenario "` + a + `" have the patients id "cohort_a-p0"`,
		`scenario_tags: 2 rows of scenario "` + a + `" have the tag "demo"`,
		`scenarios: the id "` + b + `" is used by 2 scenarios (names cohort b, cohort c)`,
		`scenarios: the name "cohort a" is used by 2 scenarios (ids ` + strings.Join(ids, ", ") + `)`,
		`scenarios: the tags of scenario "` + a + `" (["demo"]) disagree with scenario_tags`,
		`scenario_entities: 6 rows of scenario "` + b + `" have a scenario_seq that is not the scenario's`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = scripttest.Run(t, run, "--db", path, "--show", "1")
	if !strings.Contains(out, "… and 3 more duplicates") || !strings.Contains(out, "found 8 problems") {
		t.Fatalf("--show 1:\n%s", out)
	}
}

func TestSchemaBehind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bare.duckdb")
	scripttest.With(t, path, func(*dbx.DB) {}) // a database without the schema
	out, _, err := scripttest.Run(t, run, "--db", path)
	if cli.ExitCode(err) != 1 || !strings.Contains(out, "the schema is at version 0, behind") || !strings.Contains(out, "table scenarios is missing") {
		t.Fatalf("check of a bare database: %v\n%s", err, out)
	}
}

func TestBadFlagsAndLocks(t *testing.T) {
	path := seed(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--db", path, "--show", "-1"}, "--show must not be negative"},
		{[]string{"--db", path, "all"}, `unexpected argument "all"`},
	} {
		_, stderr, err := scripttest.Run(t, run, tc.args...)
		if !errors.Is(err, cli.ErrUsage) || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: err %v, stderr:\n%s", tc.args, err, stderr)
		}
	}
	if _, _, err := scripttest.Run(t, run, "--db", filepath.Join(t.TempDir(), "none.duckdb")); !errors.Is(err, cli.ErrNoDatabase) {
		t.Errorf("missing database: %v", err)
	}
	holder := proctest.StartReady(t, "hold-rw", path)
	_, _, err := scripttest.Run(t, run, "--db", path, "--busy-timeout", "300ms")
	var le *dbx.LockError
	if !errors.As(err, &le) || le.PID != holder.PID() {
		t.Fatalf("check beside a foreign writer: %v", err)
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
