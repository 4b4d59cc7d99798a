package migrations_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/migrations"
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
)

func openDB(t *testing.T) *dbx.DB {
	t.Helper()
	db, err := dbx.Open(context.Background(), filepath.Join(t.TempDir(), "m.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// schema describes every table and column of the database, in order.
func schema(t *testing.T, db *dbx.DB) []string {
	t.Helper()
	var cols []string
	err := db.Read().Select(&cols, `SELECT schema_name || '.' || table_name || '.' || column_name || ' ' || data_type
		FROM duckdb_columns() WHERE database_name = current_database() AND table_name <> ?
		ORDER BY schema_name, table_name, column_index`, migrations.VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	return cols
}

func TestUpDownRoundTrips(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	if v, err := migrations.Version(ctx, db); err != nil || v != 0 {
		t.Fatalf("fresh version = %d, %v", v, err)
	}
	results, err := migrations.Up(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(results)) != migrations.Latest() {
		t.Fatalf("applied %d migrations, want %d", len(results), migrations.Latest())
	}
	want := schema(t, db)
	for _, table := range []string{"main.scenarios.name VARCHAR", "main.patients.scenario_id VARCHAR", "population.adi_blockgroup.adi_natrank INTEGER", "population.reference_sources.row_count BIGINT"} {
		if !contains(want, table) {
			t.Errorf("schema lacks %s", table)
		}
	}
	for round := range 2 {
		if err := migrations.Change(ctx, db, nil, func(p *goose.Provider) error {
			_, err := p.DownTo(ctx, 0)
			return err
		}); err != nil {
			t.Fatalf("round %d down: %v", round, err)
		}
		if got := schema(t, db); len(got) != 0 {
			t.Fatalf("round %d: after down-to 0, left %v", round, got)
		}
		if v, _ := migrations.Version(ctx, db); v != 0 {
			t.Fatalf("round %d: version after down = %d", round, v)
		}
		if _, err := migrations.Up(ctx, db); err != nil {
			t.Fatalf("round %d up: %v", round, err)
		}
		if got := schema(t, db); !equal(got, want) {
			t.Fatalf("round %d: schema differs after up", round)
		}
	}
	if v, _ := migrations.Version(ctx, db); v != migrations.Latest() {
		t.Fatalf("version %d, latest %d", v, migrations.Latest())
	}
	if pending, _ := migrations.HasPending(ctx, db); pending {
		t.Fatal("pending after up")
	}
	// Nothing pending: Up returns without a write window.
	if results, err := migrations.Up(ctx, db); err != nil || len(results) != 0 {
		t.Fatalf("second up: %v, %v", results, err)
	}
}

func TestStatus(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	statuses, err := migrations.Status(ctx, db)
	if err != nil || int64(len(statuses)) != migrations.Latest() || statuses[0].State != goose.StatePending {
		t.Fatalf("fresh status: %v, %v", statuses, err)
	}
	if err := migrations.Change(ctx, db, nil, func(p *goose.Provider) error {
		_, err := p.UpByOne(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	statuses, err = migrations.Status(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if statuses[0].State != goose.StateApplied || statuses[1].State != goose.StatePending {
		t.Fatalf("after up-by-one: %v %v", statuses[0].State, statuses[1].State)
	}
}

// Go migrations are refused, even registered globally: in a write window
// goose holds the write pool's only connection, and a Go migration that is
// not run in goose's transaction would wait for a second one forever.
func TestNoGoMigrations(t *testing.T) {
	goose.AddNamedMigrationNoTxContext("00099_global.go",
		func(ctx context.Context, db *sql.DB) error { _, err := db.ExecContext(ctx, "SELECT 1"); return err }, nil)
	db := openDB(t)
	p, err := migrations.NewProvider(db.Read().DB, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range p.ListSources() {
		if src.Type != goose.TypeSQL {
			t.Fatalf("provider has a %s migration: %s", src.Type, src.Path)
		}
	}
	if _, err := migrations.Up(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	if v, _ := migrations.Version(context.Background(), db); v != migrations.Latest() {
		t.Fatalf("version %d", v)
	}
}

func TestMigratedSchemaWorks(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	if _, err := migrations.Up(ctx, db); err != nil {
		t.Fatal(err)
	}
	err := db.Write(ctx, func(tx *sqlx.Tx) error {
		tx.MustExec(`INSERT INTO scenarios (id, name, metadata) VALUES ('s1', 'demo', '{"a": 1}')`)
		tx.MustExec(`INSERT INTO scenario_entities (scenario_id, entity_type, entity_id, entity_data) VALUES ('s1', 'patient', 'p1', '{"id": "p1"}')`)
		tx.MustExec(`INSERT INTO patients (id, scenario_id, birth_date) VALUES ('p1', 's1', '1970-01-01')`)
		_, err := tx.Exec(`INSERT INTO scenarios (id, name) VALUES ('s2', 'demo')`)
		if err == nil {
			t.Error("duplicate scenario name accepted")
		}
		return nil
	})
	if err == nil {
		t.Fatal("a window with a failed statement reported success")
	}
	var n int
	if err := db.Read().Get(&n, "SELECT count(*) FROM scenarios"); err != nil || n != 0 {
		t.Fatalf("scenarios = %d, %v; want 0", n, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
