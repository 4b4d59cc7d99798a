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

// window is the state of the write window that runs now, if any.
type window struct {
	host *host // the write side's host; nil when the DSN is not a local file

	mu   sync.Mutex
	tx   *sqlx.Tx
	conn *sqlx.Conn
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
// Write fails with a [*LockError] if another process holds the file for the
// whole busy timeout, and with an error if read connections of this process
// stay in use that long (a Rows, Tx or Conn from [DB.Read] held across Write).
func (db *DB) Write(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.beginWindow(ctx, ctx)
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
// for the write side (until queue ends), takes it (the file attached
// read-write) and begins the window's transaction. finishWindow must
// follow, in any case; until then the caller holds db.writes.
func (db *DB) beginWindow(ctx, queue context.Context) (*sqlx.Tx, error) {
	if err := db.lockWrites(queue); err != nil {
		return nil, err
	}
	var conn *sqlx.Conn
	var err error
	if db.gate == nil {
		if conn, err = db.write.Connx(ctx); err != nil {
			err = fmt.Errorf("dbx: write: %w", err)
		}
	} else {
		conn, err = db.takeWriteSide(ctx)
	}
	if err != nil {
		db.writes.Release(1)
		return nil, err
	}
	if db.window.host != nil {
		db.window.host.schemaChanged.Store(false) // the last window's CHECKPOINT counted
	}
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		db.releaseWindow(conn, false)
		return nil, fmt.Errorf("dbx: write: begin: %w", err)
	}
	db.window.set(tx, conn)
	return tx, nil
}

// finishWindow ends the window that beginWindow opened with tx, the
// second half of Write: if fnErr is nil it commits, and checkpoints if
// the window changed more than rows or the WAL has grown past the
// policy's size; otherwise it rolls back and returns fnErr. Then the
// write side lets go (see endWindow) and db.writes is released.
func (db *DB) finishWindow(tx *sqlx.Tx, fnErr error) error {
	db.window.mu.Lock()
	conn := db.window.conn
	db.window.mu.Unlock()
	err := commitOrRollback(tx, fnErr, db.window.host)
	if err == nil && db.gate != nil && db.opts.checkpoint.afterWindow(db.path, db.window.host.schemaChanged.Swap(false)) &&
		db.checkpoint(context.Background(), conn) != nil {
		db.opts.checkpoint.failed()
	}
	db.window.set(nil, nil)
	db.releaseWindow(conn, err == nil)
	return err
}

// releaseWindow ends a window's hold on the write side and releases
// db.writes.
func (db *DB) releaseWindow(conn *sqlx.Conn, committed bool) {
	if db.gate == nil {
		conn.Close()
	} else {
		db.endWindow(conn, committed)
	}
	db.writes.Release(1)
}

// busyReads is how long the write side lingers after its last use, with
// WithReadsDuringWrites, when this process reads without pause (a read ran
// within busyReads when the window committed): the reads then go on
// running on it, and the next window finds the file open. At a model's
// pace, reads seconds apart, it lets go at once.
const busyReads = 10 * time.Millisecond

// endWindow ends a window's hold on the file: the write side lingers for
// the write linger after a window that committed, if one is set and
// nobody waits for the file, or for busyReads while this process reads
// without pause (WithReadsDuringWrites); it stays for a window of this
// process queued behind this one (unless another process waits); with
// WithReadsDuringWrites it stays while reads run on it (the linger
// watcher lets go once they end). Otherwise it lets go now, before Write
// returns. The caller holds db.writes.
func (db *DB) endWindow(conn *sqlx.Conn, committed bool) {
	wanted := db.fileWanted()
	switch {
	case committed && db.opts.writeLinger > 0 && !wanted:
		db.linger(conn, db.opts.writeLinger)
	case committed && db.opts.readsDuringWrites && db.gate.readWithin(busyReads) && !wanted:
		db.linger(conn, busyReads)
	case db.queued.Load() > 0 && !wanted,
		db.opts.readsDuringWrites && !db.gate.unshareIfNoReaders(nil):
		db.linger(conn, 0)
	default:
		db.letGo(conn, false)
	}
}

// lockWrites takes the write queue, in arrival order, unless db is closed
// (before or while waiting).
func (db *DB) lockWrites(ctx context.Context) error {
	if db.closed.Load() {
		return ErrClosed
	}
	db.queued.Add(1)
	err := db.writes.Acquire(ctx, 1)
	db.queued.Add(-1)
	if err != nil {
		return fmt.Errorf("dbx: write: waiting for earlier writes: %w", err)
	}
	if db.closed.Load() {
		db.writes.Release(1)
		return ErrClosed
	}
	return nil
}

// checkpointPolicy says when the write side folds the WAL into the file.
type checkpointPolicy struct {
	every    int   // before letting go, once this many windows are pending
	walBytes int64 // at once when the WAL is this large
	// Guarded by DB.writes: windows committed since this process last
	// checkpointed, and whether a checkpoint after a window failed (reads
	// on the write side had a transaction open), so letting go must.
	windows int
	due     bool
}

// afterWindow counts a committed window and reports whether to checkpoint
// now: after anything but row changes (a read-only open cannot replay
// those, and the process could die before it lets go), or once the WAL
// reaches walBytes.
func (p *checkpointPolicy) afterWindow(path string, notRowsOnly bool) bool {
	p.windows++
	if notRowsOnly || p.walAtLeast(path) {
		p.windows = 0
		return true
	}
	return false
}

// beforeLetGo reports whether to checkpoint before the write side lets go
// of the file: once every windows are pending or the WAL has reached
// walBytes, or whatever is pending if all (Close). A checkpoint holds the
// file read-write against every other process, so it is not done merely
// because nobody waits: a plain DuckDB reader cannot say that it waits.
func (p *checkpointPolicy) beforeLetGo(path string, all bool) bool {
	if !p.due && (p.windows == 0 || !all && p.windows < p.every && !p.walAtLeast(path)) {
		return false
	}
	p.windows, p.due = 0, false
	return true
}

// failed notes that the checkpoint afterWindow asked for failed: the
// write side checkpoints before it lets go.
func (p *checkpointPolicy) failed() { p.due = true }

// pending reports whether committed windows wait for a checkpoint.
func (p *checkpointPolicy) pending() bool { return p.due || p.windows > 0 }

func (p *checkpointPolicy) walAtLeast(path string) bool {
	wal, err := os.Stat(path + ".wal") // Stat, never Open: see the package doc
	return err == nil && wal.Size() >= p.walBytes
}

// WritePool runs fn in a write window like [DB.Write], but hands it the write
// pool itself instead of a transaction, for tools that manage their own
// transactions (such as goose). The pool has one connection, which stays
// open until fn returns: fn must never need two at once, or it waits forever.
// Whatever fn committed is checkpointed; the file is released before
// WritePool returns.
func (db *DB) WritePool(ctx context.Context, fn func(pool *sql.DB) error) error {
	return db.writePool(ctx, fn, nil)
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
	if db.closed.Load() {
		return ErrClosed
	}
	if db.gate == nil {
		return fmt.Errorf("dbx: replace %s: not a local file", db.path)
	}
	newPath := db.path + ReplaceSuffix
	removeNew := func() {
		os.Remove(newPath)
		os.Remove(newPath + ".wal")
	}
	removeNew() // left by an interrupted earlier run
	err := db.writePool(ctx, func(pool *sql.DB) error { return build(pool, newPath) },
		func() error { return db.replaceWith(ctx, newPath) })
	if err != nil {
		removeNew()
		return fmt.Errorf("dbx: replace %s (unchanged): %w", db.path, err)
	}
	return nil
}

// replaceWith renames newPath over the database, which no process of this
// one has open (see ReplaceFile), retrying while the system refuses
// because another process has it open.
func (db *DB) replaceWith(ctx context.Context, newPath string) error {
	for _, wal := range []string{newPath + ".wal", db.path + ".wal"} {
		if info, err := os.Stat(wal); err == nil && info.Size() > 0 {
			return fmt.Errorf("%s holds commits not yet checkpointed", wal)
		}
	}
	var refused error // the last refusal, if any
	waited, err := retryBusy(ctx, db.opts.busyTimeout, time.Millisecond, 50*time.Millisecond, func() (bool, error) {
		err := os.Rename(newPath, db.path)
		if renameRefused(err) {
			refused = err
			return true, nil
		}
		return false, err
	})
	if err == nil {
		os.Remove(db.path + ".wal") // empty: the old file's
		return nil
	}
	if refused != nil && (errors.Is(err, errBusy) || ctx.Err() != nil) {
		return &LockError{Path: db.path, Mode: ReadWrite, Err: refused, Waited: waited, Cause: ctx.Err()}
	}
	return err
}

// writePool runs fn with the write pool in a write window and, if it
// succeeds, afterRelease (if not nil) once the write side has let go of the
// file but before any dbx process may open it again.
func (db *DB) writePool(ctx context.Context, fn func(pool *sql.DB) error, afterRelease func() error) error {
	if err := db.lockWrites(ctx); err != nil {
		return err
	}
	defer db.writes.Release(1)
	if db.gate == nil {
		return fn(db.write.DB)
	}
	if conn := db.takeLingering(); conn != nil {
		if err := db.unshare(ctx, nil, max(db.opts.busyTimeout, time.Millisecond)); err != nil {
			db.linger(conn, db.opts.writeLinger)
			return fmt.Errorf("dbx: write: %w", err)
		}
		db.letGo(conn, false)
	}
	if err := db.announceWrite(ctx); err != nil {
		db.letGo(nil, false)
		return err
	}
	db.write.SetMaxIdleConns(1) // keep the file attached across fn's calls
	// Panic or not, detach and let go.
	defer func() {
		db.write.SetMaxIdleConns(0)
		db.letGo(nil, false)
	}()
	if err := fn(db.write.DB); err != nil {
		return err
	}
	conn, err := db.write.Connx(context.WithoutCancel(ctx))
	if err != nil {
		if afterRelease != nil {
			return fmt.Errorf("dbx: checkpoint: %w", err)
		}
		// fn's work is committed; the next write window checkpoints it.
		db.opts.logger.Warn("dbx: checkpoint after write failed", "path", db.path, "err", err)
		db.opts.checkpoint.windows++
		return nil
	}
	if err := db.checkpoint(ctx, conn); err != nil {
		db.opts.logger.Warn("dbx: checkpoint after write failed; it is retried when the write side next lets go", "path", db.path, "err", err)
		db.opts.checkpoint.windows++
	} else {
		db.opts.checkpoint.windows = 0
	}
	conn.Close()
	if afterRelease == nil {
		return nil
	}
	db.write.SetMaxIdleConns(0)
	db.window.host.waitIdle()
	return afterRelease()
}

// takeWriteSide returns a write connection with the file attached
// read-write: the lingering one, or a new one once this process's reads
// have been stopped and drained and the write announced to other dbx
// processes; reads then run on the write side too, with
// WithReadsDuringWrites. The caller holds db.writes and ends with letGo or
// linger.
func (db *DB) takeWriteSide(ctx context.Context) (*sqlx.Conn, error) {
	conn := db.takeLingering()
	if conn != nil && errors.Is(conn.PingContext(context.WithoutCancel(ctx)), sql.ErrConnDone) {
		// A window cancelled by its context lost its connection
		// (database/sql discards it), and lingered: take a new one.
		conn.Close()
		var err error
		if conn, err = db.write.Connx(ctx); err != nil {
			db.letGo(nil, false)
			return nil, fmt.Errorf("dbx: write: %w", err)
		}
	}
	if conn == nil {
		err := db.announceWrite(ctx)
		if err == nil {
			if conn, err = db.write.Connx(ctx); err != nil {
				err = fmt.Errorf("dbx: write: %w", err)
			}
		}
		if err != nil {
			db.letGo(nil, false)
			return nil, err
		}
	}
	if db.opts.readsDuringWrites {
		db.gate.share(true, nil)
	}
	return conn, nil
}

// announceWrite stops this process's new reads, announces the write to
// other dbx processes (waiting for their writer, if any), whose readers now
// let go of the file, and waits until this process's read side has let go.
// Whatever it returns, letGo must follow.
func (db *DB) announceWrite(ctx context.Context) error {
	db.gate.startWrite()
	// Back-to-back windows (a batch import, say) leave readers of every
	// process a turn in between.
	if pause := time.Until(db.lastWindow.Add(readersFirst)); pause > 0 {
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return fmt.Errorf("dbx: write: %w", ctx.Err())
		}
	}
	if err := db.intent.lock(ctx, db.opts.busyTimeout); err != nil {
		return fmt.Errorf("dbx: write: %w", err)
	}
	return db.drainReads(ctx)
}

