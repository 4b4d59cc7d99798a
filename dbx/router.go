package dbx

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jmoiron/sqlx"
)

// The routed driver: one *sql.DB over both sides of a [DB]. Each statement
// goes where DuckDB's statement type says: reads to the read pool, writes
// to a write window of their own, transactions to one side for their
// whole life. See docs/dbx.md for the table.

func init() { sql.Register("dbx", Driver{}) }

// Driver is the database/sql driver registered as "dbx":
// sql.Open("dbx", "app.duckdb?busy_timeout=5s") opens the file as [OpenDB]
// does. The DSN is a path, optionally followed by query parameters:
// busy_timeout and read_lease (Go durations, see [WithBusyTimeout] and
// [WithReadLease]), read_conns (an integer, see [WithReadConns]) and
// storage_version (see [WithStorageVersion]); any other parameter is an
// error. A DSN that is not a local file (see
// [IsLocalFile]) is passed to DuckDB whole.
type Driver struct{}

// Open refuses: database/sql opens the driver through OpenConnector, which
// keeps one DB for the whole pool.
func (Driver) Open(string) (driver.Conn, error) {
	return nil, errors.New(`dbx: open the dbx driver with sql.Open("dbx", dsn) or dbx.OpenDB`)
}

// OpenConnector parses dsn and opens the database as [Open] does
// (creating the file if it does not exist). Closing the *sql.DB closes it.
func (Driver) OpenConnector(dsn string) (driver.Connector, error) {
	path, opts, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db, err := Open(context.Background(), path, opts...)
	if err != nil {
		return nil, err
	}
	return &connector{db: db}, nil
}

// OpenDB opens the database at path as [Open] does and returns one
// *sql.DB over it for any database/sql program: statements that read run
// on the read pool, others each in a write window of their own, a
// read-only transaction on the read side and any other transaction in
// one write window from BeginTx to Commit or Rollback. Some statements
// are refused ([ErrRefused]). Closing the *sql.DB closes the database
// (waiting for an open transaction to end). Errors of opening, options
// included, are returned at once.
func OpenDB(path string, opts ...Option) (*sql.DB, error) {
	db, err := Open(context.Background(), path, opts...)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(&connector{db: db}), nil
}

// parseDSN splits a dbx DSN into its path and options.
func parseDSN(dsn string) (string, []Option, error) {
	if !IsLocalFile(dsn) {
		return dsn, nil, nil
	}
	path, query, _ := strings.Cut(dsn, "?")
	if path == "" {
		return "", nil, fmt.Errorf("dbx: DSN %q names no file", dsn)
	}
	values, err := url.ParseQuery(query)
	if err != nil {
		return "", nil, fmt.Errorf("dbx: DSN %q: %w", dsn, err)
	}
	var opts []Option
	for _, key := range slices.Sorted(func(yield func(string) bool) {
		for k := range values {
			if !yield(k) {
				return
			}
		}
	}) {
		v := values[key]
		if len(v) != 1 {
			return "", nil, fmt.Errorf("dbx: DSN parameter %s is given %d times", key, len(v))
		}
		var opt Option
		switch key {
		case "busy_timeout", "read_lease":
			d, err := time.ParseDuration(v[0])
			if err != nil {
				return "", nil, fmt.Errorf("dbx: DSN parameter %s: %w (a Go duration, such as 5s)", key, err)
			}
			opt = WithBusyTimeout(d)
			if key == "read_lease" {
				opt = WithReadLease(d)
			}
		case "storage_version":
			opt = WithStorageVersion(v[0])
		case "read_conns":
			n, err := strconv.Atoi(v[0])
			if err != nil {
				return "", nil, fmt.Errorf("dbx: DSN parameter read_conns: %q is not an integer", v[0])
			}
			opt = WithReadConns(n)
		default:
			return "", nil, fmt.Errorf("dbx: DSN parameter %q is not known: dbx takes busy_timeout, read_lease, read_conns and storage_version", key)
		}
		if err := opt(&options{}); err != nil {
			return "", nil, err
		}
		opts = append(opts, opt)
	}
	return path, opts, nil
}

// connector hands database/sql routed connections over one DB.
type connector struct{ db *DB }

func (c *connector) Connect(context.Context) (driver.Conn, error) {
	if c.db.closed.Load() {
		return nil, ErrClosed
	}
	return &routedConn{db: c.db}, nil
}

