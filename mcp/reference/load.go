package reference

import (
	"context"
	"database/sql/driver"
	"embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/mcp/input"
	"github.com/jmoiron/sqlx"
)

// ProgressEvery is how many rows Import reads between calls of its progress
// function.
const ProgressEvery = 5000

//go:embed sample/*.csv
var sampleFS embed.FS

// sampleDescription is stored in reference_sources for every sample table.
const sampleDescription = "HealthSim embedded sample: real state and county FIPS codes and names, " +
	"synthetic tract and block-group codes and synthetic values; not real CDC PLACES, SVI or ADI data"

// Import replaces the contents of table with the rows of a public CSV file
// read from r: CDC PLACES county or tract data in the GIS-friendly format,
// CDC/ATSDR SVI county or tract data, or the Neighborhood Atlas ADI by block
// group (the table's own column names are accepted too). Headers are matched
// case insensitively; unknown columns are ignored. FIPS codes that lost a
// leading zero are padded; county_fips, state_fips and state_abbr are
// derived from the FIPS key; an empty value or -999 (SVI's missing value)
// is NULL, and so is a non-numeric ADI rank ("GQ", "PH").
//
// The whole file is parsed and validated first; a header without the key
// column, a bad value (the error names its line and column), a duplicate key
// or a file without rows is a *input.Error, and nothing changes. Then
// the table's rows and its population.reference_sources row (source
// "import", fileName) are replaced in one write window. progress, if set,
// is called with the rows read so far every [ProgressEvery] rows and once
// when the file is read, before the write window. Import returns the rows
// loaded.
func Import(ctx context.Context, db *dbx.DB, table string, r io.Reader, fileName string, progress func(rowsRead int)) (int, error) {
	t, err := lookup(table)
	if err != nil {
		return 0, err
	}
	rows, err := parse(ctx, t, r, progress)
	if err != nil {
		return 0, err
	}
	err = replace(ctx, db, []load{{t: t, rows: rows, source: "import", description: t.description, fileName: fileName}})
	if err != nil {
		return 0, fmt.Errorf("reference: import %s: %w", t.name, err)
	}
	return len(rows), nil
}

// LoadSample replaces the contents of all five tables with the embedded
// sample (about a dozen real counties in CA, TX, NY, FL and MA with
// synthetic tracts, block groups and values), marked "sample" in
// population.reference_sources, in one write window. Loading it again gives
// the same contents. It returns the rows loaded per table.
func LoadSample(ctx context.Context, db *dbx.DB) (map[string]int, error) {
	var loads []load
	counts := map[string]int{}
	for _, name := range tableOrder {
		t := tables[name]
		f, err := sampleFS.Open("sample/" + name + ".csv")
		if err != nil {
			return nil, fmt.Errorf("reference: sample %s: %w", name, err)
		}
		rows, err := parse(ctx, t, f, nil)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reference: sample %s: %w", name, err)
		}
		loads = append(loads, load{t: t, rows: rows, source: "sample", description: sampleDescription, fileName: "sample/" + name + ".csv"})
		counts[name] = len(rows)
	}
	if err := replace(ctx, db, loads); err != nil {
		return nil, fmt.Errorf("reference: load sample: %w", err)
	}
	return counts, nil
}

// load is a parsed table, ready to replace the stored one.
type load struct {
	t                             *table
	rows                          [][]driver.Value // in t.columns order
	source, description, fileName string
}

