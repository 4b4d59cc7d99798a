package dbx

import (
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// conn is a connection of a host. A read connection gives up its place in
// the pool when the side it runs on must let go of the file (see IsValid).
type conn struct {
	*duckdb.Conn
	host   *host
	closed bool
	// read marks a read connection. gate, if not nil, counts it. shared
	// marks one on the write side (WithReadsDuringWrites), whose
	// statements run in read-only transactions (see readOnly).
	read, shared bool
	gate         *gate
	// kept holds a read connection's prepared statements of queries with
	// arguments, by text, while no Rows uses them; they close with the
	// connection (a *sql.Stmt kept on the pool would keep the connection,
	// and so the file, open).
	kept map[string]driver.Stmt
	// A shared connection's read-only transactions: begin and commit
	// are prepared once; open counts the statements that run in the
	// current one (Rows still open included); callerTx is set while the
	// caller's own transaction runs.
	begin, commit driver.Stmt
	open          int
	callerTx      bool
}

// maxKept bounds the prepared statements a read connection keeps.
const maxKept = 32

// QueryContext, ExecContext, PrepareContext and BeginTx note the time of
// the last use, from which the read lease and the write linger count. On a
// read connection, a query with arguments runs on a prepared statement
// kept for the next query with the same text, which then skips parsing and
// planning.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.use(query)
	if c.shared {
		stmt, err := c.prepareShared(query)
		if err != nil {
			return nil, err
		}
		rows, err := stmt.QueryContext(ctx, args)
		if err != nil {
			stmt.Close()
			return nil, err
		}
		return &closingRows{Rows: rows, done: stmt.Close}, nil
	}
	return c.query(ctx, query, args)
}

func (c *conn) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 || !c.read {
		return c.Conn.QueryContext(ctx, query, args)
	}
	stmt, ok := c.kept[query]
	delete(c.kept, query) // in use until its Rows close
	if !ok {
		var err error
		// Prepare, unlike PrepareContext, refuses several statements
		// (PrepareContext would run all but the last, once).
		if stmt, err = c.Conn.Prepare(query); err != nil {
			return c.Conn.QueryContext(ctx, query, args)
		}
	}
	rows, err := stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.keep(query, stmt)
		return nil, err
	}
	return &closingRows{Rows: rows, done: func() error { c.keep(query, stmt); return nil }}, nil
}

// keep keeps stmt for the next query with its text, or closes it.
func (c *conn) keep(query string, stmt driver.Stmt) {
	if _, dup := c.kept[query]; dup || c.closed || len(c.kept) >= maxKept {
		stmt.Close()
		return
	}
	if c.kept == nil {
		c.kept = map[string]driver.Stmt{}
	}
	c.kept[query] = stmt
}

