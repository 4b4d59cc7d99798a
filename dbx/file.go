package dbx

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/sync/semaphore"
)

// fileSide is the write side of a local file, and what it shares with the
// read side: for each window it stops this process's reads (the gate),
// announces the write to other dbx processes (the intent sidecar) and
// attaches the file read-write; after it, it lingers or lets go.
type fileSide struct {
	path   string
	opts   options
	writes *semaphore.Weighted // the DB's write queue
	queued func() bool         // whether a window of this process is queued

	read      *sqlx.DB // the read pool: the read host's connections, and shared ones
	readHost  *host
	write     *sqlx.DB // the write pool: one connection, on writeHost
	writeHost *host
	gate      *gate
	intent    *intent // nil if the sidecar cannot be opened

	// Guarded by writes.
	lastLetGo   time.Time // when the write side last let go
	held        lingering
	checkpoints checkpoints

	// background runs the read side's attaches after windows (see letGo)
	// and the linger watcher; close ends them with stop and waits for them.
	background sync.WaitGroup
	stop       context.Context
	cancel     context.CancelFunc
}

// take returns the write connection with the file attached read-write:
// the lingering one, or a new one once this process's reads have been
// stopped and drained and the write announced to other dbx processes;
// reads then run on the write side too, with WithReadsDuringWrites.
func (f *fileSide) take(ctx context.Context) (*sqlx.Conn, error) {
	conn := f.takeLingering()
	if conn != nil && errors.Is(conn.PingContext(context.WithoutCancel(ctx)), sql.ErrConnDone) {
		// A window cancelled by its context lost its connection
		// (database/sql discards it), and lingered: take a new one.
		conn.Close()
		var err error
		if conn, err = f.write.Connx(ctx); err != nil {
			f.letGo(nil, false)
			return nil, fmt.Errorf("dbx: write: %w", err)
		}
	}
	if conn == nil {
		err := f.announceWrite(ctx)
		if err == nil {
			if conn, err = f.write.Connx(ctx); err != nil {
				err = fmt.Errorf("dbx: write: %w", err)
			}
		}
		if err != nil {
			f.letGo(nil, false)
			return nil, err
		}
	}
	if f.opts.readsDuringWrites {
		f.gate.share(true, nil)
	}
	f.writeHost.schemaChanged.Store(false) // the last window's CHECKPOINT counted
	return conn, nil
}

// busyReads is how long the write side lingers after its last use, with
// WithReadsDuringWrites, when this process reads without pause (a read ran
// within busyReads when the window committed): the reads then go on
// running on it, and the next window finds the file open. At a model's
// pace, reads seconds apart, it lets go at once.
const busyReads = 10 * time.Millisecond

// end checkpoints after a window that committed, if the policy says so,
// and ends the window's hold on the file: the write side lingers for the
// write linger, if one is set and nobody waits for the file, or for
// busyReads while this process reads without pause (WithReadsDuringWrites);
// it stays for a window of this process queued behind this one (unless
// another process waits); with WithReadsDuringWrites it stays while
// reads run on it (the linger watcher lets go once they end). Otherwise
// it lets go now, before Write returns.
func (f *fileSide) end(conn *sqlx.Conn, committed, raw bool) {
	if committed && f.checkpoints.afterWindow(f.path, raw || f.writeHost.schemaChanged.Swap(false)) &&
		f.checkpoint(conn) != nil {
		f.checkpoints.due = true // reads on the write side had a transaction open
	}
	wanted := f.fileWanted()
	switch {
	case committed && f.opts.writeLinger > 0 && !wanted:
		f.linger(conn, f.opts.writeLinger)
	case committed && f.opts.readsDuringWrites && f.gate.readWithin(busyReads) && !wanted:
		f.linger(conn, busyReads)
	case f.queued() && !wanted,
		f.opts.readsDuringWrites && !f.gate.unshareIfNoReaders(nil):
		f.linger(conn, 0)
	default:
		f.letGo(conn, false)
	}
}

// runPool runs fn with the write pool in a write window (WritePool).
func (f *fileSide) runPool(ctx context.Context, fn func(*sql.DB) error) error {
	return f.writePool(ctx, fn, nil)
}

