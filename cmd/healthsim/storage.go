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

// NewFormat is the oldest storage version whose checkpoints cost
// milliseconds instead of walking every row group; serve names files older
// than it.
const NewFormat = "v1.4.0"

// lastDuckDB1Format is the newest storage version that DuckDB 1.x opens.
const lastDuckDB1Format = "v1.5.0"

const storageSynopsis = `storage VERB [flags]

Verbs:
  info       print the file's storage version, which DuckDB releases open it,
             its size, WAL size and tables
  upgrade    rewrite the file in the newer storage version --storage-version
             (default ` + dbx.DefaultStorageVersion + `), while nobody else has it open; older
             DuckDB releases can no longer open it, which it says first (and
             asks, or takes --yes, before going past ` + dbx.DefaultStorageVersion + `)
  downgrade  rewrite the file in the older storage version --storage-version,
             so that older DuckDB releases open it again

The database must exist: a missing one, or a file that is not a DuckDB
database, is an error naming the path, and nothing is created.`

// StorageCommand inspects and rewrites the database file's storage version.
type StorageCommand struct {
	*env
	db  cli.DB
	yes bool // upgrade past dbx.DefaultStorageVersion without asking
}

func (c *StorageCommand) Run(ctx context.Context, args []string) error {
	fs := cli.NewFlagSet("storage", "healthsim "+storageSynopsis, c.stderr)
	c.db.Register(fs)
	fs.BoolVar(&c.yes, "yes", false, "upgrade: do not ask before shutting out DuckDB releases that open "+dbx.DefaultStorageVersion+" (required without a terminal)")
	pos, err := parse(fs, args)
	if err != nil {
		return cli.HelpOK(err)
	}
	if len(pos) != 1 || (pos[0] != "info" && pos[0] != "upgrade" && pos[0] != "downgrade") {
		return cli.UsageError(fs, "storage needs one verb: info, upgrade or downgrade")
	}
	db, err := c.db.OpenExisting(ctx, c.logger())
	if err != nil {
		return err
	}
	defer db.Close()
	if pos[0] == "info" {
		return c.info(ctx, db)
	}
	return c.rewrite(ctx, db, pos[0])
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
	var engine string
	if err := db.Read().GetContext(ctx, &engine, "SELECT version()"); err != nil {
		return err
	}
	tables, err := countRows(ctx, db.Read().DB, dbx.Catalog)
	if err != nil {
		return err
	}
	size, walSize := fileSize(db.Path()), fileSize(db.Path()+".wal")
	note := "checkpoints cost milliseconds"
	if dbx.StorageVersionLess(format, NewFormat) {
		note = "old: checkpoints read every table; run `healthsim storage upgrade` for fast write windows"
	}
	fmt.Fprintf(c.stdout, "file:     %s\nstorage:  %s: opened by %s (this healthsim: DuckDB %s, which opens %s to %s)\n          %s\nsize:     %s\nwal:      %s\ntables:   %d\n",
		db.Path(), format, openedBy(format), engine, dbx.OldestStorageVersion, dbx.LatestStorageVersion, note,
		cli.Bytes(size), cli.Bytes(walSize), len(tables))
	for _, t := range tables {
		fmt.Fprintf(c.stdout, "  %-36s %12d rows\n", t.Name, t.Rows)
	}
	return nil
}

// rewrite copies the database into a new file in the storage version of
// --storage-version and puts it in place of the original
// (dbx.DB.ReplaceFile), all in one write window, so no dbx process writes
// meanwhile. verb is upgrade or downgrade, and the version must move that
// way. It says first which DuckDB releases open the result, and before an
// upgrade past dbx.DefaultStorageVersion asks (or takes --yes). Row counts
// are compared before the copy replaces the original; on any failure the
// original is untouched and the copy is removed.
func (c *StorageCommand) rewrite(ctx context.Context, db *dbx.DB, verb string) error {
	format, err := storageFormat(ctx, db)
	if err != nil {
		return err
	}
	release, err := c.db.Storage()
	if err != nil {
		return err
	}
	target := dbx.StorageVersionOf(release)
	switch {
	case verb == "upgrade" && !dbx.StorageVersionLess(format, target):
		fmt.Fprintf(c.stdout, "%s is already in storage version %s, at least %s; nothing to do.\n", db.Path(), format, target)
		return nil
	case verb == "downgrade" && !dbx.StorageVersionLess(target, format):
		fmt.Fprintf(c.stdout, "%s is already in storage version %s, at most %s; nothing to do.\n", db.Path(), format, target)
		return nil
	}
	what := fmt.Sprintf("rewrite %s from storage version %s to %s, which %s open", db.Path(), format, target, openedBy(target))
	if verb == "upgrade" {
		what += fmt.Sprintf("; %s will no longer open it", shutOut(target))
	}
	if verb == "upgrade" && dbx.StorageVersionLess(dbx.DefaultStorageVersion, target) {
		if err := c.confirm("storage "+verb, what, c.yes); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.stdout, "storage %s will %s.\n", verb, what)
	err = db.ReplaceFile(ctx, func(pool *sql.DB, newPath string) error {
		conn, err := pool.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		steps := []string{
			"CHECKPOINT " + dbx.Catalog,
			fmt.Sprintf("ATTACH %s AS rewritten (STORAGE_VERSION %s)", sqlString(newPath), sqlString(target)),
			"COPY FROM DATABASE " + dbx.Catalog + " TO rewritten",
		}
		for _, stmt := range steps {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "DETACH DATABASE IF EXISTS rewritten")
		before, err := countRows(ctx, conn, dbx.Catalog)
		if err != nil {
			return err
		}
		after, err := countRows(ctx, conn, "rewritten")
		if err != nil {
			return err
		}
		if fmt.Sprint(before) != fmt.Sprint(after) {
			return fmt.Errorf("the copy does not match the original (tables and rows %v, copy %v)", before, after)
		}
		if _, err := conn.ExecContext(ctx, "CHECKPOINT rewritten; DETACH rewritten"); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "copied %s with %s rows; replacing the original\n",
			cli.Plural(len(after), "table"), strconv.FormatInt(total(after), 10))
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage %s failed; %s is unchanged: %w", verb, db.Path(), err)
	}
	format, err = storageFormat(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s now uses storage version %s.\n", db.Path(), format)
	return nil
}

// storageFormat returns the file's storage version as DuckDB reports it ("v1.0.0+").
func storageFormat(ctx context.Context, db *dbx.DB) (string, error) {
	var format sql.NullString
	err := db.Read().GetContext(ctx, &format,
		"SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = ?", dbx.Catalog)
	if err != nil {
		return "", fmt.Errorf("read the storage format: %w", err)
	}
	return format.String, nil
}

// release parses a DuckDB release or storage version, "v1.4.0" or
// "v1.4.0+", into its numbers, for messages.
func release(v string) (out [3]int) {
	for i, part := range strings.SplitN(strings.Trim(v, "v+"), ".", 3) {
		out[i], _ = strconv.Atoi(part)
	}
	return out
}

// openedBy says which DuckDB releases open a file in storage version v:
// the one that introduced it and every later one.
func openedBy(v string) string {
	r := release(v)
	return fmt.Sprintf("DuckDB %d.%d and later", r[0], r[1])
}

// shutOut says which DuckDB releases open no file in storage version to.
func shutOut(to string) string {
	r := release(to)
	return fmt.Sprintf("DuckDB releases before %d.%d", r[0], r[1])
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
