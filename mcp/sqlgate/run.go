package sqlgate

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jmoiron/sqlx"
)

// Options bounds one query. Zero values mean the defaults.
type Options struct {
	Timeout  time.Duration // default 5s
	MaxRows  int           // 1–1000, default 100
	MaxBytes int           // of the rows encoded as JSON; default 256 KiB
}

// Column describes one result column; Type is DuckDB's type name.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Result is a bounded, JSON-safe query result: every value in Rows is nil,
// bool, a number, a string, []any or map[string]any. Truncated says whether
// rows were left out, and TruncatedReason why.
type Result struct {
	Columns         []Column      `json:"columns"`
	Rows            [][]any       `json:"rows"`
	RowCount        int           `json:"row_count"`
	Truncated       bool          `json:"truncated"`
	TruncatedReason string        `json:"truncated_reason,omitempty"`
	Elapsed         time.Duration `json:"elapsed_ns"`
}

// ErrTimeout is wrapped by the error Run returns when a query ran longer
// than Options.Timeout and was stopped.
var ErrTimeout = errors.New("sqlgate: query timed out")

// ErrMemory is wrapped by the error Run returns when a query needed more
// memory than the DuckDB instance it ran on allows (its memory_limit: see
// dbx.WithMemoryLimit) after spilling what it could.
var ErrMemory = errors.New("sqlgate: query needed too much memory")

