// Package sqlgate runs SQL written by a model (or any untrusted user) against
// the read pool of a [dbx.DB] without letting it change anything.
//
// The read pool's engine settings (read-only attach, external access off,
// configuration locked) do not suffice on their own: COPY … TO the database's
// own file, file logging, DETACH/ATTACH READ_WRITE on the host, query('…'),
// temp objects and PRAGMAs all get through them (sqlgate_test.go shows
// each). [Check] is the
// gate in front: it parses the text with DuckDB's json_serialize_sql, which
// never executes anything, and admits exactly one SELECT that calls no
// function on the deny list and names no catalog but the database's.
// [Run] checks, then executes on a connection that is thrown away afterwards,
// with a timeout and limits on rows and bytes, and converts values to
// JSON-safe forms.
//
// Decisions (see denied, deniedInFrom and sizeArgs below for the full lists):
//   - Functions are allowed by default; denied are those that read files
//     (read_*, glob, parquet_*, sniff_csv, …), reach other databases or
//     services (postgres_*, sqlite_*, mysql_*, iceberg_*, delta_*, http_*),
//     run SQL from a string (query, query_table, json_execute_serialized_sql,
//     json_serialize_plan; in FROM, the table macros histogram and
//     histogram_values, which call query_table), change the instance
//     (enable_logging, profiling, checkpoint, nextval, dbgen and dsdgen,
//     which create tables, and the functions that register, create or
//     destroy external resources), reveal secrets or the environment
//     (duckdb_secrets, which_secret, getenv) and every pragma_* function.
//   - setseed is allowed: it only seeds random() for the connection, which
//     [Run] closes after the query instead of pooling it.
//   - Tables and functions may be qualified with the catalog "db" only;
//     system, temp and memory are refused. The catalog views people need are
//     reachable unqualified: duckdb_tables(), duckdb_columns(),
//     duckdb_settings(), information_schema.*, SHOW/DESCRIBE/SUMMARIZE.
//   - A table name that looks like a file path (it contains '.', '/', '\',
//     ':' or '~') is refused: DuckDB would read it as a file (replacement scan).
//     So is a qualified name whose last part is a file extension (x.csv,
//     db.x.parquet): DuckDB reads the dotted name as a file when no such
//     table exists.
//   - The SELECT must be a query only: DuckDB 2.0 accepts INSERT, UPDATE,
//     DELETE and COPY … TO in a WITH clause, which are refused.
//   - Functions whose result size is an argument (repeat, lpad, rpad,
//     list_resize, range, …) are evaluated while planning when their arguments
//     are constants, where no timeout reaches them. Their size argument must be
//     a number literal; for repeat and list_resize it counts times the length
//     of the value they repeat, which must be a literal too. All such sizes
//     in a query add up to at most [MaxSizeBudget], and they must not be
//     nested in each other (sizes would multiply), nor inside a lambda, which
//     calls them once per list element. Their arguments must be given by
//     position: the size is found by its position, and a name (count := …)
//     can move it. The table functions range() and generate_series() in FROM
//     stream their rows and are not limited: the timeout stops them.
package sqlgate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/healthsim/healthsim-go/dbx"
)

// MaxSQLBytes is the longest SQL text Check accepts.
const MaxSQLBytes = 100_000

// MaxSizeBudget bounds the sum of the size arguments of repeat, lpad, rpad,
// list_resize, scalar range and the like in one query.
const MaxSizeBudget = 1_000_000

// RefusedError reports SQL that the gate will not run. Reason is a sentence
// a person or a model can act on.
type RefusedError struct {
	Reason string
}

func (e *RefusedError) Error() string { return e.Reason }

func refuse(format string, args ...any) error {
	return &RefusedError{Reason: fmt.Sprintf(format, args...)}
}

