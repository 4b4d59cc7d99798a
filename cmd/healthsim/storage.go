package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
)

// NewFormat is the storage format dbx creates files in; its checkpoints
// cost milliseconds instead of walking every row group.
const NewFormat = "v1.4.0"

const storageSynopsis = `storage VERB [flags]

Verbs:
  info      print the file's storage format, size, WAL size and tables
  upgrade   rewrite a file made in an older storage format in the format
            dbx creates (` + NewFormat + `), while nobody else has it open`

// StorageCommand inspects and upgrades the database file's storage format.
type StorageCommand struct {
	*env
	db cli.DB
}

func (c *StorageCommand) Run(ctx context.Context, args []string) error {
	fs := cli.NewFlagSet("storage", "healthsim "+storageSynopsis, c.stderr)
	c.db.Register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return cli.HelpOK(err)
	}
	if len(pos) != 1 || (pos[0] != "info" && pos[0] != "upgrade") {
		return cli.UsageError(fs, "storage needs one verb: info or upgrade")
	}
	db, err := c.db.OpenExisting(ctx, c.logger())
	if err != nil {
		return err
	}
	defer db.Close()
	if pos[0] == "info" {
		return c.info(ctx, db)
	}
	return c.upgrade(ctx, db)
}

// tableRows is a table and its exact row count.
type tableRows struct {
	Name string
	Rows int64
}

func (c *StorageCommand) info(ctx context.Context, db *dbx.DB) error {
	format, err := storageFormat(ctx, db)
	if err != nil {
		return err
	}
	tables, err := countRows(ctx, db.Read().DB, dbx.Catalog)
	if err != nil {
		return err
	}
	size, walSize := fileSize(db.Path()), fileSize(db.Path()+".wal")
	note := "current"
	if !isNewFormat(format) {
		note = "old: run `healthsim storage upgrade` for fast write windows"
	}
	fmt.Fprintf(c.stdout, "file:     %s\nformat:   %s (%s)\nsize:     %s\nwal:      %s\ntables:   %d\n",
		db.Path(), format, note, cli.Bytes(size), cli.Bytes(walSize), len(tables))
	for _, t := range tables {
		fmt.Fprintf(c.stdout, "  %-36s %12d rows\n", t.Name, t.Rows)
	}
	return nil
}

// upgrade copies the database into a new file in NewFormat and puts it in
// place of the original (dbx.DB.ReplaceFile), all in one write window, so
// no dbx process writes meanwhile. Row counts are compared before the
// copy replaces the original; on any failure the original is untouched
// and the copy is removed.
func (c *StorageCommand) upgrade(ctx context.Context, db *dbx.DB) error {
	format, err := storageFormat(ctx, db)
	if err != nil {
		return err
	}
	if isNewFormat(format) {
		fmt.Fprintf(c.stdout, "%s is already in storage format %s; nothing to do.\n", db.Path(), format)
		return nil
	}
	err = db.ReplaceFile(ctx, func(pool *sql.DB, newPath string) error {
		conn, err := pool.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		steps := []string{
			"CHECKPOINT " + dbx.Catalog,
			fmt.Sprintf("ATTACH %s AS upgraded (STORAGE_VERSION '%s')", sqlString(newPath), NewFormat),
			"COPY FROM DATABASE " + dbx.Catalog + " TO upgraded",
		}
		for _, stmt := range steps {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "DETACH DATABASE IF EXISTS upgraded")
		before, err := countRows(ctx, conn, dbx.Catalog)
		if err != nil {
			return err
		}
		after, err := countRows(ctx, conn, "upgraded")
		if err != nil {
			return err
		}
		if fmt.Sprint(before) != fmt.Sprint(after) {
			return fmt.Errorf("the copy does not match the original (tables and rows %v, copy %v)", before, after)
		}
		if _, err := conn.ExecContext(ctx, "CHECKPOINT upgraded; DETACH upgraded"); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "copied %s with %s rows; replacing the original\n",
			cli.Plural(len(after), "table"), strconv.FormatInt(total(after), 10))
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage upgrade failed; %s is unchanged: %w", db.Path(), err)
	}
	format, err = storageFormat(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s now uses storage format %s.\n", db.Path(), format)
	return nil
}

// storageFormat returns the file's storage format as DuckDB reports it ("v1.0.0+").
func storageFormat(ctx context.Context, db *dbx.DB) (string, error) {
	var format sql.NullString
	err := db.Read().GetContext(ctx, &format,
		"SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = ?", dbx.Catalog)
	if err != nil {
		return "", fmt.Errorf("read the storage format: %w", err)
	}
	return format.String, nil
}

// isNewFormat reports whether format ("v1.4.0+") is at least NewFormat.
func isNewFormat(format string) bool {
	parse := func(v string) (out [3]int) {
		for i, part := range strings.SplitN(strings.Trim(v, "v+"), ".", 3) {
			out[i], _ = strconv.Atoi(part)
		}
		return out
	}
	have, want := parse(format), parse(NewFormat)
	for i := range have {
		if have[i] != want[i] {
			return have[i] > want[i]
		}
	}
	return true
}

// querier is what countRows needs of a *sql.DB or *sql.Conn.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// countRows returns every table of catalog with its exact row count, in name order.
func countRows(ctx context.Context, q querier, catalog string) ([]tableRows, error) {
	rows, err := q.QueryContext(ctx, `SELECT schema_name, table_name FROM duckdb_tables()
		WHERE database_name = ? ORDER BY schema_name, table_name`, catalog)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var tables []tableRows
	for rows.Next() {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, tableRows{Name: schema + "." + table})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, t := range tables {
		schema, table, _ := strings.Cut(t.Name, ".")
		query := fmt.Sprintf("SELECT count(*) FROM %s.%s.%s", ident(catalog), ident(schema), ident(table))
		if err := q.QueryRowContext(ctx, query).Scan(&tables[i].Rows); err != nil {
			return nil, fmt.Errorf("count %s: %w", t.Name, err)
		}
	}
	return tables, nil
}

func total(tables []tableRows) (n int64) {
	for _, t := range tables {
		n += t.Rows
	}
	return n
}

// fileSize returns the size of path, or 0 if it does not exist.
func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}

// ident quotes an SQL identifier; sqlString quotes an SQL string literal.
func ident(s string) string     { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
