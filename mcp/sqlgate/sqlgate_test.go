package sqlgate_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/mcp/sqlgate"
	"github.com/jmoiron/sqlx"
)

func TestHostileSQLRefused(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	before := snapshot(t, db)
	file := db.Path()

	cases := []struct{ sql, want string }{
		{"INSERT INTO t VALUES (100, 'x', 1)", "got an INSERT"},
		{"UPDATE t SET name = 'x'", "got an UPDATE"},
		{"DELETE FROM t", "got a DELETE"},
		{"CREATE TABLE x (a INT)", "got a CREATE"},
		{"CREATE TEMP TABLE x AS SELECT 1", "got a CREATE"},
		{"CREATE MACRO m(a) AS a + 1", "got a CREATE"},
		{"CREATE VIEW v AS SELECT 1", "got a CREATE"},
		{"DROP TABLE t", "got a DROP"},
		{"ALTER TABLE t ADD COLUMN z INT", "got an ALTER"},
		{"TRUNCATE t", "got a TRUNCATE"},
		{"ATTACH ':memory:' AS m", "got an ATTACH"},
		{"DETACH db", "got a DETACH"},
		{"USE memory; DETACH db; ATTACH '" + file + "' AS db (READ_WRITE); DELETE FROM t", "got a USE"},
		{"USE memory", "got a USE"},
		{"SELECT 1; DELETE FROM t", "several statements or one that is not a SELECT"},
		{"DELETE FROM t; SELECT 1", "got a DELETE"},
		{"SELECT 1; SELECT 2", "got 2 statements"},
		{"SELECT 1\x00; DROP TABLE t", "NUL character"},
		{"SELECT * FROM t; DELETE FROM t; SELECT 1", "not a SELECT"},
		{"COPY (SELECT 1) TO '" + file + "' (FORMAT csv, USE_TMP_FILE false)", "got a COPY"},
		{"COPY t FROM '/etc/passwd'", "got a COPY"},
		{"EXPORT DATABASE '/tmp/x'", "got an EXPORT"},
		{"IMPORT DATABASE '/tmp/x'", "got an IMPORT"},
		{"SELECT * FROM read_csv('/etc/passwd')", "function read_csv is not allowed: it reads files"},
		{"SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv_auto is not allowed"},
		{"SELECT * FROM READ_PARQUET('x.parquet')", "read_parquet is not allowed"},
		{"SELECT * FROM parquet_scan('x.parquet')", "parquet_scan is not allowed"},
		{`SELECT * FROM "read_json"('x.json')`, "read_json is not allowed"},
		{"SELECT content FROM read_text('/etc/passwd')", "read_text is not allowed"},
		{"SELECT * FROM read_blob('" + file + "')", "read_blob is not allowed"},
		{"SELECT * FROM glob('/*')", "glob is not allowed"},
		{"SELECT * FROM sniff_csv('/etc/passwd')", "sniff_csv is not allowed"},
		{"SELECT (SELECT count(*) FROM read_csv('/etc/passwd'))", "read_csv is not allowed"},
		{"SELECT * FROM t WHERE id IN (SELECT 1 FROM read_csv('/etc/passwd'))", "read_csv is not allowed"},
		{"FROM '/etc/passwd'", "looks like a file path"},
		{"SELECT * FROM 'data.csv'", "looks like a file path"},
		{"SELECT * FROM \"" + file + "\"", "looks like a file path"},
		{"SUMMARIZE '/etc/passwd'", "looks like a file path"},
		{"SELECT * FROM passwd.csv", "as the file"},
		{"SELECT * FROM db.x.parquet", "as the file"},
		{"SELECT * FROM db.csv.gz", "as the file"},
		{"DESCRIBE x.JSON", "as the file"},
		{"SELECT * FROM other.duckdb", "as the file"},
		{"SELECT * FROM query('DELETE FROM t')", "function query is not allowed"},
		{"SELECT * FROM query('SELECT 1' || '; DELETE FROM t')", "function query is not allowed"},
		{"SELECT * FROM query_table('t')", "function query_table is not allowed"},
		{"SELECT * FROM histogram_values('passwd.csv', column0)", "function histogram_values is not allowed in FROM"},
		{"SELECT * FROM histogram('memory.main.x', a)", "function histogram is not allowed in FROM"},
		{"SELECT count(*) FROM histogram_values('t', id, bin_count := 30000000, technique := 'equi-height')", "function histogram_values is not allowed in FROM"},
		{"SELECT * FROM enable_logging(storage='file', storage_path='x')", "function enable_logging is not allowed"},
		{"SELECT enable_profiling()", "enable_profiling is not allowed"},
		{"SELECT * FROM checkpoint()", "checkpoint is not allowed"},
		{"SELECT * FROM force_checkpoint()", "force_checkpoint is not allowed"},
		{"SELECT * FROM dbgen(sf := 0.01, catalog := 'memory')", "dbgen is not allowed"},
		{"SELECT * FROM dsdgen(sf := 0.01)", "dsdgen is not allowed"},
		{"SELECT * FROM register_external_resource('x', 'y', MAP {'a': 'b'})", "register_external_resource is not allowed"},
		{"SELECT * FROM register_external_resource_type('x', kind := 'y', create_function := 'abs')", "register_external_resource_type is not allowed"},
		{"SELECT * FROM create_external_resource('x')", "create_external_resource is not allowed"},
		{"SELECT json_execute_serialized_sql(json_serialize_sql('SELECT 1'))", "json_execute_serialized_sql is not allowed"},
		{"SELECT * FROM json_execute_serialized_sql('{}')", "json_execute_serialized_sql is not allowed"},
		{"SELECT json_serialize_plan('SELECT 1')", "json_serialize_plan is not allowed"},
		{"SELECT * FROM duckdb_secrets()", "duckdb_secrets is not allowed"},
		{"SELECT getenv('HEALTHSIM_MCP_TOKEN')", "getenv is not allowed"},
		{"SELECT * FROM pragma_database_size()", "pragma_database_size is not allowed"},
		{"SELECT * FROM postgres_scan('host=x', 'public', 't')", "postgres_scan is not allowed"},
		{"SELECT * FROM sqlite_scan('x.db', 't')", "sqlite_scan is not allowed"},
		{"SELECT * FROM iceberg_scan('x')", "iceberg_scan is not allowed"},
		{"SELECT * FROM delta_scan('x')", "delta_scan is not allowed"},
		{"SELECT nextval('s')", "nextval is not allowed"},
		{"INSTALL httpfs", "got an INSTALL"},
		{"LOAD httpfs", "got a LOAD"},
		{"SET threads = 1", "got a SET"},
		{"SET lock_configuration = false", "got a SET"},
		{"RESET threads", "got a RESET"},
		{"PRAGMA database_list", "got a PRAGMA"},
		{"PRAGMA enable_profiling", "got a PRAGMA"},
		{"CHECKPOINT", "got a CHECKPOINT"},
		{"CALL duckdb_settings()", "got a CALL"},
		{"CALL enable_logging(storage='file', storage_path='x')", "got a CALL"},
		{"BEGIN TRANSACTION", "got a BEGIN"},
		{"VACUUM", "got a VACUUM"},
		{"EXPLAIN SELECT 1", "got an EXPLAIN"},
		{"WITH x AS (DELETE FROM t RETURNING *) SELECT count(*) FROM x", "got a DELETE inside it"},
		{"WITH x AS (UPDATE t SET name = 'x') SELECT 1", "got an UPDATE inside it"},
		{"WITH x AS (INSERT INTO t VALUES (100, 'x', 1) RETURNING *) SELECT * FROM x", "got an INSERT inside it"},
		{"WITH x AS (COPY (SELECT 1) TO '" + file + "' (FORMAT csv, USE_TMP_FILE false)) SELECT 1", "got a COPY inside it"},
		{"SELECT * FROM (WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x)", "got a DELETE inside it"},
		{"PREPARE p AS SELECT 1", "got a PREPARE"},
		{"SELECT * FROM system.main.duckdb_settings()", `catalog "system"`},
		{"SELECT * FROM memory.main.x", `catalog "memory"`},
		{"SELECT * FROM memory.x", `catalog "memory"`},
		{"SELECT * FROM temp.main.x", `catalog "temp"`},
		{"SELECT system.main.abs(1)", `catalog "system"`},
		{"/* x */ sElEcT 1; -- \n dElEtE FROM t", "not a SELECT"},
		{"/* x */ dElEtE /* y */ FROM t; --", "got a DELETE"},
		{"-- c\n(DELETE FROM t)", "not valid SQL"},
		{"ＳＥＬＥＣＴ 1", "not valid SQL"},
		{"SELECT 1 \u037e DELETE FROM t", "not valid SQL"},
		{"", "empty"},
		{";;", "empty"},
		{"-- only a comment", "empty"},
		{"SELECT length(repeat('x', 2000000000))", "too large"},
		{"SELECT repeat('x', 600000) || repeat('y', 600000)", "too large"},
		{"SELECT repeat(repeat('x', 1000), 1000)", "nested calls"},
		{"SELECT length(repeat('" + strings.Repeat("x", 100) + "', 999999))", "too large"},
		{"SELECT len(list_resize(['a'], 999999, '" + strings.Repeat("y", 100) + "'))", "too large"},
		{"SELECT length(repeat((SELECT string_agg('x', '') FROM range(1000)), 999))", "needs a literal as the value it repeats"},
		{"SELECT len(list_transform([1, 1, 1, 1, 1, 1, 1, 1], lambda x: repeat('x', 999999)))", "inside a lambda"},
		{"SELECT len([repeat('x', 999999) FOR x IN [1, 1, 1, 1, 1, 1, 1, 1]])", "inside a lambda"},
		{"SELECT list_reduce([1, 2], lambda a, b: a + len(range(999999)))", "inside a lambda"},
		{"SELECT repeat('x', (SELECT 2000000000))", "needs a number literal"},
		{"SELECT repeat('x', 20000 * 100000)", "needs a number literal"},
		{"SELECT lpad('x', 2000000000, 'y')", "too large"},
		{"SELECT range(2000000000)", "too large"},
		{"SELECT generate_series(1, 12345678901234567890)", "too large"},
		{"SELECT unnest(range(id)) FROM t", "needs number literals"},
		{"SELECT list_resize([1], 2000000000)", "too large"},
		{"SELECT len(list_resize(size := 2000000000, value := 0, list := [1]))", "by position"},
		// value.f(n) parses as f of schema "value" with one argument.
		{"SELECT x.repeat(2000000000) FROM (SELECT 'x' AS x)", "by its name alone"},
		{"SELECT len(x.list_resize(2000000000)) FROM (SELECT [1] AS x)", "by its name alone"},
		{"SELECT main.repeat('x', 2000000000)", "by its name alone"},
		{"SELECT len(array_resize([1], value := 0, size := 2000000000))", "by position"},
		{"SELECT len(range(step := 1, start := 0, stop := 2000000000))", "by position"},
		{"SELECT len(generate_series(step := 1, start := 0, stop := 2000000000))", "by position"},
		{"SELECT printf('%2000000000d', 1)", "too large"},
		{"SELECT format('{:>{}}', 'x', 2000000000)", "too large"},
		{"SELECT printf(name, 1) FROM t", "literal format string"},
		{"SELECT to_base(1, 2, 2000000000)", "too large"},
		{"SELECT bit_length(bitstring('1', 2000000000))", "too large"},
		{"SELECT 1 " + strings.Repeat("x", sqlgate.MaxSQLBytes), "bytes long"},
	}
	for _, c := range cases {
		t.Run(c.sql[:min(len(c.sql), 50)], func(t *testing.T) {
			res, err := sqlgate.Run(ctx, db.Read(), c.sql, sqlgate.Options{Timeout: 2 * time.Second})
			var refused *sqlgate.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("not refused: result %+v, err %v", res, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("message %q does not contain %q", err, c.want)
			}
		})
	}

	if after := snapshot(t, db); after != before {
		t.Errorf("database changed:\nbefore %s\nafter  %s", before, after)
	}
	// The pool still answers, and the file can still be written.
	res, err := sqlgate.Run(ctx, db.Read(), "SELECT count(*) AS n FROM t", sqlgate.Options{})
	if err != nil || res.Rows[0][0] != int64(20) {
		t.Fatalf("pool broken afterwards: %+v %v", res, err)
	}
	if err := db.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO u VALUES (1, 'after')")
		return err
	}); err != nil {
		t.Fatalf("file not writable afterwards: %v", err)
	}
}

