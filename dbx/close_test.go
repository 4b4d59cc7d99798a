package dbx_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/benchsupport/syncbuf"
	"github.com/jmoiron/sqlx"
)

// The tests of Close with reads held on the write side run in a synctest
// bubble: synctest.Wait returns once every other goroutine of the bubble
// (the DB's among them) is durably blocked, which tells a Close that
// waits from one that is merely slow, and the bubble's clock moves only
// while they all are, so a deadline on it is met by a hang, never by a
// slow machine (DuckDB works in cgo calls, during which the clock stands
// still).

// closeBusy is the busy timeout of these tests: short, so that the
// bubble's clock passes it many times over while Close waits.
const closeBusy = 100 * time.Millisecond

// hangAfter is how long, on the bubble's clock, a call may take after
// what it waits for is done before it counts as deadlocked.
const hangAfter = 30 * time.Second

// openSharing opens path with reads during writes and the write linger
// given, logging warnings to the returned buffer, and writes rows 1, 2
// and 3 in a window. Call it in the bubble.
func openSharing(t *testing.T, path string, linger time.Duration) (*dbx.DB, *syncbuf.Buffer) {
	t.Helper()
	log := new(syncbuf.Buffer)
	db, err := dbx.Open(context.Background(), path, dbx.WithReadsDuringWrites(), dbx.WithWriteLinger(linger),
		dbx.WithBusyTimeout(closeBusy), dbx.WithLogger(slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		t.Fatal(err)
	}
	if err := insert(context.Background(), db, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	return db, log
}

// sharedRows returns open Rows of table t, with one row read, that run
// on the write side.
func sharedRows(t *testing.T, db *dbx.DB) *sqlx.Rows {
	t.Helper()
	rows, err := db.Read().Queryx("SELECT x, NOT readonly AS shared FROM t, duckdb_databases() WHERE database_name = current_database()")
	if err != nil {
		t.Fatal(err)
	}
	var x int
	var shared bool
	if !rows.Next() {
		t.Fatalf("no rows: %v", rows.Err())
	}
	if err := rows.Scan(&x, &shared); err != nil {
		t.Fatal(err)
	}
	if !shared {
		t.Fatal("the Rows run on the read side; the test needs them on the write side")
	}
	return rows
}

// walPending fails the test unless committed windows wait in the WAL:
// Close must fold them into the file.
func walPending(t *testing.T, path string) {
	t.Helper()
	if info, err := os.Stat(path + ".wal"); err != nil || info.Size() == 0 {
		t.Fatalf("no commits wait in the WAL (%v): the test no longer tests Close's checkpoint", err)
	}
}

// checkpointedOnClose fails the test if Close left commits in the WAL, or
// warned.
func checkpointedOnClose(t *testing.T, path string, log *syncbuf.Buffer) {
	t.Helper()
	if info, err := os.Stat(path + ".wal"); err == nil && info.Size() > 0 {
		t.Errorf("Close left %d bytes of WAL: it did not checkpoint", info.Size())
	}
	if log.String() != "" {
		t.Errorf("Close warned:\n%s", log.String())
	}
}

// stillWaiting fails the test if any of calls has returned, once every
// goroutine of the bubble but this one is durably blocked.
func stillWaiting(t *testing.T, when string, calls map[string]chan error) {
	t.Helper()
	synctest.Wait()
	for name, done := range calls {
		select {
		case err := <-done:
			t.Fatalf("%s returned (%v) %s", name, err, when)
		default:
		}
	}
}

// awaitReturn waits for call to return, failing the test if it has not on the
// bubble's clock a hangAfter later.
func awaitReturn(t *testing.T, name string, call chan error) error {
	t.Helper()
	select {
	case err := <-call:
		return err
	case <-time.After(hangAfter):
		t.Fatalf("%s has not returned %v later (on the bubble's clock, which moves only while all its goroutines are blocked)", name, hangAfter)
		return nil
	}
}

// freeAfterClose fails the test unless another process can open path
// read-write: the closed DB holds no lock on it.
func freeAfterClose(t *testing.T, path string) {
	t.Helper()
	if ok, msg := tryOpen(t, path, false); !ok {
		t.Fatalf("after Close another process cannot write the file: %s", msg)
	}
}

// TestCloseWaitsForReadsOnWriteSide: Close with Rows open on the write
// side (WithReadsDuringWrites, the write side lingering), taken before a
// window that updated rows, waits for them as long as they are open, not
// for the busy timeout; once they close it checkpoints the pending
// windows (DuckDB refuses to while those Rows' transaction is open),
// returns, and the process holds no lock on the file.
func TestCloseWaitsForReadsOnWriteSide(t *testing.T) {
	path := newFile(t)
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db, log := openSharing(t, path, time.Hour)
		rows := sharedRows(t, db)
		if err := db.Write(ctx, func(tx *sqlx.Tx) error {
			_, err := tx.Exec("UPDATE t SET x = x + 10 WHERE x = 3")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		walPending(t, path)

		closed := make(chan error, 1)
		go func() { closed <- db.Close() }()
		calls := map[string]chan error{"Close": closed}
		stillWaiting(t, "while Rows of the write side are open", calls)
		time.Sleep(10 * closeBusy) // the bubble's clock: ten busy timeouts
		stillWaiting(t, "while Rows of the write side are open, ten busy timeouts later", calls)

		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if err := awaitReturn(t, "Close after the Rows closed", closed); err != nil {
			t.Fatal(err)
		}
		checkpointedOnClose(t, path, log)
	})
	freeAfterClose(t, path)
	if got := sumFile(t, path); got != 1+2+13 {
		t.Fatalf("the rows of the file sum to %d after Close, want 16", got)
	}
}

// TestCloseWhileReadHolderQueuedForWrite: Close comes while the
// goroutine that holds Rows on the write side is queued for a write
// window behind a running one, and closes the Rows only once its Write
// returns. Nothing deadlocks: the queued window gives up at the busy
// timeout (ErrBusy), its caller closes the Rows, Close waits for the
// running window, which commits, and returns having checkpointed. (No
// write linger: the write side stays for the reads on it.)
func TestCloseWhileReadHolderQueuedForWrite(t *testing.T) {
	path := newFile(t)
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db, log := openSharing(t, path, 0)

		inWindow, release := make(chan struct{}), make(chan struct{})
		running := make(chan error, 1)
		go func() {
			running <- db.Write(ctx, func(tx *sqlx.Tx) error {
				if _, err := tx.Exec("INSERT INTO t VALUES (4)"); err != nil {
					return err
				}
				close(inWindow)
				<-release
				return nil
			})
		}()
		<-inWindow
		rows := sharedRows(t, db) // during the window: on the write side
		queued := make(chan error, 1)
		go func() {
			err := insert(ctx, db, 5)
			rows.Close()
			queued <- err
		}()
		calls := map[string]chan error{"the running window": running, "the queued window": queued}
		stillWaiting(t, "while the first window runs", calls)

		closed := make(chan error, 1)
		go func() { closed <- db.Close() }()
		calls["Close"] = closed
		stillWaiting(t, "while a window runs and the Rows' holder is queued behind it", calls)
		start := time.Now()
		if err := awaitReturn(t, "the queued window", queued); !errors.Is(err, dbx.ErrBusy) || time.Since(start) > closeBusy {
			t.Fatalf("the window queued behind a running one: %v after %v, want ErrBusy at the busy timeout %v", err, time.Since(start), closeBusy)
		}
		delete(calls, "the queued window")
		time.Sleep(10 * closeBusy)
		stillWaiting(t, "ten busy timeouts later, the window still running", calls)

		close(release)
		if err := awaitReturn(t, "the running window", running); err != nil {
			t.Fatalf("the running window: %v", err)
		}
		if err := awaitReturn(t, "Close", closed); err != nil {
			t.Fatal(err)
		}
		checkpointedOnClose(t, path, log)
	})
	freeAfterClose(t, path)
	if got := countFile(t, path); got != 4 {
		t.Fatalf("the file has %d rows after Close, want 4 (the queued window's row is not written)", got)
	}
}

