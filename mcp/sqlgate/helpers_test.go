package sqlgate_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/jmoiron/sqlx"
)

// openDB creates a database file with three small tables.
func openDB(tb testing.TB, opts ...dbx.Option) *dbx.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := dbx.Open(ctx, filepath.Join(tb.TempDir(), "gate.duckdb"), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	err = db.Write(ctx, func(tx *sqlx.Tx) error {
		for _, stmt := range []string{
			"CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR, score DECIMAL(6,2))",
			"INSERT INTO t SELECT i, 'name' || i, i * 1.25 FROM range(1, 21) r(i)",
			"CREATE TABLE u (t_id INTEGER, tag VARCHAR)",
			"INSERT INTO u SELECT i % 20 + 1, 'tag' || (i % 3) FROM range(60) r(i)",
			"CREATE SCHEMA population",
			"CREATE TABLE population.svi_county (fips VARCHAR, svi DOUBLE)",
			"INSERT INTO population.svi_county VALUES ('01001', 0.5), ('01003', 0.25)",
		} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// snapshot describes the database's contents: every table with its row count.
func snapshot(tb testing.TB, db *dbx.DB) string {
	tb.Helper()
	ctx := context.Background()
	var tables []struct {
		Schema string `db:"schema_name"`
		Name   string `db:"table_name"`
	}
	err := db.Read().SelectContext(ctx, &tables,
		"SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL")
	if err != nil {
		tb.Fatalf("snapshot: %v", err)
	}
	s := ""
	for _, t := range tables {
		var n int
		q := fmt.Sprintf(`SELECT count(*) FROM db."%s"."%s"`, t.Schema, t.Name)
		if err := db.Read().GetContext(ctx, &n, q); err != nil {
			tb.Fatalf("snapshot: %v", err)
		}
		s += fmt.Sprintf("%s.%s=%d ", t.Schema, t.Name, n)
	}
	var objects int
	if err := db.Read().GetContext(ctx, &objects,
		"SELECT (SELECT count(*) FROM duckdb_views() WHERE NOT internal) + (SELECT count(*) FROM duckdb_functions() WHERE NOT internal) + (SELECT count(*) FROM duckdb_databases())"); err != nil {
		tb.Fatalf("snapshot: %v", err)
	}
	return s + fmt.Sprintf("objects=%d", objects)
}
