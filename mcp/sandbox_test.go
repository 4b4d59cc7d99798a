package mcp_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/mcp"
)

// snapshot describes the database's tables and their contents, to show an
// escape attempt changed nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	var tables []string
	if err := e.db.Read().Select(&tables, `SELECT schema_name || '.' || table_name FROM duckdb_tables()
		WHERE database_name = current_database() ORDER BY 1`); err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for _, table := range tables {
		var digest string
		if err := e.db.Read().Get(&digest, fmt.Sprintf(`SELECT count(*) || ':' || coalesce(sum(hash(t)), 0) FROM %s t`, table)); err != nil {
			e.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%s\n", table, digest)
	}
	return b.String()
}

// TestQuerySandbox: escape attempts through healthsim_query are refused with
// a clear message, change nothing, write no file, and the server keeps
// answering; on the read side, and on the write side where reads run while
// it holds the file (dbx.WithReadsDuringWrites, as healthsim serve has it).
func TestQuerySandbox(t *testing.T) {
	t.Run("read side", func(t *testing.T) {
		testQuerySandbox(t, newEnv(t, mcp.Options{QueryTimeout: time.Second}), false)
	})
	t.Run("write side", func(t *testing.T) {
		e := newEnv(t, mcp.Options{QueryTimeout: time.Second}, dbx.WithReadsDuringWrites(), dbx.WithWriteLinger(time.Hour))
		testQuerySandbox(t, e, true)
	})
}