// TestCloseWhileReadHolderWrites: the goroutine that holds Rows on the
// write side calls Write while Close waits for those Rows: Write fails at
// once with ErrClosed (it does not queue behind Close, which would wait
// for it), the caller closes its Rows, and Close returns.
func TestCloseWhileReadHolderWrites(t *testing.T) {
	path := newFile(t)
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db, log := openSharing(t, path, time.Hour)
		rows := sharedRows(t, db)
		closed := make(chan error, 1)
		go func() { closed <- db.Close() }()
		calls := map[string]chan error{"Close": closed}
		stillWaiting(t, "while Rows of the write side are open", calls)

		written := make(chan error, 1)
		start := time.Now()
		go func() { written <- insert(ctx, db, 4) }()
		if err := awaitReturn(t, "a Write of the Rows' holder while Close waits for them", written); !errors.Is(err, dbx.ErrClosed) {
			t.Fatalf("a Write while Close waits: %v, want ErrClosed", err)
		}
		if waited := time.Since(start); waited > 0 {
			t.Fatalf("a Write while Close waits failed %v later, not at once", waited)
		}
		stillWaiting(t, "while Rows of the write side are open", calls)
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if err := awaitReturn(t, "Close after the Rows closed", closed); err != nil {
			t.Fatal(err)
		}
		checkpointedOnClose(t, path, log)
	})
	freeAfterClose(t, path)
	if got := countFile(t, path); got != 3 {
		t.Fatalf("the file has %d rows after Close, want 3", got)
	}
}

// countFile counts the rows of table t in a fresh DB over path.
func countFile(t *testing.T, path string) int {
	t.Helper()
	db := open(t, path)
	defer db.Close()
	return count(t, db)
}