// Check decides, without executing sql, whether it is safe to run on the read
// pool: exactly one SELECT (set operations, CTEs, VALUES, SHOW, DESCRIBE and
// SUMMARIZE included) that calls no denied function, names no catalog other
// than "db", reads no file and builds no huge constant. It returns a
// *RefusedError when sql is refused, another error if the parse itself failed
// to run (ctx ended), and nil if sql may run.
func Check(ctx context.Context, sql string) error {
	_, err := check(ctx, sql)
	return err
}

// parser is the DuckDB instance Check parses with: in memory, attached to
// nothing, one thread, external access off (json_serialize_sql only
// parses, but nothing else is needed). Its prepared statement saves the
// ~0.15 ms of binding that a fresh SELECT json_serialize_sql(?) costs, most
// of a parse.
var parser struct {
	once sync.Once
	stmt *sql.Stmt
	err  error
}

// serialize returns json_serialize_sql of text.
func serialize(ctx context.Context, text string) (string, error) {
	parser.once.Do(func() {
		db, err := sql.Open("duckdb", "")
		if err == nil {
			for _, set := range []string{"SET threads = 1", "SET enable_external_access = false", "SET lock_configuration = true"} {
				if _, err = db.Exec(set); err != nil {
					break
				}
			}
		}
		if err == nil {
			db.SetMaxIdleConns(runtime.NumCPU()) // keep the statement prepared on each
			parser.stmt, err = db.Prepare("SELECT json_serialize_sql(?::VARCHAR)::VARCHAR")
		}
		parser.err = err
	})
	if parser.err != nil {
		return "", parser.err
	}
	var out string
	err := parser.stmt.QueryRowContext(ctx, text).Scan(&out)
	return out, err
}

