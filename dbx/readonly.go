package dbx

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// OpenReadOnly returns a standard read-only pool over the existing DuckDB
// file at path, for any database/sql or sqlx program. Like [DB.Read], it
// opens the file on first use, retries lock conflicts for the busy timeout,
// and releases the file (and its shared lock) once idle for the read lease.
// Unqualified names refer to the file. A DSN that is not a local file (see
// [IsLocalFile]) gets an ordinary duckdb-go pool.
func OpenReadOnly(path string, opts ...Option) (*sql.DB, error) {
	o := defaultOptions()
	if err := o.apply(opts); err != nil {
		return nil, err
	}
	if !IsLocalFile(path) {
		connector, err := duckdb.NewConnector(path, nil)
		if err != nil {
			return nil, fmt.Errorf("dbx: open %s: %w", path, err)
		}
		return sql.OpenDB(connector), nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("dbx: open %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("dbx: open %s read-only: %w", abs, err)
	}
	in := openIntent(abs)
	h, err := newHost(abs, ReadOnly, o, nil, in)
	if err != nil {
		in.close()
		return nil, err
	}
	pool := sql.OpenDB(h)
	pool.SetMaxOpenConns(o.readConns)
	pool.SetMaxIdleConns(o.readConns)
	h.letGo = func() { pool.SetMaxIdleConns(0); pool.SetMaxIdleConns(o.readConns) }
	return pool, nil
}