// replace swaps in every load's rows and reference_sources row in one write
// window, through the Appender.
func replace(ctx context.Context, db *dbx.DB, loads []load) error {
	now := time.Now().UTC()
	return db.Write(ctx, func(tx *sqlx.Tx) error {
		for _, l := range loads {
			indexes, err := recreate(ctx, tx, l.t.name)
			if err != nil {
				return err
			}
			names := make([]string, len(l.t.columns))
			for i, c := range l.t.columns {
				names[i] = c.name
			}
			err = db.RawConn(tx, func(c *duckdb.Conn) error {
				a, err := duckdb.NewAppenderWithColumns(c, dbx.Catalog, "population", l.t.name, names)
				if err != nil {
					return err
				}
				for _, row := range l.rows {
					if err := a.AppendRow(row...); err != nil {
						a.Close()
						return err
					}
				}
				return a.Close()
			})
			if err != nil {
				return fmt.Errorf("append to %s: %w", l.t.name, err)
			}
			for _, stmt := range indexes {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM population.reference_sources WHERE table_name = ?", l.t.name); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO population.reference_sources
				(table_name, source, description, file_name, row_count, loaded_at) VALUES (?, ?, ?, ?, ?, ?)`,
				l.t.name, l.source, l.description, l.fileName, len(l.rows), now); err != nil {
				return err
			}
		}
		return nil
	})
}

// recreate drops table and creates it again, empty and without its
// secondary indexes, from the catalog's own definition, and returns the
// statements that create the indexes. DuckDB deletes rows of a table with a
// primary key slowly (250k rows: 5 s to DELETE, 5 s more to commit); a new
// table fills in milliseconds.
func recreate(ctx context.Context, tx *sqlx.Tx, table string) (indexes []string, err error) {
	const where = ` WHERE database_name = current_database() AND schema_name = 'population' AND table_name = ?`
	var create string
	if err := tx.GetContext(ctx, &create, `SELECT sql FROM duckdb_tables()`+where, table); err != nil {
		return nil, fmt.Errorf("read the definition of population.%s: %w", table, err)
	}
	if err := tx.SelectContext(ctx, &indexes, `SELECT sql FROM duckdb_indexes()`+where+` AND sql IS NOT NULL`, table); err != nil {
		return nil, fmt.Errorf("read the indexes of population.%s: %w", table, err)
	}
	if _, err := tx.ExecContext(ctx, "DROP TABLE population."+table); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return nil, err
	}
	return indexes, nil
}

// parse reads a whole CSV file in one of t's layouts into rows in t.columns
// order, validating every value.
func parse(ctx context.Context, t *table, r io.Reader, progress func(int)) ([][]driver.Value, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, input.Invalid("header", "the file is empty; expected %s", t.layout)
	}
	if err != nil {
		return nil, csvError(err)
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff") // a BOM from Excel
	// src[i] is the record index for t.columns[i], or -1.
	src, err := mapHeader(t, header)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(header)) // for messages
	copy(names, header)

	var rows [][]driver.Value
	seen := map[string]int{} // key -> line
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		row, err := parseRow(t, src, names, rec, line)
		if err != nil {
			return nil, err
		}
		key := row[0].(string)
		if first, dup := seen[key]; dup {
			return nil, &input.Error{Field: names[src[0]], Message: fmt.Sprintf(
				"line %d, column %s: %s FIPS %s appears twice (first on line %d); the file must have one row per %s",
				line, names[src[0]], t.keyWhat, key, first, t.keyWhat)}
		}
		seen[key] = line
		rows = append(rows, row)
		if len(rows)%ProgressEvery == 0 {
			if progress != nil {
				progress(len(rows))
			}
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("reference: read CSV: %w", err)
			}
		}
	}
	if progress != nil {
		progress(len(rows))
	}
	if len(rows) == 0 {
		return nil, input.Invalid("rows", "the file has a header but no rows; nothing was changed")
	}
	return rows, nil
}

// mapHeader finds the record index of each of t's columns.
func mapHeader(t *table, header []string) ([]int, error) {
	at := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := at[h]; !dup {
			at[h] = i
		}
	}
	src := make([]int, len(t.columns))
	for i, c := range t.columns {
		src[i] = -1
		if c.derived {
			continue
		}
		for _, h := range slices.Concat(c.headers, []string{c.name}) {
			if j, ok := at[strings.ToLower(h)]; ok {
				src[i] = j
				break
			}
		}
		if src[i] < 0 && (i == 0 || c.required) {
			return nil, input.Invalid("header", "%s needs a %s column (%s) but the file's header has none; expected %s",
				t.name, c.name, strings.Join(slices.Concat(c.headers, []string{c.name}), " or "), t.layout)
		}
	}
	return src, nil
}

// parseRow converts one record; line and names are for messages.
func parseRow(t *table, src []int, names, rec []string, line int) ([]driver.Value, error) {
	row := make([]driver.Value, len(t.columns))
	bad := func(i int, format string, args ...any) error {
		col := names[src[i]]
		return &input.Error{Field: col, Message: fmt.Sprintf("line %d, column %s: ", line, col) + fmt.Sprintf(format, args...)}
	}
	key := strings.TrimSpace(rec[src[0]])
	if isDigits(key) && len(key) == t.keyLen-1 {
		key = "0" + key // a leading zero lost to a spreadsheet
	}
	if !isDigits(key) || len(key) != t.keyLen {
		return nil, bad(0, "%q is not a %d-digit %s FIPS code", rec[src[0]], t.keyLen, t.keyWhat)
	}
	st, ok := stateByFIPS(key[:2])
	if !ok {
		return nil, bad(0, "%s FIPS %s does not start with the code of a US state or territory", t.keyWhat, key)
	}
	for i, c := range t.columns {
		switch {
		case i == 0:
			row[i] = strings.Clone(key) // not the whole record's string
			continue
		case c.name == "county_fips" && c.derived:
			row[i] = key[:5]
			continue
		case c.name == "state_fips":
			row[i] = st.fips
			continue
		case c.name == "state_abbr":
			row[i] = st.abbr
			continue
		}
		s := ""
		if src[i] >= 0 {
			s = strings.TrimSpace(rec[src[i]])
		}
		if s == "" && c.name == "state_name" {
			s = st.name
		}
		if s == "" {
			if c.required {
				return nil, bad(i, "%s is empty", c.name)
			}
			continue // NULL
		}
		v, err := value(c, s)
		if err != nil {
			return nil, bad(i, "%v", err)
		}
		row[i] = v
	}
	return row, nil
}

// value converts a non-empty CSV field for column c.
func value(c column, s string) (driver.Value, error) {
	if c.kind == text {
		return strings.Clone(s), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		if c.rank {
			return nil, nil // ADI codes such as GQ (group quarters) and PH (low population)
		}
		return nil, fmt.Errorf("%q is not a number", s)
	}
	if f == -999 {
		return nil, nil // SVI's missing value
	}
	if c.hi > c.lo && (f < c.lo || f > c.hi) {
		return nil, fmt.Errorf("%s is outside %g..%g", s, c.lo, c.hi)
	}
	switch c.kind {
	case bigint, integer:
		limit := float64(math.MaxInt32)
		if c.kind == bigint {
			limit = 1 << 53
		}
		if f != math.Trunc(f) || math.Abs(f) > limit {
			return nil, fmt.Errorf("%q is not a whole number", s)
		}
		if c.kind == integer {
			return int32(f), nil
		}
		return int64(f), nil
	}
	return f, nil
}

// csvError turns a CSV syntax error into a *input.Error naming the line.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return input.Invalid("csv", "line %d, column %d: %v; the file must be a comma-separated CSV with a header row", pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("reference: read CSV: %w", err)
}