func (c *connector) Driver() driver.Driver { return Driver{} }

// Close closes the DB; database/sql calls it from [sql.DB.Close].
func (c *connector) Close() error { return c.db.Close() }

var _ io.Closer = (*connector)(nil)

var errMultiStatement = refused("the text holds several statements; run one per call (in a transaction, to apply them together)")

// routeOf says whether a statement of type kind only reads (it runs on
// the read side), or refuses it.
func routeOf(kind duckdb.StmtType) (reads bool, err error) {
	switch kind {
	case duckdb.STATEMENT_TYPE_SELECT, duckdb.STATEMENT_TYPE_EXPLAIN:
		return true, nil
	case duckdb.STATEMENT_TYPE_INSERT, duckdb.STATEMENT_TYPE_UPDATE, duckdb.STATEMENT_TYPE_DELETE,
		duckdb.STATEMENT_TYPE_CREATE, duckdb.STATEMENT_TYPE_CREATE_FUNC, duckdb.STATEMENT_TYPE_ALTER,
		duckdb.STATEMENT_TYPE_DROP, duckdb.STATEMENT_TYPE_COPY, duckdb.STATEMENT_TYPE_EXPORT,
		duckdb.STATEMENT_TYPE_ANALYZE, duckdb.STATEMENT_TYPE_VACUUM, duckdb.STATEMENT_TYPE_CALL:
		return false, nil
	case duckdb.STATEMENT_TYPE_SET, duckdb.STATEMENT_TYPE_VARIABLE_SET, duckdb.STATEMENT_TYPE_PRAGMA:
		return false, refused("SET, RESET, USE, SET VARIABLE and PRAGMA change one connection's session, and each statement may run on another connection; name the schema in the statement and pass values as arguments")
	case duckdb.STATEMENT_TYPE_ATTACH, duckdb.STATEMENT_TYPE_DETACH:
		return false, refused("ATTACH and DETACH are refused: dbx attaches the database file itself (as catalog db) and the read side reaches no other file; open another database with its own *sql.DB")
	case duckdb.STATEMENT_TYPE_TRANSACTION:
		return false, refused("BEGIN, COMMIT and ROLLBACK as SQL text would leave the transaction on one connection; use BeginTx, and Commit or Rollback")
	case duckdb.STATEMENT_TYPE_LOAD, duckdb.STATEMENT_TYPE_EXTENSION:
		return false, refused("LOAD and INSTALL are refused: dbx's DuckDB instances load no extension")
	case duckdb.STATEMENT_TYPE_PREPARE, duckdb.STATEMENT_TYPE_EXECUTE:
		return false, refused("PREPARE and EXECUTE as SQL text would live on one connection; use database/sql's Prepare")
	case duckdb.STATEMENT_TYPE_MULTI:
		return false, errMultiStatement
	}
	return false, refused(fmt.Sprintf("statements of DuckDB type %d are not supported by the dbx driver", kind))
}

// statementType prepares query on dc, without running it, and returns
// its type. Prepare, unlike PrepareContext, refuses several statements
// (PrepareContext would run all but the last).
func statementType(dc *duckdb.Conn, query string) (duckdb.StmtType, error) {
	stmt, err := dc.Prepare(query)
	if err != nil {
		if strings.Contains(err.Error(), "multi-statement") {
			return duckdb.STATEMENT_TYPE_MULTI, nil
		}
		return duckdb.STATEMENT_TYPE_INVALID, err
	}
	defer stmt.Close()
	return stmt.(*duckdb.Stmt).StatementType()
}

// kindCache remembers the statement type of query texts, which depends on
// the text alone, and whether the read side cannot run them.
type kindCache struct {
	mu    sync.RWMutex
	kinds map[string]kindOf
}

type kindOf struct {
	kind      duckdb.StmtType
	writeSide bool // the read side refused it (it reads a file, say)
}

// maxKinds bounds the texts a kindCache holds; it starts over when full.
const maxKinds = 1024

func (k *kindCache) get(query string) (kindOf, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	kind, ok := k.kinds[query]
	return kind, ok
}

func (k *kindCache) put(query string, kind kindOf) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.kinds == nil || len(k.kinds) >= maxKinds {
		k.kinds = map[string]kindOf{}
	}
	k.kinds[query] = kind
}

// classifying marks the context of a read connection taken only to
// prepare a statement: it does not count as a read for the read lease.
type classifying struct{}

