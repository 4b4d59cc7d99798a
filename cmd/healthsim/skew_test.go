package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/jmoiron/sqlx"
)

// Version skew: this build runs DuckDB 2.0, while the notebooks and CLIs
// beside it may run DuckDB 1.5. These tests open the same files with
// DuckDB 1.5.6 in a Node process of its own (@duckdb/node-api, from
// testdata/duckdb15's lockfile).

// duckdb15Project is the Node project with DuckDB 1.5.
const duckdb15Project = "testdata/duckdb15"

// duckdb15File is what DuckDB 1.5 saw in a file.
type duckdb15File struct {
	Version string           `json:"version"` // DuckDB's, v1.5.6
	Storage string           `json:"storage"` // the file's storage version
	Tables  map[string]int64 `json:"tables"`  // schema.table: rows
}

// duckdb15 runs `node duckdb15.mjs verb path` (create or info): DuckDB 1.5
// opens the file read-write in another process. An error holds what DuckDB
// 1.5 said.
func duckdb15(t *testing.T, verb, path string) (duckdb15File, error) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (%v): the version-skew tests run DuckDB 1.5 from npm; install Node.js 20 or later with npm", err)
	}
	npmProject(t, duckdb15Project, filepath.Join("@duckdb", "node-api", "package.json"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "duckdb15.mjs", verb, path)
	cmd.Dir = duckdb15Project
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return duckdb15File{}, &npmError{err, stderr.Bytes()}
	}
	var f duckdb15File
	if err := json.Unmarshal(stdout.Bytes(), &f); err != nil || f.Version != "v1.5.6" {
		t.Fatalf("node duckdb15.mjs %s: %q (%v); want DuckDB v1.5.6's answer", verb, stdout.String(), err)
	}
	return f, nil
}

// mustDuckDB15 is duckdb15 for a file DuckDB 1.5 must open.
func mustDuckDB15(t *testing.T, verb, path string) duckdb15File {
	t.Helper()
	f, err := duckdb15(t, verb, path)
	if err != nil {
		t.Fatalf("DuckDB 1.5 cannot %s %s: %v", verb, path, err)
	}
	return f
}

// saveAndCount saves a scenario of two patients through `healthsim serve`
// and returns its stderr, failing unless the server then counts them.
func saveAndCount(t *testing.T, db string) string {
	t.Helper()
	stdout, stderr := serveStdio(t, nil, []string{"--db", db},
		initialize, initialized,
		toolCall(2, "healthsim_save_scenario", map[string]any{"name": "skew", "entities": map[string]any{
			"patients": []any{map[string]any{"id": "p1"}, map[string]any{"id": "p2"}}}}),
		toolCall(3, "healthsim_query", map[string]any{"sql": "SELECT count(*) AS n FROM patients"}),
	)
	res := responses(t, stdout)
	if res[2]["result"].(map[string]any)["isError"] == true {
		t.Fatalf("save: %v", res[2])
	}
	query := res[3]["result"].(map[string]any)["structuredContent"].(map[string]any)
	if rows := query["rows"].([]any); rows[0].([]any)[0] != float64(2) {
		t.Fatalf("query after save: %v", query)
	}
	return stderr
}

// TestSkewFileOfDuckDB15: a file DuckDB 1.5 made, with a table of its own,
// is migrated, served and saved to by this build, keeps its storage
// version, and still opens in DuckDB 1.5 with everything in it.
func TestSkewFileOfDuckDB15(t *testing.T) {
	db := tempDB(t)
	made := mustDuckDB15(t, "create", db)
	if made.Storage != "v1.0.0+" || made.Tables["main.notes"] != 2 {
		t.Fatalf("DuckDB 1.5 made %+v", made)
	}
	if out := mustRun(t, "migrate", "up", "--db", db); !strings.Contains(out, "OK    up 00001_scenarios.sql") {
		t.Fatalf("migrate up on DuckDB 1.5's file:\n%s", out)
	}
	if out := mustRun(t, "migrate", "status", "--db", db); strings.Contains(out, "Pending") {
		t.Fatalf("migrations pending after migrate up:\n%s", out)
	}
	stderr := saveAndCount(t, db)
	if !strings.Contains(stderr, "old storage format") {
		t.Errorf("serve does not name the file's old storage format (v1.0.0):\n%s", stderr)
	}
	after := mustDuckDB15(t, "info", db)
	if after.Storage != made.Storage {
		t.Errorf("storage version changed from %s to %s", made.Storage, after.Storage)
	}
	if after.Tables["main.notes"] != 2 || after.Tables["main.patients"] != 2 {
		t.Errorf("DuckDB 1.5 sees %v; want its own 2 notes and the 2 patients saved", after.Tables)
	}
	if info := mustRun(t, "storage", "info", "--db", db); !strings.Contains(info, "v1.0.0+: opened by DuckDB 1.0 and later") {
		t.Errorf("storage info:\n%s", info)
	}

	// A server told to create files in 2.0's storage version leaves this
	// one as it is too.
	t.Setenv("HEALTHSIM_STORAGE_VERSION", "v2.0.0")
	serveStdio(t, nil, []string{"--db", db}, initialize, initialized,
		toolCall(2, "healthsim_save_scenario", map[string]any{"name": "skew-2", "entities": map[string]any{
			"patients": []any{map[string]any{"id": "p3"}}}}))
	if again := mustDuckDB15(t, "info", db); again.Storage != made.Storage || again.Tables["main.patients"] != 3 {
		t.Errorf("after a save by a server told v2.0.0, DuckDB 1.5 sees %+v", again)
	}
}

