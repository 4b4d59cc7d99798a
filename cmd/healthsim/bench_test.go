package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/benchsupport/benchfile"
	"github.com/healthsim/healthsim-go/internal/benchsupport/latency"
	"github.com/healthsim/healthsim-go/internal/benchsupport/syncbuf"
	"github.com/healthsim/healthsim-go/mcp"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/mcp/sqlgate"
	"github.com/healthsim/healthsim-go/migrations"
	"github.com/jmoiron/sqlx"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// The benchmarks below measure the MCP server as clients see it: the
// built binary (healthsim serve) over stdio, driven by the official Go SDK
// client, or by the TypeScript SDK client (testdata/e2e-ts/bench.mjs), on a
// generated HealthSim database of about 1.1 GB and on a small one.
// BenchmarkReadToolPath breaks one healthsim_query call down in this
// process, for profiling (-cpuprofile).

// Benchmark databases. benchLayout names the generated data: change it when
// the generator changes, so cached files are rebuilt.
const (
	benchLayout = "v3"
	largeMB     = 1100
	smallMB     = 10
)

// Entities per generated scenario, saved in their canonical tables and in
// scenario_entities, as healthsim_save_scenario stores them: 10 patients,
// two encounters and two diagnoses per patient, one claim per patient.
const patientsPerScenario = 10

// benchDB is a generated HealthSim database.
type benchDB struct {
	path      string
	scenarios int // scenarios bench-00000000 to bench-<scenarios-1>
}

// scenarioName returns the name of an existing scenario.
func (d benchDB) scenarioName() string { return fmt.Sprintf("bench-%08d", d.scenarios/2) }

// pointQuery is a read benchmark's query, by name, for a generated database.
type pointQuery struct {
	name string
	sql  func(benchDB) string
}

// pointQueries are the point queries the read benchmarks run, by name.
//
// patient is every column of one patient by id. patients has no index on
// id (the schema has none), so DuckDB scans the id column of one row group
// and decodes a whole vector of each column, the FSST-compressed ones
// (addresses, phone numbers) slowly.
//
// pk is every column of one scenario by id, an index lookup on the
// scenarios id index (migration 00006; scenarios has had no primary key
// since 00005), and so much cheaper. BenchmarkRawPoolPointQuery times
// both on a kept-open raw pool; docs/benchmarks.md has its runs.
var pointQueries = []pointQuery{
	{"patient", func(d benchDB) string {
		return fmt.Sprintf("SELECT * FROM patients WHERE id = 'P%09d'", d.scenarios*patientsPerScenario/2)
	}},
	{"pk", func(d benchDB) string {
		return fmt.Sprintf("SELECT * FROM scenarios WHERE id = 'scn-%08d'", d.scenarios/2)
	}},
}

// distinctPK is the pk query with a new id on every call (bench.mjs turns
// {n8} into scenarios 0 to 99,999 in turn): a new text each time, as a
// model sends, so the gate parses every call.
const distinctPK = "SELECT * FROM scenarios WHERE id = 'scn-{n8}'"

var benchDBs struct {
	sync.Mutex
	dbs map[int]benchDB
}

