package dbx

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// Reads during writes ([WithReadsDuringWrites]): while this process's
// write side holds the file, its reads run on the write side's DuckDB
// instance (a sharedConn) instead of waiting for it to let go. This file
// holds the option's connection type, the gate's sharing and the write
// side's unshare and lingerWhileReads; the write side's decision to
// linger for reads (busyReads, fileSide.end) is in file.go, and the write
// host's lockdown in newHost.
//
// Invariants:
//
//  1. Reads open on the write side only while the gate shares it: from the
//     moment a window has the file attached read-write (fileSide.take)
//     until unshare, or letGo, which stops sharing first; never once Close
//     has begun. WritePool and ReplaceFile never share: reads wait for
//     them, the busy timeout at most.
//  2. The write host detaches the file only once every shared connection
//     has closed: letGo stops sharing and waits for them. The read
//     pool thus holds connections of both hosts; unshare closes the idle
//     shared ones through the pool's idle limit (releaseIdleReads), and
//     IsValid those returned later, so that the next read runs on the
//     read side (TestReadsDuringWrites).
//  3. A shared connection runs one SELECT or EXPLAIN statement at a time,
//     each in a READ ONLY transaction (or in its caller's own read-only
//     transaction), on a host locked down like the read host: it cannot
//     commit or roll back a window's work, attach, detach, load or
//     configure anything. Any other statement fails with [ErrRefused];
//     [DuckDBConn] refuses such a connection.
//  4. Shared reads keep the write side: it lingers while they run (or ran
//     within busyReads of a commit) and lets go once they end. When the
//     file is wanted, the linger watcher and Close wait for them without
//     holding the write queue, where their caller may be queued itself;
//     the watcher for the busy timeout at most (then it shares again and
//     lingers on), Close for as long as they are in use. WritePool and
//     ReplaceFile, which hold the queue, wait the busy timeout at most and
//     then fail with [ErrReadsInUse].
//  5. A window's checkpoint fails while a shared read holds a transaction
//     open (DuckDB refuses it); the write side then checkpoints before it
//     lets go.

// sharedConn is a read connection on the write side.
type sharedConn struct {
	*conn
	// begin and commit, of the read-only transactions, are prepared
	// once; open counts the statements that run in the current one (Rows
	// still open included); callerTx is set while the caller's own
	// transaction runs.
	begin, commit driver.Stmt
	open          int
	callerTx      bool
}

// errSharedKind refuses a statement on a shared connection.
var errSharedKind = refused("a read that runs while this process writes (WithReadsDuringWrites) takes one SELECT or EXPLAIN statement at a time; run anything else in Write")

func (c *sharedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	stmt, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := stmt.(*sharedStmt).QueryContext(ctx, args)
	if err != nil {
		stmt.Close()
		return nil, err
	}
	return &closingRows{Rows: rows, done: stmt.Close}, nil
}

func (c *sharedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	stmt, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	return stmt.(*sharedStmt).ExecContext(ctx, args)
}

// PrepareContext prepares one statement (the text is never run as
// several) of a kind that only reads (SELECT, which includes DESCRIBE,
// SHOW and table functions, or EXPLAIN), so that it cannot end the
// read-only transaction it runs in, attach or detach a database or change
// settings. Each execution runs in a read-only transaction.
func (c *sharedConn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	c.use(query)
	// Prepare, unlike PrepareContext, refuses several statements
	// (PrepareContext would run all but the last, once).
	stmt, err := c.Conn.Prepare(query)
	if err != nil {
		if strings.Contains(err.Error(), "multi-statement") {
			return nil, errSharedKind
		}
		return nil, err
	}
	kind, err := stmt.(*duckdb.Stmt).StatementType()
	if err == nil && kind != duckdb.STATEMENT_TYPE_SELECT && kind != duckdb.STATEMENT_TYPE_EXPLAIN {
		err = errSharedKind
	}
	if err != nil {
		stmt.Close()
		return nil, err
	}
	return &sharedStmt{Stmt: stmt, c: c}, nil
}

// readOnly starts a read-only transaction for the next statement, unless
// one is open (the caller's, or one whose Rows are still open), and
// returns the function that ends it (nil inside the caller's): end(nil)
// commits, end(err) rolls back and returns err.
func (c *sharedConn) readOnly(ctx context.Context) (end func(error) error, err error) {
	if c.callerTx {
		return nil, nil
	}
	if c.open == 0 {
		if c.begin == nil {
			if c.begin, err = c.Conn.Prepare("BEGIN TRANSACTION READ ONLY"); err != nil {
				return nil, err
			}
		}
		if _, err := c.begin.(driver.StmtExecContext).ExecContext(ctx, nil); err != nil {
			return nil, err
		}
	}
	c.open++
	return func(err error) error {
		if c.open--; c.open > 0 {
			return err
		}
		if err != nil {
			_, _ = c.Conn.ExecContext(context.Background(), "ROLLBACK", nil) // already aborted, or nothing to undo
			return err
		}
		if c.commit == nil {
			if c.commit, err = c.Conn.Prepare("COMMIT"); err != nil {
				return err
			}
		}
		_, err = c.commit.(driver.StmtExecContext).ExecContext(context.Background(), nil)
		return err
	}, nil
}