// check is Check that also returns the statement's parse tree (decoded
// with numbers as json.Number) when sql passes.
func check(ctx context.Context, sql string) (any, error) {
	if len(sql) > MaxSQLBytes {
		return nil, refuse("the query is %d bytes long; at most %d are allowed", len(sql), MaxSQLBytes)
	}
	if !utf8.ValidString(sql) {
		return nil, refuse("the query is not valid UTF-8 text")
	}
	if strings.ContainsRune(sql, 0) {
		// DuckDB and the parser stop at a NUL; refuse rather than rely on it.
		return nil, refuse("the query contains a NUL character; send plain SQL text")
	}
	// The text is a bound parameter: json_serialize_sql only parses it.
	out, err := serialize(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("sqlgate: parse: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var parsed struct {
		Error        bool   `json:"error"`
		ErrorType    string `json:"error_type"`
		ErrorMessage string `json:"error_message"`
		Statements   []any  `json:"statements"`
	}
	if err := dec.Decode(&parsed); err != nil {
		return nil, refuse("the query could not be analysed (%v); simplify it", err)
	}
	if parsed.Error {
		if strings.Contains(parsed.ErrorMessage, "Only SELECT") {
			return nil, refuse("only a single SELECT statement is allowed; %s", describeNonSelect(sql))
		}
		return nil, refuse("the query is not valid SQL: %s", parsed.ErrorMessage)
	}
	switch len(parsed.Statements) {
	case 0:
		return nil, refuse("the query is empty; send one SELECT statement")
	case 1:
	default:
		return nil, refuse("only a single SELECT statement is allowed; got %d statements", len(parsed.Statements))
	}
	w := walker{}
	if err := w.walk(parsed.Statements[0], false); err != nil {
		return nil, err
	}
	return parsed.Statements[0], nil
}

// firstWord matches the first keyword after comments and brackets; it only
// shapes the message, never the decision.
var firstWord = regexp.MustCompile(`^(?:\s+|--[^\n]*\n?|/\*(?s:.*?)\*/|\()*([A-Za-z_]+)`)

func describeNonSelect(sql string) string {
	m := firstWord.FindStringSubmatch(sql)
	if m == nil {
		return "this text contains something else"
	}
	switch kw := strings.ToUpper(m[1]); kw {
	case "SELECT", "WITH", "FROM", "VALUES", "TABLE", "SHOW", "DESCRIBE", "SUMMARIZE":
		return "this text contains several statements or one that is not a SELECT; send one SELECT without ';'-separated parts"
	default:
		return "got " + withArticle(kw) + " statement"
	}
}

func withArticle(kw string) string {
	if strings.ContainsRune("AEIO", rune(kw[0])) || strings.HasPrefix(kw, "UN") || strings.HasPrefix(kw, "UP") {
		return "an " + kw
	}
	return "a " + kw
}

// denied maps function names to why they are refused.
var denied = map[string]string{
	"glob": "it lists files", "sniff_csv": "it reads files",
	"query": "it runs SQL from a string", "query_table": "it reads tables named by a string",
	"json_execute_serialized_sql": "it runs SQL from a string",
	"json_serialize_plan":         "it plans SQL from a string",
	"enable_logging":              "it changes the instance's logging", "disable_logging": "it changes the instance's logging",
	"truncate_duckdb_logs": "it changes the instance's logs",
	"enable_profiling":     "it changes the instance's profiling", "disable_profiling": "it changes the instance's profiling",
	"checkpoint": "it writes the database", "force_checkpoint": "it writes the database",
	"nextval": "it changes a sequence", "setval": "it changes a sequence",
	"duckdb_secrets": "it reveals secrets", "which_secret": "it reveals secrets",
	"load_aws_credentials": "it reads credentials", "getenv": "it reveals the server's environment",
	"iceberg_scan": "it reads files", "delta_scan": "it reads files", "st_read": "it reads files",
	"dbgen": "it writes tables", "dsdgen": "it writes tables",
	"register_external_resource":      "it changes the instance's external resources",
	"register_external_resource_type": "it changes the instance's external resources",
	"create_external_resource":        "it changes the instance's external resources",
	"deregister_external_resource":    "it changes the instance's external resources",
	"destroy_external_resource":       "it changes the instance's external resources",
}

// deniedInFrom maps table functions refused in FROM whose names are also
// aggregates, which stay allowed. The table macros histogram and
// histogram_values read the table named by their source argument through
// query_table (so a file name or another catalog's table gets through),
// and build generate_series(1, bin_count) while planning.
var deniedInFrom = map[string]string{
	"histogram":        "it reads the table named by a string, as query_table does; use the aggregate histogram(column) in a SELECT list instead",
	"histogram_values": "it reads the table named by a string, as query_table does; use the aggregate histogram(column) in a SELECT list instead",
}

// deniedPrefixes refuse whole families of functions.
var deniedPrefixes = []struct{ prefix, why string }{
	{"read_", "it reads files"},
	{"parquet_", "it reads files"},
	{"iceberg_", "it reads files"},
	{"delta_", "it reads files"},
	{"ducklake_", "it reaches other databases"},
	{"postgres_", "it reaches other databases"},
	{"sqlite_", "it reaches other databases"},
	{"mysql_", "it reaches other databases"},
	{"http_", "it reaches the network"},
	{"pragma_", "PRAGMA functions are not available here"},
}

// sizeArgs maps functions whose result size is an argument to that
// argument's index. range and generate_series (scalar) are handled apart.
var sizeArgs = map[string]int{
	"repeat": 1, "lpad": 1, "rpad": 1, "list_resize": 1, "array_resize": 1,
	"to_base": 2, "bar": 3, "equi_width_bins": 2, "bitstring": 1,
}

// fillArgs maps the size functions whose result holds another argument
// size times (repeat's string, list or blob; list_resize's fill value) to
// that argument's index. It must be a constant, and the budget is charged
// size times the length of its text.
var fillArgs = map[string]int{"repeat": 0, "list_resize": 2, "array_resize": 2}

// walker visits the AST JSON of one statement.
type walker struct {
	budget  float64 // sum of size arguments so far
	lambdas int     // how many lambdas the walk is inside
}

// walk visits v; inSize reports whether v is inside an argument of a size
// function (where another one would multiply sizes).
func (w *walker) walk(v any, inSize bool) error {
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			if err := w.walk(x, inSize); err != nil {
				return err
			}
		}
	case map[string]any:
		if err := w.node(v, inSize); err != nil {
			return err
		}
		if v["class"] == "LAMBDA" {
			w.lambdas++
			defer func() { w.lambdas-- }()
		}
		for k, x := range v {
			if k == "function" && v["type"] == "TABLE_FUNCTION" {
				continue // visited by node
			}
			if fn, ok := v["function_name"].(string); ok && k == "arguments" && isSizeFunc(fn) {
				continue // visited by node
			}
			if err := w.walk(x, inSize); err != nil {
				return err
			}
		}
	}
	return nil
}