// benchDir is where generated databases and the built binary are kept
// between runs: $HEALTHSIM_BENCH_DIR, default os.TempDir()/healthsim-bench.
func benchDir() (string, error) {
	dir := os.Getenv("HEALTHSIM_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "healthsim-bench")
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// benchDatabase returns a migrated HealthSim database of about sizeMB
// megabytes, building it on first use (about 40 s for 1.1 GB). Only
// benchmarks call it. The file name holds benchLayout and the latest
// migration, so a layout or schema change builds a new file. Benchmarks
// that write use a copy (copyDatabase).
func benchDatabase(b *testing.B, sizeMB int) benchDB {
	b.Helper()
	benchDBs.Lock()
	defer benchDBs.Unlock()
	if d, ok := benchDBs.dbs[sizeMB]; ok {
		return d
	}
	dir, err := benchDir()
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("healthsim-%s-m%d-%dmb.duckdb", benchLayout, migrations.Latest(), sizeMB))
	if _, err := os.Stat(path); err == nil {
		b.Logf("using %s (%d bytes), built earlier", path, fileSize(path))
	} else {
		start := time.Now()
		buildBenchDatabase(b, path, int64(sizeMB)*1e6)
		b.Logf("built %s (%d bytes) in %v", path, fileSize(path), time.Since(start).Round(time.Millisecond))
	}
	d := benchDB{path: path, scenarios: countScenarios(b, path)}
	if benchDBs.dbs == nil {
		benchDBs.dbs = map[int]benchDB{}
	}
	benchDBs.dbs[sizeMB] = d
	return d
}

// countScenarios counts the generated scenarios with a plain read-only
// duckdb-go pool, closed before any server opens the file.
func countScenarios(b *testing.B, path string) int {
	pool, err := sql.Open("duckdb", path+"?access_mode=READ_ONLY")
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow("SELECT count(*) FROM scenarios WHERE name LIKE 'bench-%'").Scan(&n); err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	return n
}

// buildBenchDatabase migrates a new file with the real migrations and
// fills it with generated scenarios, up to 40,000 a window, until it
// holds at least 97% of target bytes (see benchfile.Build).
func buildBenchDatabase(b *testing.B, path string, target int64) {
	ctx := context.Background()
	setup := func(db *dbx.DB) error {
		_, err := migrations.Up(ctx, db)
		return err
	}
	fill := func(tx *sqlx.Tx, next, n int64) error {
		for _, stmt := range generators {
			if _, err := tx.ExecContext(ctx, stmt, next, next+n); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	}
	// Indexes and JSON make the bytes per scenario hard to guess.
	if err := benchfile.Build(ctx, path, target, benchfile.Batches{Min: 50, Max: 40_000, BytesPerUnit: 16_000}, setup, fill); err != nil {
		b.Fatal(err)
	}
}

// generators fill scenarios $1 to $2-1 (bench-00000000, ...): the
// scenarios rows and tags, patients, encounters, diagnoses and claims, and
// each of those entities as JSON in scenario_entities. Values are hashes of
// the row number, so the data compresses like real data rather than to
// nothing, and is the same on every build.
var generators = []string{
	// seq comes from its sequence; tags and entity_counts are what the
	// statements below write for each scenario.
	`INSERT INTO scenarios (id, name, description, created_at, updated_at, tags, entity_counts)
	SELECT 'scn-' || lpad(s::VARCHAR, 8, '0'), 'bench-' || lpad(s::VARCHAR, 8, '0'),
		'Generated benchmark scenario ' || s || ' (' || md5(s::VARCHAR) || ')',
		TIMESTAMP '2024-01-01' + to_seconds(s), TIMESTAMP '2024-01-01' + to_seconds(s),
		to_json(list_sort(['bench', ['diabetes', 'cardiology', 'oncology', 'pediatrics', 'claims'][1 + (s % 5)::INT]]))::VARCHAR,
		'{"claims":10,"diagnoses":20,"encounters":20,"patients":10}'
	FROM range($1::BIGINT, $2::BIGINT) r(s)`,

	`INSERT INTO scenario_tags (scenario_id, tag)
	SELECT 'scn-' || lpad(s::VARCHAR, 8, '0'), unnest(['bench', ['diabetes', 'cardiology', 'oncology', 'pediatrics', 'claims'][1 + (s % 5)::INT]])
	FROM range($1::BIGINT, $2::BIGINT) r(s)`,

	`INSERT INTO patients (id, mrn, ssn, given_name, family_name, birth_date, gender, race, ethnicity, language,
		street_address, city, state, postal_code, country, phone, email, deceased,
		scenario_id, source_type, source_system, skill_used, generation_seed)
	SELECT 'P' || lpad(i::VARCHAR, 9, '0'), 'MRN-' || lpad(i::VARCHAR, 9, '0'),
		lpad((hash(i) % 1000000000)::VARCHAR, 9, '0'),
		['Ana', 'Ben', 'Chen', 'Dara', 'Eli', 'Fatima', 'Gus', 'Hana', 'Ivan', 'Jo', 'Kai', 'Lena', 'Mo', 'Nia', 'Omar', 'Pia', 'Raj', 'Sara', 'Tom', 'Uma'][1 + (hash(i + 1) % 20)::INT],
		['Garcia', 'Smith', 'Nguyen', 'Johnson', 'Okafor', 'Kim', 'Patel', 'Brown', 'Lopez', 'Müller', 'Rossi', 'Cohen'][1 + (hash(i + 2) % 12)::INT],
		DATE '1930-01-01' + (hash(i + 3) % 32000)::INT,
		['female', 'male', 'other', 'unknown'][1 + (hash(i + 4) % 4)::INT],
		['white', 'black', 'asian', 'native', 'pacific', 'other'][1 + (hash(i + 5) % 6)::INT],
		['hispanic', 'non-hispanic'][1 + (hash(i + 6) % 2)::INT],
		['en', 'es', 'zh', 'vi', 'fr'][1 + (hash(i + 7) % 5)::INT],
		(100 + hash(i + 8) % 9900)::VARCHAR || ' ' || ['Oak', 'Maple', 'Pine', 'Cedar', 'Elm', 'Main', 'Park', 'Lake', 'Hill', 'River'][1 + (hash(i + 9) % 10)::INT] || ' St',
		['Springfield', 'Riverside', 'Fairview', 'Madison', 'Georgetown', 'Clinton', 'Salem', 'Franklin'][1 + (hash(i + 10) % 8)::INT],
		['CA', 'TX', 'NY', 'FL', 'IL', 'PA', 'OH', 'GA', 'NC', 'MI'][1 + (hash(i + 11) % 10)::INT],
		lpad((hash(i + 12) % 100000)::VARCHAR, 5, '0'), 'US',
		'555-' || lpad((hash(i + 13) % 10000000)::VARCHAR, 7, '0'),
		md5(i::VARCHAR)[1:12] || '@example.org',
		hash(i + 14) % 50 = 0,
		'scn-' || lpad((i // 10)::VARCHAR, 8, '0'), 'generated', 'healthsim-bench', 'patient-generator', i
	FROM range($1::BIGINT * 10, $2::BIGINT * 10) r(i)`,

	`INSERT INTO encounters (encounter_id, patient_mrn, class_code, status, admission_time, discharge_time, facility,
		department, chief_complaint, admitting_diagnosis, discharge_disposition, attending_physician,
		scenario_id, source_type, source_system, skill_used, generation_seed)
	SELECT 'ENC-' || lpad(j::VARCHAR, 10, '0'), 'MRN-' || lpad((j // 2)::VARCHAR, 9, '0'),
		['AMB', 'EMER', 'IMP', 'OBSENC'][1 + (hash(j) % 4)::INT], 'finished',
		TIMESTAMP '2020-01-01' + to_minutes((hash(j + 1) % 2500000)::BIGINT),
		TIMESTAMP '2020-01-01' + to_minutes((hash(j + 1) % 2500000 + 30 + hash(j + 2) % 7200)::BIGINT),
		['General Hospital', 'St. Mary Medical Center', 'Community Clinic', 'University Hospital'][1 + (hash(j + 3) % 4)::INT],
		['Emergency', 'Cardiology', 'Internal Medicine', 'Pediatrics', 'Oncology', 'Orthopedics'][1 + (hash(j + 4) % 6)::INT],
		['chest pain', 'shortness of breath', 'fever', 'abdominal pain', 'headache', 'follow-up visit', 'fall'][1 + (hash(j + 5) % 7)::INT] || ' (' || md5(j::VARCHAR)[1:8] || ')',
		chr(65 + (hash(j + 6) % 26)::INT) || lpad((hash(j + 7) % 100)::VARCHAR, 2, '0') || '.' || (hash(j + 8) % 10)::VARCHAR,
		['home', 'skilled nursing', 'rehab', 'transfer', 'expired'][1 + (hash(j + 9) % 5)::INT],
		'Dr. ' || ['Adams', 'Baker', 'Clark', 'Diaz', 'Evans', 'Flores', 'Green', 'Hughes'][1 + (hash(j + 10) % 8)::INT],
		'scn-' || lpad((j // 20)::VARCHAR, 8, '0'), 'generated', 'healthsim-bench', 'encounter-generator', j
	FROM range($1::BIGINT * 20, $2::BIGINT * 20) r(j)`,

	`INSERT INTO diagnoses (id, code, description, type, patient_mrn, encounter_id, diagnosed_date, resolved_date,
		scenario_id, source_type, source_system, skill_used, generation_seed)
	SELECT 'DX-' || lpad(j::VARCHAR, 10, '0'),
		chr(65 + (hash(j + 20) % 26)::INT) || lpad((hash(j + 21) % 100)::VARCHAR, 2, '0') || '.' || (hash(j + 22) % 10)::VARCHAR,
		['Type 2 diabetes mellitus', 'Essential hypertension', 'Asthma', 'Hyperlipidemia', 'Major depressive disorder', 'Chronic kidney disease', 'Atrial fibrillation', 'Osteoarthritis'][1 + (hash(j + 23) % 8)::INT],
		['principal', 'secondary', 'admitting'][1 + (hash(j + 24) % 3)::INT],
		'MRN-' || lpad((j // 2)::VARCHAR, 9, '0'), 'ENC-' || lpad(j::VARCHAR, 10, '0'),
		DATE '2020-01-01' + (hash(j + 25) % 1800)::INT,
		CASE WHEN hash(j + 26) % 3 = 0 THEN DATE '2020-01-01' + (1800 + hash(j + 27) % 365)::INT END,
		'scn-' || lpad((j // 20)::VARCHAR, 8, '0'), 'generated', 'healthsim-bench', 'diagnosis-generator', j
	FROM range($1::BIGINT * 20, $2::BIGINT * 20) r(j)`,

	`INSERT INTO claims (claim_id, claim_type, member_id, subscriber_id, provider_npi, facility_npi, service_date,
		place_of_service, principal_diagnosis, other_diagnoses, total_charge, total_allowed, total_paid, member_responsibility,
		scenario_id, source_type, source_system, skill_used, generation_seed)
	SELECT 'CLM-' || lpad(i::VARCHAR, 9, '0'), ['professional', 'institutional', 'dental'][1 + (hash(i + 30) % 3)::INT],
		'MEM-' || lpad(i::VARCHAR, 9, '0'), 'SUB-' || lpad((i // 3)::VARCHAR, 9, '0'),
		'1' || lpad((hash(i + 31) % 1000000000)::VARCHAR, 9, '0'), '1' || lpad((hash(i + 32) % 1000000000)::VARCHAR, 9, '0'),
		DATE '2021-01-01' + (hash(i + 33) % 1400)::INT, ['11', '21', '22', '23'][1 + (hash(i + 34) % 4)::INT],
		chr(65 + (hash(i + 35) % 26)::INT) || lpad((hash(i + 36) % 100)::VARCHAR, 2, '0'),
		to_json([chr(65 + (hash(i + 37) % 26)::INT) || lpad((hash(i + 38) % 100)::VARCHAR, 2, '0'), chr(65 + (hash(i + 39) % 26)::INT) || '10']),
		(hash(i + 40) % 1000000) / 100, (hash(i + 40) % 1000000) / 150, (hash(i + 40) % 1000000) / 200, (hash(i + 41) % 10000) / 100,
		'scn-' || lpad((i // 10)::VARCHAR, 8, '0'), 'generated', 'healthsim-bench', 'claims-generator', i
	FROM range($1::BIGINT * 10, $2::BIGINT * 10) r(i)`,

	// Each entity as saved: its row as JSON, without the provenance columns
	// (a merge patch with null removes a key), a scenario's entities
	// together, as a save writes them.
	`INSERT INTO scenario_entities (scenario_id, scenario_seq, entity_type, entity_id, entity_data)
	SELECT * FROM (` + entitiesFrom("patients", "id") + ` UNION ALL ` + entitiesFrom("encounters", "encounter_id") +
		` UNION ALL ` + entitiesFrom("diagnoses", "id") + ` UNION ALL ` + entitiesFrom("claims", "claim_id") + `)
	ORDER BY scenario_seq, entity_type`,
}

// entitiesFrom selects, as scenario_entities rows, the rows of table of
// the scenarios being generated (ids are zero-padded, so the range filter
// reads only the new rows).
func entitiesFrom(table, idColumn string) string {
	return fmt.Sprintf(`SELECT e.scenario_id, s.seq AS scenario_seq, '%[1]s' AS entity_type, e.%[2]s AS entity_id,
		json_merge_patch(to_json(e), '{"scenario_id": null, "source_type": null, "source_system": null, "skill_used": null, "generation_seed": null, "created_at": null}') AS entity_data
	FROM %[1]s e JOIN scenarios s ON s.id = e.scenario_id
	WHERE e.scenario_id >= 'scn-' || lpad($1::BIGINT::VARCHAR, 8, '0') AND e.scenario_id < 'scn-' || lpad($2::BIGINT::VARCHAR, 8, '0')`, table, idColumn)
}

// copyDatabase copies d into a temporary folder, for benchmarks that write.
func copyDatabase(b *testing.B, d benchDB) benchDB {
	dst := filepath.Join(b.TempDir(), filepath.Base(d.path))
	if err := copyFile(d.path, dst, 0o644); err != nil {
		b.Fatal(err)
	}
	d.path = dst
	return d
}

// benchBinary builds cmd/healthsim once per run into the bench folder
// (builtBinary in main_test.go does the same for tests, with a *testing.T),
// and runs a copy of it, as an installed binary is held in memory: Linux
// keeps a file the linker just wrote in large page-cache folios and maps
// each one whole on first touch, which adds about 6 MB to the RSS of every
// process running it until the file is read back from disk.
var benchBinary = sync.OnceValues(func() (string, error) {
	dir, err := benchDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "bin", "healthsim")
	linked := bin + ".linked"
	if out, err := exec.Command("go", "build", "-o", linked, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, copyFile(linked, bin, 0o755)
})

// copyFile copies the file src to dst, created with perm.
func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func serverBinary(b *testing.B) string {
	bin, err := benchBinary()
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

// keptOpenBinary builds testdata/keptopen once per run: the reference
// server of BenchmarkReadToolCallTS.
var keptOpenBinary = sync.OnceValues(func() (string, error) {
	dir, err := benchDir()
	if err != nil {
		return "", err
	}
	return buildKeptOpen(filepath.Join(dir, "bin"))
})

// buildKeptOpen builds testdata/keptopen into dir, or returns
// $HEALTHSIM_TEST_KEPTOPEN: one built beforehand where the tests cannot
// run `go build` (the Windows tests under Wine, .ci/wine).
func buildKeptOpen(dir string) (string, error) {
	if bin := os.Getenv("HEALTHSIM_TEST_KEPTOPEN"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(dir, "keptopen")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/keptopen").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// TestKeptOpenAnswers: the benchmarks' reference server really runs the
// query and returns its rows in healthsim_query's shape, so that its
// times are those of a working server.
func TestKeptOpenAnswers(t *testing.T) {
	bin, err := buildKeptOpen(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "k.duckdb")
	pool, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(`CREATE TABLE t AS SELECT i AS id, 'row ' || i AS label FROM range(1000) r(i)`); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	client := sdk.NewClient(&sdk.Implementation{Name: "keptopen-test", Version: "1"}, nil)
	cmd := exec.Command(bin, "serve", "--db", path)
	session, err := client.Connect(context.Background(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	res, err := session.CallTool(context.Background(), &sdk.CallToolParams{Name: "healthsim_query",
		Arguments: map[string]any{"sql": "SELECT label FROM t WHERE id = 742"}})
	if err != nil || res.IsError {
		t.Fatalf("healthsim_query: %v %+v", err, res)
	}
	got, _ := json.Marshal(res.StructuredContent)
	if want := `{"columns":["label"],"row_count":1,"rows":[["row 742"]]}`; string(got) != want {
		t.Fatalf("structured content %s, want %s", got, want)
	}
}

// startServer runs `healthsim serve --db path` and connects the Go SDK
// client to it over stdio. The server stops when the benchmark ends.
func startServer(b *testing.B, path string) *sdk.ClientSession {
	b.Helper()
	session, _ := startServerCmd(b, path)
	return session
}

// startServerCmd is startServer with more serve flags, returning the
// server's process too.
func startServerCmd(b *testing.B, path string, args ...string) (*sdk.ClientSession, *exec.Cmd) {
	b.Helper()
	cmd := exec.Command(serverBinary(b), append([]string{"serve", "--db", path, "--log-level", "warn"}, args...)...)
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	client := sdk.NewClient(&sdk.Implementation{Name: "healthsim-bench", Version: "1"}, nil)
	session, err := client.Connect(context.Background(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		b.Fatalf("start %v: %v\n%s", cmd.Args, err, stderr)
	}
	b.Cleanup(func() {
		if err := session.Close(); err != nil {
			b.Logf("stop server: %v", err)
		}
		if s := stderr.String(); s != "" {
			b.Logf("server stderr:\n%s", s)
		}
	})
	return session, cmd
}

// callTool calls a tool and turns an isError result into an error.
func callTool(ctx context.Context, s *sdk.ClientSession, name string, args map[string]any) (*sdk.CallToolResult, error) {
	res, err := s.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if res.IsError {
		var text string
		if len(res.Content) > 0 {
			if tc, ok := res.Content[0].(*sdk.TextContent); ok {
				text = tc.Text
			}
		}
		return nil, fmt.Errorf("%s: isError: %s", name, text)
	}
	return res, nil
}

// rowCount reads row_count from a healthsim_query result.
func rowCount(res *sdk.CallToolResult) int {
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return -1
	}
	var out struct {
		RowCount int `json:"row_count"`
	}
	if json.Unmarshal(raw, &out) != nil {
		return -1
	}
	return out.RowCount
}

// warmUp is how many calls run before timing starts.
const warmUp = 50

// timeCalls runs call warmUp times, then once per iteration, and returns
// each iteration's duration.
func timeCalls(b *testing.B, call func(i int) error) []time.Duration {
	b.Helper()
	for i := range warmUp {
		if err := call(-1 - i); err != nil {
			b.Fatal(err)
		}
	}
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := call(len(times)); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	return times
}

// reportLatency reports the p50 and p99 of times in microseconds, and the
// calls per second of the timed loop.
func reportLatency(b *testing.B, times []time.Duration) {
	b.ReportMetric(micros(latency.Percentile(times, 50)), "p50-µs")
	b.ReportMetric(micros(latency.Percentile(times, 99)), "p99-µs")
	b.ReportMetric(float64(len(times))/b.Elapsed().Seconds(), "calls/s")
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// queryCall returns a function that calls healthsim_query with query,
// after checking once that it returns one row.
func queryCall(b *testing.B, s *sdk.ClientSession, query string) func() error {
	ctx := context.Background()
	args := map[string]any{"sql": query}
	res, err := callTool(ctx, s, "healthsim_query", args)
	if err != nil {
		b.Fatal(err)
	}
	if n := rowCount(res); n != 1 {
		b.Fatalf("%s returned %d rows, want 1", query, n)
	}
	return func() error {
		_, err := callTool(ctx, s, "healthsim_query", args)
		return err
	}
}

// BenchmarkReadToolCallStdio times read tool calls through the binary over
// stdio with the Go SDK client: the point queries through healthsim_query,
// healthsim_load_scenario with include_entities=false, and
// healthsim_get_summary with its default samples. ping is an MCP
// ping, which touches no database: the cost of the round trip alone.
func BenchmarkReadToolCallStdio(b *testing.B) {
	b.Run("ping", func(b *testing.B) {
		s := startServer(b, benchDatabase(b, smallMB).path)
		reportLatency(b, timeCalls(b, func(int) error { return s.Ping(context.Background(), nil) }))
	})
	sizes := []int{largeMB, smallMB}
	for _, q := range pointQueries {
		for _, size := range sizes {
			b.Run(fmt.Sprintf("query-%s/%dMB", q.name, size), func(b *testing.B) {
				d := benchDatabase(b, size)
				call := queryCall(b, startServer(b, d.path), q.sql(d))
				reportLatency(b, timeCalls(b, func(int) error { return call() }))
			})
		}
	}
	for _, size := range sizes {
		for _, c := range []struct{ name, tool, arg string }{
			{"load_scenario", "healthsim_load_scenario", "name_or_id"},
			{"get_summary", "healthsim_get_summary", "scenario_id_or_name"},
		} {
			b.Run(fmt.Sprintf("%s/%dMB", c.name, size), func(b *testing.B) {
				d := benchDatabase(b, size)
				s := startServer(b, d.path)
				args := map[string]any{c.arg: d.scenarioName()}
				if c.name == "load_scenario" {
					args["include_entities"] = false
				}
				reportLatency(b, timeCalls(b, func(int) error {
					_, err := callTool(context.Background(), s, c.tool, args)
					return err
				}))
			})
		}
	}
}

// openRawPool opens a kept-open plain duckdb-go read-only pool on path.
func openRawPool(b *testing.B, path string) *sql.DB {
	pool, err := sql.Open("duckdb", path+"?access_mode=READ_ONLY")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pool.Close() })
	return pool
}

// rawQuery runs query on pool and scans every value of its one row, as the
// server does.
func rawQuery(ctx context.Context, pool *sql.DB, query string) error {
	rows, err := pool.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%s: %d rows, want 1", query, n)
	}
	return nil
}

// BenchmarkRawPoolPointQuery runs the point queries on a kept-open plain
// duckdb-go read-only pool: the floor for BenchmarkReadToolCallStdio.
func BenchmarkRawPoolPointQuery(b *testing.B) {
	for _, q := range pointQueries {
		for _, size := range []int{largeMB, smallMB} {
			b.Run(fmt.Sprintf("%s/%dMB", q.name, size), func(b *testing.B) {
				d := benchDatabase(b, size)
				pool := openRawPool(b, d.path)
				ctx := context.Background()
				query := q.sql(d)
				reportLatency(b, timeCalls(b, func(int) error { return rawQuery(ctx, pool, query) }))
			})
		}
	}
}

// BenchmarkReadToolOverhead alternates a point query through the server
// (stdio, Go SDK client) and on a raw pool in this process, same file, so
// that both see the same machine load, and reports the difference of the
// p50s. The server starts first: it may migrate the file, which needs the
// write lock.
func BenchmarkReadToolOverhead(b *testing.B) {
	for _, q := range pointQueries {
		b.Run(fmt.Sprintf("%s/%dMB", q.name, largeMB), func(b *testing.B) {
			d := benchDatabase(b, largeMB)
			query := q.sql(d)
			server := queryCall(b, startServer(b, d.path), query)
			pool := openRawPool(b, d.path)
			ctx := context.Background()
			stdio, direct := alternate(b, server, func() error { return rawQuery(ctx, pool, query) })
			b.ReportMetric(micros(latency.Percentile(stdio, 50)), "stdio-p50-µs")
			b.ReportMetric(micros(latency.Percentile(direct, 50)), "raw-p50-µs")
			b.ReportMetric(micros(latency.Percentile(stdio, 50)-latency.Percentile(direct, 50)), "diff-p50-µs")
			b.ReportMetric(micros(latency.Percentile(stdio, 99)), "stdio-p99-µs")
			b.ReportMetric(micros(latency.Percentile(direct, 99)), "raw-p99-µs")
		})
	}
}

// alternate runs a and c warmUp times each, then each once per iteration,
// alternating which goes first so that neither always runs second, and
// returns the durations of each.
func alternate(b *testing.B, a, c func() error) (aTimes, cTimes []time.Duration) {
	b.Helper()
	for range warmUp {
		if err := errors.Join(a(), c()); err != nil {
			b.Fatal(err)
		}
	}
	timed := func(f func() error, into *[]time.Duration) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*into = append(*into, time.Since(start))
	}
	for b.Loop() {
		if len(aTimes)%2 == 0 {
			timed(a, &aTimes)
			timed(c, &cTimes)
		} else {
			timed(c, &cTimes)
			timed(a, &aTimes)
		}
	}
	return aTimes, cTimes
}

// saveArgs returns the arguments of a 20-entity healthsim_save_scenario:
// 5 patients, 10 encounters and 5 diagnoses.
func saveArgs(name string) map[string]any {
	var patients, encounters, diagnoses []map[string]any
	for p := range 5 {
		mrn := fmt.Sprintf("%s-MRN-%d", name, p)
		patients = append(patients, map[string]any{
			"id": fmt.Sprintf("%s-P%d", name, p), "mrn": mrn, "given_name": "Ana", "family_name": "Garcia",
			"birth_date": "1961-04-12", "gender": "female", "city": "Springfield", "state": "IL",
		})
		for e := range 2 {
			encounters = append(encounters, map[string]any{
				"encounter_id": fmt.Sprintf("%s-E%d-%d", name, p, e), "patient_mrn": mrn, "class_code": "AMB",
				"status": "finished", "admission_time": "2024-03-01T09:30:00", "discharge_time": "2024-03-01T10:15:00",
				"facility": "Community Clinic", "chief_complaint": "follow-up visit",
			})
		}
		diagnoses = append(diagnoses, map[string]any{
			"id": fmt.Sprintf("%s-D%d", name, p), "code": "E11.9", "description": "Type 2 diabetes mellitus",
			"type": "principal", "patient_mrn": mrn, "diagnosed_date": "2024-03-01",
		})
	}
	return map[string]any{
		"name":        name,
		"description": "benchmark save of 20 entities",
		"tags":        []string{"bench"},
		"entities":    map[string]any{"patients": patients, "encounters": encounters, "diagnoses": diagnoses},
	}
}

// BenchmarkSaveScenario20 times healthsim_save_scenario of 20 entities over
// stdio, each call a new scenario, on a copy of the generated database:
// burst calls back to back (the write side lingers between saves and opens
// the file once); spaced leaves 100 ms between calls, untimed, so the
// write side has let go and checkpointed, and every save opens the file.
func BenchmarkSaveScenario20(b *testing.B) {
	for _, size := range []int{largeMB, smallMB} {
		for _, gap := range []time.Duration{0, 100 * time.Millisecond} {
			name := fmt.Sprintf("%dMB/burst", size)
			if gap > 0 {
				name = fmt.Sprintf("%dMB/spaced", size)
			}
			b.Run(name, func(b *testing.B) {
				d := copyDatabase(b, benchDatabase(b, size))
				s := startServer(b, d.path)
				ctx := context.Background()
				var times []time.Duration
				for i := 0; i < warmUp+b.N; i++ {
					time.Sleep(gap)
					start := time.Now()
					if _, err := callTool(ctx, s, "healthsim_save_scenario", saveArgs(fmt.Sprintf("save-%d", i))); err != nil {
						b.Fatal(err)
					}
					if i >= warmUp {
						times = append(times, time.Since(start))
					}
				}
				b.ReportMetric(float64(latency.Percentile(times, 50).Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(latency.Percentile(times, 99).Microseconds())/1000, "p99-ms")
			})
		}
	}
}

// e2eTSDir holds the TypeScript SDK harness (package.json, bench.mjs).
const e2eTSDir = "testdata/e2e-ts"

// BenchmarkReadToolCallTS runs testdata/e2e-ts/bench.mjs, the harness of
// the project's first measurements: the TypeScript SDK client over stdio, one client,
// sequential healthsim_query calls with a point query. bench.mjs times b.N
// calls itself; the reported ns/op is its mean call time, without the
// start of node and the server. Each query runs against healthsim serve
// and, under keptopen/, against testdata/keptopen: the same call on a
// kept-open pool with none of healthsim's safety, as the Go DuckDB MCP
// servers users pick today answer it, measured in the same run.
func BenchmarkReadToolCallTS(b *testing.B) {
	node, err := exec.LookPath("node")
	if err != nil {
		b.Fatal("BenchmarkReadToolCallTS needs Node.js (node on PATH)")
	}
	if _, err := os.Stat(filepath.Join(e2eTSDir, "package.json")); err != nil {
		b.Fatalf("BenchmarkReadToolCallTS needs %s/package.json: %v", e2eTSDir, err)
	}
	if _, err := os.Stat(filepath.Join(e2eTSDir, "node_modules", "@modelcontextprotocol", "sdk")); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = e2eTSDir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("npm ci in %s: %v\n%s", e2eTSDir, err, out)
		}
	}
	queries := append(slices.Clone(pointQueries), pointQuery{"pk-distinct", func(benchDB) string { return distinctPK }})
	// Each query and size runs on both servers one after the other, so
	// that the two see about the same machine load.
	for _, q := range queries {
		for _, size := range []int{largeMB, smallMB} {
			for _, server := range []struct {
				prefix string
				binary func() (string, error)
			}{{"", benchBinary}, {"keptopen/", keptOpenBinary}} {
				b.Run(fmt.Sprintf("%s%s/%dMB", server.prefix, q.name, size), func(b *testing.B) {
					bin, err := server.binary()
					if err != nil {
						b.Fatal(err)
					}
					benchTS(b, node, bin, benchDatabase(b, size), q)
				})
			}
		}
	}
}

// benchTS runs bench.mjs against the server binary bin and reports its
// figures.
func benchTS(b *testing.B, node, bin string, d benchDB, q pointQuery) {
	cmd := exec.Command(node, filepath.Join(e2eTSDir, "bench.mjs"), bin, d.path, fmt.Sprint(b.N), q.sql(d))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("bench.mjs: %v\n%s", err, stderr.String())
	}
	var res struct {
		Calls     int     `json:"calls"`
		P50ms     float64 `json:"p50_ms"`
		P99ms     float64 `json:"p99_ms"`
		MeanMS    float64 `json:"mean_ms"`
		CallsPerS float64 `json:"calls_per_s"`
	}
	line := lastLine(out)
	if err := json.Unmarshal(line, &res); err != nil || res.Calls != b.N {
		b.Fatalf("bench.mjs printed %q (%v), want a JSON line with %d calls\n%s", line, err, b.N, stderr.String())
	}
	b.ReportMetric(res.MeanMS*1e6, "ns/op")
	b.ReportMetric(res.P50ms*1e3, "p50-µs")
	b.ReportMetric(res.P99ms*1e3, "p99-µs")
	b.ReportMetric(res.CallsPerS, "calls/s")
}

// lastLine returns the last non-empty line of out.
func lastLine(out []byte) []byte {
	var last []byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			last = slices.Clone(line)
		}
	}
	return last
}

