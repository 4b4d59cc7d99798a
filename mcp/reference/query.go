package reference

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/mcp/input"
)

// DefaultLimit and MaxLimit bound QueryOptions.Limit.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// QueryOptions filters a reference query. Empty fields do not filter.
type QueryOptions struct {
	// State is a two-letter abbreviation ("ca", case insensitive), a full
	// name ("California") or a 2-digit state FIPS code ("06").
	State string
	// County is a county name (case insensitive, with or without the
	// " County" suffix: "los angeles", "Harris County") or a 5-digit county
	// FIPS code ("06037"). A name matches every county of that name unless
	// State narrows it.
	County string
	// Limit is the most rows returned, 1..MaxLimit; 0 means DefaultLimit.
	Limit int
}

// Result is one page of a reference table, ready for JSON.
type Result struct {
	Table   string   `json:"table"`
	Columns []string `json:"columns"`
	// Rows maps column names to numbers, strings or null, in FIPS order.
	Rows          []map[string]any `json:"rows"`
	RowCount      int              `json:"row_count"`
	TotalMatching int              `json:"total_matching"` // rows matching the filters, before the limit
	Truncated     bool             `json:"truncated"`      // TotalMatching > RowCount
	// Source is what population.reference_sources says: "sample", "import",
	// "empty" (nothing loaded) or "unknown" (rows not loaded by this package).
	Source string `json:"source"`
	// Note is a sentence on what the data is and, for the sample or an
	// empty table, how to load the real files.
	Note string `json:"note"`
}

// Source describes where a reference table's rows came from.
type Source struct {
	Table string `json:"table"`
	// Source is "sample", "import", "empty" (no rows, nothing loaded) or
	// "unknown" (rows not loaded by this package).
	Source      string     `json:"source"`
	Description string     `json:"description,omitempty"`
	FileName    string     `json:"file_name,omitempty"`
	Rows        int64      `json:"rows"` // the table's current row count
	LoadedAt    *time.Time `json:"loaded_at,omitempty"`
}

// note is the sentence Query returns for the table's source.
func (s Source) note() string {
	switch s.Source {
	case "sample":
		return "These rows are the embedded SAMPLE (synthetic values for a few real counties), not real CDC/ADI data; " +
			"load real data with `healthsim reference import " + s.Table + " FILE.csv`."
	case "import":
		return fmt.Sprintf("These rows were imported from %s on %s (%s).", s.FileName, s.LoadedAt.Format("2006-01-02"), s.Description)
	case "empty":
		return "population." + s.Table + " is empty: load the synthetic sample with `healthsim reference load-sample`, " +
			"or the real data with `healthsim reference import " + s.Table + " FILE.csv`."
	}
	return "population." + s.Table + " was not loaded by `healthsim reference`; where its rows came from is unknown."
}

// Sources reports, for every reference table in [Tables] order, its current
// row count and what population.reference_sources says about it.
func Sources(ctx context.Context, db *dbx.DB) ([]Source, error) {
	var counts strings.Builder
	for i, name := range tableOrder {
		if i > 0 {
			counts.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&counts, "SELECT '%s' AS table_name, count(*) AS n FROM population.%s", name, name)
	}
	var rows []struct {
		Table       string         `db:"table_name"`
		Rows        int64          `db:"n"`
		Source      sql.NullString `db:"source"`
		Description sql.NullString `db:"description"`
		FileName    sql.NullString `db:"file_name"`
		LoadedAt    sql.NullTime   `db:"loaded_at"`
	}
	err := db.Read().SelectContext(ctx, &rows, `SELECT c.table_name, c.n, s.source, s.description, s.file_name, s.loaded_at
		FROM (`+counts.String()+`) c LEFT JOIN population.reference_sources s USING (table_name)`)
	if err != nil {
		return nil, fmt.Errorf("reference: read sources: %w", err)
	}
	byName := map[string]Source{}
	for _, r := range rows {
		s := Source{Table: r.Table, Source: r.Source.String, Description: r.Description.String, FileName: r.FileName.String, Rows: r.Rows}
		if r.LoadedAt.Valid {
			at := r.LoadedAt.Time.UTC()
			s.LoadedAt = &at
		}
		switch {
		case s.Source != "":
		case s.Rows == 0:
			s.Source = "empty"
		default:
			s.Source = "unknown"
		}
		byName[r.Table] = s
	}
	out := make([]Source, len(tableOrder))
	for i, name := range tableOrder {
		out[i] = byName[name]
	}
	return out, nil
}

