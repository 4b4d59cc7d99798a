package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/healthsim/healthsim-go/internal/testsupport/wine"
	"github.com/healthsim/healthsim-go/migrations"
	"github.com/jmoiron/sqlx"
)

// The test binary re-runs itself as a second process that holds the
// database file (proctest): hold-ro and hold-rw open it with plain
// duckdb-go; read-bursts reads through dbx in bursts with pauses;
// write-waiting runs one dbx write window (waiting up to 20 s for the file)
// and prints "wrote" or the error; pace-seed and pace-reader are
// BenchmarkModelPace's plain duckdb-go writer and reader.
func TestMain(m *testing.M) {
	proctest.Main(m, map[string]proctest.Helper{"read-bursts": readBursts, "write-waiting": writeWaiting,
		"pace-seed": seedWrites, "pace-reader": foreignReads})
}

func writeWaiting(path string, _ <-chan struct{}) error {
	db, err := dbx.Open(context.Background(), path, dbx.WithBusyTimeout(20*time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Println("ready")
	if err := db.Write(context.Background(), func(*sqlx.Tx) error { return nil }); err != nil {
		fmt.Println("error:", err)
		return nil
	}
	fmt.Println("wrote")
	return nil
}

func readBursts(path string, done <-chan struct{}) error {
	db, err := dbx.Open(context.Background(), path, dbx.WithReadLease(50*time.Millisecond))
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Println("ready")
	for {
		for range 20 {
			var n int
			if err := db.Read().Get(&n, "SELECT count(*) FROM duckdb_tables()"); err != nil {
				return err
			}
		}
		select {
		case <-done:
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// hold starts a helper process on path and waits until it holds the file.
func hold(t *testing.T, mode, path string) (pid int, stop func()) {
	t.Helper()
	p := proctest.StartReady(t, mode, path)
	return p.PID(), p.Stop
}

// run runs the CLI in-process and returns its stdout, stderr and error.
func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, args...)
	if err != nil {
		t.Fatalf("healthsim %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func tempDB(t *testing.T) string { return filepath.Join(t.TempDir(), "hs.duckdb") }

// latest is the number of embedded migrations (numbered 1, 2, …).
var latest = int(migrations.Latest())

func TestMigrateVerbs(t *testing.T) {
	db := tempDB(t)
	created, err := dbx.Open(context.Background(), db) // a new, empty database
	if err != nil {
		t.Fatal(err)
	}
	created.Close()
	out := mustRun(t, "migrate", "status", "--db", db)
	if strings.Count(out, "Pending") != latest {
		t.Fatalf("status of a fresh file:\n%s", out)
	}
	out = mustRun(t, "migrate", "--db", db, "up") // flags before the verb work too
	if strings.Count(out, "OK ") != latest {
		t.Fatalf("up:\n%s", out)
	}
	if out := mustRun(t, "migrate", "up", "--db", db); !strings.Contains(out, fmt.Sprintf("no migrations to run; current version %d", latest)) {
		t.Fatalf("second up:\n%s", out)
	}
	if out := mustRun(t, "migrate", "version", "--db", db); !strings.HasPrefix(out, fmt.Sprintf("version %d", latest)) {
		t.Fatalf("version: %s", out)
	}
	for _, tc := range []struct {
		args    []string
		version string
	}{
		{[]string{"down"}, fmt.Sprintf("version %d", latest-1)},
		{[]string{"redo"}, fmt.Sprintf("version %d", latest-1)},
		{[]string{"up-by-one"}, fmt.Sprintf("version %d", latest)},
		{[]string{"down-to", "1"}, "version 1"},
		{[]string{"up-to", "2"}, "version 2"},
		{[]string{"reset"}, "version 0"},
		{[]string{"up"}, fmt.Sprintf("version %d", latest)},
	} {
		mustRun(t, append(append([]string{"migrate"}, tc.args...), "--db", db, "--yes")...)
		if out := mustRun(t, "migrate", "version", "--db", db); !strings.HasPrefix(out, tc.version) {
			t.Fatalf("after %v: %s", tc.args, out)
		}
	}
	dir := t.TempDir()
	mustRun(t, "migrate", "create", "add_things", "--dir", dir)
	if files, _ := filepath.Glob(filepath.Join(dir, "00001_add_things.sql")); len(files) != 1 {
		t.Fatalf("create wrote no 00001_add_things.sql in %s", dir)
	}
}

func TestBadArguments(t *testing.T) {
	db := tempDB(t)
	blocker := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(blocker, nil, 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "Usage: healthsim COMMAND"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"migrate"}, "migrate needs a verb"},
		{[]string{"migrate", "sideways", "--db", db}, `unknown migrate verb "sideways"`},
		{[]string{"migrate", "up-to", "--db", db}, "takes 1 argument"},
		{[]string{"migrate", "up-to", "x", "--db", db}, "version must be a whole number"},
		{[]string{"migrate", "up", "--busy-timeout", "soon", "--db", db}, "invalid value"},
		{[]string{"migrate", "up", "--no-such-flag"}, "flag provided but not defined"},
		{[]string{"locks", "extra", "--db", db}, "locks takes no arguments"},
		{[]string{"storage", "--db", db}, "storage needs one verb"},
	} {
		_, errOut, err := run(t, tc.args...)
		if err != errUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("healthsim %v: err %v, stderr %q; want usage error with %q", tc.args, err, errOut, tc.want)
		}
	}
	// A folder that cannot be created: a clear error, no usage text.
	_, _, err := run(t, "migrate", "up", "--db", filepath.Join(blocker, "sub", "x.duckdb"))
	if err == nil || !strings.Contains(err.Error(), "cannot create the folder") {
		t.Errorf("unwritable folder: %v", err)
	}
	if _, _, err := run(t, "storage", "info", "--db", filepath.Join(t.TempDir(), "missing.duckdb")); err == nil || !strings.Contains(err.Error(), "no database at") {
		t.Errorf("storage info of a missing file: %v", err)
	}
}

func TestDefaultDatabaseLocation(t *testing.T) {
	home := t.TempDir()
	for _, k := range []string{"HOME", "USERPROFILE"} {
		t.Setenv(k, home)
	}
	for _, k := range []string{"XDG_DATA_HOME", "LOCALAPPDATA", "HEALTHSIM_DB_PATH"} {
		t.Setenv(k, "")
	}
	mustRun(t, "migrate", "up")
	want, err := cli.DefaultPath(runtime.GOOS, os.Getenv, os.UserHomeDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(want); err != nil || !strings.HasPrefix(want, home) {
		t.Fatalf("no database at this system's default %s under the home folder: %v", want, err)
	}
	env := filepath.Join(t.TempDir(), "env.duckdb")
	t.Setenv("HEALTHSIM_DB_PATH", env)
	mustRun(t, "migrate", "up")
	if _, err := os.Stat(env); err != nil {
		t.Fatal(err)
	}
}

func TestStatusAndVersionBesideAReader(t *testing.T) {
	db := tempDB(t)
	mustRun(t, "migrate", "up", "--db", db)
	hold(t, "hold-ro", db)
	if out := mustRun(t, "migrate", "status", "--db", db, "--busy-timeout", "0s"); strings.Count(out, "UTC") != latest {
		t.Fatalf("status beside a reader:\n%s", out)
	}
	if out := mustRun(t, "migrate", "version", "--db", db, "--busy-timeout", "0s"); !strings.HasPrefix(out, fmt.Sprintf("version %d", latest)) {
		t.Fatalf("version beside a reader: %s", out)
	}
}

func TestMigrateUpBesideOtherProcesses(t *testing.T) {
	// A dbx process reading in bursts lets the migration through.
	db := tempDB(t)
	mustRun(t, "migrate", "up-to", "1", "--db", db)
	hold(t, "read-bursts", db)
	if out := mustRun(t, "migrate", "up", "--db", db, "--busy-timeout", "10s"); strings.Count(out, "OK ") != latest-1 {
		t.Fatalf("up beside a bursty reader:\n%s", out)
	}

	// A process that holds the file forever is named.
	db2 := tempDB(t)
	mustRun(t, "migrate", "up-to", "1", "--db", db2)
	pid, _ := hold(t, "hold-ro", db2)
	_, _, err := run(t, "migrate", "up", "--db", db2, "--busy-timeout", "300ms")
	if !errors.Is(err, dbx.ErrLocked) {
		t.Fatalf("up against a holder: %v; want a lock error", err)
	}
	wine.Run(t, "holder named", wine.HolderPIDs, func(t *testing.T) {
		if !strings.Contains(err.Error(), fmt.Sprintf("PID %d", pid)) {
			t.Errorf("up against a holder: %v; want the holder's PID %d", err, pid)
		}
	})
}

func TestLocks(t *testing.T) {
	db := tempDB(t)
	mustRun(t, "migrate", "up", "--db", db)
	if out := mustRun(t, "locks", "--db", db); !strings.Contains(out, "Nobody holds") {
		t.Fatalf("locks, no holder: %s", out)
	}
	wine.Run(t, "holders named", wine.HolderPIDs, func(t *testing.T) {
		for _, mode := range []string{"hold-ro", "hold-rw"} {
			pid, stop := hold(t, mode, db)
			out := mustRun(t, "locks", "--db", db)
			want := map[string]string{"hold-ro": "read-only", "hold-rw": "read-write"}[mode]
			if !strings.Contains(out, fmt.Sprintf("PID %-7d", pid)) || !strings.Contains(out, want) {
				t.Fatalf("locks with %s (PID %d):\n%s", mode, pid, out)
			}
			stop()
		}
	})

	// A dbx writer waiting for a foreign reader holds the write intent.
	_, stopReader := hold(t, "hold-ro", db)
	writer := proctest.StartReady(t, "write-waiting", db)
	want := fmt.Sprintf("PID %d ", writer.PID())
	deadline := time.Now().Add(10 * time.Second)
	for out := ""; !strings.Contains(out, "Write intent") || !strings.Contains(out, want); out = mustRun(t, "locks", "--db", db) {
		if time.Now().After(deadline) {
			t.Fatalf("locks never showed the waiting writer (PID %d):\n%s", writer.PID(), out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopReader()
	if line := writer.Line(t); line != "wrote" {
		t.Fatalf("writer: %s", line)
	}
	writer.Stop() // it lets go of the file as it exits (Close)
	if out := mustRun(t, "locks", "--db", db); !strings.Contains(out, "no dbx process is writing") {
		t.Fatalf("locks after the write:\n%s", out)
	}
}

func TestStorageUpgrade(t *testing.T) {
	path := tempDB(t)
	// A file in an old storage format, as DuckDB 1.2 and 1.3 make it.
	raw, err := proctest.OpenRaw(path+"?storage_compatibility_version=v1.2.0", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`CREATE TABLE a AS SELECT range AS x, 'row ' || range AS s FROM range(5000);
		CREATE SCHEMA p; CREATE TABLE p.b (k VARCHAR PRIMARY KEY); INSERT INTO p.b VALUES ('x'), ('y')`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if out := mustRun(t, "storage", "info", "--db", path); !strings.Contains(out, "v1.2.0+: opened by DuckDB 1.2 and later") || !strings.Contains(out, "run `healthsim storage upgrade`") {
		t.Fatalf("info of an old file:\n%s", out)
	}

	// With another process holding the file, the upgrade fails and changes nothing.
	before, _ := os.Stat(path)
	pid, stop := hold(t, "hold-ro", path)
	_, _, err = run(t, "storage", "upgrade", "--db", path, "--busy-timeout", "200ms")
	if !errors.Is(err, dbx.ErrLocked) || !strings.Contains(err.Error(), "unchanged") {
		t.Fatalf("upgrade beside a holder: %v", err)
	}
	wine.Run(t, "holder named", wine.HolderPIDs, func(t *testing.T) {
		if !strings.Contains(err.Error(), fmt.Sprintf("PID %d", pid)) {
			t.Errorf("upgrade beside a holder: %v; want the holder's PID %d", err, pid)
		}
	})
	stop()
	after, _ := os.Stat(path)
	if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("failed upgrade changed the file")
	}
	if _, err := os.Stat(path + dbx.ReplaceSuffix); err == nil {
		t.Fatal("failed upgrade left its copy behind")
	}

	out := mustRun(t, "storage", "upgrade", "--db", path)
	if !strings.Contains(out, "now uses storage version v1.4.0+") || !strings.Contains(out, "DuckDB releases before 1.4 will no longer open it") {
		t.Fatalf("upgrade:\n%s", out)
	}
	info := mustRun(t, "storage", "info", "--db", path)
	for _, want := range []string{"v1.4.0+: opened by DuckDB 1.4 and later", "checkpoints cost milliseconds", "main.a", "5000 rows", "p.b", "2 rows"} {
		if !strings.Contains(info, want) {
			t.Fatalf("info after upgrade lacks %q:\n%s", want, info)
		}
	}
	if out := mustRun(t, "storage", "upgrade", "--db", path); !strings.Contains(out, "nothing to do") {
		t.Fatalf("second upgrade:\n%s", out)
	}
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// testVersion is the version builtBinary stamps, as release builds do.
const testVersion = "v0.0.0-test"

// builtBinary builds cmd/healthsim once per test run, with testVersion,
// or returns $HEALTHSIM_TEST_BINARY: a binary built the same way where the
// tests cannot run `go build` (the Windows tests under Wine, .ci/wine).
func builtBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binary = os.Getenv("HEALTHSIM_TEST_BINARY"); binary != "" {
			return
		}
		dir, err := os.MkdirTemp("", "healthsim-bin")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "healthsim")
		if runtime.GOOS == "windows" {
			binary += ".exe"
		}
		out, err := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", binary, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

func TestBinaryConcurrentMigrateUp(t *testing.T) {
	bin := builtBinary(t)
	db := tempDB(t)
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			out, err := exec.Command(bin, "migrate", "up", "--db", db, "--busy-timeout", "20s").CombinedOutput()
			outs[i], errs[i] = string(out), err
		})
	}
	wg.Wait()
	applied := 0
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("process %d: %v\n%s", i, errs[i], outs[i])
		}
		applied += strings.Count(outs[i], "OK ")
	}
	if applied != latest {
		t.Fatalf("migrations applied %d times in all, want %d:\n%s\n---\n%s", applied, latest, outs[0], outs[1])
	}
	out, err := exec.Command(bin, "bogus").CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(out), "unknown command") {
		t.Fatalf("bogus command: exit %d\n%s", code, out)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		out := mustRun(t, arg)
		if want := fmt.Sprintf("healthsim %s (%s/%s, ", buildVersion(), runtime.GOOS, runtime.GOARCH); !strings.HasPrefix(out, want) {
			t.Errorf("healthsim %s: %q, want it to start with %q", arg, out, want)
		}
		if !strings.HasSuffix(out, ", DuckDB v2.0.0)\n") {
			t.Errorf("healthsim %s: %q does not name DuckDB v2.0.0", arg, out)
		}
	}
	out, err := exec.Command(builtBinary(t), "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "healthsim "+testVersion+" ") {
		t.Errorf("stamped binary --version: %q, %v; want version %s", out, err, testVersion)
	}
}

// TestReadCommandsCreateNothing: the commands that only read or roll back
// say "no database at PATH" for a mistyped path and leave no file, sidecar
// or folder behind; the commands that create (migrate up and its kin) do.
// Blank paths are refused before anything is touched.
func TestReadCommandsCreateNothing(t *testing.T) {
	for _, args := range [][]string{
		{"migrate", "version"}, {"migrate", "status"}, {"migrate", "down", "--yes"}, {"migrate", "down-to", "0", "--yes"},
		{"migrate", "redo", "--yes"}, {"migrate", "reset", "--yes", "--force"}, {"query", "SELECT 1"},
		{"reference", "status"}, {"locks"}, {"storage", "info"}, {"storage", "upgrade"},
		{"storage", "downgrade", "--storage-version", "v1.0.0"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "typo", "hs.duckdb")
			_, _, err := run(t, append(args, "--db", db)...)
			if !errors.Is(err, cli.ErrNoDatabase) || !strings.Contains(err.Error(), "no database at "+db) || cli.ExitCode(err) != 1 {
				t.Fatalf("err %v (exit %d); want `no database at %s`, exit 1", err, cli.ExitCode(err), db)
			}
			// It says what to do: check the path, or create the database.
			if msg := err.Error(); !strings.Contains(msg, "check --db or $"+cli.EnvDBPath) || !strings.Contains(msg, "healthsim migrate up --db "+db) {
				t.Errorf("%q does not say to check --db or how to create the database", msg)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("left %v behind in %s", entries, dir)
			}
			// Beside an existing folder too: no file, no .wal, no sidecars.
			db = filepath.Join(dir, "hs.duckdb")
			if _, _, err := run(t, append(args, "--db", db)...); !errors.Is(err, cli.ErrNoDatabase) {
				t.Fatalf("err %v; want no database", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("left %v behind in %s", entries, dir)
			}
		})
	}
	for _, args := range [][]string{{"migrate", "up"}, {"migrate", "up-by-one"}, {"migrate", "up-to", "1"}} {
		db := filepath.Join(t.TempDir(), "new", "hs.duckdb")
		mustRun(t, append(args, "--db", db)...)
		if _, err := os.Stat(db); err != nil {
			t.Errorf("%v did not create the database: %v", args, err)
		}
	}

	// Blank paths name no file a person means.
	dir := t.TempDir()
	t.Chdir(dir)
	if _, _, err := run(t, "migrate", "up", "--db", "  "); err == nil || !strings.Contains(err.Error(), "--db is blank") {
		t.Errorf("--db of spaces: %v", err)
	}
	t.Setenv(cli.EnvDBPath, "  ")
	for _, args := range [][]string{{"migrate", "up"}, {"serve"}, {"migrate", "version"}} {
		if _, _, err := run(t, args...); err == nil || !strings.Contains(err.Error(), "$"+cli.EnvDBPath+" is blank") {
			t.Errorf("%v with a blank $%s: %v", args, cli.EnvDBPath, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("blank paths left %v behind", entries)
	}
}

// TestCommandsRefuseOtherFiles: a --db that names an existing file that
// is not a DuckDB database (a text file, an empty one) is refused, naming
// the path and what to check, by every command that opens the database
// but serve; the folder is left as it was: no sidecar, no .wal.
func TestCommandsRefuseOtherFiles(t *testing.T) {
	for _, content := range []string{"SELECT 1;\n", ""} {
		for _, args := range [][]string{
			{"query", "SELECT 1"}, {"storage", "info"}, {"storage", "upgrade"},
			{"storage", "downgrade", "--storage-version", "v1.0.0"},
			{"migrate", "up"}, {"migrate", "up-to", "1"}, {"migrate", "version"}, {"migrate", "status"},
			{"migrate", "down", "--yes", "--force"}, {"reference", "status"}, {"reference", "load-sample"},
		} {
			dir := t.TempDir()
			file := filepath.Join(dir, "notes.sql")
			if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := run(t, append(args, "--db", file)...)
			if err == nil || !strings.Contains(err.Error(), file+" is not a DuckDB database") ||
				!strings.Contains(err.Error(), "check --db or $"+cli.EnvDBPath) || cli.ExitCode(err) != 1 {
				t.Errorf("healthsim %v on a file of %q: err %v (exit %d); want %s named as not a DuckDB database, exit 1",
					args, content, err, cli.ExitCode(err), file)
			}
			entries, _ := os.ReadDir(dir)
			if got, _ := os.ReadFile(file); len(entries) != 1 || string(got) != content {
				t.Errorf("healthsim %v on a file of %q left %v in the folder, the file holding %q", args, content, entries, got)
			}
		}
	}
}

// TestStorageVersionFlag: a storage version dbx does not take is refused
// with where it came from, before anything is created; a release whose
// storage version the file already has leaves it alone.
func TestStorageVersionFlag(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new-folder")
	db := filepath.Join(dir, "hs.duckdb")
	for _, tc := range []struct {
		flag, env, want string
	}{
		{"v1.4", "", "--storage-version: dbx: storage version \"v1.4\""},
		{"", "v9.9.9", "$HEALTHSIM_STORAGE_VERSION: dbx: storage version \"v9.9.9\""},
	} {
		t.Setenv("HEALTHSIM_STORAGE_VERSION", tc.env)
		for _, args := range [][]string{{"migrate", "up", "--db", db}, {"serve", "--db", db}} {
			if tc.flag != "" {
				args = append(args, "--storage-version", tc.flag)
			}
			_, _, err := run(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("healthsim %s: %v, want %q", strings.Join(args, " "), err, tc.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("healthsim %s created %s", strings.Join(args, " "), dir)
			}
		}
	}
	t.Setenv("HEALTHSIM_STORAGE_VERSION", "")

	old := tempDB(t)
	raw, err := proctest.OpenRaw(old+"?storage_compatibility_version=v1.0.0", false)
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if out := mustRun(t, "storage", "upgrade", "--db", old, "--storage-version", "v1.1.3"); !strings.Contains(out, "nothing to do") {
		t.Errorf("upgrade of a v1.0.0 file for DuckDB 1.1.3, whose files are v1.0.0 too:\n%s", out)
	}
}
