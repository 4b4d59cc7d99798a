package reference_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/mcp/input"
	"github.com/healthsim/healthsim-go/mcp/reference"
	"github.com/healthsim/healthsim-go/migrations"
)

// newDB opens a migrated database file in a temporary folder.
func newDB(t testing.TB) *dbx.DB {
	t.Helper()
	ctx := context.Background()
	db, err := dbx.Open(ctx, filepath.Join(t.TempDir(), "healthsim.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := migrations.Up(ctx, db); err != nil {
		t.Fatal(err)
	}
	return db
}

func query(t *testing.T, db *dbx.DB, table string, opts reference.QueryOptions) *reference.Result {
	t.Helper()
	res, err := reference.Query(context.Background(), db, table, opts)
	if err != nil {
		t.Fatalf("Query(%s, %+v): %v", table, opts, err)
	}
	return res
}

// snapshot is every table's rows and sources, to compare before and after.
func snapshot(t *testing.T, db *dbx.DB) string {
	t.Helper()
	var b strings.Builder
	for _, table := range reference.Tables() {
		b.WriteString(marshal(t, query(t, db, table, reference.QueryOptions{Limit: 100})))
	}
	sources, err := reference.Sources(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return b.String() + marshal(t, sources)
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTables(t *testing.T) {
	want := []string{"places_county", "places_tract", "svi_county", "svi_tract", "adi_blockgroup"}
	if got := reference.Tables(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Tables() = %v", got)
	}
}

func TestEmptyTables(t *testing.T) {
	db := newDB(t)
	res := query(t, db, "svi_tract", reference.QueryOptions{State: "CA"})
	if res.Source != "empty" || res.TotalMatching != 0 || res.Rows == nil || len(res.Columns) == 0 ||
		!strings.Contains(res.Note, "healthsim reference load-sample") || !strings.Contains(res.Note, "healthsim reference import svi_tract FILE.csv") {
		t.Fatalf("empty table: %+v", res)
	}
	if got := marshal(t, res.Rows); got != "[]" {
		t.Fatalf("rows of an empty table marshal as %s", got)
	}
	sources, err := reference.Sources(context.Background(), db)
	if err != nil || len(sources) != 5 {
		t.Fatalf("Sources: %v, %v", sources, err)
	}
	for _, s := range sources {
		if s.Source != "empty" || s.Rows != 0 || s.LoadedAt != nil {
			t.Errorf("fresh source %+v", s)
		}
	}
}

func TestLoadSample(t *testing.T) {
	db := newDB(t)
	ctx := context.Background()
	counts, err := reference.LoadSample(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"places_county": 13, "places_tract": 32, "svi_county": 13, "svi_tract": 32, "adi_blockgroup": 64}
	if !reflect.DeepEqual(counts, want) {
		t.Fatalf("LoadSample counts %v", counts)
	}
	first := snapshot(t, db)
	if _, err := reference.LoadSample(ctx, db); err != nil {
		t.Fatal(err)
	}
	// Loading again gives the same rows; only loaded_at moves.
	strip := func(s string) string {
		for {
			i := strings.Index(s, `"loaded_at":"`)
			if i < 0 {
				return s
			}
			j := strings.IndexByte(s[i+13:], '"')
			s = s[:i] + s[i+13+j+1:]
		}
	}
	if second := snapshot(t, db); strip(second) != strip(first) {
		t.Fatalf("second load differs:\n%s\n%s", first, second)
	}
	sources, err := reference.Sources(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sources {
		if s.Source != "sample" || int(s.Rows) != want[s.Table] || !strings.Contains(s.Description, "synthetic") || s.LoadedAt == nil {
			t.Errorf("sample source %+v", s)
		}
	}
}

func TestQuerySample(t *testing.T) {
	db := newDB(t)
	if _, err := reference.LoadSample(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	total := func(table string, opts reference.QueryOptions) int {
		t.Helper()
		return query(t, db, table, opts).TotalMatching
	}
	for _, state := range []string{"CA", "ca", "California", " CALIFORNIA ", "06", "6"} {
		if n := total("places_county", reference.QueryOptions{State: state}); n != 3 {
			t.Errorf("state %q: %d counties, want 3", state, n)
		}
	}
	if n := total("adi_blockgroup", reference.QueryOptions{State: "ma"}); n != (3+2)*2 {
		t.Errorf("MA block groups: %d", n)
	}
	// PLACES names counties "Los Angeles", SVI "Los Angeles County": both match.
	for _, county := range []string{"Los Angeles", "los angeles county", "LOS  ANGELES", "06037", "6037"} {
		for table, want := range map[string]int{"places_county": 1, "svi_county": 1, "places_tract": 2, "svi_tract": 2, "adi_blockgroup": 4} {
			if n := total(table, reference.QueryOptions{County: county}); n != want {
				t.Errorf("%s county %q: %d rows, want %d", table, county, n, want)
			}
		}
	}
	if n := total("svi_tract", reference.QueryOptions{State: "Florida", County: "Miami-Dade"}); n != 3 {
		t.Errorf("Miami-Dade tracts: %d", n)
	}
	// A county of the sample in the wrong state: nothing, and the note says what the sample covers.
	res := query(t, db, "places_county", reference.QueryOptions{State: "TX", County: "Orange"})
	if res.TotalMatching != 0 || !strings.Contains(res.Note, "covers only") {
		t.Errorf("Orange, TX: %+v", res)
	}

	res = query(t, db, "places_tract", reference.QueryOptions{Limit: 5})
	if res.RowCount != 5 || len(res.Rows) != 5 || res.TotalMatching != 32 || !res.Truncated {
		t.Fatalf("limit 5: %+v", res)
	}
	if res.Rows[0]["tract_fips"] != "06037001001" || res.Rows[4]["tract_fips"].(string) <= res.Rows[3]["tract_fips"].(string) {
		t.Errorf("rows not in FIPS order: %v", res.Rows)
	}
	if res.Source != "sample" || !strings.Contains(res.Note, "SAMPLE") || !strings.Contains(res.Note, "healthsim reference import places_tract FILE.csv") {
		t.Errorf("sample label: %q %q", res.Source, res.Note)
	}
	if res.Columns[0] != "tract_fips" || len(res.Columns) != len(res.Rows[0]) {
		t.Errorf("columns %v", res.Columns)
	}
	if res = query(t, db, "places_tract", reference.QueryOptions{}); res.RowCount != reference.DefaultLimit || !res.Truncated {
		t.Errorf("default limit: %d rows", res.RowCount)
	}
	if res = query(t, db, "svi_county", reference.QueryOptions{Limit: 100}); res.RowCount != 13 || res.Truncated {
		t.Errorf("limit 100: %d rows, truncated %v", res.RowCount, res.Truncated)
	}

	// Values are JSON numbers, strings and null (a group-quarters block group).
	res = query(t, db, "adi_blockgroup", reference.QueryOptions{County: "36061"})
	js := marshal(t, res.Rows)
	if !strings.Contains(js, `"adi_natrank":null`) || !strings.Contains(js, `"state_abbr":"NY"`) {
		t.Errorf("ADI rows: %s", js)
	}
	res = query(t, db, "places_county", reference.QueryOptions{County: "Harris"})
	if js := marshal(t, res.Rows); !strings.Contains(js, `"total_population":4835000`) || !strings.Contains(js, `"data_year":2022`) {
		t.Errorf("Harris: %s", js)
	}
}

func TestQueryValidation(t *testing.T) {
	db := newDB(t)
	for _, tc := range []struct {
		table string
		opts  reference.QueryOptions
		field string
		want  string
	}{
		{"patients", reference.QueryOptions{}, "table", "places_county, places_tract, svi_county, svi_tract, adi_blockgroup"},
		{"places_county", reference.QueryOptions{State: "ZZ"}, "state", "two-letter abbreviation"},
		{"places_county", reference.QueryOptions{State: "Narnia"}, "state", "not a US state"},
		{"places_county", reference.QueryOptions{State: "99"}, "state", "2-digit FIPS"},
		{"places_county", reference.QueryOptions{State: "006"}, "state", "not a US state"},
		{"places_county", reference.QueryOptions{County: "037"}, "county", "5 digits"},
		{"places_county", reference.QueryOptions{County: "060370"}, "county", "5 digits"},
		{"places_county", reference.QueryOptions{County: "06-037"}, "county", "5-digit county FIPS"},
		{"places_county", reference.QueryOptions{County: strings.Repeat("a", 101)}, "county", "county name"},
		{"places_county", reference.QueryOptions{Limit: -1}, "limit", "between 1 and 100"},
		{"places_county", reference.QueryOptions{Limit: 101}, "limit", "between 1 and 100"},
	} {
		_, err := reference.Query(context.Background(), db, tc.table, tc.opts)
		var ve *input.Error
		if !errors.As(err, &ve) || ve.Field != tc.field || !strings.Contains(ve.Error(), tc.want) {
			t.Errorf("Query(%s, %+v) = %v; want a %s error with %q", tc.table, tc.opts, err, tc.field, tc.want)
		}
	}
}

func TestQueryInjectionChangesNothing(t *testing.T) {
	db := newDB(t)
	if _, err := reference.LoadSample(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, db)
	for _, opts := range []reference.QueryOptions{
		{State: "CA' OR '1'='1"},
		{State: "CA'; DROP TABLE population.places_county; --"},
		{County: "x'); DELETE FROM population.places_county; --"},
		{County: "Los Angeles' OR 'a'='a"},
	} {
		_, err := reference.Query(context.Background(), db, "places_county", opts)
		var ve *input.Error
		if !errors.As(err, &ve) {
			t.Errorf("%+v: %v, want a validation error", opts, err)
		}
	}
	// Looks like a name, so it is looked up as one, and found nowhere.
	for _, county := range []string{"Los Angeles' OR 'x", "O'Brien"} {
		if res := query(t, db, "places_county", reference.QueryOptions{County: county}); res.TotalMatching != 0 {
			t.Errorf("county %q matched %d rows", county, res.TotalMatching)
		}
	}
	if _, err := reference.Query(context.Background(), db, "places_county; DROP TABLE population.svi_county", reference.QueryOptions{}); err == nil {
		t.Error("a table name with SQL was accepted")
	}
	if after := snapshot(t, db); after != before {
		t.Fatal("queries changed the data")
	}
}

func importCSV(t *testing.T, db *dbx.DB, table, csv string) (int, error) {
	t.Helper()
	return reference.Import(context.Background(), db, table, strings.NewReader(csv), table+".csv", nil)
}

func TestImportPublicLayouts(t *testing.T) {
	db := newDB(t)
	for _, tc := range []struct {
		table string
		csv   string
		rows  int
		want  map[string]string // a row's FIPS → parts of its JSON
	}{
		{
			table: "places_county",
			csv: "StateAbbr,StateDesc,CountyName,CountyFIPS,TotalPopulation,TotalPop18plus,ACCESS2_CrudePrev,ACCESS2_Crude95CI,DIABETES_CrudePrev,OBESITY_CrudePrev,Geolocation\n" +
				`AL,Alabama,Autauga,1001,59285,45000,9.1,"( 8.1, 10.2)",12.9,37.9,"POINT (-86.64 32.53)"` + "\n" +
				`CA,California,Los Angeles,06037,9663345,7600000,13.4,"(12.1, 14.7)",,27.0,"POINT (-118.2 34.3)"` + "\n",
			rows: 2,
			want: map[string]string{
				"01001": `"county_fips":"01001","county_name":"Autauga","data_year":null,"depression_crudeprev":null,"diabetes_crudeprev":12.9`,
				"06037": `"diabetes_crudeprev":null,"obesity_crudeprev":27,"state_abbr":"CA","state_name":"California","stroke_crudeprev":null,"total_population":9663345`,
			},
		},
		{
			table: "places_tract",
			csv: "StateAbbr,StateDesc,CountyName,CountyFIPS,TractFIPS,TotalPopulation,BPHIGH_CrudePrev,BPHIGH_Crude95CI\n" +
				`AL,Alabama,Autauga,1001,1001020100,1775,35.2,"(31.0, 39.3)"` + "\n" +
				`MA,Massachusetts,Suffolk,25025,25025010103,4000,22.5,"(20.0, 25.0)"` + "\n",
			rows: 2,
			want: map[string]string{
				"01001020100": `"bphigh_crudeprev":35.2,"county_fips":"01001","county_name":"Autauga"`,
				"25025010103": `"county_fips":"25025","county_name":"Suffolk","data_year":null`,
			},
		},
		{
			table: "svi_county",
			csv: "ST,STATE,ST_ABBR,STCNTY,COUNTY,FIPS,LOCATION,AREA_SQMI,E_TOTPOP,EP_POV150,EP_UNINSUR,RPL_THEME1,RPL_THEME2,RPL_THEME3,RPL_THEME4,RPL_THEMES\n" +
				`1,Alabama,AL,1001,Autauga County,1001,"Autauga County, Alabama",594.4,58239,20.2,-999,0.3281,0.3874,0.5981,0.6254,0.4354` + "\n" +
				`48,Texas,TX,48201,Harris County,48201,"Harris County, Texas",1703.5,4700000,28.1,20.9,-999,0.5,0.9,0.8,0.8901` + "\n",
			rows: 2,
			want: map[string]string{
				"01001": `"county_name":"Autauga County","e_totpop":58239,"ep_age17":null,"ep_age65":null`,
				"48201": `"rpl_theme1":null,"rpl_theme2":0.5`,
			},
		},
		{
			table: "svi_tract",
			csv: "ST,STATE,ST_ABBR,STCNTY,COUNTY,FIPS,LOCATION,E_TOTPOP,RPL_THEMES,EP_NOVEH\n" +
				`01,Alabama,AL,01001,Autauga County,01001020100,"Census Tract 201; Autauga County; Alabama",1865,0.2,-999.0` + "\n" +
				`6,California,CA,6037,Los Angeles County,6037101110,"Census Tract 1011.10; Los Angeles County; California",4000,-999,7.5` + "\n",
			rows: 2,
			want: map[string]string{
				"01001020100": `"ep_noveh":null`,
				"06037101110": `"county_fips":"06037","county_name":"Los Angeles County","e_totpop":4000`,
			},
		},
		{
			table: "adi_blockgroup",
			csv: "\"\",GISJOIN,FIPS,ADI_NATRANK,ADI_STATERNK\n" +
				"1,G01000100201001,10010201001,73,5\n" +
				"2,G01000100201002,010010201002,GQ,GQ\n" +
				"3,G06003701011101,060371011101,PH,\n" +
				"4,G06003701011102,60371011102,GQ-PH,QDI\n",
			rows: 4,
			want: map[string]string{
				"010010201001": `"adi_natrank":73,"adi_staternk":5,"blockgroup_fips":"010010201001","county_fips":"01001","gisjoin":"G01000100201001","state_abbr":"AL","state_fips":"01"`,
				"010010201002": `"adi_natrank":null,"adi_staternk":null`,
				"060371011102": `"adi_natrank":null,"adi_staternk":null,"blockgroup_fips":"060371011102","county_fips":"06037"`,
			},
		},
	} {
		t.Run(tc.table, func(t *testing.T) {
			var calls []int
			n, err := reference.Import(context.Background(), db, tc.table, strings.NewReader(tc.csv), tc.table+".csv", func(read int) { calls = append(calls, read) })
			if err != nil || n != tc.rows {
				t.Fatalf("Import: %d, %v", n, err)
			}
			if len(calls) == 0 || calls[len(calls)-1] != tc.rows {
				t.Errorf("progress calls %v", calls)
			}
			res := query(t, db, tc.table, reference.QueryOptions{})
			if res.Source != "import" || !strings.Contains(res.Note, tc.table+".csv") || res.TotalMatching != tc.rows {
				t.Errorf("after import: source %q, note %q, %d rows", res.Source, res.Note, res.TotalMatching)
			}
			found := 0
			for _, row := range res.Rows {
				parts, ok := tc.want[row[res.Columns[0]].(string)]
				if !ok {
					continue
				}
				found++
				js := marshal(t, row)
				for _, part := range strings.Split(parts, `,"`) {
					if !strings.Contains(js, strings.TrimPrefix(part, `"`)) {
						t.Errorf("row lacks %s:\n%s", part, js)
					}
				}
			}
			if found != len(tc.want) {
				t.Errorf("found %d of the rows %v", found, tc.want)
			}
		})
	}
}

func TestImportRefusesBadFilesAndChangesNothing(t *testing.T) {
	db := newDB(t)
	if _, err := reference.LoadSample(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, db)
	placesHeader := "StateAbbr,StateDesc,CountyName,CountyFIPS,TotalPopulation,ACCESS2_CrudePrev\n"
	good := "CA,California,Los Angeles,06037,9663345,13.4\n"
	for _, tc := range []struct {
		name, table, csv string
		field, want      string
	}{
		{"no key column", "places_county", "StateAbbr,CountyName,TotalPopulation\nCA,Los Angeles,100\n",
			"header", "needs a county_fips column (CountyFIPS or county_fips)"},
		{"layout in the message", "svi_tract", "ST,STCNTY,E_TOTPOP\n06,06037,5\n",
			"header", "ST, STATE, ST_ABBR, STCNTY, COUNTY, FIPS, E_TOTPOP, RPL_THEMES"},
		{"no county name", "svi_county", "FIPS,E_TOTPOP\n06037,5\n", "header", "county_name column (COUNTY or county_name)"},
		{"not a number", "places_county", placesHeader + good + "TX,Texas,Harris,48201,many,20.1\n",
			"TotalPopulation", `line 3, column TotalPopulation: "many" is not a number`},
		{"not whole", "places_county", placesHeader + "TX,Texas,Harris,48201,12.5,20.1\n",
			"TotalPopulation", "not a whole number"},
		{"NaN", "places_county", placesHeader + "TX,Texas,Harris,48201,1,NaN\n", "ACCESS2_CrudePrev", "not a number"},
		{"short FIPS", "places_county", placesHeader + "TX,Texas,Harris,201,1,2\n", "CountyFIPS", `line 2, column CountyFIPS: "201" is not a 5-digit county FIPS code`},
		{"not a state", "places_county", placesHeader + "XX,Nowhere,Nothing,99001,1,2\n", "CountyFIPS", "code of a US state"},
		{"empty county name", "places_county", placesHeader + "TX,Texas,,48201,1,2\n", "CountyName", "county_name is empty"},
		{"duplicate", "places_county", placesHeader + good + good, "CountyFIPS", "line 3, column CountyFIPS: county FIPS 06037 appears twice (first on line 2)"},
		{"ragged", "places_county", placesHeader + good + "TX,Texas\n", "csv", "line 3"},
		{"bad quote", "places_county", placesHeader + `TX,"Tex"as,Harris,48201,1,2` + "\n", "csv", "line 2"},
		{"rank out of range", "adi_blockgroup", "GISJOIN,FIPS,ADI_NATRANK,ADI_STATERNK\nG,060371011101,150,3\n", "ADI_NATRANK", "outside 1..100"},
		{"SVI rank out of range", "svi_county", "FIPS,COUNTY,RPL_THEMES\n06037,Los Angeles County,1.5\n", "RPL_THEMES", "outside 0..1"},
		{"empty file", "places_county", "", "header", "empty"},
		{"header only", "places_county", placesHeader, "rows", "no rows"},
		{"unknown table", "patients", placesHeader + good, "table", "use one of places_county"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := importCSV(t, db, tc.table, tc.csv)
			var ve *input.Error
			if !errors.As(err, &ve) || ve.Field != tc.field || !strings.Contains(ve.Error(), tc.want) || n != 0 {
				t.Fatalf("Import: %d, %v; want a %s error with %q", n, err, tc.field, tc.want)
			}
		})
	}
	if after := snapshot(t, db); after != before {
		t.Fatal("a refused import changed the data")
	}
}

func TestImportProgressAndReplace(t *testing.T) {
	db := newDB(t)
	if _, err := reference.LoadSample(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("GISJOIN,FIPS,ADI_NATRANK,ADI_STATERNK\n")
	const rows = 12345
	for i := range rows {
		fmt.Fprintf(&b, "G%d,%012d,%d,%d\n", i, 60370000000+int64(i), 1+i%100, 1+i%10)
	}
	var calls []int
	n, err := reference.Import(context.Background(), db, "adi_blockgroup", strings.NewReader(b.String()), "adi.csv", func(read int) { calls = append(calls, read) })
	if err != nil || n != rows {
		t.Fatalf("Import: %d, %v", n, err)
	}
	if want := []int{5000, 10000, rows}; !reflect.DeepEqual(calls, want) {
		t.Errorf("progress calls %v, want %v", calls, want)
	}
	res := query(t, db, "adi_blockgroup", reference.QueryOptions{State: "CA", Limit: 1})
	if res.TotalMatching != rows || res.Source != "import" {
		t.Fatalf("after import: %d rows, source %s", res.TotalMatching, res.Source)
	}
	// The other tables keep the sample.
	sources, _ := reference.Sources(context.Background(), db)
	for _, s := range sources {
		want := "sample"
		if s.Table == "adi_blockgroup" {
			want = "import"
		}
		if s.Source != want || (s.Table == "adi_blockgroup" && (s.FileName != "adi.csv" || s.Rows != rows)) {
			t.Errorf("source %+v", s)
		}
	}
}

// adiFile is an ADI block-group CSV of n rows, all in county 06037.
func adiFile(n int) string {
	var b strings.Builder
	b.WriteString("\"\",GISJOIN,FIPS,ADI_NATRANK,ADI_STATERNK\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,G%d,%d,%d,%d\n", i, i, 60370000000+int64(i), 1+i%100, 1+i%10)
	}
	return b.String()
}

// Importing a file twice replaces the rows: same count, no duplicates.
func TestImportFileTwice(t *testing.T) {
	db := newDB(t)
	const rows = 20_000
	file := adiFile(rows)
	for round := range 2 {
		n, err := reference.Import(context.Background(), db, "adi_blockgroup", strings.NewReader(file), "adi.csv", nil)
		if err != nil || n != rows {
			t.Fatalf("round %d: %d, %v", round, n, err)
		}
	}
	res := query(t, db, "adi_blockgroup", reference.QueryOptions{County: "06037", Limit: 1})
	if res.TotalMatching != rows || res.Rows[0]["blockgroup_fips"] != "060370000000" {
		t.Fatalf("after import: %d rows, first %v", res.TotalMatching, res.Rows)
	}
}

// A real ADI file has about 240,000 block groups; replacing them should
// take seconds at most (DELETE on a table with a primary key took 11 s).
//
//	go test -run '^$' -bench ImportADI -benchtime 3x ./mcp/reference
func BenchmarkImportADI(b *testing.B) {
	db := newDB(b)
	file := adiFile(250_000)
	for b.Loop() {
		if _, err := reference.Import(context.Background(), db, "adi_blockgroup", strings.NewReader(file), "adi.csv", nil); err != nil {
			b.Fatal(err)
		}
	}
}
