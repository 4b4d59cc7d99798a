// Package migrations holds the HealthSim schema as goose SQL migrations and
// runs them on a [dbx.DB]: questions (status, version, anything pending?)
// go through the read pool and take no write lock; changes run only inside
// a dbx write window.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
)

//go:embed sql/*.sql
var embedded embed.FS

// VersionTable is where goose records applied migrations.
const VersionTable = "goose_db_version"

// FS returns the embedded migration files.
func FS() fs.FS {
	sub, err := fs.Sub(embedded, "sql")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder
	}
	return sub
}

// NewProvider returns a goose provider for the embedded SQL migrations on
// pool, with a DuckDB store. pool may be dbx's write pool (see [Change])
// or a *sql.DB of dbx's driver ([dbx.OpenDB]), on which each migration is
// a write window of its own. It accepts no Go migrations, not even globally
// registered ones: goose holds the write pool's only connection for a whole
// run, so a Go migration outside that connection's transaction would wait
// forever.
func NewProvider(pool *sql.DB, logger *slog.Logger) (*goose.Provider, error) {
	store, err := database.NewStoreFromQuerier(VersionTable, duckdbQuerier{})
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithStore(versionStore{store.(database.StoreExtender)}), goose.WithDisableGlobalRegistry(true)}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger), goose.WithVerbose(true))
	}
	return goose.NewProvider(goose.DialectCustom, pool, FS(), opts...)
}

// Up applies every pending migration in one write window. It first asks the
// read pool and takes no write lock when nothing is pending.
func Up(ctx context.Context, db *dbx.DB) ([]*goose.MigrationResult, error) {
	pending, err := HasPending(ctx, db)
	if err != nil || !pending {
		return nil, err
	}
	var results []*goose.MigrationResult
	err = Change(ctx, db, nil, func(p *goose.Provider) error {
		results, err = p.Up(ctx)
		return err
	})
	return results, err
}

// Change runs fn with a provider on the write pool, inside one dbx write
// window. Anything another process applied meanwhile is seen by fn, so two
// processes running Up at once apply each migration once.
func Change(ctx context.Context, db *dbx.DB, logger *slog.Logger, fn func(*goose.Provider) error) error {
	return db.WritePool(ctx, func(pool *sql.DB) error {
		p, err := NewProvider(pool, logger)
		if err != nil {
			return err
		}
		return fn(p)
	})
}

// Status reports each migration as applied or pending, through the read pool.
func Status(ctx context.Context, db *dbx.DB) ([]*goose.MigrationStatus, error) {
	p, ok, err := readProvider(ctx, db)
	if err != nil {
		return nil, err
	}
	if ok {
		return p.Status(ctx)
	}
	var statuses []*goose.MigrationStatus
	for _, src := range p.ListSources() {
		statuses = append(statuses, &goose.MigrationStatus{Source: src, State: goose.StatePending})
	}
	return statuses, nil
}

// Version returns the schema version (0 for a database never migrated),
// through the read pool.
func Version(ctx context.Context, db *dbx.DB) (int64, error) {
	p, ok, err := readProvider(ctx, db)
	if err != nil || !ok {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

// AppliedVersion is Version in one statement on the read pool (about a
// tenth of Version's cost, which builds a goose provider), for a server
// that checks the schema often. A database without goose's table, or
// whose table it cannot read, is answered by Version.
func AppliedVersion(ctx context.Context, db *dbx.DB) (int64, error) {
	var v sql.NullInt64
	err := db.Read().GetContext(ctx, &v, `SELECT max(version_id) FROM `+VersionTable+` WHERE is_applied`)
	if err != nil {
		return Version(ctx, db)
	}
	return v.Int64, nil
}

// HasPending reports whether any migration is not yet applied, through the
// read pool.
func HasPending(ctx context.Context, db *dbx.DB) (bool, error) {
	p, ok, err := readProvider(ctx, db)
	if err != nil || !ok {
		return err == nil, err
	}
	return p.HasPending(ctx)
}

// Latest returns the version of the newest embedded migration.
func Latest() int64 {
	names, _ := fs.Glob(FS(), "*.sql")
	var latest int64
	for _, name := range names {
		if v, err := goose.NumericComponent(name); err == nil {
			latest = max(latest, v)
		}
	}
	return latest
}

// readProvider returns a provider on the read pool, and whether the version
// table exists (goose would try to create it, which a reader cannot).
func readProvider(ctx context.Context, db *dbx.DB) (*goose.Provider, bool, error) {
	p, err := NewProvider(db.Read().DB, nil)
	if err != nil {
		return nil, false, err
	}
	var exists bool
	if err := db.Read().GetContext(ctx, &exists, duckdbQuerier{}.TableExists(VersionTable)); err != nil {
		return nil, false, fmt.Errorf("migrations: read schema version: %w", err)
	}
	return p, exists, nil
}

// versionStore is goose's store with duckdbQuerier, which creates the
// version table one statement at a time: dbx's driver runs one statement
// per call.
type versionStore struct{ database.StoreExtender }

func (s versionStore) CreateVersionTable(ctx context.Context, db database.DBTxConn) error {
	for _, stmt := range createVersionTable(s.Tablename()) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// duckdbQuerier is goose's SQL for its version table on DuckDB, which has no
// goose dialect: ids come from a sequence.
type duckdbQuerier struct{}

func (duckdbQuerier) CreateTable(table string) string {
	return strings.Join(createVersionTable(table), ";\n")
}

// createVersionTable returns the statements that create goose's version
// table.
func createVersionTable(table string) []string {
	return []string{
		fmt.Sprintf(`CREATE SEQUENCE IF NOT EXISTS %s_id_seq`, table),
		fmt.Sprintf(`CREATE TABLE %[1]s (
    id         BIGINT PRIMARY KEY DEFAULT nextval('%[1]s_id_seq'),
    version_id BIGINT NOT NULL,
    is_applied BOOLEAN NOT NULL,
    tstamp     TIMESTAMP NOT NULL DEFAULT current_timestamp
)`, table),
	}
}

func (duckdbQuerier) InsertVersion(table string) string {
	return fmt.Sprintf(`INSERT INTO %s (version_id, is_applied) VALUES ($1, $2)`, table)
}

func (duckdbQuerier) DeleteVersion(table string) string {
	return fmt.Sprintf(`DELETE FROM %s WHERE version_id = $1`, table)
}

func (duckdbQuerier) GetMigrationByVersion(table string) string {
	return fmt.Sprintf(`SELECT tstamp, is_applied FROM %s WHERE version_id = $1 ORDER BY tstamp DESC LIMIT 1`, table)
}

func (duckdbQuerier) ListMigrations(table string) string {
	return fmt.Sprintf(`SELECT version_id, is_applied FROM %s ORDER BY id DESC`, table)
}

func (duckdbQuerier) GetLatestVersion(table string) string {
	return fmt.Sprintf(`SELECT max(version_id) FROM %s`, table)
}

func (duckdbQuerier) TableExists(table string) string {
	return fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'main' AND table_name = '%s')`, table)
}
