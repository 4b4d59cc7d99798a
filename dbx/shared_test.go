package dbx_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/benchsupport/syncbuf"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/healthsim/healthsim-go/internal/testsupport/wine"
	"github.com/jmoiron/sqlx"
)

// onWriteSide reports whether q (a pool or a connection) reads on the write
// side: only there is the file attached read-write.
func onWriteSide(t *testing.T, q sqlx.QueryerContext) bool {
	t.Helper()
	var readOnly bool
	if err := sqlx.GetContext(context.Background(), q, &readOnly,
		"SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"); err != nil {
		t.Fatal(err)
	}
	return !readOnly
}

// TestReadsDuringWrites: with WithReadsDuringWrites, a read during a write
// window does not wait for it and sees the last commit, not the window's
// rows; once the window commits, reads see it at once, on the write side,
// which stays locked down like the read side and lets go for another dbx
// process.
func TestReadsDuringWrites(t *testing.T) {
	path := newFile(t)
	db := open(t, path, dbx.WithReadsDuringWrites(), dbx.WithWriteLinger(time.Minute))
	ctx := context.Background()
	if err := insert(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
	if !onWriteSide(t, db.Read()) {
		t.Fatal("a read after a window runs on the read side; the lingering write side should take it")
	}

	inWindow, release := make(chan struct{}), make(chan struct{})
	written := make(chan error, 1)
	go func() {
		written <- db.Write(ctx, func(tx *sqlx.Tx) error {
			if _, err := tx.Exec("INSERT INTO t VALUES (2)"); err != nil {
				return err
			}
			close(inWindow)
			<-release
			return nil
		})
	}()
	<-inWindow
	// The window waits for this read to finish: a read that waited for the
	// window would never return.
	if got := count(t, db); got != 1 {
		t.Fatalf("a read during the window counts %d rows, want 1 (the last commit)", got)
	}
	close(release)
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if got := count(t, db); got != 2 {
		t.Fatalf("a read after the window counts %d rows, want 2", got)
	}

	// On the write side, reads stay read-only and reach no other file,
	// whichever way they run: one statement at a time, of a kind that
	// only reads, in a read-only transaction.
	conn, err := db.Read().Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !onWriteSide(t, conn) {
		t.Fatal("the connection is not on the write side")
	}
	// Refused by kind (ErrRefused), or by the lockdown (DuckDB's
	// permission error) for reads of other files.
	refused := func(err error) bool {
		var de *duckdb.Error
		return errors.Is(err, dbx.ErrRefused) || errors.As(err, &de) && de.Type == duckdb.ErrorTypePermission
	}
	for _, stmt := range []string{
		"INSERT INTO t VALUES (3)",
		"CREATE TABLE u (y INTEGER)",
		"SELECT * FROM read_csv('/etc/passwd')",
		"COPY (SELECT 1) TO '" + filepath.Join(t.TempDir(), "out.csv") + "'",
		"SET enable_external_access = true",
		"INSTALL httpfs",
		"COMMIT; INSERT INTO t VALUES (3)",
		"ROLLBACK; INSERT INTO t VALUES (3)",
		"INSERT INTO t VALUES (3); SELECT 1",
		"ATTACH '" + path + dbx.ReplaceSuffix + "' AS r",
		"DETACH r",
		"USE memory",
		"CHECKPOINT",
	} {
		if _, err := conn.ExecContext(ctx, stmt); !refused(err) {
			t.Errorf("a read on the write side ran %q: %v, want it refused", stmt, err)
		}
		if rows, err := conn.QueryContext(ctx, stmt); err == nil {
			rows.Close()
			t.Errorf("a read on the write side queried %q", stmt)
		} else if !refused(err) {
			t.Errorf("a read on the write side queried %q: %v, want it refused", stmt, err)
		}
		if prepared, err := conn.PrepareContext(ctx, stmt); err == nil {
			prepared.Close()
			t.Errorf("a read on the write side prepared %q", stmt)
		} else if !refused(err) {
			t.Errorf("a read on the write side prepared %q: %v, want it refused", stmt, err)
		}
	}
	for _, query := range []string{"SELECT count(*) FROM t", "DESCRIBE t", "SHOW TABLES", "EXPLAIN SELECT * FROM t", "PRAGMA table_info('t')"} {
		rows, err := conn.QueryContext(ctx, query)
		if err != nil {
			t.Errorf("a read on the write side: %q: %v", query, err)
			continue
		}
		rows.Close()
	}
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"COMMIT", "INSERT INTO t VALUES (3)"} {
		if _, err := tx.Exec(stmt); err == nil {
			t.Errorf("a transaction on the write side's read connection ran %q", stmt)
		}
	}
	tx.Rollback()
	if _, err := os.Stat(path + dbx.ReplaceSuffix); err == nil {
		t.Error("a read on the write side created the replacement file")
	}
	conn.Close()
	if got := count(t, db); got != 2 {
		t.Fatalf("count = %d after refused writes, want 2", got)
	}
	if err := insert(ctx, db, 3); err != nil { // the write side is whole
		t.Fatal(err)
	}
	if err := db.Write(ctx, func(tx *sqlx.Tx) error { _, err := tx.Exec("DELETE FROM t WHERE x = 3"); return err }); err != nil {
		t.Fatal(err)
	}

	// A plain process cannot open the file while the write side holds it;
	// a dbx process gets it at once, though the linger has a minute to go.
	ok, msg := tryOpen(t, path, true)
	if ok || !strings.HasPrefix(msg, "locked:") {
		t.Fatalf("a plain process opened the file while the write side shares it (%v, %s)", ok, msg)
	}
	wine.Run(t, "holder named", wine.HolderPIDs, func(t *testing.T) {
		if !strings.Contains(msg, fmt.Sprintf("(PID %d)", os.Getpid())) {
			t.Errorf("lock error does not name this process, PID %d: %s", os.Getpid(), msg)
		}
	})
	start := time.Now()
	p := proctest.Start(t, "dbx-count", path)
	if line := p.Line(t); line != "ok 2" {
		t.Fatalf("dbx-count: %s", line)
	}
	p.Stop()
	if waited := time.Since(start); waited > 15*time.Second {
		t.Fatalf("another dbx process waited %v for the sharing write side", waited)
	}
	if onWriteSide(t, db.Read()) {
		t.Fatal("a read after the write side let go runs on the write side")
	}
}