// kindOn returns the statement type of query, remembered or prepared on
// conn.
func (db *DB) kindOn(on *sql.Conn, query string) (duckdb.StmtType, error) {
	known, ok := db.kinds.get(query)
	if ok && known.kind != duckdb.STATEMENT_TYPE_INVALID {
		return known.kind, nil
	}
	var kind duckdb.StmtType
	err := on.Raw(func(dc any) error {
		var duck *duckdb.Conn
		switch c := dc.(type) {
		case *conn:
			duck = c.Conn
		case *sharedConn: // Prepare runs nothing
			duck = c.Conn
		case *duckdb.Conn:
			duck = c
		default:
			return fmt.Errorf("dbx: unexpected driver connection %T", dc)
		}
		var err error
		kind, err = statementType(duck, query)
		return err
	})
	if err != nil {
		return kind, err
	}
	db.kinds.put(query, kindOf{kind: kind, writeSide: known.writeSide})
	return kind, nil
}

// readsOutside reports whether query, outside a transaction, runs on the
// read side (true) or in a write window (false), or refuses it. It is
// classified on the read side; a statement the read side cannot prepare
// because it is locked down (it reads a file, say) is classified in its
// window.
func (db *DB) readsOutside(ctx context.Context, query string) (bool, error) {
	known, ok := db.kinds.get(query)
	if known.writeSide {
		return false, nil
	}
	kind := known.kind
	if !ok {
		conn, err := db.read.Conn(context.WithValue(ctx, classifying{}, true))
		if err != nil {
			return false, err
		}
		kind, err = db.kindOn(conn, query)
		conn.Close()
		if db.needsWriteSide(query, err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
	return routeOf(kind)
}

// needsWriteSide reports whether err, of preparing or running query on
// the read side, comes from its lockdown (the query reads a file, say);
// if so, query runs in a write window from now on.
func (db *DB) needsWriteSide(query string, err error) bool {
	var de *duckdb.Error
	if !errors.As(err, &de) || de.Type != duckdb.ErrorTypePermission {
		return false
	}
	db.kinds.put(query, kindOf{writeSide: true})
	return true
}

// writeAlone runs fn in a write window of its own, as Write does.
func (db *DB) writeAlone(ctx context.Context, fn func(*sqlx.Tx) error) error {
	tx, err := db.beginWindow(ctx)
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished { // a panic (an argument's Value method, say): roll back, let go
			_ = db.finishWindow(tx, errPanicked)
		}
	}()
	err = fn(tx)
	finished = true
	return db.finishWindow(tx, err)
}

// routedConn is a connection of the routed driver. It holds no DuckDB
// connection between calls, only its open transaction, if any.
type routedConn struct {
	db *DB
	tx *routedTx
}

// CheckNamedValue passes every argument on: the side that runs the
// statement converts it, as duckdb-go does.
func (c *routedConn) CheckNamedValue(*driver.NamedValue) error { return nil }

func (c *routedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.tx != nil {
		return c.tx.query(ctx, query, args)
	}
	reads, err := c.db.readsOutside(ctx, query)
	if err != nil {
		return nil, err
	}
	if reads {
		rows, err := newRows(c.db.read.QueryContext(ctx, query, anyArgs(args)...))
		if !c.db.needsWriteSide(query, err) {
			return rows, err
		}
	}
	var buffered *bufferedRows
	err = c.db.writeAlone(ctx, func(tx *sqlx.Tx) error {
		if err := c.db.checkInWindow(tx, query); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, query, anyArgs(args)...)
		if err != nil {
			return err
		}
		buffered, err = readAll(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	return buffered, nil
}

func (c *routedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.tx != nil {
		return c.tx.exec(ctx, query, args)
	}
	reads, err := c.db.readsOutside(ctx, query)
	if err != nil {
		return nil, err
	}
	if reads {
		res, err := c.db.read.ExecContext(ctx, query, anyArgs(args)...)
		if !c.db.needsWriteSide(query, err) {
			return res, err
		}
	}
	var res sql.Result
	err = c.db.writeAlone(ctx, func(tx *sqlx.Tx) error {
		if err := c.db.checkInWindow(tx, query); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, query, anyArgs(args)...)
		return err
	})
	return res, err
}

// checkInWindow refuses query if its type, told by the window's
// connection, is refused.
func (db *DB) checkInWindow(tx *sqlx.Tx, query string) error {
	db.window.mu.Lock()
	conn := db.window.conn
	ok := tx == db.window.tx
	db.window.mu.Unlock()
	if !ok {
		return errors.New("dbx: no write window runs for this transaction")
	}
	kind, err := db.kindOn(conn.Conn, query)
	if err != nil {
		return err
	}
	_, err = routeOf(kind)
	return err
}

// PrepareContext checks query now (one statement, of a type the driver
// runs) and returns a statement that routes each execution as the
// connection does.
func (c *routedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var err error
	if c.tx != nil {
		_, err = c.tx.check(query)
	} else {
		_, err = c.db.readsOutside(ctx, query)
	}
	if err != nil {
		return nil, err
	}
	return &routedStmt{c: c, query: query}, nil
}

// Ping attaches the file on the read side, unless it is.
func (c *routedConn) Ping(ctx context.Context) error {
	conn, err := c.db.read.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.PingContext(ctx)
}

func (c *routedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// BeginTx begins a read-only transaction on a read connection, or any
// other in a write window that lasts until Commit or Rollback.
func (c *routedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.tx != nil {
		return nil, errors.New("dbx: begin: a transaction is already open on this connection")
	}
	if opts.Isolation != driver.IsolationLevel(sql.LevelDefault) {
		return nil, errors.New("dbx: begin: only the default isolation level is supported")
	}
	t := &routedTx{c: c}
	if opts.ReadOnly {
		conn, err := c.db.read.Conn(ctx)
		if err != nil {
			return nil, err
		}
		// The read side attaches the file read-only: its transactions
		// are (duckdb-go refuses to be told so).
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			conn.Close()
			return nil, err
		}
		t.readConn, t.read = conn, tx
	} else {
		tx, err := c.db.beginWindow(ctx)
		if err != nil {
			return nil, err
		}
		t.write = tx
	}
	c.tx = t
	return t, nil
}

func (c *routedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// Close rolls back a transaction left open (database/sql closes a
// connection whose transaction's context ended after rolling it back).
func (c *routedConn) Close() error {
	if c.tx != nil {
		return c.tx.Rollback()
	}
	return nil
}

// routedTx is a transaction of the routed driver: on a read connection
// (read, readConn), or the transaction of a write window (write).
type routedTx struct {
	c        *routedConn
	readConn *sql.Conn
	read     *sql.Tx
	write    *sqlx.Tx
}

// errRollback is the error a window's transaction ends with when it is
// rolled back.
var errRollback = errors.New("dbx: rolled back")

func (t *routedTx) Commit() error   { return t.end(true) }
func (t *routedTx) Rollback() error { return t.end(false) }

func (t *routedTx) end(commit bool) error {
	t.c.tx = nil
	if t.read != nil {
		err := t.read.Rollback() // it changed nothing
		if commit {
			err = t.read.Commit()
		}
		if errors.Is(err, sql.ErrTxDone) {
			err = nil // rolled back when its context ended
		}
		return errors.Join(err, t.readConn.Close())
	}
	if commit {
		return t.c.db.finishWindow(t.write, nil)
	}
	if err := t.c.db.finishWindow(t.write, errRollback); err != errRollback {
		return err
	}
	return nil
}

// check refuses a statement the transaction does not run and returns
// whether it only reads.
func (t *routedTx) check(query string) (bool, error) {
	if t.write != nil {
		return false, t.c.db.checkInWindow(t.write, query)
	}
	kind, err := t.c.db.kindOn(t.readConn, query)
	if err != nil {
		return false, err
	}
	reads, err := routeOf(kind)
	if err == nil && !reads {
		err = errors.New("dbx: this transaction is read-only (BeginTx with ReadOnly: true): statements that write need a read-write transaction")
	}
	return reads, err
}

func (t *routedTx) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if _, err := t.check(query); err != nil {
		return nil, err
	}
	if t.read != nil {
		return newRows(t.read.QueryContext(ctx, query, anyArgs(args)...))
	}
	return newRows(t.write.QueryContext(ctx, query, anyArgs(args)...))
}

func (t *routedTx) exec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if _, err := t.check(query); err != nil {
		return nil, err
	}
	if t.read != nil {
		return t.read.ExecContext(ctx, query, anyArgs(args)...)
	}
	return t.write.ExecContext(ctx, query, anyArgs(args)...)
}

// routedStmt is a prepared statement of the routed driver: its text,
// routed at each execution. On the read side, the read connection keeps
// the DuckDB prepared statement (see DB.Read).
type routedStmt struct {
	c     *routedConn
	query string
}

func (s *routedStmt) Close() error  { return nil }
func (s *routedStmt) NumInput() int { return -1 }

func (s *routedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.query, args)
}

