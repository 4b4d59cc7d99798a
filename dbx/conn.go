package dbx

import (
	"context"
	"database/sql/driver"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// conn is a connection of a host. It gives up its place in the pool when a
// write in this process is waiting, so that the read side can let go of the file.
type conn struct {
	*duckdb.Conn
	host   *host
	closed bool
}

// QueryContext, ExecContext, PrepareContext and BeginTx note the time of
// the last use, from which the read lease counts.
func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.use(query)
	return c.Conn.QueryContext(ctx, query, args)
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.use(query)
	return c.Conn.ExecContext(ctx, query, args)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.use(query)
	return c.Conn.PrepareContext(ctx, query)
}

// use notes the time and, on a write host, whether query may be more than
// a row change.
func (c *conn) use(query string) {
	c.host.lastUse.Store(time.Now().UnixNano())
	if c.host.mode == ReadWrite && !rowsOnly(query) {
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
	if err != nil || c.host.mode != ReadWrite {
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
	err := c.Conn.Close()
	c.host.release()
	if c.host.gate != nil {
		c.host.gate.leaveRead()
	}
	return err
}

// IsValid implements driver.Validator: while a writer of this or another
// dbx process waits or writes, database/sql closes a returned connection
// instead of pooling it or handing it to a waiting reader, so the read side
// drains even under constant load. (A connection already handed over is not
// refused in ResetSession: database/sql would pass that ErrBadConn to the
// caller when the pool is full; it finishes one more query and is closed
// when returned.) It only answers; the watcher closes idle connections.
func (c *conn) IsValid() bool {
	return !c.host.writerWaiting()
}

// DuckDBConn returns the duckdb-go connection behind driverConn, the value
// [database/sql.Conn.Raw] passes to its function, for duckdb-go helpers such
// as [duckdb.NewAppenderFromConn]. It also accepts a *duckdb.Conn.
func DuckDBConn(driverConn any) (*duckdb.Conn, bool) {
	switch c := driverConn.(type) {
	case *conn:
		return c.Conn, true
	case *duckdb.Conn:
		return c, true
	}
	return nil, false
}
