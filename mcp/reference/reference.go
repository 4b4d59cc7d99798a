// Package reference is the HealthSim population reference data, written once
// with sqlx over [dbx.DB]: the five tables of schema population (CDC PLACES
// by county and tract, CDC/ATSDR SVI by county and tract, the Area
// Deprivation Index by block group), the query behind the
// healthsim_query_reference tool, and the two ways to fill them: an embedded,
// clearly labelled synthetic sample ([LoadSample]) and an import of the real
// public CSV files ([Import]).
//
// Every load replaces a table's contents and its row in
// population.reference_sources in one dbx write window, so a reader sees the
// old data or the new, never a mix, and always knows which kind it is.
package reference

import (
	"slices"
	"strings"

	"github.com/healthsim/healthsim-go/mcp/input"
)

// kind is a column's SQL type.
type kind uint8

const (
	text    kind = iota // VARCHAR
	bigint              // BIGINT
	integer             // INTEGER
	double              // DOUBLE
)

// column is a column of a reference table and the CSV headers that fill it.
type column struct {
	name string
	kind kind
	// headers are the public files' names for the column, matched case
	// insensitively, in order of preference; the column's own name always
	// matches too.
	headers []string
	// derived columns are never read from the file: they follow from the
	// FIPS key (county_fips, state_fips, state_abbr), so they always agree
	// with it and with the state filter.
	derived bool
	// required columns must have a value in every row (NOT NULL).
	required bool
	// rank columns hold ranks in [lo, hi]; non-numeric codes (the ADI's
	// "GQ", "PH", "GQ-PH", "QDI") mean NULL.
	rank   bool
	lo, hi float64
}

// table describes a reference table and the public CSV layouts it imports.
type table struct {
	name        string
	key         string // the FIPS key column, the first of columns
	keyLen      int    // digits of a key: 5 county, 11 tract, 12 block group
	keyWhat     string // "county", "tract" or "block group", for messages
	description string // what the real data is, stored in reference_sources
	layout      string // the public file's main headers, for messages
	columns     []column
}

var placesMeasures = []string{"ACCESS2", "ARTHRITIS", "BPHIGH", "CASTHMA", "CHD", "COPD",
	"CSMOKING", "DEPRESSION", "DIABETES", "HIGHCHOL", "LPA", "OBESITY", "STROKE"}

var sviMeasures = []string{"EP_POV150", "EP_UNEMP", "EP_UNINSUR", "EP_NOHSDP", "EP_AGE65",
	"EP_AGE17", "EP_DISABL", "EP_MINRTY", "EP_LIMENG", "EP_NOVEH"}

func places(name, key string, keyHeaders []string, keyLen int, keyWhat string) *table {
	t := &table{
		name: name, key: key, keyLen: keyLen, keyWhat: keyWhat,
		description: "CDC PLACES " + keyWhat + " estimates (crude prevalence, %)",
		layout:      "the CDC PLACES " + keyWhat + " GIS-friendly CSV: StateAbbr, StateDesc, CountyName, " + keyHeaders[0] + ", TotalPopulation, ACCESS2_CrudePrev, …",
		columns:     []column{{name: key, headers: keyHeaders}},
	}
	if key != "county_fips" {
		t.columns = append(t.columns, column{name: "county_fips", derived: true})
	}
	t.columns = append(t.columns,
		column{name: "state_abbr", derived: true},
		column{name: "state_name", headers: []string{"StateDesc"}},
		column{name: "county_name", headers: []string{"CountyName"}, required: key == "county_fips"},
		column{name: "total_population", kind: bigint, headers: []string{"TotalPopulation"}},
		column{name: "data_year", kind: integer, headers: []string{"Year"}})
	for _, m := range placesMeasures {
		t.columns = append(t.columns, column{name: strings.ToLower(m) + "_crudeprev", kind: double, headers: []string{m + "_CrudePrev"}})
	}
	return t
}