// letGo ends the write side: it checkpoints as the policy says (all:
// whatever is pending), closes conn, if any, and so detaches the file, and
// lets this process's reads and other processes' writers in; the read
// side, if it was in use within its lease, attaches the file again in
// the background. The caller holds db.writes, and no read runs on the
// write side (see unshare).
func (db *DB) letGo(conn *sqlx.Conn, all bool) {
	if conn != nil {
		if db.opts.checkpoint.beforeLetGo(db.path, all) {
			if err := db.checkpoint(context.Background(), conn); err != nil {
				db.opts.logger.Warn("dbx: checkpoint before letting go of the file failed; the next open replays the WAL", "path", db.path, "err", err)
			}
		}
		conn.Close()
	}
	// A transaction cancelled by its context rolls back on another
	// goroutine: wait until the write side has really let go.
	db.window.host.waitIdle()
	db.intent.unlock()
	db.lastWindow = time.Now()
	db.gate.endWrite()
	if !db.closed.Load() && !db.readHost.leaseOver() {
		db.background.Go(func() { db.readHost.warm(db.stopBackground) })
	}
}

// lingering is the write side kept between windows.
type lingering struct {
	conn *sqlx.Conn // attached read-write; nil when the write side has let go
	take func()     // ends the watcher's context: a window takes conn back
}

