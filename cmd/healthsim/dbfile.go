package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
)

// notDuckDB is what DuckDB says of an existing file that is not a DuckDB
// database (an empty one included).
const notDuckDB = "not a valid DuckDB database file"

// openDatabase opens the database that d names with open (d.Open or
// d.OpenExisting) and reads it once, so that a --db naming an existing
// file that is not a DuckDB database (a text file, an empty one) is
// refused with a sentence that names it, and leaves nothing behind: dbx
// creates its sidecars when it opens, before DuckDB looks at the file, so
// they are removed again if this open created them. Any other error of
// that read (a file another program holds, one from a newer DuckDB) is
// returned as it is, after closing the database. The file itself is never
// opened here: closing a descriptor of it would drop this process's
// DuckDB locks.
func (e *env) openDatabase(ctx context.Context, d *cli.DB, open func(context.Context, *slog.Logger) (*dbx.DB, error)) (*dbx.DB, error) {
	path, err := d.Resolve()
	if err != nil {
		return nil, err
	}
	if !dbx.IsLocalFile(path) {
		return open(ctx, e.logger())
	}
	var created []string // the sidecars this open creates
	if abs, err := filepath.Abs(path); err == nil {
		for _, sidecar := range []string{abs + dbx.IntentSuffix, abs + dbx.WaitSuffix} {
			if _, err := os.Lstat(sidecar); errors.Is(err, os.ErrNotExist) {
				created = append(created, sidecar)
			}
		}
	}
	db, err := open(ctx, e.logger())
	if err != nil {
		return nil, err
	}
	err = db.Read().PingContext(ctx)
	if err == nil {
		return db, nil
	}
	db.Close() // then this process holds no lock on the file or its sidecars
	if !strings.Contains(err.Error(), notDuckDB) {
		return nil, err
	}
	for _, sidecar := range created {
		os.Remove(sidecar)
	}
	return nil, fmt.Errorf("%s is not a DuckDB database (DuckDB: %s); nothing was changed: check --db or $%s",
		db.Path(), notDuckDB, cli.EnvDBPath)
}
