package dbx

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jmoiron/sqlx"
)

// writeSide is where a DB's write windows run: a local file's (fileSide),
// which takes the file from this process's reads and from other processes
// for each window, or one ordinary pool's (poolSide) for a DSN without a
// file lock. Every method but close is called with the write queue held.
type writeSide interface {
	// take returns the connection a window runs on.
	take(ctx context.Context) (*sqlx.Conn, error)
	// end ends the window on conn: committed says whether its
	// transaction committed, raw whether RawConn ran statements that dbx
	// did not see.
	end(conn *sqlx.Conn, committed, raw bool)
	// runPool runs fn with the write pool, for WritePool.
	runPool(ctx context.Context, fn func(*sql.DB) error) error
	// close lets go of everything; the queue is closed to new windows.
	close() error
}

// window is the state of the write window that runs now, if any.
type window struct {
	mu   sync.Mutex
	tx   *sqlx.Tx
	conn *sqlx.Conn
	raw  bool // RawConn was used
}

// Write runs fn in a write window: one transaction on the database file,
// opened read-write, while reads in this process wait (or run on the write
// side: [WithReadsDuringWrites]). If fn returns an error or panics, the
// transaction is rolled back (a panic is re-raised after cleanup);
// otherwise it is committed. If fn commits or rolls back the transaction
// itself, Write says which. Concurrent calls run one at a time, in the
// order they came. Write returns once this process no longer holds the
// file's write lock, unless a window of this process is queued behind it
// (which then uses the file as it is), a write linger is set
// ([WithWriteLinger]), or, with WithReadsDuringWrites, reads run on the
// write side or this process read within 10 ms (it lets go once its
// reads end or pause for 10 ms).
//
// Each wait ends at the busy timeout (see [WithBusyTimeout]): for earlier
// windows of this process ([ErrBusy]), for read connections of this
// process still in use, a Rows, Tx or Conn from [DB.Read] held across
// Write ([ErrReadsInUse]), and for another process holding the file
// ([*LockError]).
func (db *DB) Write(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.beginWindow(ctx)
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished { // fn panicked: roll back and let go; the panic goes on
			_ = db.finishWindow(tx, errPanicked)
		}
	}()
	err = fn(tx)
	finished = true
	return db.finishWindow(tx, err)
}

// errPanicked stands for the error of a window's function that panicked.
var errPanicked = errors.New("dbx: write: the window's function panicked")

// beginWindow opens a write window, the first half of Write: it queues
// for the write side, takes it and begins the window's transaction.
// finishWindow must follow, in any case; until then the caller holds the
// write queue.
func (db *DB) beginWindow(ctx context.Context) (*sqlx.Tx, error) {
	if err := db.lockWrites(ctx); err != nil {
		return nil, err
	}
	conn, err := db.side.take(ctx)
	if err != nil {
		db.writes.Release(1)
		return nil, err
	}
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		db.side.end(conn, false, false)
		db.writes.Release(1)
		return nil, fmt.Errorf("dbx: write: begin: %w", err)
	}
	db.window.mu.Lock()
	db.window.tx, db.window.conn, db.window.raw = tx, conn, false
	db.window.mu.Unlock()
	return tx, nil
}

// finishWindow ends the window that beginWindow opened with tx, the
// second half of Write: if fnErr is nil it commits; otherwise it rolls
// back and returns fnErr. Then the write side ends the window (see
// writeSide.end) and the write queue is released.
func (db *DB) finishWindow(tx *sqlx.Tx, fnErr error) error {
	db.window.mu.Lock()
	conn, raw := db.window.conn, db.window.raw
	db.window.tx, db.window.conn = nil, nil
	db.window.mu.Unlock()
	var writeHost *host // records how a transaction fn ended itself ended
	if f, ok := db.side.(*fileSide); ok {
		writeHost = f.writeHost
	}
	err := commitOrRollback(tx, fnErr, writeHost)
	db.side.end(conn, err == nil, raw)
	db.writes.Release(1)
	return err
}

// lockWrites takes the write queue, in arrival order (TryAcquire takes
// it only when nobody waits), unless db is closed (before or while
// waiting). It waits for earlier windows the busy timeout at most.
func (db *DB) lockWrites(ctx context.Context) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if !db.writes.TryAcquire(1) { // a window runs or waits: queue behind it
		wait, cancel := context.WithTimeout(ctx, max(db.opts.busyTimeout, time.Millisecond))
		db.queued.Add(1)
		err := db.writes.Acquire(wait, 1)
		db.queued.Add(-1)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("dbx: write: waiting for earlier writes: %w", ctx.Err())
		case err != nil:
			return fmt.Errorf("%w: a write waited the busy timeout (%v) for earlier ones (if this goroutine runs a window, write through its transaction)", ErrBusy, db.opts.busyTimeout)
		}
	}
	if db.closed.Load() {
		db.writes.Release(1)
		return ErrClosed
	}
	return nil
}