// sharedStmt is a prepared statement of a shared connection.
type sharedStmt struct {
	driver.Stmt
	c *sharedConn
}

// ExecContext and QueryContext run the statement in a read-only
// transaction.
func (s *sharedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	end, err := s.c.readOnly(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	if end == nil {
		return res, err
	}
	if err := end(err); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *sharedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	end, err := s.c.readOnly(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	switch {
	case end == nil:
		return rows, err
	case err != nil:
		return nil, end(err)
	}
	return &closingRows{Rows: rows, done: func() error { return end(nil) }}, nil
}

// BeginTx starts the caller's transaction: read-only, whatever opts says.
func (c *sharedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.host.lastUse.Store(time.Now().UnixNano())
	if opts.Isolation != driver.IsolationLevel(0) {
		return nil, errors.New("dbx: begin: only the default isolation level is supported")
	}
	if c.callerTx || c.open > 0 {
		return nil, errors.New("dbx: begin: a transaction or Rows is still open on this connection")
	}
	if _, err := c.Conn.ExecContext(ctx, "BEGIN TRANSACTION READ ONLY", nil); err != nil {
		return nil, err
	}
	c.callerTx = true
	return &sharedTx{c: c}, nil
}

// sharedTx is the caller's read-only transaction on a shared connection.
type sharedTx struct{ c *sharedConn }

func (t *sharedTx) Commit() error   { return t.end("COMMIT") }
func (t *sharedTx) Rollback() error { return t.end("ROLLBACK") }

func (t *sharedTx) end(stmt string) error {
	t.c.callerTx = false
	_, err := t.c.Conn.ExecContext(context.Background(), stmt, nil)
	return err
}

// IsValid keeps a returned shared connection in the pool only while the
// write side shares the file.
func (c *sharedConn) IsValid() bool { return c.gate.sharingReads() }

// Prepare and Begin, which database/sql does not call, take the guarded
// paths too, for code that reaches the connection through Raw.
func (c *sharedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *sharedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *sharedConn) Close() error {
	for _, stmt := range []driver.Stmt{c.begin, c.commit} {
		if stmt != nil {
			stmt.Close()
		}
	}
	c.begin, c.commit = nil, nil
	return c.conn.Close()
}

// share lets reads open on the write side, which holds the file, or makes
// new reads wait for the read side (those open still run on the write
// side: call waitReaders next); unless unless is closed (nil: never). Once
// the gate is closed it shares no more.
func (g *gate) share(on bool, unless <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-unless:
		return
	default:
	}
	if on && g.closed {
		return
	}
	g.sharing = on
	g.notifyLocked()
}

// unshareIfNoReaders stops reads on the write side, as share(false,
// unless) does, if no read connection is open, and reports whether it did
// (true too if unless is closed).
func (g *gate) unshareIfNoReaders(unless <-chan struct{}) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-unless:
		return true
	default:
	}
	if g.readers > 0 {
		return false
	}
	g.sharing = false
	g.notifyLocked()
	return true
}

// sharingReads reports whether reads may use the write side.
func (g *gate) sharingReads() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sharing
}

// unshare stops reads on the write side, unless taken is closed: new ones
// wait for the read side, idle ones close, and it waits until those in
// use are returned, for timeout at most (0: until ctx ends). It fails
// with ErrReadsInUse if some are still in use then; the caller shares
// again or lets the write side linger. Without WithReadsDuringWrites it
// does nothing.
func (f *fileSide) unshare(ctx context.Context, taken <-chan struct{}, timeout time.Duration) error {
	if !f.opts.readsDuringWrites {
		return nil
	}
	f.gate.share(false, taken)
	f.releaseIdleReads() // those in use close when returned (IsValid)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if open, err := f.gate.waitReaders(ctx); err != nil {
		return readsInUse(open, "on the write side ", err)
	}
	return nil
}

// lingerWhileReads keeps the write side, once its linger has ended with
// nobody waiting for the file, while reads run on it: it closes the idle
// shared connections, and reports true once it has stopped sharing
// because none is left in use (or the watcher's ctx ended); otherwise it
// waits for a change of the gate (or pollMax) and reports false.
func (f *fileSide) lingerWhileReads(ctx context.Context, logged *bool) bool {
	f.releaseIdleReads()
	changed := f.gate.waitingChanged()
	if f.gate.unshareIfNoReaders(ctx.Done()) {
		return true
	}
	if !*logged {
		f.opts.logger.Debug("dbx: the write side lingers on while reads run on it", "path", f.path)
		*logged = true
	}
	select {
	case <-changed:
	case <-time.After(pollMax):
	case <-ctx.Done():
	}
	return false
}

// readsInUse is the error of a wait for open read connections of this
// process that ended with err.
func readsInUse(open int, where string, err error) error {
	return fmt.Errorf("%w: %d %s(close Rows, Tx and Conn taken from Read, or a read-only transaction of a dbx *sql.DB, before writing; inside a window, read through its transaction): %w", ErrReadsInUse, open, where, err)
}