func isSizeFunc(fn string) bool {
	fn = strings.ToLower(fn)
	_, ok := sizeArgs[fn]
	return ok || fn == "range" || fn == "generate_series" || fn == "printf" || fn == "format"
}

// selectNodes are the query nodes a SELECT is made of. DuckDB 2.0's
// parser also accepts INSERT, UPDATE, DELETE and COPY … TO as the body of a
// WITH clause (INSERT_QUERY_NODE, UPDATE_QUERY_NODE, …) inside a statement
// json_serialize_sql serializes as a SELECT.
var selectNodes = map[string]bool{"SELECT_NODE": true, "SET_OPERATION_NODE": true, "RECURSIVE_CTE_NODE": true, "CTE_NODE": true}

// fileExtensions are the name endings for which DuckDB's replacement scans
// (built in or autoloaded) read a file in place of a table that does not
// exist. A qualified name is looked up as the file of its dotted parts, so
// FROM x.csv reads the file x.csv and FROM db.csv.gz the file db.csv.gz.
var fileExtensions = map[string]bool{
	"csv": true, "tsv": true, "parquet": true, "json": true, "jsonl": true, "ndjson": true, "geojson": true,
	"gz": true, "zst": true, "xlsx": true, "avro": true, "shp": true, "gpkg": true, "fgb": true,
	"db": true, "duckdb": true, "ddb": true,
}

// node checks one AST object: a query node, a table reference or a
// function call.
func (w *walker) node(n map[string]any, inSize bool) error {
	str := func(k string) string { s, _ := n[k].(string); return s }
	if t := str("type"); strings.HasSuffix(t, "_NODE") && !selectNodes[t] {
		kind := strings.TrimSuffix(strings.TrimSuffix(t, "_NODE"), "_QUERY")
		return refuse("only a single SELECT statement is allowed; got %s inside it", withArticle(kind))
	}
	if name, ok := n["table_name"].(string); ok {
		catalog, schema := str("catalog_name"), str("schema_name")
		if err := checkCatalog(catalog, schema, "table "+name); err != nil {
			return err
		}
		if strings.ContainsAny(name, `./\:~`) {
			return refuse("reading files is not allowed: %q looks like a file path; query the database's tables instead (see duckdb_tables())", name)
		}
		if (catalog != "" || schema != "") && fileExtensions[strings.ToLower(name)] {
			var parts []string
			for _, p := range []string{catalog, schema, name} {
				if p != "" {
					parts = append(parts, p)
				}
			}
			path := strings.Join(parts, ".")
			return refuse("reading files is not allowed: where no such table exists, DuckDB reads %s as the file %q; query the database's tables instead (see duckdb_tables())", path, path)
		}
	}
	if n["type"] == "TABLE_FUNCTION" {
		// Table functions in FROM stream their rows: range() and
		// generate_series() there are bounded by the timeout, not the budget.
		f, _ := n["function"].(map[string]any)
		if f == nil {
			return refuse("the query could not be analysed (table function without a call); simplify it")
		}
		if err := checkFunc(f); err != nil {
			return err
		}
		fn := strings.ToLower(fmt.Sprint(f["function_name"]))
		if why, ok := deniedInFrom[fn]; ok {
			return refuse("function %s is not allowed in FROM: %s", fn, why)
		}
		if fn == "range" || fn == "generate_series" {
			return w.walk(arguments(f), inSize)
		}
		return w.walk(f, inSize)
	}
	if _, ok := n["function_name"].(string); !ok {
		return nil
	}
	if err := checkFunc(n); err != nil {
		return err
	}
	return w.sizeFunc(n, inSize)
}