// TestReadsDuringWritesLetGo: the write side lets go once nothing has used
// it for the linger: another process can then write.
func TestReadsDuringWritesLetGo(t *testing.T) {
	path := newFile(t)
	db := open(t, path, dbx.WithReadsDuringWrites(), dbx.WithWriteLinger(20*time.Millisecond), dbx.WithReadLease(20*time.Millisecond))
	if err := insert(context.Background(), db, 1); err != nil {
		t.Fatal(err)
	}
	count(t, db)
	waitWritable(t, path)
}

// TestReadHeldOnWriteSide: Rows taken from the write side and held across
// Write do not block it (the write side takes the next window), nor a
// failing one; WritePool, which needs the write side to let go, fails at
// the busy timeout with a message that says why; all goes on once the Rows
// close.
func TestReadHeldOnWriteSide(t *testing.T) {
	path := newFile(t)
	db := open(t, path, dbx.WithReadsDuringWrites(), dbx.WithWriteLinger(time.Minute), dbx.WithBusyTimeout(300*time.Millisecond))
	ctx := context.Background()
	if err := insert(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Read().QueryContext(ctx, "SELECT x FROM t")
	if err != nil {
		t.Fatal(err)
	}
	// Each would wait for the Rows forever if the write side waited for
	// them: a minute tells a hang from a slow machine.
	returns := func(what string, write func() error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- write() }()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Minute):
			t.Fatalf("%s while Rows of the write side are open hangs", what)
			return nil
		}
	}
	if err := returns("a write", func() error { return insert(ctx, db, 2) }); err != nil {
		t.Fatalf("a write while Rows of the write side are open: %v", err)
	}
	failed := errors.New("fn failed")
	if err := returns("a failing write", func() error {
		return db.Write(ctx, func(*sqlx.Tx) error { return failed })
	}); !errors.Is(err, failed) {
		t.Fatalf("a failing write while Rows of the write side are open: %v", err)
	}
	err = db.WritePool(ctx, func(*sql.DB) error { return nil })
	if !errors.Is(err, dbx.ErrReadsInUse) {
		t.Fatalf("WritePool while Rows of the write side are open: %v, want a clear error", err)
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.WritePool(ctx, func(pool *sql.DB) error {
		_, err := pool.Exec("INSERT INTO t VALUES (3)")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db); got != 3 {
		t.Fatalf("count = %d, want 3", got)
	}
}

// TestReadsWaitDuringWritePool: with WithReadsDuringWrites a read during
// Write runs at once, on the write side; one during WritePool or
// ReplaceFile waits at the gate until the window ends, and then runs.
func TestReadsWaitDuringWritePool(t *testing.T) {
	path := newFile(t)
	db := open(t, path, dbx.WithReadsDuringWrites())
	ctx := context.Background()
	if err := insert(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
	if err := db.Write(ctx, func(*sqlx.Tx) error {
		if !onWriteSide(t, db.Read()) {
			t.Error("a read during Write did not run on the write side")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// inWindow starts a read and returns once it waits at the gate (an
	// error if it runs instead), with a channel that gets the read's error
	// when it has run.
	inWindow := func() (<-chan error, error) {
		read := make(chan error, 1)
		go func() {
			var n int
			read <- db.Read().GetContext(ctx, &n, "SELECT count(*) FROM t")
		}()
		waitFor(t, "the read to wait at the gate or run", func() bool { return dbx.ReadsWaiting(db) == 1 || len(read) == 1 })
		if len(read) == 1 {
			return nil, fmt.Errorf("a read ran during the window (%v)", <-read)
		}
		return read, nil
	}
	var read <-chan error
	if err := db.WritePool(ctx, func(*sql.DB) (err error) { read, err = inWindow(); return err }); err != nil {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatalf("the read after WritePool: %v", err)
	}
	stop := errors.New("no replacement")
	err := db.ReplaceFile(ctx, func(*sql.DB, string) (err error) {
		if read, err = inWindow(); err == nil {
			err = stop
		}
		return err
	})
	if !errors.Is(err, stop) {
		t.Fatal(err)
	}
	if err := <-read; err != nil {
		t.Fatalf("the read after ReplaceFile: %v", err)
	}
}

// TestWriteAfterCancelledWindowSharing: a window cancelled by its context
// loses its connection (database/sql discards it); the windows after it
// take a new one.
func TestWriteAfterCancelledWindowSharing(t *testing.T) {
	path := newFile(t)
	db := open(t, path, dbx.WithReadsDuringWrites(), dbx.WithWriteLinger(time.Minute))
	ctx, cancel := context.WithCancel(context.Background())
	err := db.Write(ctx, func(tx *sqlx.Tx) error {
		cancel()
		<-ctx.Done()
		_, err := tx.Exec("INSERT INTO t VALUES (1)")
		return err
	})
	if err == nil {
		t.Fatal("a window whose context was cancelled committed")
	}
	for i := range 3 {
		if err := insert(context.Background(), db, 10+i); err != nil {
			t.Fatalf("window %d after the cancelled one: %v", i+1, err)
		}
	}
	if got := count(t, db); got != 3 {
		t.Fatalf("count = %d, want 3", got)
	}
}

// TestLingerKeptForReads: once the linger ends while a read runs on the
// write side, and nobody else wants the file, the write side lingers on
// and takes the next reads, instead of making them wait for that read.
func TestLingerKeptForReads(t *testing.T) {
	path := newFile(t)
	var log syncbuf.Buffer
	db := open(t, path, dbx.WithReadsDuringWrites(), dbx.WithWriteLinger(20*time.Millisecond), dbx.WithBusyTimeout(time.Minute),
		dbx.WithLogger(slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	ctx := context.Background()
	if err := insert(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
	held, err := db.Read().Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := held.QueryContext(ctx, "SELECT x FROM t")
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, cancelWait := context.WithTimeout(ctx, time.Minute)
	defer cancelWait()
	if err := log.Await(waitCtx, "lingers on while reads run on it"); err != nil {
		t.Fatal("the linger did not end while a read ran on the write side")
	}
	readCtx, cancel := context.WithTimeout(ctx, 20*time.Second) // the busy timeout is a minute
	defer cancel()
	if !onWriteSide(t, db.Read()) || count(t, db) != 1 {
		t.Fatal("a read after the linger does not run on the write side")
	}
	if err := db.Read().PingContext(readCtx); err != nil {
		t.Fatalf("a read after the linger waited: %v", err)
	}
	rows.Close()
	held.Close()
	waitWritable(t, path) // and it lets go once they are done
}

// TestSchemaCheckpointedBeforeLettingGo: a schema change whose checkpoint
// after the window fails (a read on the write side has a transaction
// open) is checkpointed before the write side lets go: no WAL is left for
// a read-only open to replay.
func TestSchemaCheckpointedBeforeLettingGo(t *testing.T) {
	path := newFile(t)
	db := open(t, path, dbx.WithReadsDuringWrites(), dbx.WithWriteLinger(20*time.Millisecond), dbx.WithReadLease(20*time.Millisecond))
	ctx := context.Background()
	if err := insert(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Read().QueryContext(ctx, "SELECT x FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Write(ctx, func(tx *sqlx.Tx) error { _, err := tx.Exec("CREATE TABLE u (y INTEGER)"); return err }); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path + ".wal"); err != nil || info.Size() == 0 {
		t.Fatalf("the schema change is not in the WAL while a read runs (%v): the test no longer tests a failed checkpoint", err)
	}
	rows.Close()
	// Probe read-only: a read-write open would checkpoint on close itself.
	for start := time.Now(); ; {
		if ok, msg := tryOpen(t, path, true); ok {
			break
		} else if time.Since(start) > time.Minute {
			t.Fatalf("the write side still holds the file a minute later: %s", msg)
		}
	}
	if info, err := os.Stat(path + ".wal"); err == nil && info.Size() > 0 {
		t.Fatalf("the write side let go leaving %d bytes of WAL", info.Size())
	}
}

// TestSharedConnRawIsGuarded: a read connection on the write side reached
// through Conn.Raw refuses what its database/sql methods refuse, also
// through the driver's Prepare and Begin, which database/sql never calls.
func TestSharedConnRawIsGuarded(t *testing.T) {
	ctx := context.Background()
	db := open(t, newFile(t), dbx.WithReadsDuringWrites(), dbx.WithWriteLinger(time.Minute))
	if err := insert(ctx, db, 1); err != nil { // the write side lingers, shared
		t.Fatal(err)
	}
	conn, err := db.Read().Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if !onWriteSide(t, conn) {
		t.Fatal("the connection is not on the write side")
	}
	err = conn.Raw(func(dc any) error {
		if _, ok := dbx.DuckDBConn(dc); ok {
			t.Error("DuckDBConn accepted a read connection on the write side")
		}
		p, ok := dc.(interface {
			Prepare(string) (driver.Stmt, error)
			Begin() (driver.Tx, error)
		})
		if !ok {
			t.Fatalf("%T has no Prepare and Begin", dc)
		}
		if stmt, err := p.Prepare("INSERT INTO t VALUES (42)"); !errors.Is(err, dbx.ErrRefused) {
			if stmt != nil {
				stmt.(driver.StmtExecContext).ExecContext(ctx, nil)
				stmt.Close()
			}
			t.Errorf("Prepare of an INSERT through Raw: %v, want ErrRefused", err)
		}
		tx, err := p.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		// A guarded Begin leaves the next statement in its read-only
		// transaction; an unguarded one makes it fail to begin its own.
		stmt, err := p.Prepare("SELECT count(*) FROM t")
		if err != nil {
			t.Fatalf("Prepare of a SELECT in a Begin transaction through Raw: %v", err)
		}
		if rows, err := stmt.(driver.StmtQueryContext).QueryContext(ctx, nil); err != nil {
			t.Errorf("a SELECT in a Begin transaction through Raw: %v", err)
		} else {
			rows.Close()
		}
		stmt.Close()
		if stmt, err := p.Prepare("DELETE FROM t"); !errors.Is(err, dbx.ErrRefused) {
			if stmt != nil {
				stmt.Close()
			}
			t.Errorf("Prepare of a DELETE in a Begin transaction through Raw: %v, want ErrRefused", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if got := count(t, db); got != 1 {
		t.Fatalf("count = %d, want 1: a read connection changed rows", got)
	}
}
