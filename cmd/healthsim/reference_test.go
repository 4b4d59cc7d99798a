package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReferenceVerbs(t *testing.T) {
	db := tempDB(t)
	if _, _, err := run(t, "reference", "status", "--db", db); !errors.Is(err, cli.ErrNoDatabase) {
		t.Fatalf("status of a missing file: %v", err)
	}
	created, err := dbx.Open(context.Background(), db) // not migrated: the command applies migrations itself
	if err != nil {
		t.Fatal(err)
	}
	created.Close()
	out := mustRun(t, "reference", "status", "--db", db)
	if strings.Count(out, "  empty   ") != 5 || !strings.Contains(out, "healthsim reference load-sample") {
		t.Fatalf("status of a fresh file:\n%s", out)
	}
	out = mustRun(t, "reference", "load-sample", "--db", db)
	if !strings.Contains(out, "places_county 13 rows") || !strings.Contains(out, "adi_blockgroup 64 rows") || !strings.Contains(out, "synthetic") {
		t.Fatalf("load-sample:\n%s", out)
	}
	out = mustRun(t, "reference", "--db", db, "status")
	if strings.Count(out, "  sample  ") != 5 || !strings.Contains(out, "sample/svi_tract.csv") {
		t.Fatalf("status after load-sample:\n%s", out)
	}

	csv := writeFile(t, "PLACES_County_2024.csv",
		"StateAbbr,StateDesc,CountyName,CountyFIPS,TotalPopulation,DIABETES_CrudePrev,DIABETES_Crude95CI\n"+
			`AL,Alabama,Autauga,1001,59285,12.9,"(11.0, 14.9)"`+"\n"+
			`AL,Alabama,Baldwin,1003,239294,10.8,"(9.1, 12.6)"`+"\n")
	out, errOut, err := run(t, "reference", "import", "places_county", csv, "--db", db)
	if err != nil || !strings.Contains(out, "imported 2 rows from "+csv+" into population.places_county") {
		t.Fatalf("import: %v\nstdout %s\nstderr %s", err, out, errOut)
	}
	if errOut != "" {
		t.Errorf("import of 2 rows wrote to stderr: %q", errOut)
	}
	out = mustRun(t, "reference", "status", "--db", db)
	if !strings.Contains(out, "places_county") || !strings.Contains(out, " import ") || !strings.Contains(out, "PLACES_County_2024.csv") {
		t.Fatalf("status after import:\n%s", out)
	}
}

func TestReferenceImportProgressLines(t *testing.T) {
	db := tempDB(t)
	var b strings.Builder
	b.WriteString("GISJOIN,FIPS,ADI_NATRANK,ADI_STATERNK\n")
	for i := range 100_000 {
		fmt.Fprintf(&b, "G,%012d,50,5\n", 60370000000+i)
	}
	csv := writeFile(t, "adi.csv", b.String())
	_, errOut, err := run(t, "reference", "import", "adi_blockgroup", csv, "--db", db)
	if err != nil || !strings.Contains(errOut, "reference: read 50000 rows\n") || !strings.Contains(errOut, "reference: read 100000 rows\n") {
		t.Fatalf("import: %v\nstderr %s", err, errOut)
	}
}

func TestReferenceRefusals(t *testing.T) {
	db := tempDB(t)
	mustRun(t, "reference", "load-sample", "--db", db)
	before := mustRun(t, "reference", "status", "--db", db)
	good := writeFile(t, "ok.csv", "CountyFIPS,CountyName\n06037,Los Angeles\n")
	badHeader := writeFile(t, "bad.csv", "StateAbbr,CountyName,TotalPopulation\nCA,Los Angeles,100\n")
	badValue := writeFile(t, "value.csv", "CountyFIPS,CountyName,TotalPopulation\n06037,Los Angeles,lots\n")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"reference"}, "reference needs a verb"},
		{[]string{"reference", "reload"}, `unknown reference verb "reload"`},
		{[]string{"reference", "import", "places_county"}, "takes 2 argument(s), got 1"},
		{[]string{"reference", "import", "patients", good}, `unknown reference table "patients"; use one of places_county, places_tract`},
	} {
		_, errOut, err := run(t, append(tc.args, "--db", db)...)
		if err != errUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("healthsim %v: err %v, stderr %q; want usage error with %q", tc.args, err, errOut, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "places_county", filepath.Join(t.TempDir(), "missing.csv")}, "cannot read"},
		{[]string{"import", "places_county", t.TempDir()}, "is a folder"},
		{[]string{"import", "places_county", db}, "is the database itself"},
		{[]string{"import", "places_county", badHeader}, "nothing was changed: header: places_county needs a county_fips column (CountyFIPS or county_fips)"},
		{[]string{"import", "places_county", badValue}, `line 2, column TotalPopulation: "lots" is not a number`},
	} {
		_, _, err := run(t, append(append([]string{"reference"}, tc.args...), "--db", db)...)
		if err == nil || err == errUsage || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("healthsim reference %v: %v; want an error with %q", tc.args, err, tc.want)
		}
	}
	if after := mustRun(t, "reference", "status", "--db", db); after != before {
		t.Fatalf("refused commands changed the tables:\n%s\n%s", before, after)
	}
}