func testQuerySandbox(t *testing.T, e *env, writeSide bool) {
	e.ok("healthsim_save_scenario", sampleScenario("victim"), nil)
	var readOnly bool
	if err := e.db.Read().Get(&readOnly, "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"); err != nil {
		t.Fatal(err)
	}
	if readOnly == writeSide {
		t.Fatalf("queries run on the read-only attachment: %v, want %v", readOnly, !writeSide)
	}
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.csv")
	if err := os.WriteFile(secret, []byte("a,b\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stolen := filepath.Join(outside, "stolen.csv")
	before := e.snapshot()

	attempts := []struct{ name, sql string }{
		{"delete", "DELETE FROM scenarios"},
		{"drop", "DROP TABLE scenarios"},
		{"update", "UPDATE scenarios SET name = 'x'"},
		{"insert", "INSERT INTO scenarios (id, name) VALUES ('x', 'x')"},
		{"create table as", "CREATE TABLE copy AS SELECT * FROM scenarios"},
		{"temp table", "CREATE TEMP TABLE t AS SELECT 1"},
		{"stacked", "SELECT 1; DELETE FROM scenarios"},
		{"cte with delete", "WITH x AS (SELECT 1) DELETE FROM scenarios"},
		{"copy to file", "COPY scenarios TO '" + stolen + "'"},
		{"copy own file", "COPY (SELECT 1) TO '" + e.path + "'"},
		{"read_csv", "SELECT * FROM read_csv('" + secret + "')"},
		{"read_csv /etc/passwd", "SELECT * FROM read_csv('/etc/passwd')"},
		{"replacement scan", "SELECT * FROM '" + secret + "'"},
		{"read_text", "SELECT * FROM read_text('/etc/hostname')"},
		{"glob", "SELECT * FROM glob('/*')"},
		{"attach", "ATTACH '" + filepath.Join(outside, "x.duckdb") + "' AS x"},
		{"detach", "DETACH db"},
		{"use", "USE memory"},
		{"install", "INSTALL httpfs"},
		{"load", "LOAD httpfs"},
		{"set", "SET enable_external_access = true"},
		{"reset", "RESET ALL"},
		{"pragma", "PRAGMA enable_logging"},
		{"call", "CALL enable_logging()"},
		{"checkpoint", "CHECKPOINT"},
		{"export", "EXPORT DATABASE '" + outside + "'"},
		{"begin", "BEGIN TRANSACTION"},
		{"create macro", "CREATE MACRO m(x) AS x"},
		{"create secret", "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')"},
		{"other catalog", "SELECT * FROM system.main.duckdb_settings()"},
		{"temp catalog", "SELECT * FROM temp.main.t"},
		{"setval", "SELECT setval('goose_db_version_id_seq', 1)"},
		{"nextval", "SELECT nextval('goose_db_version_id_seq')"},
		{"current_setting write", "SELECT set_config('x', 'y')"},
		{"huge range", "SELECT * FROM range(1000000000000) t, range(1000000000000) u"},
		{"huge repeat", "SELECT repeat('x', 2000000000)"},
		{"getenv", "SELECT getenv('HOME')"},
		{"comment smuggle", "SELECT 1 /* */; DROP TABLE scenarios"},
	}
	for _, a := range attempts {
		t.Run(a.name, func(t *testing.T) {
			msg := e.fails("healthsim_query", map[string]any{"sql": a.sql})
			if len(msg) < 20 || strings.Contains(msg, "panic") {
				t.Fatalf("unclear message %q", msg)
			}
			t.Log(msg)
		})
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("the database changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	if _, err := os.Stat(stolen); !os.IsNotExist(err) {
		t.Fatalf("COPY wrote %s", stolen)
	}
	var res struct {
		Rows [][]any `json:"rows"`
	}
	e.ok("healthsim_query", map[string]any{"sql": "SELECT name FROM scenarios"}, &res)
	if len(res.Rows) != 1 || res.Rows[0][0] != "victim" {
		t.Fatalf("server after attempts answered %v", res.Rows)
	}
	e.ok("healthsim_save_scenario", sampleScenario("after"), nil)
}

// TestQueryLimits: the row limit reports truncation, and an endless query
// is stopped at the timeout with a clear message.
func TestQueryLimits(t *testing.T) {
	e := newEnv(t, mcp.Options{QueryTimeout: 300 * time.Millisecond})
	var res struct {
		RowCount  int  `json:"row_count"`
		Truncated bool `json:"truncated"`
	}
	e.ok("healthsim_query", map[string]any{"sql": "SELECT * FROM range(5000)", "limit": 10}, &res)
	if res.RowCount != 10 || !res.Truncated {
		t.Fatalf("limit 10 gave %+v", res)
	}
	msg := e.fails("healthsim_query", map[string]any{"sql": "SELECT count(*) FROM range(100000000000) a, range(1000) b WHERE a.range * b.range = -1"})
	if !strings.Contains(msg, "Stopped") {
		t.Fatalf("endless query: %q", msg)
	}
	msg = e.fails("healthsim_query", map[string]any{"sql": "SELECT nosuchcolumn FROM scenarios"})
	if !strings.Contains(msg, "healthsim_tables") {
		t.Fatalf("typo: %q", msg)
	}
	e.ok("healthsim_query", map[string]any{"sql": "SELECT 1"}, nil)
}

func TestTablesAndReference(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	var tables mcp.TablesOutput
	e.ok("healthsim_tables", nil, &tables)
	if len(tables.Reference) != 5 || len(tables.Entity) != 17 || tables.Entity[0].Name != "patients" {
		t.Fatalf("tables %+v", tables)
	}
	if !strings.Contains(tables.Entity[0].Columns, "birth_date DATE") {
		t.Fatalf("patients columns %q", tables.Entity[0].Columns)
	}
	var system []string
	for _, s := range tables.System {
		system = append(system, s.Name)
	}
	if !strings.Contains(strings.Join(system, ","), "scenarios") {
		t.Fatalf("system tables %v", system)
	}

	var ref struct {
		Source string `json:"source"`
		Note   string `json:"note"`
	}
	e.ok("healthsim_query_reference", map[string]any{"table": "svi_county", "state": "CA"}, &ref)
	if ref.Source != "empty" || !strings.Contains(ref.Note, "load-sample") {
		t.Fatalf("empty table: %+v", ref)
	}
}