func checkFunc(f map[string]any) error {
	name, _ := f["function_name"].(string)
	catalog, _ := f["catalog"].(string)
	schema, _ := f["schema"].(string)
	lname := strings.ToLower(name)
	if err := checkCatalog(catalog, schema, "function "+lname); err != nil {
		return err
	}
	if why, ok := denied[lname]; ok {
		return refuse("function %s is not allowed: %s", lname, why)
	}
	for _, p := range deniedPrefixes {
		if strings.HasPrefix(lname, p.prefix) {
			return refuse("function %s is not allowed: %s", lname, p.why)
		}
	}
	return nil
}

// otherCatalogs are the host's catalogs besides the database file's.
var otherCatalogs = map[string]bool{"system": true, "temp": true, "memory": true}

// checkCatalog admits the catalog "db" (or none). A lone qualifier may name
// a schema or a catalog, so it must not be one of the host's other catalogs.
func checkCatalog(catalog, schema, what string) error {
	c, s := strings.ToLower(catalog), strings.ToLower(schema)
	if (c != "" && c != dbx.Catalog) || (c == "" && otherCatalogs[s]) {
		q := catalog
		if q == "" {
			q = schema
		}
		return refuse("%s is in catalog %q, which is not allowed: only the database (catalog %q, the default) can be queried; use duckdb_tables(), duckdb_columns() or information_schema for metadata", what, q, dbx.Catalog)
	}
	return nil
}

// wideFormat matches a printf/format width or precision of 4+ digits, or a
// width taken from an argument.
var wideFormat = regexp.MustCompile(`[0-9]{4,}|\*|\{[^}]*\{`)

// sizeFunc enforces the size budget on a call n and walks its arguments.
func (w *walker) sizeFunc(n map[string]any, inSize bool) error {
	name := strings.ToLower(n["function_name"].(string))
	args := arguments(n)
	if !isSizeFunc(name) {
		return nil
	}
	schema, _ := n["schema"].(string)
	catalog, _ := n["catalog"].(string)
	if schema != "" || catalog != "" {
		// x.repeat(n) parses as function repeat of schema x with one
		// argument, and binds as repeat(x, n): the budget would read the
		// wrong position.
		return refuse("function %s: call it by its name alone, as %s(value, …), not qualified or as value.%s(…)", name, name, name)
	}
	if arg := namedArgument(n); arg != "" {
		// The budget reads sizes by position; a name can move them.
		return refuse("function %s: pass its arguments by position, not by name (%s := …)", name, arg)
	}
	if w.lambdas > 0 {
		// A lambda runs once per list element; over a constant list that
		// happens while planning, so the budget would be spent per element.
		return refuse("function %s is not allowed inside a lambda (lambda x: …, [… FOR x IN …]): it would run once per list element; unnest the list and call %s on the rows instead", name, name)
	}
	if inSize {
		return refuse("function %s is not allowed inside the arguments of repeat(), lpad(), range() and the like: nested calls can build huge values", name)
	}
	switch name {
	case "printf", "format":
		f, ok := literal(args, 0)
		s, isStr := f.(string)
		if !ok || !isStr {
			return refuse("function %s needs a literal format string here", name)
		}
		if wideFormat.MatchString(s) {
			return refuse("function %s: the format %q asks for a width that is too large or comes from an argument; use widths below 1000", name, s)
		}
	case "range", "generate_series":
		nums := make([]float64, len(args))
		for i := range args {
			x, ok := number(args, i)
			if !ok {
				return refuse("%s() as a value needs number literals; to produce rows use FROM %s(…) instead", name, name)
			}
			nums[i] = x
		}
		size := 0.0
		switch len(nums) {
		case 1:
			size = nums[0]
		case 2:
			size = nums[1] - nums[0]
		case 3:
			if nums[2] != 0 {
				size = (nums[1] - nums[0]) / nums[2]
			}
		}
		if err := w.spend(name, size); err != nil {
			return err
		}
	default:
		i := sizeArgs[name]
		if i < len(args) {
			x, ok := number(args, i)
			if !ok {
				return refuse("function %s needs a number literal as its length argument (at most %d)", name, MaxSizeBudget)
			}
			if j, ok := fillArgs[name]; ok && j < len(args) {
				_, text, ok := constant(args[j])
				if !ok {
					if err := w.walk(args, true); err != nil {
						return err // a nested size function says so
					}
					return refuse("function %s needs a literal as the value it repeats here (its length times the count is what is limited)", name)
				}
				x *= float64(max(1, len(text)))
			}
			if err := w.spend(name, x); err != nil {
				return err
			}
		}
	}
	return w.walk(args, true)
}