func (s *routedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.query, args)
}

func (s *routedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), namedValues(args))
}

func (s *routedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), namedValues(args))
}

func namedValues(args []driver.Value) []driver.NamedValue {
	named := make([]driver.NamedValue, len(args))
	for i, v := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return named
}

// anyArgs turns a driver's arguments back into database/sql's.
func anyArgs(args []driver.NamedValue) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a.Value
		if a.Name != "" {
			out[i] = sql.Named(a.Name, a.Value)
		}
	}
	return out
}

// columnTypes answers the driver's ColumnType methods from database/sql's
// column types, loaded when first asked for.
type columnTypes struct {
	load  func() ([]*sql.ColumnType, error)
	types []*sql.ColumnType
}

func (c *columnTypes) col(i int) *sql.ColumnType {
	if c.types == nil && c.load != nil {
		c.types, _ = c.load()
		c.load = nil
	}
	if i < len(c.types) {
		return c.types[i]
	}
	return nil
}

func (c *columnTypes) ColumnTypeScanType(i int) reflect.Type {
	if ct := c.col(i); ct != nil && ct.ScanType() != nil {
		return ct.ScanType()
	}
	return reflect.TypeFor[any]()
}

func (c *columnTypes) ColumnTypeDatabaseTypeName(i int) string {
	if ct := c.col(i); ct != nil {
		return ct.DatabaseTypeName()
	}
	return ""
}