// TestSkewFileOfDuckDB20Default: a file in DuckDB 2.0's own default
// storage version (v2.0.0, as the DuckDB 2.0 CLI or Python make it) is
// served and keeps its version; DuckDB 1.5 cannot open it until `storage
// downgrade` rewrites it in a version that 1.5 reads.
func TestSkewFileOfDuckDB20Default(t *testing.T) {
	db := tempDB(t)
	raw, err := proctest.OpenRaw(db, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("CREATE TABLE notes AS SELECT 'made by DuckDB 2.0' AS body"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	stderr := saveAndCount(t, db)
	if strings.Contains(stderr, "old storage format") {
		t.Errorf("a v2.0.0 file is said to be in an old storage format:\n%s", stderr)
	}
	if !strings.Contains(stderr, "DuckDB 1.x tools (CLIs, Python, notebooks) cannot open") || !strings.Contains(stderr, "storage downgrade --storage-version v1.4.0") {
		t.Errorf("serve does not say that DuckDB 1.x cannot open the file:\n%s", stderr)
	}
	if info := mustRun(t, "storage", "info", "--db", db); !strings.Contains(info, "v2.0.0+: opened by DuckDB 2.0 and later") {
		t.Fatalf("storage info:\n%s", info)
	}
	if _, err := duckdb15(t, "info", db); err == nil || !strings.Contains(err.Error(), "version number 69") {
		t.Fatalf("DuckDB 1.5 on a v2.0.0 file: %v; want its refusal of storage version 69", err)
	}

	out := mustRun(t, "storage", "downgrade", "--db", db, "--storage-version", "v1.4.0")
	if !strings.Contains(out, "now uses storage version v1.4.0+") {
		t.Fatalf("storage downgrade:\n%s", out)
	}
	after := mustDuckDB15(t, "info", db)
	if after.Storage != "v1.4.0+" || after.Tables["main.notes"] != 1 || after.Tables["main.patients"] != 2 {
		t.Errorf("DuckDB 1.5 after the downgrade sees %+v", after)
	}

	// A file that uses what v1.4.0 cannot store is left as it was.
	variant := tempDB(t)
	if raw, err = proctest.OpenRaw(variant, false); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("CREATE TABLE v AS SELECT 42::VARIANT AS x"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, _, err = run(t, "storage", "downgrade", "--db", variant, "--storage-version", "v1.4.0")
	if err == nil || !strings.Contains(err.Error(), "unchanged") || !strings.Contains(err.Error(), "VARIANT") {
		t.Fatalf("downgrade of a file with a VARIANT column: %v", err)
	}
	if info := mustRun(t, "storage", "info", "--db", variant); !strings.Contains(info, "v2.0.0+") {
		t.Errorf("after a failed downgrade:\n%s", info)
	}
}

// TestSkewNewFileOpensInDuckDB15: a file this build creates opens in
// DuckDB 1.5, unless --storage-version asks for 2.0's; `storage upgrade`
// to v2.0.0 says first that DuckDB 1.x will no longer open the file,
// refuses without --yes where it cannot ask, and then does it.
func TestSkewNewFileOpensInDuckDB15(t *testing.T) {
	db := tempDB(t)
	if stderr := saveAndCount(t, db); strings.Contains(stderr, "cannot open") || strings.Contains(stderr, "old storage format") {
		t.Errorf("serve says a file it created is in a storage format to change:\n%s", stderr)
	}
	f := mustDuckDB15(t, "info", db)
	if f.Storage != "v1.4.0+" || f.Tables["main.patients"] != 2 {
		t.Fatalf("DuckDB 1.5 sees %+v in a file serve created", f)
	}

	before, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = run(t, "storage", "upgrade", "--db", db, "--storage-version", "v2.0.0")
	if err == nil || !strings.Contains(err.Error(), "DuckDB releases before 2.0 will no longer open it") || !strings.Contains(err.Error(), "--yes") {
		t.Fatalf("upgrade to v2.0.0 without --yes: %v", err)
	}
	if after, err := os.Stat(db); err != nil || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("a refused upgrade changed the file")
	}
	mustDuckDB15(t, "info", db)

	out := mustRun(t, "storage", "upgrade", "--db", db, "--storage-version", "v2.0.0", "--yes")
	if !strings.Contains(out, "DuckDB releases before 2.0 will no longer open it") || !strings.Contains(out, "now uses storage version v2.0.0+") {
		t.Fatalf("storage upgrade --yes:\n%s", out)
	}
	if _, err := duckdb15(t, "info", db); err == nil || !strings.Contains(err.Error(), "version number 69") {
		t.Fatalf("DuckDB 1.5 after the upgrade to v2.0.0: %v; want its refusal", err)
	}

	// Asked for, a new file is in 2.0's storage version from the start.
	db2 := tempDB(t)
	t.Setenv("HEALTHSIM_STORAGE_VERSION", "v2.0.0")
	saveAndCount(t, db2)
	if _, err := duckdb15(t, "info", db2); err == nil || !strings.Contains(err.Error(), "version number 69") {
		t.Fatalf("DuckDB 1.5 on a file made with HEALTHSIM_STORAGE_VERSION=v2.0.0: %v; want its refusal", err)
	}
}

// TestSkewFileOfNewerDuckDB: a file from a DuckDB newer than this build's
// gets one sentence, from serve and from storage info, and is left as it
// was.
func TestSkewFileOfNewerDuckDB(t *testing.T) {
	db := tempDB(t)
	if err := proctest.MakeFutureFile(db); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"serve", "--db", db}, {"storage", "info", "--db", db}, {"query", "--db", db, "SELECT 1"}} {
		_, _, err := run(t, args...)
		if err == nil {
			t.Fatalf("healthsim %s: no error", strings.Join(args, " "))
		}
		for _, want := range []string{"storage version 70", "from a DuckDB newer than this program's", "64 to 69", "COPY FROM DATABASE"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("healthsim %s: %q lacks %q", args[0], err, want)
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("healthsim %s: not one line: %q", args[0], err)
		}
	}
	if after, err := os.ReadFile(db); err != nil || !bytes.Equal(before, after) {
		t.Errorf("the file changed (%v)", err)
	}
}

