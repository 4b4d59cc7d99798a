package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
)

// notDuckDB is what DuckDB says of an existing file that is not a DuckDB
// database (an empty one included).
const notDuckDB = "not a valid DuckDB database file"

// openDatabase opens the database that d names with open (d.Open or
// d.OpenExisting), once a --db naming an existing file that is not a
// DuckDB database (a text file, an empty one) has been refused with a
// sentence that names it, before dbx creates anything beside it.
func (e *env) openDatabase(ctx context.Context, d *cli.DB, open func(context.Context, *slog.Logger) (*dbx.DB, error)) (*dbx.DB, error) {
	path, err := d.Resolve()
	if err != nil {
		return nil, err
	}
	if dbx.IsLocalFile(path) {
		if err := refuseOtherFile(ctx, path); err != nil {
			return nil, err
		}
	}
	return open(ctx, e.logger())
}

// refuseOtherFile fails if path is an existing file that DuckDB will not
// open as a database. A throwaway in-memory DuckDB attaches it read-only
// and lets go at once: this process holds no lock on the file yet (the
// command has not opened it with dbx), so letting go drops none, and
// nothing is created beside the file. Any other outcome (a missing file,
// one another program holds, one from a newer DuckDB) is left to the open
// to report.
func refuseOtherFile(ctx context.Context, path string) error {
	if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() {
		return nil
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil
	}
	probe := sql.OpenDB(connector)
	defer probe.Close()
	probe.SetMaxOpenConns(1)
	for _, stmt := range []string{
		"SET autoinstall_known_extensions = false", "SET autoload_known_extensions = false",
		"ATTACH '" + strings.ReplaceAll(path, "'", "''") + "' AS probe (TYPE duckdb, READ_ONLY)",
	} {
		if _, err := probe.ExecContext(ctx, stmt); err != nil {
			if strings.Contains(err.Error(), notDuckDB) {
				return fmt.Errorf("%s is not a DuckDB database (DuckDB: %s); nothing was changed: check --db or $%s",
					path, notDuckDB, cli.EnvDBPath)
			}
			return nil
		}
	}
	return nil
}