// linger keeps conn for the next window (reads run on it meanwhile, with
// WithReadsDuringWrites), and lets go when the file is wanted or d has
// passed since the write side's last use. The caller holds db.writes.
func (db *DB) linger(conn *sqlx.Conn, d time.Duration) {
	ctx, take := context.WithCancel(context.Background())
	db.held = lingering{conn: conn, take: take}
	if db.opts.readsDuringWrites {
		db.gate.share(true, nil)
	}
	go db.watchLinger(ctx, d)
}

// takeLingering returns the lingering write connection, if any, and stops
// its watcher. The caller holds db.writes.
func (db *DB) takeLingering() *sqlx.Conn {
	conn := db.held.conn
	if conn != nil {
		db.held.take()
	}
	db.held = lingering{}
	return conn
}

// unshare stops reads on the write side (WithReadsDuringWrites), unless
// taken is closed: new ones wait for the read side, idle ones close, and
// it waits until those in use are returned, for timeout at most (0: until
// ctx ends). It fails if some are still in use then; the caller shares
// again or lets the write side linger.
func (db *DB) unshare(ctx context.Context, taken <-chan struct{}, timeout time.Duration) error {
	if !db.opts.readsDuringWrites {
		return nil
	}
	db.gate.share(false, taken)
	db.releaseIdleReads() // those in use close when returned (IsValid)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if open, err := db.gate.waitReaders(ctx); err != nil {
		return fmt.Errorf("%d read connection(s) of this process still in use on the write side (close Rows, Tx and Conn taken from Read, or a read-only transaction of a dbx *sql.DB, before writing): %w", open, err)
	}
	return nil
}

