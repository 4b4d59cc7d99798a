package sqlgate_test

import (
	"context"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/mcp/sqlgate"
)

// FuzzCheck: Check never panics, and SQL it accepts never changes the
// database when run. Seeds live in testdata/fuzz/FuzzCheck.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"SELECT * FROM t", "SELECT 1; DELETE FROM t", "DELETE FROM t",
		"SELECT * FROM read_csv('/etc/passwd')", "FROM '/etc/passwd'",
		"SELECT * FROM query('DELETE FROM t')", "WITH x AS (SELECT 1) SELECT * FROM x",
		"SELECT repeat('x', 10)", "SELECT * FROM system.main.duckdb_settings()",
		"WITH x AS (DELETE FROM t RETURNING *) SELECT count(*) FROM x",
		"SELECT * FROM dbgen(sf := 0.001, catalog := 'memory')",
		"SELECT len(list_transform([1, 2], lambda x: repeat('x', 10)))",
	} {
		f.Add(s)
	}
	db := openDB(f)
	before := snapshot(f, db)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, sql string) {
		if err := sqlgate.Check(ctx, sql); err != nil {
			if !sqlgate.IsRefused(err) {
				t.Fatalf("Check failed to run: %v", err)
			}
			return
		}
		// Errors from running accepted SQL are fine; changes are not.
		sqlgate.Run(ctx, db.Read(), sql, sqlgate.Options{Timeout: 250 * time.Millisecond, MaxRows: 10, MaxBytes: 4096})
		if after := snapshot(t, db); after != before {
			t.Fatalf("%q changed the database:\nbefore %s\nafter  %s", sql, before, after)
		}
	})
}