// Query returns up to opts.Limit rows of a reference table matching the
// state and county filters, ordered by the table's FIPS key, with the count
// of all matching rows and a label of the data's source. An unknown table,
// a state that is not a US state or territory, a county that is neither a
// name nor a 5-digit FIPS code, or a limit outside 1..MaxLimit is a
// *input.Error naming the allowed values. Filters are always bound as
// parameters; no user text becomes SQL.
func Query(ctx context.Context, db *dbx.DB, table string, opts QueryOptions) (*Result, error) {
	t, err := lookup(table)
	if err != nil {
		return nil, err
	}
	limit := opts.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return nil, input.Invalid("limit", "must be between 1 and %d (default %d), got %d", MaxLimit, DefaultLimit, opts.Limit)
	}
	where, args, err := filters(opts)
	if err != nil {
		return nil, err
	}
	res := &Result{Table: t.name, Rows: []map[string]any{}}
	from := " FROM population." + t.name + where
	if err := db.Read().GetContext(ctx, &res.TotalMatching, "SELECT count(*)"+from, args...); err != nil {
		return nil, fmt.Errorf("reference: query %s: %w", t.name, err)
	}
	rows, err := db.Read().QueryxContext(ctx, "SELECT *"+from+" ORDER BY "+t.key+" LIMIT ?", append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("reference: query %s: %w", t.name, err)
	}
	defer rows.Close()
	if res.Columns, err = rows.Columns(); err != nil {
		return nil, fmt.Errorf("reference: query %s: %w", t.name, err)
	}
	for rows.Next() {
		row := map[string]any{}
		if err := rows.MapScan(row); err != nil {
			return nil, fmt.Errorf("reference: query %s: %w", t.name, err)
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reference: query %s: %w", t.name, err)
	}
	rows.Close()
	res.RowCount = len(res.Rows)
	res.Truncated = res.TotalMatching > res.RowCount

	sources, err := Sources(ctx, db)
	if err != nil {
		return nil, err
	}
	for _, s := range sources {
		if s.Table == t.name {
			res.Source, res.Note = s.Source, s.note()
		}
	}
	if res.Source == "sample" && res.TotalMatching == 0 {
		res.Note += " The sample covers only a few counties in CA, TX, NY, FL and MA."
	}
	return res, nil
}

// countyByName matches rows whose county, in any table that names counties,
// has the name given (bound twice per table: bare and with " county").
const countyByName = ` county_fips IN (
	SELECT county_fips FROM population.places_county WHERE lower(county_name) IN (?, ?)
	UNION SELECT county_fips FROM population.svi_county WHERE lower(county_name) IN (?, ?)
	UNION SELECT county_fips FROM population.places_tract WHERE lower(county_name) IN (?, ?)
	UNION SELECT county_fips FROM population.svi_tract WHERE lower(county_name) IN (?, ?))`

// filters turns opts' state and county into a WHERE clause with parameters.
func filters(opts QueryOptions) (string, []any, error) {
	var conds []string
	var args []any
	if in := strings.TrimSpace(opts.State); in != "" {
		st, ok := lookupState(in)
		if !ok {
			return "", nil, input.Invalid("state", "%q is not a US state or territory; give a two-letter abbreviation (CA), a name (California) or a 2-digit FIPS code (06)", opts.State)
		}
		conds = append(conds, " state_abbr = ?")
		args = append(args, st.abbr)
	}
	if in := strings.TrimSpace(opts.County); in != "" {
		switch {
		case isDigits(in) && (len(in) == 5 || len(in) == 4):
			conds = append(conds, " county_fips = ?")
			args = append(args, strings.Repeat("0", 5-len(in))+in) // a lost leading zero
		case isDigits(in):
			return "", nil, input.Invalid("county", "a county FIPS code has 5 digits (2 for the state, 3 for the county, as in 06037); got %q", opts.County)
		case !isCountyName(in):
			return "", nil, input.Invalid("county", "give a county name (Los Angeles, Harris County) or a 5-digit county FIPS code (06037); got %q", opts.County)
		default:
			name := strings.ToLower(strings.Join(strings.Fields(in), " "))
			name = strings.TrimSuffix(name, " county")
			conds = append(conds, countyByName)
			for range 4 {
				args = append(args, name, name+" county")
			}
		}
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE" + strings.Join(conds, " AND"), args, nil
}

// isCountyName reports whether s looks like a county name: letters, spaces
// and the punctuation of names such as "St. Mary's" or "Miami-Dade", at most
// 100 characters.
func isCountyName(s string) bool {
	if len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !strings.ContainsRune(" .'’-", r) {
			return false
		}
	}
	return strings.ContainsFunc(s, unicode.IsLetter)
}