// sumFile sums table t in a fresh DB over path.
func sumFile(t *testing.T, path string) int {
	t.Helper()
	db := open(t, path)
	defer db.Close()
	var sum int
	if err := db.Read().Get(&sum, "SELECT sum(x) FROM t"); err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestCloseAfterWindowSharesAgain: Close comes while a window runs and
// Rows taken during it are open on the write side; the window commits and
// the write side lingers (a write linger is set). Close returns once the
// Rows close, not once the linger ends.
func TestCloseAfterWindowSharesAgain(t *testing.T) {
	path := newFile(t)
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		db, log := openSharing(t, path, time.Hour)

		inWindow, release := make(chan struct{}), make(chan struct{})
		running := make(chan error, 1)
		go func() {
			running <- db.Write(ctx, func(tx *sqlx.Tx) error {
				if _, err := tx.Exec("INSERT INTO t VALUES (4)"); err != nil {
					return err
				}
				close(inWindow)
				<-release
				return nil
			})
		}()
		<-inWindow
		rows := sharedRows(t, db)
		closed := make(chan error, 1)
		go func() { closed <- db.Close() }()
		calls := map[string]chan error{"Close": closed}
		stillWaiting(t, "while a window runs and Rows of the write side are open", calls)
		close(release)
		if err := awaitReturn(t, "the running window", running); err != nil {
			t.Fatalf("the running window: %v", err)
		}
		stillWaiting(t, "while Rows of the write side are open", calls)
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if err := awaitReturn(t, "Close after the Rows closed", closed); err != nil {
			t.Fatal(err)
		}
		checkpointedOnClose(t, path, log)
	})
	freeAfterClose(t, path)
	if got := countFile(t, path); got != 4 {
		t.Fatalf("the file has %d rows after Close, want 4", got)
	}
}

// TestCloseWhileReadHolderQueuedBehindClose: the goroutine that holds Rows
// on the write side queues for a write window after Close has begun (as a
// Write does that found the DB open just before Close closed it): Close,
// waiting for those Rows, must not hold the queue meanwhile.
func TestCloseWhileReadHolderQueuedBehindClose(t *testing.T) {
	path := newFile(t)
	synctest.Test(t, func(t *testing.T) {
		db, log := openSharing(t, path, time.Hour)
		rows := sharedRows(t, db)
		closed := make(chan error, 1)
		go func() { closed <- db.Close() }()
		calls := map[string]chan error{"Close": closed}
		stillWaiting(t, "while Rows of the write side are open", calls)
		queued := make(chan error, 1)
		go func() {
			dbx.QueueWindow(db)
			rows.Close()
			queued <- nil
		}()
		awaitReturn(t, "the Rows' holder queued for a window", queued)
		if err := awaitReturn(t, "Close", closed); err != nil {
			t.Fatal(err)
		}
		checkpointedOnClose(t, path, log)
	})
	freeAfterClose(t, path)
}

// TestCloseWhileReadHolderReadsAgain: the goroutine that holds Rows on the
// write side runs another read while Close waits for those Rows (a query
// per row, say): the read fails at once with ErrClosed, instead of
// waiting for a write side that waits for it.
func TestCloseWhileReadHolderReadsAgain(t *testing.T) {
	path := newFile(t)
	synctest.Test(t, func(t *testing.T) {
		db, log := openSharing(t, path, time.Hour)
		rows := sharedRows(t, db)
		closed := make(chan error, 1)
		go func() { closed <- db.Close() }()
		calls := map[string]chan error{"Close": closed}
		stillWaiting(t, "while Rows of the write side are open", calls)
		read := make(chan error, 1)
		go func() {
			var n int
			err := db.Read().Get(&n, "SELECT count(*) FROM t")
			rows.Close()
			read <- err
		}()
		if err := awaitReturn(t, "a second read of the Rows' holder", read); !errors.Is(err, dbx.ErrClosed) {
			t.Fatalf("a read that begins while Close waits: %v, want ErrClosed", err)
		}
		if err := awaitReturn(t, "Close", closed); err != nil {
			t.Fatal(err)
		}
		checkpointedOnClose(t, path, log)
	})
}

// TestCloseDoesNotWaitForReadLease: with reads during writes, a read
// connection in use when Close begins closes when returned; Close does
// not wait for the read lease (an hour here) to let go of the file.
func TestCloseDoesNotWaitForReadLease(t *testing.T) {
	path := newFile(t)
	db, err := dbx.Open(context.Background(), path, dbx.WithReadsDuringWrites(), dbx.WithReadLease(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Read().Query("SELECT x FROM t")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while Rows of the read side are open", err)
	case <-time.After(50 * time.Millisecond): // not an order: Close must wait for the Rows anyway
	}
	rows.Close()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close still waits a minute after the Rows closed: for the read lease")
	}
	freeAfterClose(t, path)
}