// TestSkewWALReadByDuckDB15: saves that this build left in the
// write-ahead log (not yet checkpointed) are replayed by DuckDB 1.5
// opening the file between them, as a notebook does between two saves of
// a server; and this build goes on after 1.5 has written the file.
func TestSkewWALReadByDuckDB15(t *testing.T) {
	ctx := context.Background()
	path := tempDB(t)
	db, err := dbx.Open(ctx, path, dbx.WithCheckpointEvery(1000, 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	write := func(stmt string) {
		t.Helper()
		if err := db.Write(ctx, func(tx *sqlx.Tx) error { _, err := tx.Exec(stmt); return err }); err != nil {
			t.Fatal(err)
		}
	}
	write("CREATE TABLE notes (id INTEGER, body VARCHAR)") // a schema change is checkpointed at once
	write("INSERT INTO notes SELECT range, 'row ' || range FROM range(1000)")
	write("UPDATE notes SET body = 'changed' WHERE id < 10")
	write("DELETE FROM notes WHERE id >= 990")
	if wal, err := os.Stat(path + ".wal"); err != nil || wal.Size() == 0 {
		t.Fatalf("no write-ahead log to replay (%v)", err)
	}
	if f := mustDuckDB15(t, "info", path); f.Tables["main.notes"] != 990 || f.Storage != "v1.4.0+" {
		t.Fatalf("DuckDB 1.5 sees %+v; want 990 notes in v1.4.0", f)
	}
	write("INSERT INTO notes VALUES (2000, 'after DuckDB 1.5')")
	var n, changed int
	if err := db.Read().Get(&n, "SELECT count(*) FROM notes"); err != nil || n != 991 {
		t.Fatalf("this build counts %d notes (%v), want 991", n, err)
	}
	if err := db.Read().Get(&changed, "SELECT count(*) FROM notes WHERE body = 'changed'"); err != nil || changed != 10 {
		t.Fatalf("%d changed notes (%v), want 10", changed, err)
	}
}