// fileWanted reports whether a reader or writer of another dbx process
// waits for the file, or a reader of this one (which waits only while
// the write side does not share it: see WithReadsDuringWrites).
func (db *DB) fileWanted() bool {
	return !db.opts.readsDuringWrites && db.gate.readersWaiting() > 0 || db.intent.wanted()
}

// watchLinger lets go of the lingering write side when the file is wanted
// or the linger d ends, once no read runs on it, unless a window takes it
// back first (ctx ends). When the linger ends with nobody waiting, reads
// on the write side keep it lingering. When the file is wanted, it stops
// sharing and waits for those reads before it queues for db.writes, where
// their caller may be queued itself; if they take longer than the busy
// timeout, the write side shares again and lingers on.
func (db *DB) watchLinger(ctx context.Context, d time.Duration) {
	lastUse := func() time.Time { return time.Unix(0, db.window.host.lastUse.Load()) }
	var idle, readsKept bool
	for {
		var taken bool
		idle, taken = awaitLingerEnd(ctx.Done(), d, lastUse, db.fileWanted, db.gate.waitingChanged)
		if taken {
			return
		}
		if idle && db.opts.readsDuringWrites {
			// Nobody waits for the file: while reads run on the write
			// side, it lingers on, and new reads keep coming to it.
			db.releaseIdleReads()
			changed := db.gate.waitingChanged()
			if db.gate.unshareIfNoReaders(ctx.Done()) {
				break
			}
			if !readsKept {
				db.opts.logger.Debug("dbx: the write side lingers on while reads run on it", "path", db.path)
				readsKept = true
			}
			select {
			case <-changed:
			case <-time.After(pollMax):
			case <-ctx.Done():
				return
			}
			continue
		}
		err := db.unshare(ctx, ctx.Done(), max(db.opts.busyTimeout, time.Millisecond))
		if ctx.Err() != nil {
			return // a window took the write side back
		}
		if err == nil {
			break
		}
		db.opts.logger.Warn("dbx: the write side cannot let go of the file", "path", db.path, "err", err)
		db.gate.share(true, ctx.Done())
	}
	_ = db.writes.Acquire(context.Background(), 1)
	defer db.writes.Release(1)
	if ctx.Err() != nil { // a window took it first
		return
	}
	db.letGo(db.takeLingering(), false)
}

