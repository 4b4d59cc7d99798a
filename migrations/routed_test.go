package migrations_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/healthsim/healthsim-go/migrations"
)

// The test binary re-runs itself as a second dbx process (proctest):
//
//	migrate-up: open the file with dbx, print "ready", and at the command
//	  "up" apply every pending migration in one write window (Up) and
//	  print "ok N" (N applied); at "version", print "version V".
func TestMain(m *testing.M) {
	proctest.Main(m, map[string]proctest.Helper{"migrate-up": migrateHelper})
}

func migrateHelper(path string, done <-chan struct{}) error {
	ctx := context.Background()
	db, err := dbx.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Println("ready")
	for {
		select {
		case cmd := <-proctest.Commands():
			switch cmd {
			case "up":
				results, err := migrations.Up(ctx, db)
				if err != nil {
					fmt.Println("error:", err)
					continue
				}
				fmt.Println("ok", len(results))
			case "version":
				v, err := migrations.Version(ctx, db)
				if err != nil {
					fmt.Println("error:", err)
					continue
				}
				fmt.Println("version", v)
			}
		case <-done:
			return nil
		}
	}
}

// schemaOf describes every table, column and index of pool's database.
func schemaOf(t *testing.T, pool *sql.DB) []string {
	t.Helper()
	rows, err := pool.Query(`SELECT schema_name || '.' || table_name || '.' || column_name || ' ' || data_type
		FROM duckdb_columns() WHERE database_name = current_database()
		UNION ALL SELECT 'index ' || schema_name || '.' || index_name FROM duckdb_indexes() WHERE database_name = current_database()
		UNION ALL SELECT 'sequence ' || schema_name || '.' || sequence_name FROM duckdb_sequences() WHERE database_name = current_database()`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestGooseOnRoutedDB runs goose's Provider on dbx's driver, with no
// write pool, while another dbx process applies the rest of the
// migrations; both end with the same schema, each migration applied once.
func TestGooseOnRoutedDB(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "routed.duckdb")
	pool, err := dbx.OpenDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	p, err := migrations.NewProvider(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	// goose applies the first half on the routed *sql.DB: each migration
	// is a transaction, so a write window.
	half := migrations.Latest() / 2
	if _, err := p.UpTo(ctx, half); err != nil {
		t.Fatal(err)
	}
	if v, err := p.GetDBVersion(ctx); err != nil || v != half {
		t.Fatalf("version %d, %v; want %d", v, err, half)
	}

	// Another dbx process applies the rest while goose asks the routed
	// side for the version without pause.
	other := proctest.StartReady(t, "migrate-up", path)
	other.Send(t, "up")
	polls := 0
	deadline := time.Now().Add(time.Minute)
	for {
		v, err := p.GetDBVersion(ctx)
		if err != nil {
			t.Fatalf("goose on the routed side while the other process migrates: %v", err)
		}
		polls++
		if v == migrations.Latest() {
			break
		}
		if v != half {
			t.Fatalf("version %d seen mid-way: the other process's window is all or nothing", v)
		}
		if time.Now().After(deadline) {
			t.Fatal("the other process's migrations never showed")
		}
	}
	if line := other.Line(t); line != fmt.Sprint("ok ", migrations.Latest()-half) {
		t.Fatalf("the other process: %q", line)
	}
	t.Logf("%d version polls on the routed side while the other process migrated", polls)

	// The routed side sees the new schema; goose has nothing left to do.
	if pending, err := p.HasPending(ctx); err != nil || pending {
		t.Fatalf("pending %v, %v", pending, err)
	}
	if results, err := p.Up(ctx); err != nil || len(results) != 0 {
		t.Fatalf("Up applied %d, %v", len(results), err)
	}
	var dup int
	if err := pool.QueryRow(`SELECT count(*) FROM (SELECT version_id FROM ` + migrations.VersionTable +
		` GROUP BY version_id HAVING count(*) > 1)`).Scan(&dup); err != nil || dup != 0 {
		t.Fatalf("%d versions recorded twice, %v", dup, err)
	}
	ref := openDB(t) // migrated in one process, for comparison
	if _, err := migrations.Up(ctx, ref); err != nil {
		t.Fatal(err)
	}
	want, got := schemaOf(t, ref.Read().DB), schemaOf(t, pool)
	if !slices.Equal(got, want) {
		t.Fatalf("schema on the routed side differs from a database migrated at once:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// And the other way: goose rolls one back on the routed side; the
	// other process sees it.
	if _, err := p.Down(ctx); err != nil {
		t.Fatal(err)
	}
	other.Send(t, "version")
	if line := other.Line(t); line != fmt.Sprint("version ", migrations.Latest()-1) {
		t.Fatalf("the other process after a routed Down: %q", line)
	}
}