// BenchmarkReadToolPath breaks one healthsim_query call down in this
// process, on the 1.1 GB file, from the raw pool up to the tool handler:
//
//	raw            the point query on a kept-open plain duckdb-go pool
//	dbx            the same through dbx's read pool
//	sqlgate        sqlgate.Run on dbx's read pool, as healthsim_query runs it
//	sqlgate-held   the same while another read connection stays open
//	handler        a tools/call message through mcp.Server.HandleMessage,
//	               with the response encoded as the stdio transport does
//	handler-held   the same while another read connection stays open
//
// and healthsim_load_scenario (without entities) and
// healthsim_get_summary, each as a scenario.Store call (store) and as a
// tools/call message (handler).
//
// sqlgate closes its connection after each query; when it was the pool's
// only one, dbx detaches the file and the next query attaches it again.
// The -held variants keep one read connection open to show that cost.
// Profile with -cpuprofile; the stdio benchmarks run the server in another
// process.
func BenchmarkReadToolPath(b *testing.B) {
	ctx := context.Background()
	d := benchDatabase(b, largeMB)
	openDBX := func(b *testing.B, held bool) *dbx.DB {
		db, err := dbx.Open(ctx, d.path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		if held {
			conn, err := db.Read().Conn(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := conn.ExecContext(ctx, "SELECT 1"); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { conn.Close() }) // runs before db.Close
		}
		return db
	}
	for _, q := range pointQueries {
		query := q.sql(d)
		b.Run(q.name+"/raw", func(b *testing.B) {
			pool := openRawPool(b, d.path)
			reportLatency(b, timeCalls(b, func(int) error { return rawQuery(ctx, pool, query) }))
		})
		b.Run(q.name+"/dbx", func(b *testing.B) {
			db := openDBX(b, false)
			reportLatency(b, timeCalls(b, func(int) error { return rawQuery(ctx, db.Read().DB, query) }))
		})
		for _, held := range []bool{false, true} {
			suffix := map[bool]string{false: "", true: "-held"}[held]
			b.Run(q.name+"/sqlgate"+suffix, func(b *testing.B) {
				db := openDBX(b, held)
				reportLatency(b, timeCalls(b, func(int) error {
					res, err := sqlgate.Run(ctx, db.Read(), query, sqlgate.Options{})
					if err == nil && res.RowCount != 1 {
						err = fmt.Errorf("%d rows, want 1", res.RowCount)
					}
					return err
				}))
			})
			b.Run(q.name+"/handler"+suffix, func(b *testing.B) {
				db := openDBX(b, held)
				srv := mcp.NewServer(db, mcp.Options{})
				msg, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
					"params": map[string]any{"name": "healthsim_query", "arguments": map[string]any{"sql": query}}})
				if err != nil {
					b.Fatal(err)
				}
				reportLatency(b, timeCalls(b, func(int) error {
					out, err := json.Marshal(srv.HandleMessage(ctx, msg))
					if err == nil && !bytes.Contains(out, []byte(`"row_count":1`)) {
						err = fmt.Errorf("unexpected response %.300s", out)
					}
					return err
				}))
			})
		}
	}
	name := d.scenarioName()
	for _, c := range []struct {
		name, tool string
		args       map[string]any
		store      func(*scenario.Store) error
	}{
		{"load_scenario", "healthsim_load_scenario", map[string]any{"name_or_id": name, "include_entities": false},
			func(st *scenario.Store) error { _, err := st.Load(ctx, name, false); return err }},
		{"get_summary", "healthsim_get_summary", map[string]any{"scenario_id_or_name": name},
			func(st *scenario.Store) error {
				_, err := st.Summary(ctx, name, true, 3)
				return err
			}},
	} {
		b.Run(c.name+"/store", func(b *testing.B) {
			st := scenario.New(openDBX(b, false))
			reportLatency(b, timeCalls(b, func(int) error { return c.store(st) }))
		})
		b.Run(c.name+"/handler", func(b *testing.B) {
			srv := mcp.NewServer(openDBX(b, false), mcp.Options{})
			msg, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
				"params": map[string]any{"name": c.tool, "arguments": c.args}})
			if err != nil {
				b.Fatal(err)
			}
			reportLatency(b, timeCalls(b, func(int) error {
				out, err := json.Marshal(srv.HandleMessage(ctx, msg))
				if err == nil && !bytes.Contains(out, []byte(name)) || bytes.Contains(out, []byte(`"isError":true`)) {
					err = fmt.Errorf("unexpected response %.300s", out)
				}
				return err
			}))
		})
	}
}