// awaitLingerEnd waits until the linger since the write side's last use
// ends (idle), someone wants the file (looking every pollMax, and at every
// change of the gate), or stop is closed (taken).
func awaitLingerEnd(stop <-chan struct{}, linger time.Duration, lastUse func() time.Time, wanted func() bool, changed func() <-chan struct{}) (idle, taken bool) {
	end := time.NewTimer(linger)
	defer end.Stop()
	tick := time.NewTicker(pollMax)
	defer tick.Stop()
	for !wanted() {
		select {
		case <-stop:
			return false, true
		case <-end.C:
			if rest := linger - time.Since(lastUse()); rest > 0 {
				end.Reset(rest) // used since: reads on a shared write side
				continue
			}
			return true, false
		case <-changed():
		case <-tick.C:
		}
	}
	return false, false
}

// releaseWrites lets go of a lingering write side now, checkpointing what
// is pending; if the write side has let go with windows pending, it
// attaches the file once more to checkpoint them, trying for the busy
// timeout (1 s at most: the commits are durable in the WAL, which the
// next open replays, so Close need not wait for a busy file). Close calls
// it, once db is closed (a window still queued for db.writes then fails
// with ErrClosed).
func (db *DB) releaseWrites() {
	if db.gate == nil {
		return
	}
	// Wait for the reads on the write side before queueing for db.writes,
	// where their caller may be queued itself, as the linger watcher does.
	_ = db.unshare(context.Background(), nil, 0)
	_ = db.writes.Acquire(context.Background(), 1)
	defer db.writes.Release(1)
	if conn := db.takeLingering(); conn != nil {
		_ = db.unshare(context.Background(), nil, 0) // a window ran meanwhile and shared again
		db.letGo(conn, true)
		return
	}
	if !db.opts.checkpoint.pending() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(db.opts.busyTimeout, time.Second))
	defer cancel()
	err := db.announceWrite(ctx)
	var conn *sqlx.Conn
	if err == nil {
		conn, err = db.write.Connx(ctx)
	}
	if err != nil {
		db.opts.logger.Warn("dbx: cannot checkpoint on close; the next open replays the WAL", "path", db.path, "err", err)
	}
	db.letGo(conn, true)
}

// checkpoint folds committed writes into the file. The commits are already
// durable in the WAL; checkpointing keeps the WAL, which every open
// replays, short.
func (db *DB) checkpoint(ctx context.Context, conn *sqlx.Conn) error {
	_, err := conn.ExecContext(context.WithoutCancel(ctx), "CHECKPOINT")
	return err
}

// releaseIdleReads closes the read pool's idle connections now.
func (db *DB) releaseIdleReads() {
	db.read.SetMaxIdleConns(0)
	db.read.SetMaxIdleConns(db.opts.readConns)
}

// drainReads closes idle read connections and waits, for the busy timeout
// at most, until the read side of this process has let go of the file.
func (db *DB) drainReads(ctx context.Context) error {
	db.releaseIdleReads()
	waitCtx, cancel := context.WithTimeout(ctx, max(db.opts.busyTimeout, time.Millisecond))
	defer cancel()
	open, err := db.gate.waitReaders(waitCtx)
	if err == nil {
		db.readHost.detachIdle() // it may be lingering after its last query
		return nil
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("dbx: write: %d read connection(s) of this process still in use (close Rows, Tx and Conn taken from Read, or a read-only transaction of a dbx *sql.DB, before writing): %w", open, err)
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
// back its transaction itself, and what that did to its rows.
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

func (w *window) set(tx *sqlx.Tx, conn *sqlx.Conn) {
	w.mu.Lock()
	w.tx, w.conn = tx, conn
	w.mu.Unlock()
}

// RawConn calls f with the duckdb-go connection of the write window whose
// transaction is tx, for duckdb-go features database/sql does not reach,
// such as the Appender (catalog [Catalog]). Rows appended join tx. It fails
// if tx is not the transaction of a running write window of db.
func (db *DB) RawConn(tx *sqlx.Tx, f func(*duckdb.Conn) error) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if db.window.host != nil {
		db.window.host.schemaChanged.Store(true) // unknown statements: checkpoint
	}
	db.window.mu.Lock()
	conn := db.window.conn
	ok := tx != nil && tx == db.window.tx
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