func (c *columnTypes) ColumnTypeNullable(i int) (nullable, ok bool) {
	if ct := c.col(i); ct != nil {
		return ct.Nullable()
	}
	return false, false
}

func (c *columnTypes) ColumnTypeLength(i int) (int64, bool) {
	if ct := c.col(i); ct != nil {
		return ct.Length()
	}
	return 0, false
}

func (c *columnTypes) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if ct := c.col(i); ct != nil {
		return ct.DecimalSize()
	}
	return 0, 0, false
}

// rows hands database/sql's rows of one side to the routed *sql.DB: each
// value as the DuckDB driver gave it.
type rows struct {
	columnTypes
	rows *sql.Rows
	cols []string
	vals []any
	ptrs []any
}

func newRows(r *sql.Rows, err error) (driver.Rows, error) {
	if err != nil {
		return nil, err
	}
	cols, err := r.Columns()
	if err != nil {
		r.Close()
		return nil, err
	}
	rs := &rows{columnTypes: columnTypes{load: r.ColumnTypes}, rows: r, cols: cols, vals: make([]any, len(cols)), ptrs: make([]any, len(cols))}
	for i := range rs.vals {
		rs.ptrs[i] = &rs.vals[i]
	}
	return rs, nil
}

func (r *rows) Columns() []string { return r.cols }
func (r *rows) Close() error      { return r.rows.Close() }

func (r *rows) Next(dest []driver.Value) error {
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	if err := r.rows.Scan(r.ptrs...); err != nil {
		return err
	}
	for i, v := range r.vals {
		dest[i] = v
	}
	return nil
}

// bufferedRows are rows read in full inside a write window.
type bufferedRows struct {
	columnTypes
	cols []string
	data [][]any
}

func readAll(r *sql.Rows) (*bufferedRows, error) {
	defer r.Close()
	cols, err := r.Columns()
	if err != nil {
		return nil, err
	}
	types, err := r.ColumnTypes()
	if err != nil {
		return nil, err
	}
	b := &bufferedRows{columnTypes: columnTypes{types: types}, cols: cols}
	for r.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := r.Scan(ptrs...); err != nil {
			return nil, err
		}
		b.data = append(b.data, vals)
	}
	return b, errors.Join(r.Err(), r.Close())
}

func (b *bufferedRows) Columns() []string { return b.cols }
func (b *bufferedRows) Close() error      { b.data = nil; return nil }

func (b *bufferedRows) Next(dest []driver.Value) error {
	if len(b.data) == 0 {
		return io.EOF
	}
	for i, v := range b.data[0] {
		dest[i] = v
	}
	b.data = b.data[1:]
	return nil
}
