package dbx_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/jmoiron/sqlx"
)

// newFile creates a database file with table t(x INTEGER) and returns its path.
func newFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.duckdb")
	db, err := dbx.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Write(context.Background(), func(tx *sqlx.Tx) error {
		_, err := tx.Exec("CREATE TABLE t (x INTEGER)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return path
}

func open(t *testing.T, path string, opts ...dbx.Option) *dbx.DB {
	t.Helper()
	db, err := dbx.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func insert(ctx context.Context, db *dbx.DB, values ...int) error {
	return db.Write(ctx, func(tx *sqlx.Tx) error {
		for _, v := range values {
			if _, err := tx.Exec("INSERT INTO t VALUES (?)", v); err != nil {
				return err
			}
		}
		return nil
	})
}

func count(t *testing.T, db *dbx.DB) int {
	t.Helper()
	var n int
	if err := db.Read().Get(&n, "SELECT count(*) FROM t"); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReadsSeeWrites(t *testing.T) {
	db := open(t, newFile(t))
	ctx := context.Background()
	if got := count(t, db); got != 0 {
		t.Fatalf("count = %d, want 0", got)
	}
	for i := 1; i <= 3; i++ {
		if err := insert(ctx, db, i); err != nil {
			t.Fatal(err)
		}
		if got := count(t, db); got != i {
			t.Fatalf("after write %d: count = %d", i, got)
		}
	}
}

func TestReadPoolIsLockedDown(t *testing.T) {
	db := open(t, newFile(t))
	for _, stmt := range []string{
		"INSERT INTO t VALUES (1)",
		"CREATE TABLE u (y INTEGER)",
		"SELECT * FROM read_csv('/etc/passwd')",
		"COPY (SELECT 1) TO '" + filepath.Join(t.TempDir(), "out.csv") + "'",
		"SET enable_external_access = true",
		"INSTALL httpfs",
	} {
		if _, err := db.Read().Exec(stmt); err == nil {
			t.Errorf("read pool ran %q", stmt)
		}
	}
	if got := count(t, db); got != 0 {
		t.Fatalf("count = %d, want 0", got)
	}
}

func TestTwoReadConnectionsAgree(t *testing.T) {
	path := newFile(t)
	db := open(t, path)
	ctx := context.Background()
	if err := insert(ctx, db, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	c1, err := db.Read().Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := db.Read().Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	var a, b int
	if err := c1.GetContext(ctx, &a, "SELECT sum(x) FROM t"); err != nil {
		t.Fatal(err)
	}
	if err := c2.GetContext(ctx, &b, "SELECT sum(x) FROM t"); err != nil {
		t.Fatal(err)
	}
	if a != 6 || b != 6 {
		t.Fatalf("sums %d and %d, want 6 and 6", a, b)
	}
}

func TestWriteRollsBack(t *testing.T) {
	path := newFile(t)
	db := open(t, path)
	ctx := context.Background()
	boom := errors.New("boom")
	err := db.Write(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.Exec("INSERT INTO t VALUES (1)"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write error = %v, want boom", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "panic in fn" {
				t.Fatalf("recovered %v, want the panic of fn", r)
			}
		}()
		db.Write(ctx, func(tx *sqlx.Tx) error {
			tx.MustExec("INSERT INTO t VALUES (2)")
			panic("panic in fn")
		})
	}()
	if got := count(t, db); got != 0 {
		t.Fatalf("count = %d after failed writes, want 0", got)
	}
	// No lock is left behind: once the reads' lease is over, another
	// process writes.
	waitWritable(t, path)
}

// DuckDB turns COMMIT after a failed statement into a silent rollback;
// Write must not report that as success.
func TestWriteWithIgnoredFailure(t *testing.T) {
	db := open(t, newFile(t))
	err := db.Write(context.Background(), func(tx *sqlx.Tx) error {
		tx.MustExec("INSERT INTO t VALUES (1)")
		tx.Exec("SELECT error('boom')") // a run-time error, ignored
		return nil
	})
	if err == nil {
		t.Fatal("Write reported success after a failed statement")
	}
	if got := count(t, db); got != 0 {
		t.Fatalf("count = %d, want 0", got)
	}
}

// TestReadsInFlightDuringWrite: a write waits for the rows a read has
// open, which see the file as it was, and goes on once they close.
func TestReadsInFlightDuringWrite(t *testing.T) {
	path := newFile(t)
	db := open(t, path)
	ctx := context.Background()
	if err := insert(ctx, db, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Read().QueryContext(ctx, "SELECT x FROM t ORDER BY x")
	if err != nil {
		t.Fatal(err)
	}
	written := make(chan error, 1)
	go func() { written <- insert(ctx, db, 4) }()
	// The write has announced itself (it holds the write intent) and now
	// waits for the rows: it must not finish while they are open.
	for {
		if pid, _, held := dbx.IntentHolder(path); held && pid == os.Getpid() {
			break
		}
		runtime.Gosched()
	}
	select {
	case err := <-written:
		t.Fatalf("the write finished (%v) while a read had rows open", err)
	case <-time.After(100 * time.Millisecond): // a loaded machine can only hide a failure
	}
	var got []int
	for rows.Next() {
		var x int
		if err := rows.Scan(&x); err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("in-flight read got %v, want [1 2 3]", got)
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if n := count(t, db); n != 4 {
		t.Fatalf("count = %d, want 4", n)
	}
}

func TestWriteWhileHoldingReadFailsAtDeadline(t *testing.T) {
	db := open(t, newFile(t), dbx.WithBusyTimeout(time.Minute))
	ctx := context.Background()
	conn, err := db.Read().Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = insert(wctx, db, 1)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write = %v, want deadline exceeded", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("Write returned after %v", waited)
	}
	// The held connection still works, and so do writes once it is closed.
	var n int
	if err := conn.GetContext(ctx, &n, "SELECT count(*) FROM t"); err != nil || n != 0 {
		t.Fatalf("held read: n=%d err=%v", n, err)
	}
	conn.Close()
	if err := insert(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentReadsAndWrites(t *testing.T) {
	db := open(t, newFile(t))
	ctx := context.Background()
	const workers, writesEach = 16, 5
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan error, workers*writesEach*2)
	for w := range workers {
		wg.Go(func() {
			for i := range writesEach {
				if w%2 == 0 {
					if err := insert(ctx, db, w*100+i); err != nil {
						errs <- err
					}
				}
				var n int
				if err := db.Read().GetContext(ctx, &n, "SELECT count(*) FROM t"); err != nil {
					errs <- err
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := count(t, db), workers/2*writesEach; got != want {
		t.Fatalf("count = %d, want %d", got, want)
	}
	var distinct int
	db.Read().Get(&distinct, "SELECT count(DISTINCT x) FROM t")
	if distinct != workers/2*writesEach {
		t.Fatalf("distinct = %d", distinct)
	}
	if reads.Load() != workers*writesEach {
		t.Fatalf("reads = %d", reads.Load())
	}
}

func TestWritesRunInOrder(t *testing.T) {
	db := open(t, newFile(t))
	ctx := context.Background()
	release := make(chan struct{})
	started := make(chan struct{})
	go db.Write(ctx, func(tx *sqlx.Tx) error {
		close(started)
		<-release
		return nil
	})
	<-started
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if err := insert(ctx, db, i); err != nil {
				t.Error(err)
			}
		})
		time.Sleep(20 * time.Millisecond) // queue them in a known order
	}
	close(release)
	wg.Wait()
	var got []int
	if err := db.Read().Select(&got, "SELECT x FROM t ORDER BY rowid"); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Fatalf("writes landed in order %v", got)
	}
}

func TestCancelledWaitingWrite(t *testing.T) {
	db := open(t, newFile(t))
	ctx := context.Background()
	release := make(chan struct{})
	started := make(chan struct{})
	go db.Write(ctx, func(tx *sqlx.Tx) error {
		close(started)
		<-release
		return nil
	})
	<-started
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- insert(wctx, db, 1) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Write = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled Write did not return")
	}
	close(release)
	if err := insert(ctx, db, 2); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db); got != 1 {
		t.Fatalf("count = %d, want 1", got)
	}
}

// TestCancelledWritesKeepNoTurn: Writes whose context ends while they
// start leave the write queue to the next one, and Close returns.
func TestCancelledWritesKeepNoTurn(t *testing.T) {
	db, err := dbx.Open(context.Background(), newFile(t), dbx.WithBusyTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	for range 300 {
		ctx, cancel := context.WithCancel(context.Background())
		go cancel()
		_ = db.Write(ctx, func(*sqlx.Tx) error { return nil })
	}
	if err := insert(context.Background(), db, 1); err != nil {
		t.Errorf("a Write after 300 cancelled ones: %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close still waits after a minute: a cancelled Write kept the write queue")
	}
}

// TestOwnWaitsEndAtBusyTimeout: a read and a write that wait for a write
// window of this process give up at the busy timeout with ErrBusy, also
// inside the window's own function, where waiting would never end, and
// the window goes on.
func TestOwnWaitsEndAtBusyTimeout(t *testing.T) {
	const busy = 200 * time.Millisecond
	db := open(t, newFile(t), dbx.WithBusyTimeout(busy))
	ctx := context.Background()
	gaveUp := func(what string, call func() error) {
		t.Helper()
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- call() }()
		select {
		case err := <-done:
			if !errors.Is(err, dbx.ErrBusy) || !strings.Contains(err.Error(), busy.String()) {
				t.Errorf("%s inside a window: %v, want ErrBusy naming the busy timeout", what, err)
			}
			if waited := time.Since(start); waited < busy {
				t.Errorf("%s gave up after %v, before the busy timeout", what, waited)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s inside a window still waits after a minute (busy timeout %v)", what, busy)
		}
	}
	err := db.Write(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.Exec("INSERT INTO t VALUES (1)"); err != nil {
			return err
		}
		gaveUp("a read", func() error {
			var n int
			return db.Read().GetContext(ctx, &n, "SELECT count(*) FROM t")
		})
		gaveUp("a write", func() error { return insert(ctx, db, 2) })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := count(t, db); got != 1 {
		t.Fatalf("count = %d, want 1: the window's row alone", got)
	}
}

func TestAppenderInWriteWindow(t *testing.T) {
	db := open(t, newFile(t))
	ctx := context.Background()
	appendRows := func(n int, fail error) error {
		return db.Write(ctx, func(tx *sqlx.Tx) error {
			err := db.RawConn(tx, func(c *duckdb.Conn) error {
				a, err := duckdb.NewAppender(c, dbx.Catalog, "main", "t")
				if err != nil {
					return err
				}
				for i := range n {
					if err := a.AppendRow(int32(i)); err != nil {
						return err
					}
				}
				return a.Close()
			})
			if err != nil {
				return err
			}
			return fail
		})
	}
	if err := appendRows(1000, nil); err != nil {
		t.Fatal(err)
	}
	if err := appendRows(500, errors.New("undo")); err == nil {
		t.Fatal("want the error of fn")
	}
	if got := count(t, db); got != 1000 {
		t.Fatalf("count = %d, want 1000 (appended rows must roll back with the window)", got)
	}
	if err := db.RawConn(nil, func(*duckdb.Conn) error { return nil }); err == nil {
		t.Fatal("RawConn outside a window succeeded")
	}
}

func TestOptionsValidate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.duckdb")
	for _, opt := range []dbx.Option{
		dbx.WithBusyTimeout(-1), dbx.WithReadLease(0), dbx.WithReadConns(0), dbx.WithLogger(nil), dbx.WithMemoryLimit(1 << 20),
	} {
		if db, err := dbx.Open(context.Background(), path, opt); err == nil {
			db.Close()
			t.Error("invalid option accepted")
		}
	}
	if _, err := dbx.Open(context.Background(), t.TempDir()); err == nil {
		t.Error("opened a directory")
	}
}

func TestRouting(t *testing.T) {
	for dsn, local := range map[string]bool{
		"healthsim.duckdb":           true,
		"/data/x.duckdb":             true,
		"./rel/x.db":                 true,
		"":                           false,
		":memory:":                   false,
		":memory:?threads=1":         false,
		"md:my_db":                   false,
		"motherduck:my_db":           false,
		"ducklake:metadata.ducklake": false,
		"s3://bucket/x.duckdb":       false,
		"quack:localhost:9494":       false,
	} {
		if got := dbx.IsLocalFile(dsn); got != local {
			t.Errorf("IsLocalFile(%q) = %v, want %v", dsn, got, local)
		}
	}
	db, err := dbx.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Read() != nil && db.Path() != ":memory:" {
		t.Fatalf("Path = %q", db.Path())
	}
	ctx := context.Background()
	if err := db.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.Exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Write(ctx, func(tx *sqlx.Tx) error {
		tx.MustExec("INSERT INTO t VALUES (3)")
		return errors.New("undo")
	}); err == nil {
		t.Fatal("want error")
	}
	if got := count(t, db); got != 2 {
		t.Fatalf("count = %d, want 2", got)
	}
	// RawConn works in windows on a shared pool too.
	if err := db.Write(ctx, func(tx *sqlx.Tx) error {
		return db.RawConn(tx, func(c *duckdb.Conn) error { return nil })
	}); err != nil {
		t.Fatal(err)
	}
}

// TestQuackDSNIsNotAFile: a quack server's DSN goes to DuckDB, which
// needs the quack extension for it (not installed here; the DSN turns
// DuckDB's download of it off, as a networked machine would otherwise
// fetch it), instead of naming a local file that Open would create.
func TestQuackDSNIsNotAFile(t *testing.T) {
	t.Chdir(t.TempDir())
	db, err := dbx.Open(context.Background(), "quack:localhost?autoinstall_known_extensions=false")
	if err == nil {
		var n int
		err = db.Read().Get(&n, "SELECT count(*) FROM duckdb_tables()")
		db.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "quack") {
		t.Errorf("quack:localhost: %v, want DuckDB's error about the quack extension", err)
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("opening quack:localhost created %v in the working directory", entries)
	}
}

// TestCheckpointPolicy: row changes stay in the WAL until the n-th window
// folds it into the file, while a schema change is folded in at once (a
// read-only open cannot replay one); dbx reads and a plain read-only
// process see every commit either way.
func TestCheckpointPolicy(t *testing.T) {
	path := newFile(t)
	ctx := context.Background()
	// Every window lets go, and the policy decides there whether to
	// checkpoint.
	db := open(t, path, dbx.WithCheckpointEvery(4, 1<<30))
	walSize := func() int64 {
		info, err := os.Stat(path + ".wal")
		if err != nil {
			return 0
		}
		return info.Size()
	}
	exec := func(query string) {
		t.Helper()
		if err := db.Write(ctx, func(tx *sqlx.Tx) error { _, err := tx.ExecContext(ctx, query); return err }); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	readBack := func(want string) {
		t.Helper()
		var got string
		if err := db.Read().GetContext(ctx, &got, "SELECT 'rows ' || count(*) || ' sum ' || coalesce(sum(x), 0) FROM t"); err != nil || got != want {
			t.Fatalf("dbx read: %q, %v; want %q", got, err, want)
		}
		p := proctest.Start(t, "sum-ro", path)
		if line := p.Line(t); line != want {
			t.Fatalf("plain read-only process: %q, want %q", line, want)
		}
		p.Stop()
	}

	exec("INSERT INTO t SELECT range FROM range(10)") // windows 1–3: rows only, left in the WAL
	readBack("rows 10 sum 45")
	afterInsert := walSize()
	exec("UPDATE t SET x = x * 2 WHERE x < 5")
	exec("DELETE FROM t WHERE x = 9")
	readBack("rows 9 sum 46")
	if afterInsert == 0 || walSize() <= afterInsert {
		t.Fatalf("WAL %d bytes after the insert, %d after update and delete: row changes should wait in the WAL", afterInsert, walSize())
	}
	exec("INSERT INTO t VALUES (100)") // window 4: due
	if walSize() != 0 {
		t.Fatalf("the fourth window left %d bytes of WAL", walSize())
	}
	exec("INSERT INTO t VALUES (1)")
	exec("CREATE TABLE u (y INTEGER); DROP TABLE u") // a schema change: folded in at once
	if walSize() != 0 {
		t.Fatalf("a schema change left %d bytes of WAL", walSize())
	}
	readBack("rows 11 sum 147")
	exec("INSERT INTO t VALUES (3)")
	if walSize() == 0 {
		t.Fatal("the last commit is not in the WAL")
	}
	db.Close()
	if walSize() != 0 {
		t.Fatalf("Close left %d bytes of WAL: it folds in what is pending", walSize())
	}
	if got := count(t, open(t, path)); got != 12 {
		t.Fatalf("reopened, t has %d rows, want 12", got)
	}
	if err := dbx.WithCheckpointEvery(0, 1)(nil); err == nil {
		t.Fatal("WithCheckpointEvery(0, 1) accepted")
	}
}

// TestReplaceFile: a replacement built in the window takes the file's
// place, reads see it, and a build that fails (or leaves commits in a
// WAL) changes nothing and leaves no file behind.
func TestReplaceFile(t *testing.T) {
	path := newFile(t)
	db := open(t, path)
	ctx := context.Background()
	if err := insert(ctx, db, 1, 2); err != nil {
		t.Fatal(err)
	}
	copyPlus := func(extra int, leaveWAL bool) func(*sql.DB, string) error {
		return func(pool *sql.DB, newPath string) error {
			conn, err := pool.Conn(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			stmts := []string{
				fmt.Sprintf("ATTACH '%s' AS next", newPath),
				"COPY FROM DATABASE " + dbx.Catalog + " TO next",
				fmt.Sprintf("INSERT INTO next.t VALUES (%d)", extra),
			}
			if !leaveWAL {
				stmts = append(stmts, "CHECKPOINT next")
			}
			stmts = append(stmts, "DETACH next")
			for _, stmt := range stmts {
				if _, err := conn.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", stmt, err)
				}
			}
			return nil
		}
	}
	if err := db.ReplaceFile(ctx, copyPlus(3, false)); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db); got != 3 {
		t.Fatalf("after the replacement: %d rows, want 3", got)
	}
	failing := errors.New("the copy does not match")
	for name, build := range map[string]func(*sql.DB, string) error{
		"build fails": func(pool *sql.DB, newPath string) error {
			if err := copyPlus(4, false)(pool, newPath); err != nil {
				return err
			}
			return failing
		},
		"WAL left": copyPlus(4, true),
	} {
		err := db.ReplaceFile(ctx, build)
		if err == nil || !strings.Contains(err.Error(), "unchanged") {
			t.Fatalf("%s: %v", name, err)
		}
		if got := count(t, db); got != 3 {
			t.Fatalf("%s: %d rows, want the 3 of before", name, got)
		}
		if _, err := os.Stat(path + dbx.ReplaceSuffix); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: the new file was left behind (%v)", name, err)
		}
	}
	if err := insert(ctx, db, 5); err != nil {
		t.Fatal(err)
	}
}

// TestWriteFnEndsTransaction: a function that commits or rolls back the
// window's transaction itself gets an error that says so and what became
// of its rows, distinct from a failed statement's.
func TestWriteFnEndsTransaction(t *testing.T) {
	db := open(t, newFile(t))
	ctx := context.Background()
	for _, tc := range []struct {
		end  func(*sqlx.Tx) error
		says string
		rows int
	}{
		{(*sqlx.Tx).Commit, "it committed: its rows are written", 1},
		{(*sqlx.Tx).Rollback, "it rolled back: nothing was written", 1},
	} {
		err := db.Write(ctx, func(tx *sqlx.Tx) error {
			tx.MustExec("INSERT INTO t VALUES (1)")
			return tc.end(tx)
		})
		if err == nil || !strings.Contains(err.Error(), tc.says) || !errors.Is(err, sql.ErrTxDone) {
			t.Fatalf("Write: %v; want an error saying %q", err, tc.says)
		}
		if got := count(t, db); got != tc.rows {
			t.Fatalf("after %q: %d rows, want %d", tc.says, got, tc.rows)
		}
	}
	err := db.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.Exec("INSERT INTO missing VALUES (1)")
		return err
	})
	if err == nil || strings.Contains(err.Error(), "ended the window's transaction") {
		t.Fatalf("a failed statement: %v", err)
	}
	if err := insert(ctx, db, 2); err != nil {
		t.Fatalf("a window after those: %v", err)
	}
}

// TestClose: Close is idempotent, and afterwards writes fail at once with
// ErrClosed (never a lock error naming this process), reads fail at once,
// and another process can write the file.
func TestClose(t *testing.T) {
	path := newFile(t)
	db, err := dbx.Open(context.Background(), path, dbx.WithBusyTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := insert(ctx, db, 1); err != nil { // the write side lingers
		t.Fatal(err)
	}
	count(t, db) // the read side holds the file for its lease
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if ok, msg := tryOpen(t, path, false); !ok {
		t.Fatalf("after Close another process cannot write: %s", msg)
	}
	start := time.Now()
	for name, err := range map[string]error{
		"Write":       db.Write(ctx, func(*sqlx.Tx) error { return nil }),
		"WritePool":   db.WritePool(ctx, func(*sql.DB) error { return nil }),
		"ReplaceFile": db.ReplaceFile(ctx, func(*sql.DB, string) error { return nil }),
		"RawConn":     db.RawConn(nil, func(*duckdb.Conn) error { return nil }),
	} {
		if !errors.Is(err, dbx.ErrClosed) || errors.Is(err, dbx.ErrLocked) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if _, err := db.Read().ExecContext(ctx, "SELECT 1"); err == nil {
		t.Error("a read after Close succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("calls after Close took %v; they must fail at once", took)
	}
}

// TestCloseEndsBackgroundWork: when Close returns, the linger watcher and
// the read side's attach after a window have ended (Close waits for
// them), with the write side lingering and reads on it.
func TestCloseEndsBackgroundWork(t *testing.T) {
	background := func() int {
		buf := make([]byte, 4<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		return strings.Count(stacks, "dbx.(*fileSide).watchLinger") + strings.Count(stacks, "dbx.(*host).warm")
	}
	before := background()
	db, err := dbx.Open(context.Background(), newFile(t), dbx.WithWriteLinger(time.Hour), dbx.WithReadsDuringWrites())
	if err != nil {
		t.Fatal(err)
	}
	if err := insert(context.Background(), db, 1); err != nil { // the write side lingers, watched
		t.Fatal(err)
	}
	if got := count(t, db); got != 1 { // a read on the write side
		t.Fatalf("count = %d, want 1", got)
	}
	if background() <= before {
		t.Fatal("no linger watcher runs while the write side lingers: the test sees nothing")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := background() - before; n > 0 {
		t.Fatalf("%d background goroutine(s) of the closed DB still run after Close", n)
	}
}