// writePool runs fn with the write pool in a write window and, if it
// succeeds, afterRelease (if not nil) once the write side has let go of the
// file but before any dbx process may open it again. Reads of this
// process wait meanwhile: the gate does not share.
func (f *fileSide) writePool(ctx context.Context, fn func(pool *sql.DB) error, afterRelease func() error) error {
	if conn := f.takeLingering(); conn != nil {
		if err := f.unshare(ctx, nil, max(f.opts.busyTimeout, time.Millisecond)); err != nil {
			f.linger(conn, f.opts.writeLinger)
			return err
		}
		f.letGo(conn, false)
	}
	if err := f.announceWrite(ctx); err != nil {
		f.letGo(nil, false)
		return err
	}
	f.write.SetMaxIdleConns(1) // keep the file attached across fn's calls
	// Panic or not, detach and let go.
	defer func() {
		f.write.SetMaxIdleConns(0)
		f.letGo(nil, false)
	}()
	if err := fn(f.write.DB); err != nil {
		return err
	}
	conn, err := f.write.Connx(context.WithoutCancel(ctx))
	if err == nil {
		err = f.checkpoint(conn)
		conn.Close()
	}
	switch {
	case err != nil && afterRelease != nil:
		return fmt.Errorf("dbx: checkpoint: %w", err)
	case err != nil:
		// fn's work is committed, durable in the WAL.
		f.opts.logger.Warn("dbx: checkpoint after write failed; it is retried when the write side next lets go", "path", f.path, "err", err)
		f.checkpoints.due = true
		return nil
	}
	f.checkpoints.windows, f.checkpoints.due = 0, false
	if afterRelease == nil {
		return nil
	}
	f.write.SetMaxIdleConns(0)
	f.writeHost.waitIdle()
	return afterRelease()
}

// replaceWith renames newPath over the database, which no process of this
// one has open (see ReplaceFile), retrying while the system refuses
// because another process has it open.
func (f *fileSide) replaceWith(ctx context.Context, newPath string) error {
	for _, wal := range []string{newPath + ".wal", f.path + ".wal"} {
		if info, err := os.Stat(wal); err == nil && info.Size() > 0 {
			return fmt.Errorf("%s holds commits not yet checkpointed", wal)
		}
	}
	var refused error // the last refusal, if any
	waited, err := retryBusy(ctx, f.opts.busyTimeout, time.Millisecond, 50*time.Millisecond, func() (bool, error) {
		err := os.Rename(newPath, f.path)
		if renameRefused(err) {
			refused = err
			return true, nil
		}
		return false, err
	})
	if err == nil {
		os.Remove(f.path + ".wal") // empty: the old file's
		return nil
	}
	if refused != nil && (errors.Is(err, errStillBusy) || ctx.Err() != nil) {
		return &LockError{Path: f.path, Mode: ReadWrite, Err: refused, Waited: waited, Cause: ctx.Err()}
	}
	return err
}

// announceWrite stops this process's new reads, announces the write to
// other dbx processes (waiting for their writer, if any), whose readers now
// let go of the file, and waits until this process's read side has let go.
// Whatever it returns, letGo must follow.
func (f *fileSide) announceWrite(ctx context.Context) error {
	f.gate.startWrite()
	// Back-to-back windows (a batch import, say) leave readers of every
	// process a turn in between.
	if pause := time.Until(f.lastLetGo.Add(readersFirst)); pause > 0 {
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return fmt.Errorf("dbx: write: %w", ctx.Err())
		}
	}
	if err := f.intent.lock(ctx, f.opts.busyTimeout); err != nil {
		return fmt.Errorf("dbx: write: %w", err)
	}
	return f.drainReads(ctx)
}

