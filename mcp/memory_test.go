package mcp_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/mcp"
)

// TestQueryMemoryLimit: under dbx.WithMemoryLimit, a query that needs more
// memory than the limit is stopped with a sentence that names the limit
// and how to need less, and one that spills runs; on the read side and on the write side, where reads run while it
// holds the file (as under healthsim serve).
func TestQueryMemoryLimit(t *testing.T) {
	const limit = 64 << 20
	t.Run("read side", func(t *testing.T) {
		testQueryMemoryLimit(t, newEnv(t, mcp.Options{QueryTimeout: time.Minute}, dbx.WithMemoryLimit(limit)), false)
	})
	t.Run("write side", func(t *testing.T) {
		e := newEnv(t, mcp.Options{QueryTimeout: time.Minute}, dbx.WithMemoryLimit(limit),
			dbx.WithReadsDuringWrites(), dbx.WithWriteLinger(time.Hour))
		testQueryMemoryLimit(t, e, true)
	})
}

func testQueryMemoryLimit(t *testing.T, e *env, writeSide bool) {
	e.ok("healthsim_save_scenario", sampleScenario("small"), nil)
	var readOnly bool
	if err := e.db.Read().Get(&readOnly, "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"); err != nil {
		t.Fatal(err)
	}
	if readOnly == writeSide {
		t.Fatalf("queries run on the read-only attachment: %v, want %v", readOnly, !writeSide)
	}
	msg := e.fails("healthsim_query", map[string]any{"sql": "SELECT len(list(i)) FROM range(20000000) r(i)"})
	if !strings.HasPrefix(msg, "Stopped: the query needed more than the 64.0 MiB memory limit and was stopped; filter rows") {
		t.Fatalf("over the limit: %q", msg)
	}
	var res struct {
		Rows [][]any `json:"rows"`
	}
	e.ok("healthsim_query", map[string]any{"sql": "SELECT count(*) FROM (SELECT i, count(*) FROM range(3000000) r(i) GROUP BY i)"}, &res)
	if len(res.Rows) != 1 || res.Rows[0][0] != float64(3000000) {
		t.Fatalf("spilling query answered %v", res.Rows)
	}
	// DuckDB creates an instance's temporary directory when it first spills.
	if dirs, _ := filepath.Glob(e.path + ".*.tmp"); len(dirs) != 1 {
		t.Fatalf("temporary directories beside the file: %q, want the one the query spilled into", dirs)
	}
	e.ok("healthsim_save_scenario", sampleScenario("after"), nil)
}

// TestSaveUnderMemoryLimit: a save of 6 MB of JSON (20,000 entities) works
// under the smallest limit healthsim serve allows. (DuckDB writes big
// inserts to the file as it goes: this save failed under 64 MiB and
// passed under 80 MiB, and one of 200,000 entities under 96 MiB.)
func TestSaveUnderMemoryLimit(t *testing.T) {
	e := newEnv(t, mcp.Options{}, dbx.WithMemoryLimit(256<<20), dbx.WithReadsDuringWrites())
	e.ok("healthsim_save_scenario", bigScenario("big", 20000), nil)
	var res struct {
		Rows [][]any `json:"rows"`
	}
	e.ok("healthsim_query", map[string]any{"sql": "SELECT count(*) FROM patients"}, &res)
	if res.Rows[0][0] != float64(20000) {
		t.Fatalf("patients after the save: %v", res.Rows)
	}
}

// bigScenario is a scenario of n patients of about 300 bytes of JSON each.
func bigScenario(name string, n int) map[string]any {
	ps := make([]any, n)
	for i := range ps {
		ps[i] = map[string]any{
			"id": fmt.Sprintf("%s-p%06d", name, i), "given_name": "Ana", "family_name": fmt.Sprintf("Diaz-%d", i),
			"birth_date": "1980-02-03", "gender": "F", "notes": strings.Repeat("n", 200),
		}
	}
	return map[string]any{"name": name, "entities": map[string]any{"patients": ps}}
}
