package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/jmoiron/sqlx"
)

// rowsFor is the number of rows of t, the table of point reads, in a file
// of sizeMB megabytes: 10,000 per MB, at most a million (as dbx's
// benchmarks do).
func rowsFor(sizeMB int) int64 { return int64(min(1_000_000, max(1, sizeMB)*10_000)) }

// benchFile returns the path of a DuckDB file of about sizeMB megabytes
// in dir, building it if it is not there yet. It holds t(id BIGINT
// PRIMARY KEY, name, val) for point reads, an empty table log for inserts
// and a filler table wide, in the same layout as dbx's benchmark files.
func benchFile(ctx context.Context, dir string, sizeMB int, log io.Writer) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("bench-%dmb.duckdb", sizeMB))
	if info, err := os.Stat(path); err == nil {
		fmt.Fprintf(log, "using %s (%d MB)\n", path, info.Size()/1e6)
		return path, nil
	}
	fmt.Fprintf(log, "building %s (about %d MB, once)…\n", path, sizeMB)
	start := time.Now()
	if err := buildFile(ctx, path, int64(sizeMB)*1e6, rowsFor(sizeMB)); err != nil {
		return "", fmt.Errorf("build %s: %w", path, err)
	}
	fmt.Fprintf(log, "built %s in %v\n", path, time.Since(start).Round(time.Second))
	return path, nil
}

// buildFile writes the file under a temporary name with dbx (so it is in
// the storage format dbx writes) and renames it once it reaches target.
func buildFile(ctx context.Context, path string, target, rows int64) error {
	tmp := path + ".partial"
	for _, f := range append([]string{tmp, tmp + ".wal"}, dbx.Sidecars(tmp)...) { // an interrupted earlier build
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	// Every window checkpointed and let go at once: the loop sizes the file.
	db, err := dbx.Open(ctx, tmp, dbx.WithWriteLinger(0), dbx.WithCheckpointEvery(1, 1))
	if err != nil {
		return err
	}
	defer db.Close()
	write := func(query string, args ...any) error {
		return db.Write(ctx, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, query, args...)
			return err
		})
	}
	if err := write(`CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR, val DOUBLE);
		CREATE TABLE log (id BIGINT, ts TIMESTAMP, note VARCHAR);
		CREATE TABLE wide (id BIGINT, a UBIGINT, b UBIGINT, c DOUBLE, s1 VARCHAR, s2 VARCHAR)`); err != nil {
		return err
	}
	if err := write("INSERT INTO t SELECT i, md5(i::VARCHAR), random() FROM range(1, ?) r(i)", rows+1); err != nil {
		return err
	}
	// Fill wide in batches, re-estimating bytes per row from the real size,
	// until the file is within 3% of the target; hashes and md5 strings keep
	// it from compressing to nothing. os.Stat only: opening the file would
	// drop this process's locks on it.
	size := func() (int64, error) {
		info, err := os.Stat(tmp)
		if err != nil {
			return 0, err
		}
		return info.Size(), nil
	}
	cur, err := size()
	if err != nil {
		return err
	}
	next, perRow := int64(0), int64(64)
	for cur < target*97/100 {
		n := min(max((target-cur)/perRow, 10_000), 5_000_000)
		if err := write(`INSERT INTO wide SELECT i, hash(i), hash(-i), random(), md5(i::VARCHAR), md5((i * 7919)::VARCHAR)
			FROM range(?, ?) r(i)`, next, next+n); err != nil {
			return err
		}
		next += n
		newSize, err := size()
		if err != nil {
			return err
		}
		perRow = max(1, (newSize-cur)/n)
		cur = newSize
	}
	if err := db.Close(); err != nil {
		return err
	}
	for _, f := range dbx.Sidecars(tmp) {
		os.Remove(f)
	}
	if _, err := os.Stat(tmp + ".wal"); err == nil { // pending commits go with the file
		if err := os.Rename(tmp+".wal", path+".wal"); err != nil {
			return err
		}
	}
	return os.Rename(tmp, path)
}
