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
	// read marks a read connection (on either side: see sharedConn).
	// gate, if not nil, counts it.
	read bool
	gate *gate
	// kept holds a read connection's prepared statements of queries with
	// arguments, by text, while no Rows uses them; they close with the
	// connection (a *sql.Stmt kept on the pool would keep the connection,
	// and so the file, open).
	kept map[string]driver.Stmt
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
	return c.Conn.ExecContext(ctx, query, args)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.use(query)
	return c.Conn.PrepareContext(ctx, query)
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
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil || c.read {
		return tx, err
	}
	c.host.txEnd.Store("")
	return &recordedTx{Tx: tx, end: &c.host.txEnd}, nil
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
	err := c.Conn.Close()
	c.host.release()
	if c.gate != nil {
		c.gate.leaveRead()
	}
	return err
}

// IsValid implements driver.Validator: while a writer of this or another
// dbx process waits or writes (or Close has begun), database/sql closes a
// returned read connection instead of pooling it or handing it to a
// waiting reader, so the read side drains even under constant load (a
// sharedConn: once the write side stops sharing). (A connection already
// handed over is not refused in ResetSession: database/sql would pass that
// ErrBadConn to the caller when the pool is full; it finishes one more
// query and is closed when returned.) It only answers; watchers close idle
// connections.
func (c *conn) IsValid() bool { return !c.host.writerWaiting() }

// DuckDBConn returns the duckdb-go connection behind driverConn, the value
// [database/sql.Conn.Raw] passes to its function, for duckdb-go helpers such
// as [duckdb.NewAppenderFromConn]. It also accepts a *duckdb.Conn. It
// returns false for a read connection on the write side
// ([WithReadsDuringWrites]), which takes only statements that read.
func DuckDBConn(driverConn any) (*duckdb.Conn, bool) {
	switch c := driverConn.(type) {
	case *conn: // not a *sharedConn, whose statements must stay read-only
		return c.Conn, true
	case *duckdb.Conn:
		return c, true
	}
	return nil, false
}
