package dbx_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/healthsim/healthsim-go/internal/testsupport/wine"
)

// The routed driver is tested through database/sql alone: dbx is only
// named to open it (and to tell its errors).

// openRouted opens a new database file through sql.Open("dbx", …), with
// the DSN parameters params, and returns the pool and the file's path.
func openRouted(t *testing.T, params string) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "routed.duckdb")
	dsn := path
	if params != "" {
		dsn += "?" + params
	}
	db, err := sql.Open("dbx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func mustExec(t *testing.T, db interface {
	Exec(string, ...any) (sql.Result, error)
}, query string, args ...any) sql.Result {
	t.Helper()
	res, err := db.Exec(query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

func countRows(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRoutedStatements(t *testing.T) {
	db, _ := openRouted(t, "")
	mustExec(t, db, "CREATE SEQUENCE ids")
	mustExec(t, db, "CREATE TABLE items (id BIGINT DEFAULT nextval('ids'), name VARCHAR, qty INTEGER)")

	// INSERT … RETURNING: rows read in the window, handed back after it.
	rows, err := db.Query("INSERT INTO items (name, qty) VALUES (?, ?), (?, ?) RETURNING id, name", "a", 1, "b", 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s", id, name))
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "1 a,2 b" {
		t.Fatalf("RETURNING gave %v", got)
	}
	var id int64
	if err := db.QueryRow("INSERT INTO items (name, qty) VALUES ($name, $qty) RETURNING id",
		sql.Named("name", "c"), sql.Named("qty", 3)).Scan(&id); err != nil || id != 3 {
		t.Fatalf("named arguments: id %d, %v", id, err)
	}

	if n, _ := mustExec(t, db, "UPDATE items SET qty = qty * 10 WHERE name <> ?", "a").RowsAffected(); n != 2 {
		t.Fatalf("UPDATE affected %d rows", n)
	}
	if n, _ := mustExec(t, db, "DELETE FROM items WHERE name = ?", "b").RowsAffected(); n != 1 {
		t.Fatalf("DELETE affected %d rows", n)
	}
	var sum int
	if err := db.QueryRow("SELECT sum(qty) FROM items").Scan(&sum); err != nil || sum != 31 {
		t.Fatalf("sum = %d, %v", sum, err)
	}
	// Statements that read but are not SELECT run on the read side too.
	for _, q := range []string{"DESCRIBE items", "SHOW TABLES", "EXPLAIN SELECT * FROM items", "PRAGMA table_info('items')", "FROM items", "SUMMARIZE items"} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		rows.Close()
	}
	// Column types come through.
	rows, err = db.Query("SELECT id, name FROM items LIMIT 1")
	if err != nil {
		t.Fatal(err)
	}
	types, err := rows.ColumnTypes()
	rows.Close()
	if err != nil || types[0].DatabaseTypeName() != "BIGINT" || types[1].DatabaseTypeName() != "VARCHAR" {
		t.Fatalf("column types %v, %v", types, err)
	}
	// A sequence advances only on the write side: nextval in a SELECT
	// reads, and fails there.
	if err := db.QueryRow("SELECT nextval('ids')").Scan(&id); err == nil {
		t.Fatal("nextval in a SELECT succeeded on the read side")
	}

	// Prepared statements, each run several times.
	ins, err := db.Prepare("INSERT INTO items (name, qty) VALUES (?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close()
	sel, err := db.Prepare("SELECT qty FROM items WHERE name = ?")
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close()
	for i := range 5 {
		name := fmt.Sprint("p", i)
		if _, err := ins.Exec(name, i); err != nil {
			t.Fatal(err)
		}
		var qty int
		if err := sel.QueryRow(name).Scan(&qty); err != nil || qty != i {
			t.Fatalf("prepared read %s: %d, %v", name, qty, err)
		}
	}
	if _, err := db.Prepare("SELEC 1"); err == nil {
		t.Fatal("Prepare of a syntax error succeeded")
	}
	if n := countRows(t, db, "items"); n != 7 {
		t.Fatalf("%d rows, want 7", n)
	}
}

func TestRoutedTransactions(t *testing.T) {
	db, _ := openRouted(t, "")
	ctx := context.Background()
	mustExec(t, db, "CREATE TABLE t (x INTEGER)")

	// A read-write transaction: one window, its reads see its writes.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "CREATE TABLE made_here (y INTEGER)") // the read side has never seen it
	mustExec(t, tx, "INSERT INTO made_here VALUES (1)")
	mustExec(t, tx, "CREATE TEMP TABLE scratch AS SELECT 41 AS z")
	mustExec(t, tx, "INSERT INTO t SELECT z + y FROM scratch, made_here")
	var inTx int
	if err := tx.QueryRow("SELECT count(*) FROM t").Scan(&inTx); err != nil || inTx != 1 {
		t.Fatalf("read in the transaction: %d, %v", inTx, err)
	}
	ins, err := tx.Prepare("INSERT INTO t VALUES (?)")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := ins.Exec(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "t"); n != 4 {
		t.Fatalf("%d rows after commit, want 4", n)
	}

	// A rollback writes nothing.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "DELETE FROM t")
	mustExec(t, tx, "DROP TABLE made_here")
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "t") + countRows(t, db, "made_here"); n != 5 {
		t.Fatalf("rollback: %d rows, want 5", n)
	}

	// A read-only transaction reads, and refuses to write.
	ro, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := ro.QueryRow("SELECT count(*) FROM t WHERE x < ?", 10).Scan(&n); err != nil || n != 3 {
		t.Fatalf("read-only transaction: %d, %v", n, err)
	}
	if _, err := ro.Exec("INSERT INTO t VALUES (9)"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write in a read-only transaction: %v", err)
	}
	if err := ro.Commit(); err != nil {
		t.Fatal(err)
	}

	// A cancelled context rolls the window back and lets go of the file.
	cctx, cancel := context.WithCancel(ctx)
	tx, err = db.BeginTx(cctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "INSERT INTO t VALUES (100)")
	cancel()
	if err := tx.Commit(); !errors.Is(err, sql.ErrTxDone) && !errors.Is(err, context.Canceled) {
		t.Fatalf("commit after cancel = %v", err)
	}
	mustExec(t, db, "INSERT INTO t VALUES (5)") // the next window gets the write side
	if n := countRows(t, db, "t"); n != 5 {
		t.Fatalf("after a cancelled transaction: %d rows, want 5", n)
	}
}

func TestRoutedRefusals(t *testing.T) {
	db, _ := openRouted(t, "")
	mustExec(t, db, "CREATE TABLE t (x INTEGER)")
	refusals := map[string]string{
		"SET threads = 1":                    "SET",
		"RESET threads":                      "SET",
		"USE memory":                         "USE",
		"SET VARIABLE v = 1":                 "SET VARIABLE",
		"PRAGMA enable_profiling":            "PRAGMA",
		"ATTACH ':memory:' AS other":         "ATTACH",
		"DETACH db":                          "ATTACH",
		"BEGIN TRANSACTION":                  "BeginTx",
		"COMMIT":                             "BeginTx",
		"LOAD json":                          "LOAD",
		"INSTALL json":                       "LOAD",
		"PREPARE p AS SELECT 1":              "Prepare", // EXECUTE of it cannot exist
		"INSERT INTO t VALUES (1); SELECT 1": "one per call",
		"SELECT 1; SELECT 2":                 "one per call",
	}
	for query, hint := range refusals {
		if _, err := db.Exec(query); !errors.Is(err, dbx.ErrRefused) || !strings.Contains(err.Error(), hint) {
			t.Errorf("%s = %v, want refused, naming %q", query, err, hint)
		}
		if _, err := db.Prepare(query); !errors.Is(err, dbx.ErrRefused) {
			t.Errorf("Prepare(%s) = %v, want refused", query, err)
		}
	}
	// In a transaction too (new texts, so that they are told by the
	// window's connection, not remembered).
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for query, hint := range refusals {
		query = "  " + query
		if _, err := tx.Exec(query); !errors.Is(err, dbx.ErrRefused) || !strings.Contains(err.Error(), hint) {
			t.Errorf("%s (in a transaction) = %v, want refused, naming %q", query, err, hint)
		}
		if _, err := tx.Prepare(query); !errors.Is(err, dbx.ErrRefused) {
			t.Errorf("tx.Prepare(%s) = %v, want refused", query, err)
		}
	}
	// The transaction is untouched by its refusals, and nothing ran.
	mustExec(t, tx, "INSERT INTO t VALUES (2)")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "t"); n != 1 {
		t.Fatalf("%d rows, want 1 (a refused statement ran)", n)
	}
}

// TestRoutedFileReads: a statement the read side cannot prepare
// (it reads a file) is classified and run in a write window.
func TestRoutedFileReads(t *testing.T) {
	db, path := openRouted(t, "")
	csv := filepath.Join(filepath.Dir(path), "in.csv")
	if err := os.WriteFile(csv, []byte("a,b\n1,x\n2,y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM read_csv(?)", csv).Scan(&n); err != nil || n != 2 {
		t.Fatalf("read_csv: %d, %v", n, err)
	}
	mustExec(t, db, fmt.Sprintf("CREATE TABLE imported AS SELECT * FROM read_csv('%s')", csv))
	if n := countRows(t, db, "imported"); n != 2 {
		t.Fatalf("imported %d rows", n)
	}
	if _, err := db.Exec(fmt.Sprintf("SET VARIABLE f = '%s'", csv)); !errors.Is(err, dbx.ErrRefused) {
		t.Fatalf("SET VARIABLE = %v, want refused", err)
	}
}

func TestRoutedConcurrentReadersWhileWriting(t *testing.T) {
	db, _ := openRouted(t, "read_conns=4")
	mustExec(t, db, "CREATE TABLE t (x INTEGER)")
	const writes = 20
	done := make(chan struct{})
	var wg, started sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		started.Add(1)
		wg.Go(func() {
			last, reads := -1, 0
			for {
				var n int
				if err := db.QueryRow("SELECT count(*) FROM t WHERE x >= ?", 0).Scan(&n); err != nil {
					if reads == 0 {
						started.Done()
					}
					errs <- err
					return
				}
				if n < last {
					errs <- fmt.Errorf("count went back from %d to %d", last, n)
					return
				}
				last, reads = n, reads+1
				if reads == 1 {
					started.Done()
				}
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	started.Wait() // every reader reads while the writes commit
	for i := range writes {
		if i%2 == 0 {
			mustExec(t, db, "INSERT INTO t VALUES (?)", i)
			continue
		}
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, tx, "INSERT INTO t VALUES (?)", i)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := countRows(t, db, "t"); n != writes {
		t.Fatalf("%d rows, want %d", n, writes)
	}
}

// TestRoutedLetsGo: a plain DuckDB program opens the file read-write
// between two autocommit writes, and after a read-only transaction once
// the read lease is over.
func TestRoutedLetsGo(t *testing.T) {
	db, path := openRouted(t, "read_lease="+leaseForProbes.String())
	mustExec(t, db, "CREATE TABLE t (x INTEGER)")
	for i := range 2 {
		mustExec(t, db, "INSERT INTO t VALUES (?)", i)
		if ok, msg := tryOpen(t, path, false); !ok {
			t.Fatalf("after autocommit write %d, another process cannot open the file read-write: %s", i, msg)
		}
	}
	tx, err := db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("count %d, %v", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	lastRead := time.Now()
	if ok, _ := tryOpen(t, path, false); ok {
		t.Fatal("another process opened the file read-write within the read lease")
	}
	waitWritable(t, path)
	if held := time.Since(lastRead); held < leaseForProbes {
		t.Fatalf("let go after %v, before the %v lease", held, leaseForProbes)
	}
}

func TestRoutedLockError(t *testing.T) {
	db, path := openRouted(t, "busy_timeout=300ms")
	mustExec(t, db, "CREATE TABLE t (x INTEGER)")
	holder := proctest.StartReady(t, "hold-ro", path)
	_, err := db.Exec("INSERT INTO t VALUES (1)")
	var le *dbx.LockError
	if !errors.As(err, &le) {
		t.Fatalf("write while another process reads = %v, want a LockError", err)
	}
	wine.Run(t, "holder named", wine.HolderPIDs, func(t *testing.T) {
		if le.PID != holder.PID() {
			t.Errorf("the LockError names PID %d, want the holder's, %d: %v", le.PID, holder.PID(), err)
		}
	})
	tx, err := db.Begin()
	if !errors.As(err, &le) {
		t.Fatalf("Begin while another process reads = %v, want a LockError", err)
	}
	if tx != nil {
		t.Fatal("got a transaction")
	}
	if n := countRows(t, db, "t"); n != 0 { // reads share the file
		t.Fatal(n)
	}
}

// TestRoutedReadOutsideOwnTransaction: a read through the *sql.DB while
// the same goroutine holds a read-write transaction cannot run before it
// ends; it fails after the busy timeout instead of waiting forever.
func TestRoutedReadOutsideOwnTransaction(t *testing.T) {
	db, _ := openRouted(t, "busy_timeout=200ms")
	mustExec(t, db, "CREATE TABLE t (x INTEGER)")
	mustExec(t, db, "INSERT INTO t VALUES (1)") // its type is known from now on
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	err = db.QueryRow("SELECT count(*) FROM t").Scan(&n)
	if !errors.Is(err, dbx.ErrBusy) || !strings.Contains(err.Error(), "read through its transaction") {
		t.Fatalf("read beside the open transaction = %v, want ErrBusy", err)
	}
	if _, err := db.Exec("SELECT 42 AS new_text"); err == nil {
		t.Fatal("classifying beside the open transaction succeeded")
	}
	if _, err := db.Exec("INSERT INTO t VALUES (1)"); !errors.Is(err, dbx.ErrBusy) || !strings.Contains(err.Error(), "write through its transaction") {
		t.Fatalf("write beside the open transaction = %v, want ErrBusy", err)
	}
	if other, err := db.Begin(); !errors.Is(err, dbx.ErrBusy) {
		if other != nil {
			other.Rollback()
		}
		t.Fatalf("second transaction beside the open one = %v, want ErrBusy", err)
	}
	if err := tx.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatalf("the transaction after: %v", err)
	}
}

func TestRoutedClose(t *testing.T) {
	db, path := openRouted(t, "")
	mustExec(t, db, "CREATE TABLE t (x INTEGER)")
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "INSERT INTO t VALUES (1)")
	closed := make(chan error)
	go func() { closed <- db.Close() }()
	waitFor(t, "database/sql to mark the pool closed", func() bool {
		conn, err := db.Conn(context.Background()) // a routed connection: no file
		if err == nil {
			conn.Close()
		}
		return err != nil && strings.Contains(err.Error(), "database is closed")
	})
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a transaction was open", err)
	default:
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO t VALUES (2)"); err == nil {
		t.Fatal("write after Close succeeded")
	}
	// Everything is let go, and the committed row is in the file.
	sum, err := proctest.OpenRaw(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sum.Close()
	var n int
	if err := sum.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after Close: %d rows, %v", n, err)
	}
}

func TestRoutedDSN(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{"a.duckdb?access_mode=READ_ONLY", "a.duckdb?busy_timeout=5", "a.duckdb?read_conns=x", "a.duckdb?read_lease=0s", "a.duckdb?read_conns=1&read_conns=2"} {
		if _, err := sql.Open("dbx", filepath.Join(dir, dsn)); err == nil {
			t.Errorf("sql.Open(%q) succeeded", dsn)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a.duckdb")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a bad DSN created the file")
	}
	db, err := dbx.OpenDB(filepath.Join(dir, "b.duckdb"), dbx.WithReadConns(2))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	if _, err := dbx.OpenDB(filepath.Join(dir, "c.duckdb"), dbx.WithReadConns(0)); err == nil {
		t.Fatal("OpenDB with a bad option succeeded")
	}
}

func FuzzParseDSN(f *testing.F) {
	for _, seed := range []string{"a.duckdb", "a.duckdb?busy_timeout=1s&read_lease=2s&read_conns=3", "?", "md:x?token=1", "a?b=%zz", ":memory:"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		path, _, err := dbx.ParseDSN(dsn)
		if err == nil && path == "" && dbx.IsLocalFile(dsn) {
			t.Fatalf("%q: no path and no error", dsn)
		}
	})
}

// TestRoutedReadsDuringWrites: with WithReadsDuringWrites, a read beside
// an open read-write transaction runs on the write side at once (its new
// text told by a read connection there) and sees the last commit.
func TestRoutedReadsDuringWrites(t *testing.T) {
	db, err := dbx.OpenDB(filepath.Join(t.TempDir(), "shared.duckdb"), dbx.WithReadsDuringWrites(), dbx.WithBusyTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "CREATE TABLE t (x INTEGER)")
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "INSERT INTO t VALUES (1)")
	var n int
	if err := db.QueryRow("SELECT count(*) AS beside FROM t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("read beside the transaction: %d, %v", n, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "t"); n != 1 {
		t.Fatalf("%d rows after commit", n)
	}
}

// TestRoutedNotAFile: a DSN without a file lock gets one ordinary pool,
// routed the same way.
func TestRoutedNotAFile(t *testing.T) {
	db, err := sql.Open("dbx", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, "CREATE TABLE t (x INTEGER)")
	mustExec(t, db, "INSERT INTO t VALUES (1), (2)")
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "DELETE FROM t WHERE x = 1")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "t"); n != 1 {
		t.Fatalf("%d rows", n)
	}
	if _, err := db.Exec("SET threads = 1"); !errors.Is(err, dbx.ErrRefused) {
		t.Fatalf("SET = %v, want refused", err)
	}
}