// drainReads closes idle read connections and waits, for the busy timeout
// at most, until the read side of this process has let go of the file.
func (f *fileSide) drainReads(ctx context.Context) error {
	f.releaseIdleReads()
	waitCtx, cancel := context.WithTimeout(ctx, max(f.opts.busyTimeout, time.Millisecond))
	defer cancel()
	open, err := f.gate.waitReaders(waitCtx)
	if err == nil {
		f.readHost.detachIdle() // it may be lingering after its last query
		return nil
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return readsInUse(open, "", err)
}

// releaseIdleReads closes the read pool's idle connections now. The read
// pool is the one Read returns: its SetMaxIdleConns is dbx's to set.
func (f *fileSide) releaseIdleReads() {
	f.read.SetMaxIdleConns(0)
	f.read.SetMaxIdleConns(f.opts.readConns)
}

// letGo ends the write side: it checkpoints as the policy says (all:
// whatever is pending), closes conn, if any, and so detaches the file, and
// lets this process's reads and other processes' writers in; the read
// side, if it was in use within its lease, attaches the file again in
// the background. The caller holds the write queue. Reads on the write
// side stop first: unshare has normally waited for them; those still in
// use (after a window whose connection failed) delay letGo until returned.
func (f *fileSide) letGo(conn *sqlx.Conn, all bool) {
	if f.opts.readsDuringWrites {
		f.gate.share(false, nil)
		f.releaseIdleReads()
	}
	if conn != nil {
		if f.checkpoints.beforeLetGo(f.path, all) {
			if err := f.checkpoint(conn); err != nil {
				f.opts.logger.Warn("dbx: checkpoint before letting go of the file failed; the next open replays the WAL", "path", f.path, "err", err)
			}
		}
		conn.Close()
	}
	// A transaction cancelled by its context rolls back on another
	// goroutine: wait until the write side has really let go.
	f.writeHost.waitIdle()
	f.intent.unlock()
	f.lastLetGo = time.Now()
	f.gate.endWrite()
	if f.stop.Err() == nil && !f.readHost.leaseOver() {
		f.background.Go(func() { f.readHost.warm(f.stop) })
	}
}

// checkpoint folds committed writes into the file. The commits are already
// durable in the WAL; checkpointing keeps the WAL, which every open
// replays, short.
func (f *fileSide) checkpoint(conn *sqlx.Conn) error {
	_, err := conn.ExecContext(context.Background(), "CHECKPOINT")
	return err
}

// lingering is the write side kept between windows.
type lingering struct {
	conn *sqlx.Conn // attached read-write; nil when the write side has let go
	take func()     // ends the watcher's context: a window takes conn back
}

// linger keeps conn for the next window (reads run on it meanwhile, with
// WithReadsDuringWrites), and lets go when the file is wanted or d has
// passed since the write side's last use.
func (f *fileSide) linger(conn *sqlx.Conn, d time.Duration) {
	ctx, take := context.WithCancel(f.stop)
	f.held = lingering{conn: conn, take: take}
	if f.opts.readsDuringWrites {
		f.gate.share(true, nil)
	}
	f.background.Go(func() { f.watchLinger(ctx, d) })
}

// takeLingering returns the lingering write connection, if any, and stops
// its watcher.
func (f *fileSide) takeLingering() *sqlx.Conn {
	conn := f.held.conn
	if conn != nil {
		f.held.take()
	}
	f.held = lingering{}
	return conn
}

// fileWanted reports whether a reader or writer of another dbx process
// waits for the file, or a reader of this one (which waits only while
// the write side does not share it: see WithReadsDuringWrites).
func (f *fileSide) fileWanted() bool {
	return !f.opts.readsDuringWrites && f.gate.readersWaiting() > 0 || f.intent.wanted()
}

// watchLinger lets go of the lingering write side when the file is wanted
// or the linger d ends, once no read runs on it, unless a window takes it
// back or close stops it first (ctx ends). When the linger ends with
// nobody waiting, reads on the write side keep it lingering. When the
// file is wanted, it stops sharing and waits for those reads before it
// queues for the write queue, where their caller may be queued itself; if
// they take longer than the busy timeout, the write side shares again and
// lingers on.
func (f *fileSide) watchLinger(ctx context.Context, d time.Duration) {
	lastUse := func() time.Time { return time.Unix(0, f.writeHost.lastUse.Load()) }
	readsLogged := false
	for {
		idle, taken := awaitLingerEnd(ctx.Done(), d, lastUse, f.fileWanted, f.gate.waitingChanged)
		if taken {
			return
		}
		if idle && f.opts.readsDuringWrites {
			if f.lingerWhileReads(ctx, &readsLogged) {
				break
			}
			continue
		}
		err := f.unshare(ctx, ctx.Done(), max(f.opts.busyTimeout, time.Millisecond))
		if ctx.Err() != nil {
			return // a window took the write side back
		}
		if err == nil {
			break
		}
		f.opts.logger.Warn("dbx: the write side cannot let go of the file", "path", f.path, "err", err)
		f.gate.share(true, ctx.Done())
	}
	if f.writes.Acquire(ctx, 1) != nil {
		return // a window took it first, or close did
	}
	defer f.writes.Release(1)
	if ctx.Err() == nil {
		f.letGo(f.takeLingering(), false)
	}
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

// close lets go of a lingering write side, checkpointing what is pending;
// if the write side has let go with windows pending, it attaches the file
// once more to checkpoint them, trying for the busy timeout (1 s at most:
// the commits are durable in the WAL, which the next open replays). Then
// it closes both pools and waits until every read connection has been
// returned. The DB is closed first: a window still queued then fails
// with ErrClosed.
func (f *fileSide) close() error {
	f.cancel()     // no background attach starts now; the linger watcher ends
	f.gate.close() // no read enters now, none on the write side
	// Wait for the reads on the write side before queueing for the write
	// queue, where their caller may be queued itself, as the linger
	// watcher does.
	_ = f.unshare(context.Background(), nil, 0)
	_ = f.writes.Acquire(context.Background(), 1)
	if conn := f.takeLingering(); conn != nil {
		_ = f.unshare(context.Background(), nil, 0) // a window ran meanwhile and shared again
		f.letGo(conn, true)
	} else if f.checkpoints.pending() {
		ctx, cancel := context.WithTimeout(context.Background(), min(f.opts.busyTimeout, time.Second))
		err := f.announceWrite(ctx)
		var conn *sqlx.Conn
		if err == nil {
			conn, err = f.write.Connx(ctx)
		}
		if err != nil {
			f.opts.logger.Warn("dbx: cannot checkpoint on close; the next open replays the WAL", "path", f.path, "err", err)
		}
		f.letGo(conn, true)
		cancel()
	}
	f.writes.Release(1)
	f.background.Wait()
	err := errors.Join(f.read.Close(), f.write.Close())
	f.readHost.waitIdle()
	return err
}

// checkpointPolicy says when the write side folds the WAL into the file
// (WithCheckpointEvery).
type checkpointPolicy struct {
	every    int   // before letting go, once this many windows are pending
	walBytes int64 // at once when the WAL is this large
}

// checkpoints applies the policy to the windows of one DB.
type checkpoints struct {
	checkpointPolicy
	// windows committed since this process last checkpointed, and whether
	// a checkpoint that was asked for failed, so letting go must.
	windows int
	due     bool
}

// afterWindow counts a committed window and reports whether to checkpoint
// now: after anything but row changes (a read-only open cannot replay
// those, and the process could die before it lets go), or once the WAL
// reaches walBytes.
func (c *checkpoints) afterWindow(path string, notRowsOnly bool) bool {
	c.windows++
	if notRowsOnly || c.walAtLeast(path) {
		c.windows = 0
		return true
	}
	return false
}

// beforeLetGo reports whether to checkpoint before the write side lets go
// of the file: once every windows are pending or the WAL has reached
// walBytes, or whatever is pending if all (Close). A checkpoint holds the
// file read-write against every other process, so it is not done merely
// because nobody waits: a plain DuckDB reader cannot say that it waits.
func (c *checkpoints) beforeLetGo(path string, all bool) bool {
	if !c.due && (c.windows == 0 || !all && c.windows < c.every && !c.walAtLeast(path)) {
		return false
	}
	c.windows, c.due = 0, false
	return true
}

// pending reports whether committed windows wait for a checkpoint.
func (c *checkpoints) pending() bool { return c.due || c.windows > 0 }

func (c *checkpoints) walAtLeast(path string) bool {
	wal, err := os.Stat(path + ".wal") // Stat, never Open: see the package doc
	return err == nil && wal.Size() >= c.walBytes
}