// WritePool runs fn in a write window like [DB.Write], but hands it the write
// pool itself instead of a transaction, for tools that manage their own
// transactions (such as goose). The pool has one connection, which stays
// open until fn returns: fn must never need two at once, or it waits forever.
// Reads of this process wait until WritePool returns, also with
// [WithReadsDuringWrites] (the busy timeout at most: [ErrBusy]). Whatever fn committed is checkpointed; the file
// is released before WritePool returns.
func (db *DB) WritePool(ctx context.Context, fn func(pool *sql.DB) error) error {
	if err := db.lockWrites(ctx); err != nil {
		return err
	}
	defer db.writes.Release(1)
	return db.side.runPool(ctx, fn)
}

// ReplaceSuffix names the file ([DB.ReplaceFile]) that is built next to the
// database (PATH + suffix) to replace it.
const ReplaceSuffix = ".replace"

// ReplaceFile replaces the database file with a new one, in one write
// window: build gets the write pool (as with [DB.WritePool]) and the path
// of a new file next to the database, which it fills (with ATTACH and COPY
// FROM DATABASE, say) and leaves detached and checkpointed. Once build
// returns nil and the write side has let go of the database, and before
// any dbx process may open it again, the new file is renamed over the
// database. If anything fails the database is unchanged and the new file
// is removed. build should name the new file's storage version (ATTACH
// … (STORAGE_VERSION …)): otherwise DuckDB creates it in the DB's
// [WithStorageVersion], not in the database's own.
//
// Windows cannot replace a file that a process has open: there, while a
// process that does not use dbx has the database open, ReplaceFile retries
// for the busy timeout and then fails with a [*LockError]. On Linux and
// macOS such a process keeps reading the old file until it reopens.
func (db *DB) ReplaceFile(ctx context.Context, build func(pool *sql.DB, newPath string) error) error {
	f, ok := db.side.(*fileSide)
	if !ok {
		return fmt.Errorf("dbx: replace %s: not a local file", db.path)
	}
	if err := db.lockWrites(ctx); err != nil {
		return err
	}
	defer db.writes.Release(1)
	newPath := db.path + ReplaceSuffix
	removeNew := func() {
		os.Remove(newPath)
		os.Remove(newPath + ".wal")
	}
	removeNew() // left by an interrupted earlier run
	err := f.writePool(ctx, func(pool *sql.DB) error { return build(pool, newPath) },
		func() error { return f.replaceWith(ctx, newPath) })
	if err != nil {
		removeNew()
		return fmt.Errorf("dbx: replace %s (unchanged): %w", db.path, err)
	}
	return nil
}

// commitOrRollback ends tx, in which a window's function has run and
// returned fnErr: it commits if fnErr is nil, and otherwise (or if the
// commit fails) rolls back and returns the error. h, the write host (nil
// if none), tells how a transaction the function ended itself ended.
func commitOrRollback(tx *sqlx.Tx, fnErr error, h *host) (err error) {
	committed := false
	defer func() {
		if !committed {
			if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				err = errors.Join(err, fmt.Errorf("dbx: write: rollback: %w", rbErr))
			}
		}
	}()
	if fnErr != nil {
		return fnErr
	}
	// DuckDB aborts a transaction on any failed statement and then turns
	// COMMIT into a silent rollback: probe first so that a failure fn
	// ignored is not reported as success.
	if _, err := tx.Exec("SELECT 1"); errors.Is(err, sql.ErrTxDone) {
		return errTxEndedByFn(h)
	} else if err != nil {
		return fmt.Errorf("dbx: write: nothing was written: a statement in the window failed earlier: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("dbx: write: commit: %w", err)
	}
	committed = true
	return nil
}

// errTxEndedByFn reports that the window's function committed or rolled
// back its transaction itself, and what that did to its rows (as h
// recorded it; see recordedTx).
func errTxEndedByFn(h *host) error {
	var end any
	if h != nil {
		end = h.txEnd.Load()
	}
	what := "its rows are written if it committed, not if it rolled back"
	switch end {
	case "committed":
		what = "it committed: its rows are written"
	case "rolled back":
		what = "it rolled back: nothing was written"
	}
	return fmt.Errorf("dbx: write: the function ended the window's transaction itself (%s); return nil to commit or an error to roll back instead: %w", what, sql.ErrTxDone)
}

// RawConn calls f with the duckdb-go connection of the write window whose
// transaction is tx, for duckdb-go features database/sql does not reach,
// such as the Appender (catalog [Catalog]). Rows appended join tx. It fails
// if tx is not the transaction of a running write window of db.
func (db *DB) RawConn(tx *sqlx.Tx, f func(*duckdb.Conn) error) error {
	if db.closed.Load() {
		return ErrClosed
	}
	db.window.mu.Lock()
	conn := db.window.conn
	ok := tx != nil && tx == db.window.tx
	if ok {
		db.window.raw = true // statements dbx does not see: checkpoint
	}
	db.window.mu.Unlock()
	if !ok {
		return errors.New("dbx: RawConn: tx is not the transaction of a running write window")
	}
	return conn.Raw(func(driverConn any) error {
		dc, ok := DuckDBConn(driverConn)
		if !ok {
			return fmt.Errorf("dbx: RawConn: unexpected driver connection %T", driverConn)
		}
		return f(dc)
	})
}