func svi(name, key string, keyHeaders []string, keyLen int, keyWhat string) *table {
	t := &table{
		name: name, key: key, keyLen: keyLen, keyWhat: keyWhat,
		description: "CDC/ATSDR Social Vulnerability Index by " + keyWhat,
		layout:      "the CDC/ATSDR SVI " + keyWhat + " CSV: ST, STATE, ST_ABBR, STCNTY, COUNTY, FIPS, E_TOTPOP, RPL_THEMES, RPL_THEME1…4, EP_…",
		columns:     []column{{name: key, headers: keyHeaders}},
	}
	if key != "county_fips" {
		t.columns = append(t.columns, column{name: "county_fips", derived: true})
	}
	t.columns = append(t.columns,
		column{name: "state_fips", derived: true},
		column{name: "state_name", headers: []string{"STATE"}},
		column{name: "state_abbr", derived: true},
		column{name: "county_name", headers: []string{"COUNTY"}, required: key == "county_fips"})
	if key == "tract_fips" {
		t.columns = append(t.columns, column{name: "location", headers: []string{"LOCATION"}})
	}
	t.columns = append(t.columns, column{name: "e_totpop", kind: bigint, headers: []string{"E_TOTPOP"}})
	for _, r := range []string{"RPL_THEMES", "RPL_THEME1", "RPL_THEME2", "RPL_THEME3", "RPL_THEME4"} {
		t.columns = append(t.columns, column{name: strings.ToLower(r), kind: double, headers: []string{r}, lo: 0, hi: 1})
	}
	for _, m := range sviMeasures {
		t.columns = append(t.columns, column{name: strings.ToLower(m), kind: double, headers: []string{m}})
	}
	return t
}

// tableOrder is the fixed order of Tables.
var tableOrder = []string{"places_county", "places_tract", "svi_county", "svi_tract", "adi_blockgroup"}

// tables maps each reference table name to its description. SQL names
// tables only through this map, never from user input.
var tables = map[string]*table{
	"places_county": places("places_county", "county_fips", []string{"CountyFIPS"}, 5, "county"),
	"places_tract":  places("places_tract", "tract_fips", []string{"TractFIPS"}, 11, "tract"),
	"svi_county":    svi("svi_county", "county_fips", []string{"FIPS", "STCNTY"}, 5, "county"),
	"svi_tract":     svi("svi_tract", "tract_fips", []string{"FIPS"}, 11, "tract"),
	"adi_blockgroup": {
		name: "adi_blockgroup", key: "blockgroup_fips", keyLen: 12, keyWhat: "block group",
		description: "Area Deprivation Index (Neighborhood Atlas) by census block group",
		layout:      "the Neighborhood Atlas ADI block-group CSV: GISJOIN, FIPS, ADI_NATRANK, ADI_STATERNK",
		columns: []column{
			{name: "blockgroup_fips", headers: []string{"FIPS"}},
			{name: "county_fips", derived: true},
			{name: "state_fips", derived: true},
			{name: "state_abbr", derived: true},
			{name: "gisjoin", headers: []string{"GISJOIN"}},
			{name: "adi_natrank", kind: integer, headers: []string{"ADI_NATRANK"}, rank: true, lo: 1, hi: 100},
			{name: "adi_staternk", kind: integer, headers: []string{"ADI_STATERNK"}, rank: true, lo: 1, hi: 10},
		},
	},
}

// Tables returns the reference table names (schema population) in a fixed
// order: places_county, places_tract, svi_county, svi_tract, adi_blockgroup.
func Tables() []string { return slices.Clone(tableOrder) }

// lookup returns the table named name, or a *input.Error naming the
// allowed tables.
func lookup(name string) (*table, error) {
	if t, ok := tables[strings.ToLower(strings.TrimSpace(name))]; ok {
		return t, nil
	}
	return nil, input.Invalid("table", "unknown reference table %q; use one of %s", name, strings.Join(tableOrder, ", "))
}