// readOnly starts a read-only transaction for the next statement of a
// shared connection, unless one is open (the caller's, or one whose Rows
// are still open), and returns the function that ends it: end(nil)
// commits, end(err) rolls back and returns err. It returns a nil end on
// other connections. The write side's DuckDB instance has the file
// attached read-write: this keeps reads on it read-only.
func (c *conn) readOnly(ctx context.Context) (end func(error) error, err error) {
	if !c.shared || c.callerTx {
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

// endRows returns rows that end the read-only transaction (if end is not
// nil) when closed, or ends it now if the query failed.
func endRows(rows driver.Rows, err error, end func(error) error) (driver.Rows, error) {
	switch {
	case end == nil:
		return rows, err
	case err != nil:
		return nil, end(err)
	}
	return &closingRows{Rows: rows, done: func() error { return end(nil) }}, nil
}

// endResult ends the read-only transaction (if end is not nil) of a
// statement that returned res and err.
func endResult(res driver.Result, err error, end func(error) error) (driver.Result, error) {
	if end == nil {
		return res, err
	}
	if err := end(err); err != nil {
		return nil, err
	}
	return res, nil
}

// closingRows are Rows that call done once closed.
type closingRows struct {
	driver.Rows
	done func() error
}

func (r *closingRows) Close() error {
	err := r.Rows.Close()
	return errors.Join(err, r.done())
}

func (r *closingRows) ColumnTypeScanType(i int) reflect.Type {
	return r.Rows.(driver.RowsColumnTypeScanType).ColumnTypeScanType(i)
}

func (r *closingRows) ColumnTypeDatabaseTypeName(i int) string {
	return r.Rows.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(i)
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.use(query)
	if c.shared {
		stmt, err := c.prepareShared(query)
		if err != nil {
			return nil, err
		}
		defer stmt.Close()
		return stmt.ExecContext(ctx, args)
	}
	return c.Conn.ExecContext(ctx, query, args)
}

// PrepareContext prepares query; on a shared connection, as prepareShared
// does.
func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.use(query)
	if c.shared {
		return c.prepareShared(query)
	}
	return c.Conn.PrepareContext(ctx, query)
}

// prepareShared prepares query on a shared connection: one statement (the
// text is never run as several), of a kind that only reads (SELECT, which
// includes DESCRIBE, SHOW and table functions, or EXPLAIN), so that it
// cannot end the read-only transaction it runs in, attach or detach a
// database or change settings. Each execution runs in a read-only
// transaction.
func (c *conn) prepareShared(query string) (*sharedStmt, error) {
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

// errSharedKind refuses a statement on a shared connection.
var errSharedKind = errors.New("dbx: a read that runs while this process writes (WithReadsDuringWrites) takes one SELECT or EXPLAIN statement at a time; run anything else in Write")

// sharedStmt is a prepared statement of a shared connection.
type sharedStmt struct {
	driver.Stmt
	c *conn
}

// ExecContext and QueryContext run the statement in a read-only
// transaction.
func (s *sharedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	end, err := s.c.readOnly(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	return endResult(res, err, end)
}

func (s *sharedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	end, err := s.c.readOnly(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	return endRows(rows, err, end)
}

// use notes the time and, on a write connection, whether query may be
// more than a row change.
func (c *conn) use(query string) {
	now := time.Now().UnixNano()
	c.host.lastUse.Store(now)
	if c.read && c.gate != nil {
		c.gate.lastRead.Store(now)
	}
	if !c.read && c.host.mode == ReadWrite && !rowsOnly(query) {
		c.host.schemaChanged.Store(true)
	}
}

// rowsOnly reports whether query is certainly one statement that reads or
// changes rows (SELECT, INSERT, UPDATE, DELETE, WITH …); anything else, or
// several statements, counts as a possible schema change.
func rowsOnly(query string) bool {
	q := strings.TrimSpace(query)
	for strings.HasPrefix(q, "--") || strings.HasPrefix(q, "/*") || strings.HasPrefix(q, "(") {
		switch {
		case strings.HasPrefix(q, "--"):
			_, q, _ = strings.Cut(q, "\n")
		case strings.HasPrefix(q, "/*"):
			_, q, _ = strings.Cut(q, "*/")
		default:
			q = q[1:]
		}
		q = strings.TrimSpace(q)
	}
	if i := strings.Index(q, ";"); i >= 0 && strings.TrimSpace(q[i+1:]) != "" {
		return false // several statements (or a ';' in a string: checkpointing is only slower)
	}
	word := q[:len(q)-len(strings.TrimLeftFunc(q, unicode.IsLetter))]
	switch strings.ToUpper(word) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES", "FROM":
		return true
	}
	return false
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.host.lastUse.Store(time.Now().UnixNano())
	if c.shared {
		return c.beginReadOnly(ctx, opts)
	}
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil || c.read {
		return tx, err
	}
	c.host.txEnd.Store("")
	return &recordedTx{Tx: tx, end: &c.host.txEnd}, nil
}

// beginReadOnly starts the caller's transaction on a shared connection:
// read-only, whatever opts says.
func (c *conn) beginReadOnly(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
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
type sharedTx struct{ c *conn }

func (t *sharedTx) Commit() error   { return t.end("COMMIT") }
func (t *sharedTx) Rollback() error { return t.end("ROLLBACK") }

func (t *sharedTx) end(stmt string) error {
	t.c.callerTx = false
	_, err := t.c.Conn.ExecContext(context.Background(), stmt, nil)
	return err
}

// recordedTx is a write host's transaction; it records how it ended, so
// that Write can tell what a function that ended its own transaction did.
type recordedTx struct {
	driver.Tx
	end *atomic.Value // "committed" or "rolled back" once ended
}

func (t *recordedTx) Commit() error {
	err := t.Tx.Commit()
	if err == nil {
		t.end.Store("committed")
	}
	return err
}

func (t *recordedTx) Rollback() error {
	err := t.Tx.Rollback()
	t.end.Store("rolled back")
	return err
}

// Close closes the connection and releases the file if it was the host's last.
func (c *conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	for _, stmt := range c.kept {
		stmt.Close()
	}
	for _, stmt := range []driver.Stmt{c.begin, c.commit} {
		if stmt != nil {
			stmt.Close()
		}
	}
	err := c.Conn.Close()
	c.host.release()
	if c.gate != nil {
		c.gate.leaveRead()
	}
	return err
}

// IsValid implements driver.Validator: while a writer of this or another
// dbx process waits or writes, database/sql closes a returned read
// connection instead of pooling it or handing it to a waiting reader, so
// the read side drains even under constant load; a shared one once the
// write side stops sharing. (A connection already handed over is not
// refused in ResetSession: database/sql would pass that ErrBadConn to the
// caller when the pool is full; it finishes one more query and is closed
// when returned.) It only answers; watchers close idle connections.
func (c *conn) IsValid() bool {
	if c.shared {
		return c.gate.sharingReads()
	}
	return !c.host.writerWaiting()
}

// DuckDBConn returns the duckdb-go connection behind driverConn, the value
// [database/sql.Conn.Raw] passes to its function, for duckdb-go helpers such
// as [duckdb.NewAppenderFromConn]. It also accepts a *duckdb.Conn. It
// returns false for a read connection on the write side
// ([WithReadsDuringWrites]), which takes only statements that read.
func DuckDBConn(driverConn any) (*duckdb.Conn, bool) {
	switch c := driverConn.(type) {
	case *conn:
		if c.shared { // its statements must stay read-only: see prepareShared
			return nil, false
		}
		return c.Conn, true
	case *duckdb.Conn:
		return c, true
	}
	return nil, false
}