// Without the gate these statements do damage on the read pool:
// this guards the premise of the package, so a DuckDB upgrade that changes
// it is noticed.
func TestEngineAloneIsNotEnough(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	conn, err := db.Read().Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // never pool it
		conn.Close()
	}()
	if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE scratch AS SELECT 1"); err != nil {
		t.Skipf("the engine now refuses temp tables: %v", err)
	}
	if err := sqlgate.Check(ctx, "CREATE TEMP TABLE scratch2 AS SELECT 1"); !sqlgate.IsRefused(err) {
		t.Fatalf("Check let a temp table through: %v", err)
	}
}

func TestAllowedQueries(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	cases := []struct {
		sql  string
		rows int
	}{
		{"SELECT * FROM t", 20},
		{"SELECT t.name, count(u.tag) FROM t JOIN u ON u.t_id = t.id GROUP BY t.name", 20},
		{"WITH x AS (SELECT id FROM t WHERE id <= 5) SELECT * FROM x", 5},
		{"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT * FROM r", 10},
		{"SELECT id, rank() OVER (ORDER BY score DESC), sum(score) OVER (PARTITION BY id % 2) FROM t", 20},
		{"SELECT id FROM t UNION SELECT t_id FROM u", 20},
		{"SELECT id FROM t EXCEPT SELECT 1", 19},
		{"SELECT avg(score), min(name), max(id), sum(score) FROM t", 1},
		{"SELECT tag, count(*) FROM u GROUP BY ALL ORDER BY ALL", 3},
		{"SELECT * FROM db.main.t WHERE id = 3", 1},
		{"SELECT * FROM population.svi_county", 2},
		{"SELECT * FROM db.population.svi_county", 2},
		{"SELECT table_name FROM duckdb_tables()", 3},
		{"SELECT * FROM duckdb_columns() WHERE table_name = 't'", 3},
		{"SELECT table_name FROM information_schema.tables WHERE table_catalog = 'db'", 3},
		{"SHOW TABLES", 2},
		{"DESCRIBE t", 3},
		{"SUMMARIZE t", 3},
		{"FROM t LIMIT 2", 2},
		{"VALUES (1), (2)", 2},
		{"/* hello */ sElEcT 1; -- bye", 1},
		{"SELECT 1;", 1},
		{"SELECT 'ünïcødé ✓', '''; DELETE FROM t; --'", 1},
		{"SELECT repeat('-', 20), lpad('7', 5, '0'), range(3), setseed(0.5)", 1},
		{"SELECT * FROM range(5)", 5},
		{"SELECT * FROM generate_series(1, 3)", 3},
		{"SELECT json_serialize_sql('DELETE FROM t')", 1},
		{"SELECT printf('%05.2f', 1.5), format('{:>5}', 'x')", 1},
		{"SELECT histogram(tag) FROM u", 1},
		{"SELECT * FROM (SELECT * FROM t ORDER BY id DESC) LIMIT 3", 3},
		{"PIVOT_WIDER u ON tag USING count(*)", -1},
	}
	for _, c := range cases {
		t.Run(c.sql[:min(len(c.sql), 50)], func(t *testing.T) {
			res, err := sqlgate.Run(ctx, db.Read(), c.sql, sqlgate.Options{})
			if c.rows < 0 { // a harmless query the gate refuses, as a limitation: it must say so
				if err == nil {
					t.Fatalf("accepted (%d rows): update the case, the limitation is gone", res.RowCount)
				}
				t.Logf("refused: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.RowCount != c.rows || len(res.Rows) != c.rows || res.Truncated {
				t.Errorf("got %d rows (truncated %v), want %d", res.RowCount, res.Truncated, c.rows)
			}
		})
	}
	// Order survives the LIMIT that Run wraps around a query.
	res, err := sqlgate.Run(ctx, db.Read(), "SELECT id FROM t ORDER BY id DESC", sqlgate.Options{MaxRows: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := []any{res.Rows[0][0], res.Rows[1][0], res.Rows[2][0]}; fmt.Sprint(got) != "[20 19 18]" {
		t.Errorf("order lost: %v", got)
	}
}

func TestTimeout(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	start := time.Now()
	_, err := sqlgate.Run(ctx, db.Read(),
		"SELECT count(*) FROM range(1000000000) a, range(1000000000) b",
		sqlgate.Options{Timeout: 300 * time.Millisecond})
	elapsed := time.Since(start)
	if !errors.Is(err, sqlgate.ErrTimeout) {
		t.Fatalf("want timeout, got %v", err)
	}
	if !strings.Contains(err.Error(), "took longer than the 300ms limit and was stopped") {
		t.Errorf("message: %v", err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("stopped after %s", elapsed)
	}
	// The caller's own cancellation is not reported as a timeout.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = sqlgate.Run(cctx, db.Read(), "SELECT count(*) FROM range(1000000000) a, range(1000000000) b", sqlgate.Options{})
	if err == nil || errors.Is(err, sqlgate.ErrTimeout) {
		t.Errorf("caller cancellation: %v", err)
	}
	if _, err := sqlgate.Run(ctx, db.Read(), "SELECT 1", sqlgate.Options{}); err != nil {
		t.Fatalf("pool broken after timeout: %v", err)
	}
}

// TestMemoryLimit: a query that needs more memory than the instance's
// limit is stopped with ErrMemory and a sentence naming the limit; one
// that can spill runs; the pool keeps working.
func TestMemoryLimit(t *testing.T) {
	db := openDB(t, dbx.WithMemoryLimit(64<<20))
	ctx := context.Background()
	opts := sqlgate.Options{Timeout: time.Minute}
	_, err := sqlgate.Run(ctx, db.Read(), "SELECT len(list(i)) FROM range(20000000) r(i)", opts)
	if !errors.Is(err, sqlgate.ErrMemory) {
		t.Fatalf("want ErrMemory, got %v", err)
	}
	if !strings.Contains(err.Error(), "needed more than the 64.0 MiB memory limit and was stopped; filter rows") {
		t.Errorf("message: %v", err)
	}
	res, err := sqlgate.Run(ctx, db.Read(), "SELECT count(*) FROM (SELECT i, count(*) FROM range(3000000) r(i) GROUP BY i)", opts)
	if err != nil || res.Rows[0][0] != int64(3000000) {
		t.Fatalf("spilling query: %v, %v", res, err)
	}
	if _, err := sqlgate.Run(ctx, db.Read(), "SELECT 1", opts); err != nil {
		t.Fatalf("pool broken after running out of memory: %v", err)
	}
}

func TestTruncation(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	res, err := sqlgate.Run(ctx, db.Read(), "SELECT * FROM range(100000000)", sqlgate.Options{MaxRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if res.RowCount != 1000 || !res.Truncated || !strings.Contains(res.TruncatedReason, "row limit") {
		t.Errorf("rows: %d %v %q", res.RowCount, res.Truncated, res.TruncatedReason)
	}
	res, err = sqlgate.Run(ctx, db.Read(), "SELECT i, repeat('x', 1000) FROM range(1000) r(i)",
		sqlgate.Options{MaxRows: 1000, MaxBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || !strings.Contains(res.TruncatedReason, "size limit") || res.RowCount < 60 || res.RowCount > 65 {
		t.Errorf("bytes: %d %v %q", res.RowCount, res.Truncated, res.TruncatedReason)
	}
	res, err = sqlgate.Run(ctx, db.Read(), "SELECT * FROM range(5)", sqlgate.Options{MaxRows: 5})
	if err != nil || res.Truncated || res.RowCount != 5 {
		t.Errorf("exact fit: %+v %v", res, err)
	}
}

// TestQueriesLeaveNothingBehind: the gate refuses every statement that
// would leave state on a connection, and the one state a SELECT can set
// (setseed) is reset by closing that connection; so the read pool's
// connection, reused from query to query, looks the same after each.
func TestQueriesLeaveNothingBehind(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	pool := db.Read()
	for _, sql := range []string{
		"SET VARIABLE v = 1", "PREPARE p AS SELECT 1", "CREATE TEMP TABLE tmp AS SELECT 1",
		"CREATE TEMP MACRO m() AS 1", "CREATE TEMP SEQUENCE sq", "SET threads = 1", "SET search_path = 'population'",
		"RESET threads", "USE population", "BEGIN TRANSACTION", "ATTACH ':memory:' AS other",
		"SELECT 1; SET VARIABLE v = 1", "CALL enable_logging()",
	} {
		if _, err := sqlgate.Run(ctx, pool, sql, sqlgate.Options{}); !sqlgate.IsRefused(err) {
			t.Errorf("%q: %v, want it refused", sql, err)
		}
	}
	// What a connection could carry, read through the gate itself.
	const state = `SELECT current_setting('threads') AS threads, current_setting('search_path') AS path,
		getvariable('v') IS NULL AS no_var, (SELECT count(*) FROM duckdb_prepared_statements()) AS prepared,
		(SELECT count(*) FROM duckdb_tables() WHERE temporary) AS temp_tables, current_schema() AS schema`
	read := func() string {
		t.Helper()
		res, err := sqlgate.Run(ctx, pool, state, sqlgate.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(res.Rows)
	}
	before := read()

	conn, err := pool.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seeded float64 // the first random() after setseed(0.42)
	_, err = conn.ExecContext(ctx, "SELECT setseed(0.42)")
	if err == nil {
		err = conn.GetContext(ctx, &seeded, "SELECT random()")
	}
	conn.Raw(func(any) error { return driver.ErrBadConn }) // not back into the pool
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := sqlgate.Run(ctx, pool, "SELECT setseed(0.42)", sqlgate.Options{}); err != nil {
			t.Fatal(err)
		}
		res, err := sqlgate.Run(ctx, pool, "SELECT random()", sqlgate.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Rows[0][0]; got == seeded {
			t.Fatalf("random() = %v, the value after the previous query's setseed: the seed carried over", got)
		}
	}
	if _, err := sqlgate.Run(ctx, pool, "SELECT * FROM no_such_table", sqlgate.Options{}); err == nil {
		t.Fatal("a failing query succeeded")
	}
	if after := read(); after != before {
		t.Errorf("connection state changed:\nbefore %s\nafter  %s", before, after)
	}
	// The queries above did reuse one connection.
	if s := pool.Stats(); s.OpenConnections != 1 || s.Idle != 1 {
		t.Errorf("pool %+v: want one connection, idle, reused", s)
	}
}
