package migrations_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
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
		tx.MustExec(`INSERT INTO scenario_entities (scenario_id, scenario_seq, entity_type, entity_id, entity_data)
			SELECT 's1', seq, 'patient', 'p1', '{"id": "p1"}' FROM scenarios WHERE id = 's1'`)
		tx.MustExec(`INSERT INTO patients (id, scenario_id, birth_date) VALUES ('p1', 's1', '1970-01-01')`)
		// NOT NULL is still enforced (PRIMARY KEY and UNIQUE no longer are:
		// see 00005).
		_, err := tx.Exec(`INSERT INTO scenarios (id, description) VALUES ('s2', 'no name')`)
		if err == nil {
			t.Error("a scenario without a name accepted")
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

// writtenTables are the tables saves write: 00005 leaves them without
// PRIMARY KEY, UNIQUE or index.
var writtenTables = []string{"scenarios", "scenario_entities", "scenario_tags",
	"patients", "encounters", "diagnoses", "medications", "lab_results",
	"vital_signs", "orders", "clinical_notes", "members", "claims",
	"claim_lines", "prescriptions", "pharmacy_claims", "subjects",
	"trial_visits", "adverse_events", "exposures"}

// keys lists the PRIMARY KEY and UNIQUE constraints and the indexes on the
// written tables, sorted.
func keys(t *testing.T, db *dbx.DB) []string {
	t.Helper()
	query, args, err := sqlx.In(`SELECT table_name || ' ' || constraint_type || ' (' || array_to_string(constraint_column_names, ', ') || ')' AS k
			FROM duckdb_constraints()
			WHERE database_name = current_database() AND schema_name = 'main' AND table_name IN (?)
			  AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')
		UNION ALL
		SELECT table_name || ' INDEX ' || index_name || ' ' || expressions AS k
			FROM duckdb_indexes()
			WHERE database_name = current_database() AND schema_name = 'main' AND table_name IN (?)
		ORDER BY k`, writtenTables, writtenTables)
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	if err := db.Read().Select(&ks, db.Read().Rebind(query), args...); err != nil {
		t.Fatal(err)
	}
	return ks
}

// columnRules describes nullability and default of every column of the
// written tables, in order.
func columnRules(t *testing.T, db *dbx.DB) []string {
	t.Helper()
	query, args, err := sqlx.In(`SELECT table_name || '.' || column_name || ' ' || data_type ||
			CASE WHEN is_nullable THEN '' ELSE ' NOT NULL' END || coalesce(' DEFAULT ' || column_default, '')
		FROM duckdb_columns()
		WHERE database_name = current_database() AND schema_name = 'main' AND table_name IN (?)
		ORDER BY table_name, column_index`, writtenTables)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	if err := db.Read().Select(&cols, db.Read().Rebind(query), args...); err != nil {
		t.Fatal(err)
	}
	return cols
}

func migrateTo(t *testing.T, db *dbx.DB, version int64) error {
	t.Helper()
	ctx := context.Background()
	return migrations.Change(ctx, db, nil, func(p *goose.Provider) error {
		current, err := p.GetDBVersion(ctx)
		if err != nil {
			return err
		}
		if current > version {
			_, err = p.DownTo(ctx, version)
		} else {
			_, err = p.UpTo(ctx, version)
		}
		return err
	})
}

// 00005 drops every PRIMARY KEY, UNIQUE and index of the tables saves
// write, keeps their columns, NOT NULLs, defaults and rows in order, and its
// Down brings the keys back.
func TestNoARTIndexes(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	if err := migrateTo(t, db, 4); err != nil {
		t.Fatal(err)
	}
	withKeys := []string{
		"adverse_events INDEX adverse_events_scenario [scenario_id]",
		"claim_lines INDEX claim_lines_scenario [scenario_id]",
		"claims INDEX claims_scenario [scenario_id]",
		"clinical_notes INDEX clinical_notes_scenario [scenario_id]",
		"diagnoses INDEX diagnoses_scenario [scenario_id]",
		"encounters INDEX encounters_scenario [scenario_id]",
		"exposures INDEX exposures_scenario [scenario_id]",
		"lab_results INDEX lab_results_scenario [scenario_id]",
		"medications INDEX medications_scenario [scenario_id]",
		"members INDEX members_scenario [scenario_id]",
		"orders INDEX orders_scenario [scenario_id]",
		"patients INDEX patients_scenario [scenario_id]",
		"pharmacy_claims INDEX pharmacy_claims_scenario [scenario_id]",
		"prescriptions INDEX prescriptions_scenario [scenario_id]",
		"scenario_entities UNIQUE (scenario_id, entity_type, entity_id)",
		"scenario_tags INDEX scenario_tags_tag [tag]",
		"scenario_tags UNIQUE (scenario_id, tag)",
		"scenarios PRIMARY KEY (id)",
		"scenarios UNIQUE (name)",
		"subjects INDEX subjects_scenario [scenario_id]",
		"trial_visits INDEX trial_visits_scenario [scenario_id]",
		"vital_signs INDEX vital_signs_scenario [scenario_id]",
	}
	if got := keys(t, db); !equal(got, withKeys) {
		t.Fatalf("keys at version 4:\n%s", strings.Join(got, "\n"))
	}
	rules := columnRules(t, db)
	all := schema(t, db)

	// Rows whose rowids have gaps (deleted rows in between), so that a
	// rebuild in another order would show.
	err := db.Write(ctx, func(tx *sqlx.Tx) error {
		for _, s := range []string{
			`INSERT INTO scenarios (id, name, description, metadata) VALUES ('s1', 'one', 'd', '{"a": 1}'), ('s0', 'gone', NULL, NULL), ('s2', 'two', NULL, NULL)`,
			`INSERT INTO scenario_entities (scenario_id, entity_type, entity_id, entity_data)
				SELECT 's' || (i % 2 + 1), 'patients', 'p' || (1000 - i), '{"i": ' || i || '}' FROM range(3000) r(i)`,
			`DELETE FROM scenarios WHERE id = 's0'`,
			`DELETE FROM scenario_entities WHERE entity_id LIKE '%7'`,
			`INSERT INTO scenario_entities (scenario_id, entity_type, entity_id, entity_data) VALUES ('s1', 'patients', 'last', '{}')`,
			`INSERT INTO scenario_tags VALUES ('s2', 'z'), ('s1', 'b'), ('s1', 'a')`,
			`INSERT INTO patients (id, scenario_id) VALUES ('p1', 's1')`,
		} {
			if _, err := tx.Exec(s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	contents := func() string {
		var rows []string
		for _, table := range []string{"scenarios", "scenario_entities", "scenario_tags", "patients"} {
			var r []string
			if err := db.Read().Select(&r, `SELECT `+"'"+table+"'"+` || ': ' || (t)::VARCHAR FROM `+table+` t ORDER BY rowid`); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, r...)
		}
		return strings.Join(rows, "\n")
	}
	before := contents()

	for round := range 2 {
		if err := migrateTo(t, db, 5); err != nil {
			t.Fatalf("round %d: up to 5: %v", round, err)
		}
		if got := keys(t, db); len(got) != 0 {
			t.Fatalf("round %d: keys left after 00005:\n%s", round, strings.Join(got, "\n"))
		}
		if got := columnRules(t, db); !equal(got, rules) {
			t.Fatalf("round %d: columns after 00005:\n%s\nwant\n%s", round, strings.Join(got, "\n"), strings.Join(rules, "\n"))
		}
		if got := schema(t, db); !equal(got, all) {
			t.Fatalf("round %d: schema after 00005 differs", round)
		}
		if got := contents(); got != before {
			t.Fatalf("round %d: rows after 00005:\n%s\nwant\n%s", round, got, before)
		}
		if err := migrateTo(t, db, 4); err != nil {
			t.Fatalf("round %d: down to 4: %v", round, err)
		}
		if got := keys(t, db); !equal(got, withKeys) {
			t.Fatalf("round %d: keys after down:\n%s", round, strings.Join(got, "\n"))
		}
		if got := columnRules(t, db); !equal(got, rules) {
			t.Fatalf("round %d: columns after down:\n%s", round, strings.Join(got, "\n"))
		}
		if got := contents(); got != before {
			t.Fatalf("round %d: rows after down:\n%s", round, got)
		}
	}

	// Duplicates written without the constraints make the Down fail, and
	// change nothing.
	if err := migrateTo(t, db, 5); err != nil {
		t.Fatal(err)
	}
	err = db.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.Exec(`INSERT INTO scenarios (id, name) VALUES ('s3', 'one')`)
		return err
	})
	if err != nil {
		t.Fatalf("a duplicate name after 00005: %v", err)
	}
	if err := migrateTo(t, db, 4); err == nil {
		t.Fatal("down with a duplicate name succeeded")
	} else {
		t.Logf("down with a duplicate name: %v", err)
	}
	if v, err := migrations.Version(ctx, db); err != nil || v != 5 {
		t.Fatalf("version after a failed down: %d, %v", v, err)
	}
	if got := keys(t, db); len(got) != 0 {
		t.Fatalf("keys after a failed down:\n%s", strings.Join(got, "\n"))
	}
	var n int
	if err := db.Read().Get(&n, `SELECT count(*) FROM scenario_entities`); err != nil || n != 2701 {
		t.Fatalf("entities after a failed down: %d, %v", n, err)
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

// 00007 stores every column of scenarios uncompressed, rows that come later
// included, and keeps its rows, columns and indexes; its Down gives the
// columns back to DuckDB's choice of compression.
func TestScenariosUncompressed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.duckdb")
	ctx := context.Background()
	open := func() *dbx.DB {
		db, err := dbx.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	// compressions lists the compression of scenarios' data segments on
	// disk, after closing db (which checkpoints what it wrote).
	compressions := func(db *dbx.DB) []string {
		t.Helper()
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		pool, err := dbx.OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		var cs []string
		if err := sqlx.NewDb(pool, "duckdb").SelectContext(ctx, &cs, `SELECT DISTINCT column_name || ' ' || compression FROM pragma_storage_info('scenarios')
			WHERE persistent AND segment_type <> 'VALIDITY' ORDER BY 1`); err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			t.Fatal("scenarios has no segment on disk")
		}
		return cs
	}
	insert := func(db *dbx.DB, from int) {
		t.Helper()
		err := db.Write(ctx, func(tx *sqlx.Tx) error {
			_, err := tx.Exec(`INSERT INTO scenarios (id, name, description, metadata)
				SELECT 'scn-' || i, 'name-' || i, 'a scenario like the others, number ' || (i % 7), '{"n": ' || (i % 3) || '}'
				FROM range(?, ? + 3000) r(i)`, from, from)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// decodeFree reports whether every segment is stored uncompressed or
	// as a constant (which DuckDB still picks for a run of equal values
	// once the file is reopened): none needs decoding to fetch a row.
	decodeFree := func(cs []string) bool {
		for _, c := range cs {
			if !strings.HasSuffix(c, " Uncompressed") && !strings.HasSuffix(c, " Constant") {
				return false
			}
		}
		return true
	}

	db := open()
	if err := migrateTo(t, db, 6); err != nil {
		t.Fatal(err)
	}
	insert(db, 0)
	before := compressions(db)
	if decodeFree(before) {
		t.Fatalf("at version 6 the columns are already uncompressed: %v", before)
	}
	t.Logf("at version 6: %v", before)
	db = open()
	rules, indexes := columnRules(t, db), keys(t, db)
	var rows []string
	if err := db.Read().Select(&rows, `SELECT (s)::VARCHAR FROM scenarios s ORDER BY rowid`); err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(t, db, 7); err != nil {
		t.Fatal(err)
	}
	insert(db, 3000) // rows saved after the migration
	if got := compressions(db); !decodeFree(got) {
		t.Fatalf("after 00007: %v, want every column uncompressed", got)
	}
	db = open()
	insert(db, 6000) // and after the file was reopened
	if got := compressions(db); !decodeFree(got) {
		t.Fatalf("after 00007 and a reopen: %v, want every column uncompressed", got)
	}
	db = open()
	defer func() { db.Close() }()
	if got := columnRules(t, db); !equal(got, rules) {
		t.Fatalf("columns after 00007:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(rules, "\n"))
	}
	if got := keys(t, db); !equal(got, indexes) {
		t.Fatalf("indexes after 00007: %v, want %v", got, indexes)
	}
	var after []string
	if err := db.Read().Select(&after, `SELECT (s)::VARCHAR FROM scenarios s ORDER BY rowid LIMIT 3000`); err != nil {
		t.Fatal(err)
	}
	if !equal(after, rows) {
		t.Fatal("00007 changed the rows of scenarios or their order")
	}
	var id string
	if err := db.Read().Get(&id, `SELECT id FROM scenarios WHERE name = 'name-4500'`); err != nil || id != "scn-4500" {
		t.Fatalf("lookup by name after 00007: %q, %v", id, err)
	}
	if err := migrateTo(t, db, 6); err != nil {
		t.Fatal(err)
	}
	if got := compressions(db); decodeFree(got) {
		t.Fatalf("after down to 6 the columns are still all uncompressed: %v", got)
	}
	db = open()
	if got := keys(t, db); !equal(got, indexes) {
		t.Fatalf("indexes after down: %v, want %v", got, indexes)
	}
}

// TestScenarioLookupLayout: 00008 gives every scenario a seq, its tags and
// entity counts on its row, and every entity its scenario's seq, with the
// entities written in seq order; its Down drops them again.
func TestScenarioLookupLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.duckdb")
	ctx := context.Background()
	db, err := dbx.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrateTo(t, db, 7); err != nil {
		t.Fatal(err)
	}
	// s1's entities come in two runs, around s2's (an overwrite did that);
	// one entity has no scenario.
	err = db.Write(ctx, func(tx *sqlx.Tx) error {
		for _, s := range []string{
			`INSERT INTO scenarios (id, name) VALUES ('s1', 'one'), ('s2', 'two'), ('s3', 'empty')`,
			`INSERT INTO scenario_entities (scenario_id, entity_type, entity_id, entity_data) VALUES
				('s1', 'patients', 'p1', '{}'), ('s2', 'patients', 'p2', '{}'), ('s1', 'encounters', 'e1', '{}'),
				('s1', 'patients', 'p3', '{}'), ('gone', 'patients', 'g', '{}')`,
			`INSERT INTO scenario_tags VALUES ('s1', 'b'), ('s1', 'a'), ('s2', 'z')`,
		} {
			if _, err := tx.Exec(s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(t, db, 8); err != nil {
		t.Fatal(err)
	}
	var rows []string
	if err := db.Read().Select(&rows, `SELECT id || ' ' || tags || ' ' || entity_counts FROM scenarios ORDER BY seq`); err != nil {
		t.Fatal(err)
	}
	want := []string{`s1 ["a","b"] {"encounters":1,"patients":2}`, `s2 ["z"] {"patients":1}`, `s3 [] {}`}
	if !slices.Equal(rows, want) {
		t.Errorf("scenarios after 00008:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	rows = nil
	if err := db.Read().Select(&rows, `SELECT e.entity_id || ' ' || (e.scenario_seq = coalesce(s.seq, 0))
		FROM scenario_entities e LEFT JOIN scenarios s ON s.id = e.scenario_id ORDER BY e.rowid`); err != nil {
		t.Fatal(err)
	}
	if want := []string{"g true", "p1 true", "e1 true", "p3 true", "p2 true"}; !slices.Equal(rows, want) {
		t.Errorf("scenario_entities after 00008 (rowid order, scenario_seq right): %v, want %v", rows, want)
	}
	// A new scenario takes the next seq.
	var seq []int64
	if err := db.Write(ctx, func(tx *sqlx.Tx) error {
		return tx.Select(&seq, `INSERT INTO scenarios (id, name) VALUES ('s4', 'four') RETURNING seq`)
	}); err != nil || len(seq) != 1 || seq[0] != 4 {
		t.Errorf("new scenario's seq: %v, %v; want 4", seq, err)
	}

	if err := migrateTo(t, db, 7); err != nil {
		t.Fatal(err)
	}
	var cols []string
	if err := db.Read().Select(&cols, `SELECT table_name || '.' || column_name FROM duckdb_columns()
		WHERE column_name IN ('seq', 'tags', 'entity_counts', 'scenario_seq') AND table_name LIKE 'scenario%' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(cols) != 0 {
		t.Errorf("after Down: %v remain", cols)
	}
}

// TestAppliedVersion: the one-statement version agrees with goose's on a
// new file, after every step up and after a step down.
func TestAppliedVersion(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	check := func() {
		t.Helper()
		want, err := migrations.Version(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := migrations.AppliedVersion(ctx, db); err != nil || got != want {
			t.Fatalf("AppliedVersion = %d, %v; Version = %d", got, err, want)
		}
	}
	check()
	for v := int64(1); v <= migrations.Latest(); v++ {
		if err := migrateTo(t, db, v); err != nil {
			t.Fatal(err)
		}
		check()
	}
	if err := migrateTo(t, db, migrations.Latest()-1); err != nil {
		t.Fatal(err)
	}
	check()
}