func (w *walker) spend(name string, size float64) error {
	w.budget += math.Abs(size)
	if math.IsNaN(w.budget) || w.budget > MaxSizeBudget {
		return refuse("function %s would build a value too large: sizes in repeat(), lpad(), range() and the like may add up to %d at most", name, MaxSizeBudget)
	}
	return nil
}

// arguments returns the argument expressions of the function call n, in
// order. DuckDB 2.0's parse tree gives each as {"expression": …, "name":
// …} under "arguments" (1.5 listed the expressions under "children").
func arguments(n map[string]any) []any {
	list, _ := n["arguments"].([]any)
	exprs := make([]any, len(list))
	for i, a := range list {
		arg, _ := a.(map[string]any)
		exprs[i] = arg["expression"]
	}
	return exprs
}

// namedArgument returns the name of the first argument of the call n
// passed by name (name := value), or "".
func namedArgument(n map[string]any) string {
	list, _ := n["arguments"].([]any)
	for _, a := range list {
		arg, _ := a.(map[string]any)
		if name, _ := arg["name"].(string); name != "" {
			return name
		}
	}
	return ""
}

// constant returns the kind and text of a constant expression. DuckDB
// 2.0's parse tree gives a constant as its literal's kind and text,
// {"class": "CONSTANT", "literal": {"kind": "INTEGER", "text": "20"}};
// a NULL has kind NULL_LITERAL and text "".
func constant(arg any) (kind, text string, ok bool) {
	c, _ := arg.(map[string]any)
	if c == nil || c["class"] != "CONSTANT" {
		return "", "", false
	}
	lit, _ := c["literal"].(map[string]any)
	kind, _ = lit["kind"].(string)
	text, _ = lit["text"].(string)
	return kind, text, true
}

// literal returns the value of args[i] if it is a string or number
// constant: a string, or a json.Number.
func literal(args []any, i int) (any, bool) {
	if i >= len(args) {
		return nil, false
	}
	switch kind, text, _ := constant(args[i]); kind {
	case "STRING":
		return text, true
	case "INTEGER", "NUMERIC":
		return json.Number(text), true
	}
	return nil, false
}

// number returns args[i] as a float if it is a number literal (a huge one
// as a huge float, or infinity).
func number(args []any, i int) (float64, bool) {
	v, ok := literal(args, i)
	n, isNum := v.(json.Number)
	if !ok || !isNum {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// IsRefused reports whether err is (or wraps) a *RefusedError.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}
