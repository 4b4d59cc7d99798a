package reference

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/healthsim/healthsim-go/dbx"
)

// CatalogEntry describes one reference table for someone about to query it.
type CatalogEntry struct {
	Table       string   `json:"table"`       // in schema population
	Description string   `json:"description"` // what the real data is
	Key         string   `json:"key"`         // the FIPS key column
	Granularity string   `json:"granularity"` // county, tract or block group
	Columns     []string `json:"columns"`
	ImportFrom  string   `json:"import_from"` // the public file it imports
	Source               // what is loaded now
}

// Catalog returns every reference table, in [Tables] order, with what is
// loaded in it now.
func Catalog(ctx context.Context, db *dbx.DB) ([]CatalogEntry, error) {
	sources, err := Sources(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make([]CatalogEntry, len(tableOrder))
	for i, name := range tableOrder {
		t := tables[name]
		e := CatalogEntry{Table: name, Description: t.description, Key: t.key, Granularity: t.keyWhat,
			ImportFrom: t.layout, Source: sources[i]}
		for _, c := range t.columns {
			e.Columns = append(e.Columns, c.name)
		}
		out[i] = e
	}
	return out, nil
}

// CompleteStates returns the names of the states and territories whose
// name or two-letter abbreviation starts with prefix (any case), in
// alphabetical order; the query tools accept either.
func CompleteStates(prefix string) []string {
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	var out []string
	for _, s := range states {
		if strings.HasPrefix(strings.ToLower(s.name), prefix) || strings.HasPrefix(strings.ToLower(s.abbr), prefix) {
			out = append(out, s.name)
		}
	}
	slices.Sort(out)
	return out
}

// CompleteCounties returns up to limit county names loaded in the county
// tables that start with prefix (any case), in the given state if state
// names one, and how many match in all.
func CompleteCounties(ctx context.Context, db *dbx.DB, state, prefix string, limit int) ([]string, int, error) {
	abbr := ""
	if st, ok := lookupState(state); ok {
		abbr = st.abbr
	}
	var rows []struct {
		Name  string `db:"county_name"`
		Total int    `db:"total"`
	}
	// SVI names "Harris County", PLACES "Harris": one name, as the query
	// accepts both.
	err := db.Read().SelectContext(ctx, &rows, `SELECT county_name, count(*) OVER () AS total FROM (
			SELECT regexp_replace(county_name, ' County$', '') AS county_name, state_abbr FROM (
				SELECT county_name, state_abbr FROM population.places_county
				UNION ALL SELECT county_name, state_abbr FROM population.svi_county))
		WHERE county_name IS NOT NULL AND ($1 = '' OR state_abbr = $1) AND starts_with(lower(county_name), lower($2))
		GROUP BY county_name ORDER BY county_name LIMIT $3`, abbr, strings.TrimSpace(prefix), limit)
	if err != nil {
		return nil, 0, fmt.Errorf("reference: complete counties: %w", err)
	}
	names := make([]string, len(rows))
	total := 0
	for i, r := range rows {
		names[i], total = r.Name, r.Total
	}
	return names, total, nil
}

// StateName returns the full name of the state or territory that in names
// (an abbreviation, a name or a FIPS code, as the query accepts), and
// whether in names one.
func StateName(in string) (string, bool) {
	st, ok := lookupState(in)
	return st.name, ok
}
