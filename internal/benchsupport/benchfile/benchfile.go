// Package benchfile builds the large DuckDB files that benchmarks read,
// once: with dbx (so in the storage format dbx writes), under a temporary
// name that is renamed into place only when the file is complete; and
// opens a file as a program that does not use dbx does.
package benchfile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/healthsim/healthsim-go/dbx"
	"github.com/jmoiron/sqlx"
)

// OpenPlain opens path with plain duckdb-go, as a program that does not
// use dbx does (a notebook, a test suite), read-only or read-write, and
// runs a query, so the file is really open: it holds the file's lock
// until closed.
func OpenPlain(path string, readOnly bool) (*sql.DB, error) {
	dsn := path
	if readOnly {
		dsn += "?access_mode=READ_ONLY"
	}
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	if _, err := db.Exec("SELECT 1"); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Batches bounds how many units (rows, scenarios) one fill window writes,
// and guesses their size before the first window has measured it.
type Batches struct {
	Min, Max     int64
	BytesPerUnit int64
}

// Build writes a new file at path: setup runs first (schema, fixed
// tables), then fill writes units next to next+n-1 in one write window per
// batch, the bytes per unit re-estimated from the real file size after
// each batch, until the file holds at least 97% of target bytes. Each
// batch aims at target, but the file may end past it, even far past:
// setup alone may pass it (fill then never runs), a batch writes at least
// batches.Min units, DuckDB grows a file by whole blocks, and a checkpoint
// may rewrite earlier rows into new blocks, which leaves the old ones free
// inside the file (on DuckDB 2.0, a 16 MB target has ended at 31 MB, half
// of it free). Whatever an interrupted earlier build left is removed first.
func Build(ctx context.Context, path string, target int64, batches Batches,
	setup func(db *dbx.DB) error, fill func(tx *sqlx.Tx, next, n int64) error) error {
	tmp := path + ".partial"
	for _, f := range append([]string{tmp, tmp + ".wal"}, dbx.Sidecars(tmp)...) {
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
	if err := setup(db); err != nil {
		return err
	}
	size, err := Size(tmp)
	next, perUnit := int64(0), batches.BytesPerUnit
	for err == nil && size < target*97/100 {
		n := min(max((target-size)/perUnit, batches.Min), batches.Max)
		if err = db.Write(ctx, func(tx *sqlx.Tx) error { return fill(tx, next, n) }); err != nil {
			break
		}
		next += n
		var newSize int64
		newSize, err = Size(tmp)
		perUnit = max(1, (newSize-size)/n)
		size = newSize
	}
	if err := errors.Join(err, db.Close()); err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	if _, err := os.Stat(tmp + ".wal"); err == nil {
		return fmt.Errorf("build %s: %s.wal left after close", path, tmp)
	}
	for _, f := range dbx.Sidecars(tmp) {
		os.Remove(f)
	}
	return os.Rename(tmp, path)
}

// PointReads builds, as Build does, the file that dbx's and scripts/bench's
// benchmarks read: t(id BIGINT PRIMARY KEY, name, val) with rows rows for
// point reads, an empty table log for inserts, and a filler table wide
// whose hashes and md5 strings keep it from compressing to nothing.
func PointReads(ctx context.Context, path string, target, rows int64) error {
	setup := func(db *dbx.DB) error {
		return db.Write(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR, val DOUBLE);
				CREATE TABLE log (id BIGINT, ts TIMESTAMP, note VARCHAR);
				CREATE TABLE wide (id BIGINT, a UBIGINT, b UBIGINT, c DOUBLE, s1 VARCHAR, s2 VARCHAR)`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO t SELECT i, md5(i::VARCHAR), random() FROM range(1, ?) r(i)", rows+1)
			return err
		})
	}
	fill := func(tx *sqlx.Tx, next, n int64) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO wide SELECT i, hash(i), hash(-i), random(), md5(i::VARCHAR), md5((i * 7919)::VARCHAR)
			FROM range(?, ?) r(i)`, next, next+n)
		return err
	}
	return Build(ctx, path, target, Batches{Min: 10_000, Max: 5_000_000, BytesPerUnit: 64}, setup, fill)
}

// Size returns the size of the file at path. It only stats the file:
// opening it would drop this process's DuckDB locks on it.
func Size(path string) (int64, error) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}
