package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
)

// digest describes the database's contents (every table's row count and
// row hashes, and the catalog's objects) through a fresh read-only open,
// to show that nothing changed.
func digest(t *testing.T, path string) string {
	t.Helper()
	db, err := dbx.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT schema_name, table_name FROM duckdb_tables()
		WHERE database_name = current_database() ORDER BY ALL`)
	if err != nil {
		t.Fatal(err)
	}
	var tables [][2]string
	for rows.Next() {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, [2]string{schema, table})
	}
	rows.Close()
	var b strings.Builder
	for _, tb := range tables {
		var d string
		q := fmt.Sprintf(`SELECT count(*) || ':' || coalesce(sum(hash(t)), 0) FROM "%s"."%s" t`, tb[0], tb[1])
		if err := db.QueryRow(q).Scan(&d); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s.%s=%s\n", tb[0], tb[1], d)
	}
	var objects string
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM duckdb_views() WHERE NOT internal) || ' views, ' ||
		(SELECT count(*) FROM duckdb_functions() WHERE NOT internal) || ' functions, ' ||
		(SELECT count(*) FROM duckdb_sequences()) || ' sequences, ' ||
		(SELECT count(*) FROM duckdb_indexes()) || ' indexes'`).Scan(&objects); err != nil {
		t.Fatal(err)
	}
	return b.String() + objects
}

