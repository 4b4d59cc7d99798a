// Package scripttest makes databases, scenarios, binaries and MCP servers
// for the tests of the maintenance scripts: real DuckDB files in temporary
// folders and real processes, never mocks.
package scripttest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/benchsupport/syncbuf"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/migrations"
)

// NewDB creates a migrated database file in a temporary folder and
// returns its path. Nothing keeps it open.
func NewDB(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "healthsim.duckdb")
	With(t, path, func(db *dbx.DB) {
		if _, err := migrations.Up(context.Background(), db); err != nil {
			t.Fatal(err)
		}
	})
	return path
}

// With opens the database at path, calls fn and closes it again, so that
// a script run in this process afterwards is the only one with it open.
func With(t testing.TB, path string, fn func(db *dbx.DB)) {
	t.Helper()
	db, err := dbx.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fn(db)
}

// Store calls fn with a scenario.Store on the database at path (see With).
func Store(t testing.TB, path string, fn func(s *scenario.Store)) {
	t.Helper()
	With(t, path, func(db *dbx.DB) { fn(scenario.New(db)) })
}

// Entities returns n patients, each with an encounter and a claim; prefix
// makes their ids distinct. The values exercise JSON that must survive
// byte for byte: non-ASCII text, HTML characters, nested objects, numbers.
func Entities(prefix string, n int) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for i := range n {
		p := fmt.Sprintf("%s-p%d", prefix, i)
		out["patients"] = append(out["patients"], map[string]any{
			"id": p, "mrn": fmt.Sprintf("MRN%05d", i), "given_name": "Zoë", "family_name": "O'Brien <&>",
			"birth_date": fmt.Sprintf("19%02d-%02d-%02d", 40+i%50, 1+i%12, 1+i%28), "gender": "F",
			"address": map[string]any{"city": "Zürich", "lines": []any{"1 Main St", "Apt \"2\""}},
		})
		out["encounters"] = append(out["encounters"], map[string]any{
			"encounter_id": p + "-e", "patient_mrn": fmt.Sprintf("MRN%05d", i), "class_code": "AMB",
			"admission_time": "2024-03-01T10:00:00", "note": "line one\nline two\ttabbed",
		})
		out["claims"] = append(out["claims"], map[string]any{
			"claim_id": p + "-c", "member_id": p, "total_charge": 123.45 + float64(i),
			"other_diagnoses": []any{"E11.9", "I10"}, "service_date": "2024-03-01",
		})
	}
	return out
}

// Save saves a scenario called name with n patients (see Entities) and tags.
func Save(t testing.TB, s *scenario.Store, name string, n int, tags ...string) scenario.SaveResult {
	t.Helper()
	res, err := s.Save(context.Background(), scenario.SaveRequest{Name: name, Description: "about " + name,
		Tags: tags, Entities: Entities(strings.ReplaceAll(name, " ", "_"), n)})
	if err != nil {
		t.Fatalf("save %q: %v", name, err)
	}
	return res
}

// PrettyRecord is a scenario whose entity JSON is not what encoding/json
// writes: indented, with line breaks and spaces, escaped characters and
// numbers as written. Import it (scenario.Store.Import) to test that
// entity_data survives byte for byte.
func PrettyRecord(name string) *scenario.Record {
	at := time.Date(2023, 5, 6, 7, 8, 9, 123456000, time.UTC)
	return &scenario.Record{ID: "pretty-" + strings.ReplaceAll(name, " ", "-"), Name: name, Description: "pretty, \"quoted\"\nand two lines",
		Tags: []string{"pretty", "zeta"}, CreatedAt: at, UpdatedAt: at.Add(time.Hour),
		Entities: []scenario.EntityRecord{
			{Type: "patients", ID: "pp1", Data: json.RawMessage("{\n  \"id\": \"pp1\",\n  \"given_name\": \"\\u00c9lodie\",\n  \"weight\": 1.50,\n  \"big\": 1e2\n}")},
			{Type: "patients", ID: "pp2", Data: json.RawMessage(`{"id" : "pp2", "note": "<b>&amp;</b>", "nested": {"a": [1, 2.0, true, null]}}`)},
			{Type: "lab_results", ID: "lab1", Data: json.RawMessage(`{"id":"lab1","value":"7.2","unit":"%"}`)},
		}}
}

// Snapshot returns every scenario of the database at path, by name, with
// its entities as Export reads them.
func Snapshot(t testing.TB, path string) map[string]*scenario.Record {
	t.Helper()
	out := map[string]*scenario.Record{}
	Store(t, path, func(s *scenario.Store) {
		ctx := context.Background()
		list, err := s.Find(ctx, scenario.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list {
			rec, err := s.Export(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			out[rec.Name] = rec
		}
	})
	return out
}

// Counts returns the row count of every scenario table.
func Counts(t testing.TB, path string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	With(t, path, func(db *dbx.DB) {
		for _, table := range append([]string{"scenarios", "scenario_tags", "scenario_entities"}, scenario.EntityTypes()...) {
			var n int
			if err := db.Read().Get(&n, "SELECT count(*) FROM "+table); err != nil {
				t.Fatal(err)
			}
			counts[table] = n
		}
	})
	return counts
}

// Run runs a script's run function in this process and returns its
// stdout, stderr and error.
func Run(t testing.TB, run cli.RunFunc, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr syncbuf.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// MustRun is Run that fails the test on an error.
func MustRun(t testing.TB, run cli.RunFunc, args ...string) string {
	t.Helper()
	out, errOut, err := Run(t, run, args...)
	if err != nil {
		t.Fatalf("run %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, out, errOut)
	}
	return out
}

var builds sync.Map // import path -> *build

type build struct {
	once sync.Once
	bin  string
	err  error
}

// Build builds the main package pkg (an import path of this module) once
// per test process and returns the binary's path. Binaries go to one
// folder under the system's temporary folder, each under its package's
// name, replaced atomically by every build: test processes running at the
// same time may share them, and they take the same room however many times
// the tests run.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &build{})
	b := v.(*build)
	b.once.Do(func() {
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("healthsim-scripttest-%d", os.Getuid()))
		if b.err = os.MkdirAll(dir, 0o755); b.err != nil {
			return
		}
		b.bin = filepath.Join(dir, filepath.Base(pkg))
		tmp := fmt.Sprintf("%s.%d.tmp", b.bin, os.Getpid())
		out, err := exec.Command("go", "build", "-o", tmp, pkg).CombinedOutput()
		if err != nil {
			os.Remove(tmp)
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
			return
		}
		b.err = os.Rename(tmp, b.bin)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}
