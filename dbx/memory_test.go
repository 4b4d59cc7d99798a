package dbx_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/healthsim/healthsim-go/dbx"
	"github.com/jmoiron/sqlx"
)

const (
	// needsMemory builds one 160 MB list: DuckDB cannot spill it.
	needsMemory = "SELECT len(list(i)) FROM range(20000000) r(i)"
	// spills aggregates 10M groups (several hundred MB of hash table, far
	// over the tests' 64 MiB: with 3M groups DuckDB did not always spill),
	// which DuckDB can move to disk.
	spills = "SELECT count(*) FROM (SELECT i, count(*) FROM range(10000000) r(i) GROUP BY i)"
)

// isOutOfMemory reports whether err is DuckDB's "Out of Memory Error".
func isOutOfMemory(err error) bool {
	var de *duckdb.Error
	return errors.As(err, &de) && de.Type == duckdb.ErrorTypeOutOfMemory
}

// tempDirs returns the temporary directories beside path.
func tempDirs(t *testing.T, path string) []string {
	t.Helper()
	dirs, err := filepath.Glob(path + ".*.tmp")
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// TestMemoryLimit: both sides refuse a statement that needs more than the
// limit, which they run without it, and stay usable.
func TestMemoryLimit(t *testing.T) {
	ctx := context.Background()
	path := newFile(t)
	var n int
	free := open(t, path)
	if err := free.Read().GetContext(ctx, &n, needsMemory); err != nil {
		t.Fatalf("without a limit: %v", err)
	}
	free.Close()

	db := open(t, path, dbx.WithMemoryLimit(64<<20), dbx.WithReadsDuringWrites())
	if err := db.Read().GetContext(ctx, &n, needsMemory); !isOutOfMemory(err) {
		t.Fatalf("read side: want an Out of Memory Error, got %v", err)
	}
	err := db.Write(ctx, func(tx *sqlx.Tx) error { return tx.GetContext(ctx, &n, needsMemory) })
	if !isOutOfMemory(err) {
		t.Fatalf("write side: want an Out of Memory Error, got %v", err)
	}
	if err := insert(ctx, db, 1, 2); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db); got != 2 {
		t.Fatalf("count = %d after the refusals, want 2", got)
	}
	var limit string
	if err := db.Read().GetContext(ctx, &limit, "SELECT current_setting('memory_limit')"); err != nil || limit != "64.0 MiB" {
		t.Fatalf("memory_limit = %q, %v; want 64.0 MiB", limit, err)
	}
}

// TestMemoryLimitSpills: on the locked-down read side (external access
// off) a query bigger than the limit spills into the DB's own temporary
// directory beside the file, and in a write window into the write side's;
// Close removes both.
func TestMemoryLimitSpills(t *testing.T) {
	ctx := context.Background()
	path := newFile(t)
	db := open(t, path, dbx.WithMemoryLimit(64<<20))
	var n int
	if err := db.Read().GetContext(ctx, &n, spills); err != nil || n != 10000000 {
		t.Fatalf("spilling query: %d, %v", n, err)
	}
	// DuckDB creates the directory when it first spills.
	if dirs := tempDirs(t, path); len(dirs) != 1 {
		t.Fatalf("temporary directories beside the file: %q, want the read side's", dirs)
	}
	if err := db.Write(ctx, func(tx *sqlx.Tx) error { return tx.GetContext(ctx, &n, spills) }); err != nil {
		t.Fatalf("spilling in a write window: %v", err)
	}
	if dirs := tempDirs(t, path); len(dirs) != 2 {
		t.Fatalf("temporary directories beside the file: %q, want the read and the write side's", dirs)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if dirs := tempDirs(t, path); len(dirs) != 0 {
		t.Fatalf("temporary directories left after Close: %q", dirs)
	}
}