// TestHostileSQLOverStdio sends hostile SQL through healthsim_query to a
// real server over stdio: escape attempts, huge results and endless
// queries. Each gets an isError result or a truncated result within the
// query timeout plus a margin; afterwards the server still answers and the
// database is unchanged.
func TestHostileSQLOverStdio(t *testing.T) {
	const (
		queryTimeout = time.Second
		margin       = 4 * time.Second // process scheduling on a busy CI machine
	)
	bin := healthsimBinary(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "hostile.duckdb")
	outside := t.TempDir()
	ctx := context.Background()

	srv, err := startServer(ctx, bin, db, "--query-timeout", queryTimeout.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if srv.cmd.ProcessState == nil {
			srv.kill()
		}
	})
	d := &driver{srv: srv, st: newStats()}
	if _, err := d.save(ctx, "victim n20", 20); err != nil {
		t.Fatalf("save: %v", err)
	}
	before := digest(t, db)

	const (
		refused   = "refused"   // an isError result
		truncated = "truncated" // a result with truncated set
		either    = "either"    // one of the two
		answered  = "answered"  // any result (odd input the gate may pass or refuse)
	)
	stolen := filepath.Join(outside, "stolen.csv")
	deep := strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000)
	cases := []struct {
		name, sql string
		limit     int
		want      string
	}{
		// Escape attempts.
		{"copy to file", "COPY scenarios TO '" + stolen + "'", 0, refused},
		{"copy over the database", "COPY (SELECT 1) TO '" + db + "' (FORMAT csv, USE_TMP_FILE false)", 0, refused},
		{"copy in a cte", "WITH x AS (SELECT 1) COPY (SELECT * FROM x) TO '" + stolen + "'", 0, refused},
		{"read_csv passwd", "SELECT * FROM read_csv('/etc/passwd')", 0, refused},
		{"read_csv_auto passwd", "SELECT * FROM read_csv_auto('/etc/passwd', header = false)", 0, refused},
		{"replacement scan", "SELECT * FROM '/etc/passwd'", 0, refused},
		{"read_text", "SELECT content FROM read_text('/etc/passwd')", 0, refused},
		{"read_blob", "SELECT content FROM read_blob('/etc/hostname')", 0, refused},
		{"sniff_csv", "SELECT * FROM sniff_csv('/etc/passwd')", 0, refused},
		{"glob", "SELECT * FROM glob('/etc/*')", 0, refused},
		{"remote parquet", "SELECT * FROM read_parquet('https://example.com/x.parquet')", 0, refused},
		{"attach", "ATTACH '" + filepath.Join(outside, "other.duckdb") + "' AS other", 0, refused},
		{"detach", "DETACH db", 0, refused},
		{"detach and reattach read-write", "USE memory; DETACH db; ATTACH '" + db + "' AS db (READ_WRITE); DELETE FROM db.scenarios", 0, refused},
		{"set", "SET enable_external_access = true", 0, refused},
		{"set threads", "SET threads = 1", 0, refused},
		{"reset", "RESET ALL", 0, refused},
		{"pragma", "PRAGMA enable_profiling", 0, refused},
		{"pragma database_list", "PRAGMA database_list", 0, refused},
		{"call enable_logging", "CALL enable_logging(storage = 'file', storage_path = '" + filepath.Join(outside, "log") + "')", 0, refused},
		{"select enable_logging", "SELECT * FROM enable_logging()", 0, refused},
		{"install", "INSTALL httpfs", 0, refused},
		{"force install", "FORCE INSTALL httpfs FROM 'http://127.0.0.1:1'", 0, refused},
		{"load", "LOAD httpfs", 0, refused},
		{"multi-statement delete", "SELECT 1; DELETE FROM scenarios", 0, refused},
		{"multi-statement select", "SELECT 1; SELECT 2", 0, refused},
		{"comment smuggle", "SELECT 1 /* x */; DROP TABLE scenarios; --", 0, refused},
		{"query()", "SELECT * FROM query('DELETE FROM scenarios')", 0, refused},
		{"query_table()", "SELECT * FROM query_table('scenarios')", 0, refused},
		{"getenv", "SELECT getenv('HOME')", 0, refused},
		{"secrets", "SELECT * FROM duckdb_secrets()", 0, refused},
		{"export", "EXPORT DATABASE '" + filepath.Join(outside, "export") + "'", 0, refused},
		{"checkpoint", "CHECKPOINT", 0, refused},
		{"create table", "CREATE TABLE pwn AS SELECT 1", 0, refused},
		{"create macro", "CREATE MACRO pwn(x) AS x", 0, refused},
		{"other catalog", "SELECT * FROM system.main.duckdb_settings()", 0, refused},
		{"nextval", "SELECT nextval('goose_db_version_id_seq')", 0, refused},
		{"unterminated comment", "SELECT 1 /*", 0, refused},
		{"too long", "SELECT 1" + strings.Repeat(" ", 100_000), 0, refused},
		{"repeat folded while planning", "SELECT length(repeat('x', 2000000000))", 0, refused},
		// Odd input: whatever the gate says, an answer in time.
		{"nul byte", "SELECT 1\x00; DROP TABLE scenarios", 0, answered},
		{"deep nesting", "SELECT " + deep, 0, answered},
		{"long expression", "SELECT " + strings.Repeat("1+", 45_000) + "1", 0, answered},
		// Huge results.
		{"ten million rows", "SELECT * FROM range(10000000)", 0, truncated},
		{"ten million rows, limit 1000", "SELECT * FROM range(10000000)", 1000, truncated},
		{"wide rows", "SELECT repeat('x', 10000) AS s FROM range(1000)", 1000, truncated},
		{"one huge value", "SELECT string_agg(range::VARCHAR, ',') FROM range(10000000)", 0, either},
		{"cross join rows", "SELECT * FROM range(10000000) a, range(10) b", 0, truncated},
		// Endless.
		{"cross join of ranges", "SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE a.range + b.range = -1", 0, refused},
		{"cross join sum", "SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000000) b", 0, refused},
		{"recursive cte", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT max(n) FROM r", 0, either},
		{"big sort", "SELECT count(*) FROM (SELECT * FROM range(50000000) ORDER BY random())", 0, either},
	}
	var slowest time.Duration
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := map[string]any{"sql": c.sql}
			if c.limit > 0 {
				args["limit"] = c.limit
			}
			start := time.Now()
			res, err := srv.call(ctx, "healthsim_query", args)
			took := time.Since(start)
			slowest = max(slowest, took)
			if err != nil {
				t.Fatalf("protocol error after %s: %v; server log:\n%s", took, err, srv.log)
			}
			var out struct {
				Truncated bool   `json:"truncated"`
				RowCount  int    `json:"row_count"`
				Reason    string `json:"truncated_reason"`
			}
			if !res.IsError {
				if err := decode(res, &out); err != nil {
					t.Fatalf("undecodable result: %v", err)
				}
			}
			summary := fmt.Sprintf("isError %v, truncated %v (%d rows, %s), after %s: %s",
				res.IsError, out.Truncated, out.RowCount, out.Reason, took.Round(time.Millisecond), clip(text(res), 200))
			t.Log(summary)
			switch ok := res.IsError || out.Truncated; {
			case c.want == refused && !res.IsError,
				c.want == truncated && (res.IsError || !out.Truncated),
				c.want == either && !ok:
				t.Errorf("want %s; got %s", c.want, summary)
			}
			if res.IsError && (len(text(res)) < 20 || strings.Contains(text(res), "panic")) {
				t.Errorf("unclear message %q", text(res))
			}
			if took > queryTimeout+margin {
				t.Errorf("answered after %s; the query timeout is %s", took, queryTimeout)
			}
		})
	}
	t.Logf("slowest answer: %s", slowest.Round(time.Millisecond))

	// The server is alive and answers, and nothing changed.
	if srv.cmd.ProcessState != nil {
		t.Fatalf("the server died; its log:\n%s", srv.log)
	}
	res, err := srv.call(ctx, "healthsim_query", map[string]any{"sql": "SELECT name FROM scenarios"})
	if err != nil || res.IsError || !strings.Contains(text(res), "victim n20") {
		t.Fatalf("a normal query after the hostile ones: %v %s", err, text(res))
	}
	if after := digest(t, db); after != before {
		t.Errorf("the database changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	if _, err := d.save(ctx, "after n20", 20); err != nil {
		t.Fatalf("a save after the hostile queries: %v", err)
	}
	for _, p := range []string{stolen, filepath.Join(outside, "other.duckdb"), filepath.Join(outside, "log"), filepath.Join(outside, "export")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists: a query wrote outside the database", p)
		}
	}
	if err := srv.terminate(); err != nil {
		t.Error(err)
	}
}