// Run checks sql with [Check] and, if it passes, runs it on pool (the read
// pool of a dbx.DB) within opts' limits. A query that passed the gate
// leaves nothing on its connection (no variable, prepared statement,
// temporary object, setting or transaction: those are statements, and the
// gate admits one SELECT), so the connection goes back to the pool;
// except after a query that may have called setseed, which seeds random()
// for its connection, or that failed: that connection is closed. It returns a *RefusedError for refused SQL, an error wrapping
// [ErrTimeout] when the query is stopped at the timeout, one wrapping
// [ErrMemory] when it needed more memory than the instance's limit, and
// DuckDB's error for SQL that fails to run.
func Run(ctx context.Context, pool *sqlx.DB, sql string, opts Options) (*Result, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MaxRows <= 0 {
		opts.MaxRows = 100
	}
	opts.MaxRows = min(opts.MaxRows, 1000)
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 10
	}
	start := time.Now()
	qctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	// The gate first: a refused query never touches the database. A LIMIT
	// on the query keeps DuckDB from materialising a huge result
	// (duckdb-go does not stream).
	query, err := decide(qctx, sql, opts.MaxRows)
	if err != nil {
		return nil, timeoutOr(ctx, qctx, opts, err)
	}
	conn, err := pool.Connx(qctx)
	if err != nil {
		return nil, timeoutOr(ctx, qctx, opts, fmt.Errorf("sqlgate: connect: %w", err))
	}
	res, err := fetch(qctx, conn, query, opts)
	if isOutOfMemory(err) {
		err = memoryError(ctx, conn)
	}
	if err != nil || strings.Contains(strings.ToLower(query), "setseed") {
		// Returning ErrBadConn from Raw makes database/sql close the
		// connection instead of pooling it.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	conn.Close()
	if err != nil {
		return nil, timeoutOr(ctx, qctx, opts, err)
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// decide returns the text to run for sql, bounded to maxRows+1 rows: sql
// with a LIMIT appended when that parses with the LIMIT as the last
// modifier of the outermost query (most queries; DuckDB plans it faster
// than a subquery). Otherwise sql itself must pass Check (so that a
// refusal speaks of the caller's SQL: DuckDB 2.0 parses "SELECT * FROM
// (VACUUM)" as a query of a table named VACUUM), and then sql wrapped in
// SELECT * FROM (…) LIMIT runs if that passes too, else (a comment after
// a ';', say) sql itself. Trailing semicolons are dropped before a LIMIT
// is added. What runs is always what passed Check. One parse in the common
// case; verdicts are cached.
func decide(ctx context.Context, sql string, maxRows int) (string, error) {
	key := verdictKey{sql: sql, maxRows: maxRows}
	if v, ok := verdicts.get(key); ok {
		return v.query, v.refusal
	}
	body := strings.TrimRight(sql, "; \t\r\n") // "SELECT …;" is bounded too
	query := fmt.Sprintf("%s\nLIMIT %d", body, maxRows+1)
	tree, err := check(ctx, query)
	if err == nil && !outerLimit(tree, maxRows+1) {
		err = errors.New("the LIMIT did not become the outer one")
	}
	if err != nil {
		query = sql
		if err = Check(ctx, sql); err == nil {
			wrapped := fmt.Sprintf("SELECT * FROM (\n%s\n) LIMIT %d", body, maxRows+1)
			if Check(ctx, wrapped) == nil {
				query = wrapped
			}
		}
	}
	if err == nil || IsRefused(err) {
		verdicts.put(verdict{key: key, query: query, refusal: err})
	}
	return query, err
}

// outerLimit reports whether the last modifier of the outermost query in
// the parse tree is LIMIT n without OFFSET. For a text that is a complete
// query followed by "\nLIMIT n" (LIMIT is a reserved word, which can only
// start a query's limit clause), that means the LIMIT bounds the whole
// query, as the subquery wrapper would. An OFFSET, or a LIMIT already
// there (which does not parse twice), leaves the wrapper to do it.
func outerLimit(tree any, n int) bool {
	stmt, _ := tree.(map[string]any)
	node, _ := stmt["node"].(map[string]any)
	mods, _ := node["modifiers"].([]any)
	if len(mods) == 0 {
		return false
	}
	last, _ := mods[len(mods)-1].(map[string]any)
	limit, _ := last["limit"].(map[string]any)
	value, ok := literal([]any{limit}, 0)
	return ok && last["type"] == "LIMIT_MODIFIER" && last["offset"] == nil && value == json.Number(strconv.Itoa(n))
}

// timeoutOr turns err into a timeout error if the query's own deadline
// (not the caller's context) ended it.
func timeoutOr(parent, qctx context.Context, opts Options, err error) error {
	if parent.Err() == nil && errors.Is(qctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: the query took longer than the %s limit and was stopped; filter, aggregate or add a LIMIT to make it cheaper", ErrTimeout, opts.Timeout)
	}
	return err
}

// isOutOfMemory reports whether err is DuckDB's "Out of Memory Error".
func isOutOfMemory(err error) bool {
	var de *duckdb.Error
	return errors.As(err, &de) && de.Type == duckdb.ErrorTypeOutOfMemory
}

// memoryError is the error for a query that ran out of memory on conn,
// naming the instance's limit.
func memoryError(ctx context.Context, conn *sqlx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	limit := "memory"
	if err := conn.GetContext(ctx, &limit, "SELECT current_setting('memory_limit')"); err == nil {
		limit += " memory"
	}
	return fmt.Errorf("%w: the query needed more than the %s limit and was stopped; filter rows before joining, grouping or sorting, select fewer columns, or aggregate instead of collecting many rows into lists or strings", ErrMemory, limit)
}

func fetch(ctx context.Context, conn *sqlx.Conn, query string, opts Options) (*Result, error) {
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: make([]Column, len(types)), Rows: [][]any{}}
	parsed := make([]*dbType, len(types))
	for i, t := range types {
		res.Columns[i] = Column{Name: t.Name(), Type: t.DatabaseTypeName()}
		parsed[i] = parseType(t.DatabaseTypeName())
	}
	size := 2 // the brackets of the rows array
	vals := make([]any, len(types))
	ptrs := make([]any, len(types))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if len(res.Rows) == opts.MaxRows {
			res.Truncated = true
			res.TruncatedReason = fmt.Sprintf("row limit: only the first %d rows are shown", opts.MaxRows)
			break
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = convert(v, parsed[i])
		}
		enc, err := json.Marshal(row)
		if err != nil {
			return nil, fmt.Errorf("sqlgate: encode row %d: %w", len(res.Rows)+1, err)
		}
		if size+len(enc)+1 > opts.MaxBytes {
			res.Truncated = true
			res.TruncatedReason = fmt.Sprintf("size limit: only the first %d rows are shown, more would exceed %s of JSON", len(res.Rows), byteSize(opts.MaxBytes))
			break
		}
		size += len(enc) + 1
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	res.RowCount = len(res.Rows)
	return res, nil
}

func byteSize(n int) string {
	if n%1024 == 0 {
		return strconv.Itoa(n/1024) + " KiB"
	}
	return strconv.Itoa(n) + " bytes"
}
