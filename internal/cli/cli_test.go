package cli_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/benchsupport/syncbuf"
	"github.com/healthsim/healthsim-go/internal/cli"
)

func TestDefaultPath(t *testing.T) {
	env := map[string]string{"XDG_DATA_HOME": "/data", "LOCALAPPDATA": `C:\Users\ann\AppData\Local`}
	noEnv := map[string]string{}
	for _, tc := range []struct {
		goos string
		env  map[string]string
		home string
		want string
	}{
		{"linux", env, "/home/ann", "/data/healthsim/healthsim.duckdb"},
		{"linux", noEnv, "/home/ann", "/home/ann/.local/share/healthsim/healthsim.duckdb"},
		{"freebsd", noEnv, "/home/ann", "/home/ann/.local/share/healthsim/healthsim.duckdb"},
		{"darwin", env, "/Users/ann", "/Users/ann/Library/Application Support/healthsim/healthsim.duckdb"},
		{"windows", env, `C:\Users\ann`, `C:\Users\ann\AppData\Local\healthsim\healthsim.duckdb`},
		{"windows", noEnv, `C:\Users\bob`, `C:\Users\bob\AppData\Local\healthsim\healthsim.duckdb`},
	} {
		got, err := cli.DefaultPath(tc.goos, func(k string) string { return tc.env[k] }, func() (string, error) { return tc.home, nil })
		want := tc.want
		if tc.goos != "windows" {
			want = filepath.FromSlash(want) // joined with this system's separator
		}
		if err != nil || got != want {
			t.Errorf("%s %v: %q, %v; want %q", tc.goos, tc.env, got, err, want)
		}
	}
	noHome := func() (string, error) { return "", errors.New("no home") }
	if _, err := cli.DefaultPath("darwin", func(string) string { return "" }, noHome); err == nil {
		t.Error("darwin without a home folder: no error")
	}
}

func TestResolvePath(t *testing.T) {
	home := t.TempDir()
	for _, k := range []string{"HOME", "USERPROFILE"} {
		t.Setenv(k, home)
	}
	for _, k := range []string{"XDG_DATA_HOME", "LOCALAPPDATA", cli.EnvDBPath} {
		t.Setenv(k, "")
	}
	want, err := cli.DefaultPath(runtime.GOOS, os.Getenv, os.UserHomeDir)
	if err != nil || !strings.HasPrefix(want, home) {
		t.Fatalf("this system's default %q (%v) is not under the home folder %q", want, err, home)
	}
	got, err := cli.ResolvePath("")
	if err != nil || got != want {
		t.Fatalf("default: %q, %v; want %q", got, err, want)
	}
	if _, err := os.Stat(filepath.Dir(got)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ResolvePath created the default folder (or it was there): %v", err)
	}
	if err := cli.MakeFolder(got); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Dir(got)); err != nil || !info.IsDir() {
		t.Fatalf("MakeFolder did not create the default folder: %v", err)
	}
	env := filepath.Join(t.TempDir(), "sub", "env.duckdb")
	t.Setenv(cli.EnvDBPath, env)
	if got, _ := cli.ResolvePath(""); got != env {
		t.Fatalf("$%s: %q", cli.EnvDBPath, got)
	}
	if got, _ := cli.ResolvePath("flag.duckdb"); got != "flag.duckdb" {
		t.Fatalf("--db: %q", got)
	}
	if got, err := cli.ResolvePath("md:shared"); got != "md:shared" || err != nil {
		t.Fatalf("a DSN that is not a file: %q, %v", got, err)
	}
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o644)
	if err := cli.MakeFolder(filepath.Join(blocker, "x.duckdb")); err == nil || !strings.Contains(err.Error(), "cannot create the folder") {
		t.Fatalf("unwritable folder: %v", err)
	}

	// Blank paths are refused, whether given by --db or the environment.
	if _, err := cli.ResolvePath("  "); err == nil || !strings.Contains(err.Error(), "--db is blank") {
		t.Fatalf("--db of spaces: %v", err)
	}
	t.Setenv(cli.EnvDBPath, " \t")
	if _, err := cli.ResolvePath(""); err == nil || !strings.Contains(err.Error(), "$"+cli.EnvDBPath+" is blank") {
		t.Fatalf("$%s of spaces: %v", cli.EnvDBPath, err)
	}
	if got, err := cli.ResolvePath("flag.duckdb"); got != "flag.duckdb" || err != nil {
		t.Fatalf("--db beside a blank $%s: %q, %v", cli.EnvDBPath, got, err)
	}
}

func TestDBFlags(t *testing.T) {
	var d cli.DB
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	d.Register(fs)
	if d.BusyTimeout != cli.DefaultBusyTimeout {
		t.Fatalf("default busy timeout: %v", d.BusyTimeout)
	}
	path := filepath.Join(t.TempDir(), "x.duckdb")
	if err := fs.Parse([]string{"--db", path, "--busy-timeout", "250ms"}); err != nil {
		t.Fatal(err)
	}
	if d.Path != path || d.BusyTimeout != 250*time.Millisecond {
		t.Fatalf("parsed: %+v", d)
	}
	if _, err := d.OpenExisting(context.Background(), cli.Logger(io.Discard)); !errors.Is(err, cli.ErrNoDatabase) {
		t.Fatalf("OpenExisting of a missing file: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("OpenExisting created the file")
	}
	nested := cli.DB{Path: filepath.Join(t.TempDir(), "no", "such", "x.duckdb")}
	if _, err := nested.OpenExisting(context.Background(), cli.Logger(io.Discard)); !errors.Is(err, cli.ErrNoDatabase) ||
		!strings.Contains(err.Error(), "no database at "+nested.Path) {
		t.Fatalf("OpenExisting in a missing folder: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(filepath.Dir(nested.Path))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("OpenExisting created the folder: %v", err)
	}
	db, err := d.Open(context.Background(), cli.Logger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Open did not create the file: %v", err)
	}
	db, err = d.OpenExisting(context.Background(), cli.Logger(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// TestOpenRefusesOtherFiles: Open, OpenExisting and OpenMigrated refuse
// a path that names a file DuckDB does not open as a database, naming it,
// and create nothing beside it (no sidecar, no .wal): the scripts and
// healthsim's commands open through them.
func TestOpenRefusesOtherFiles(t *testing.T) {
	for _, content := range []string{"SELECT 1;\n", ""} {
		dir := t.TempDir()
		d := cli.DB{Path: filepath.Join(dir, "notes.sql")}
		if err := os.WriteFile(d.Path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		for name, open := range map[string]func(context.Context, *slog.Logger) (*dbx.DB, error){
			"Open": d.Open, "OpenExisting": d.OpenExisting, "OpenMigrated": d.OpenMigrated,
		} {
			db, err := open(context.Background(), cli.Logger(io.Discard))
			if err == nil {
				db.Close()
			}
			if err == nil || !strings.Contains(err.Error(), d.Path+" is not a DuckDB database") {
				t.Errorf("%s of a file holding %q: %v, want it named as not a DuckDB database", name, content, err)
			}
			entries, _ := os.ReadDir(dir)
			if got, _ := os.ReadFile(d.Path); len(entries) != 1 || string(got) != content {
				t.Errorf("%s of a file holding %q left %v, the file holding %q", name, content, entries, got)
			}
		}
	}
}

func TestExitCodesAndMessages(t *testing.T) {
	le := &dbx.LockError{Path: "/data/h.duckdb", Mode: dbx.ReadWrite, PID: 4242, Exe: "duckdb", Holder: dbx.ReadWrite,
		Waited: time.Second, Err: errors.New("Could not set lock")}
	for _, tc := range []struct {
		err  error
		code int
		msg  []string
	}{
		{nil, 0, nil},
		{cli.ErrUsage, 2, nil},
		{fmt.Errorf("wrapped: %w", cli.ErrUsage), 2, nil},
		{errors.New("boom"), 1, []string{"prog: boom\n"}},
		{fmt.Errorf("dbx: write: %w", le), 1, []string{"prog: dbx: write: dbx: cannot open", "close duckdb (PID 4242)", "`healthsim locks --db /data/h.duckdb`"}},
	} {
		if got := cli.ExitCode(tc.err); got != tc.code {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.code)
		}
		var b strings.Builder
		cli.PrintError(&b, "prog", tc.err)
		if len(tc.msg) == 0 && b.Len() > 0 {
			t.Errorf("PrintError(%v) printed %q", tc.err, b.String())
		}
		for _, m := range tc.msg {
			if !strings.Contains(b.String(), m) {
				t.Errorf("PrintError(%v) = %q, want %q in it", tc.err, b.String(), m)
			}
		}
	}
}

func TestParse(t *testing.T) {
	var stderr strings.Builder
	fs := cli.NewFlagSet("prog", "go run ./scripts/prog [flags]", &stderr)
	n := fs.Int("n", 1, "a number")
	if err := cli.Parse(fs, []string{"-n", "3"}); err != nil || *n != 3 {
		t.Fatalf("Parse: %v, n=%d", err, *n)
	}
	for _, args := range [][]string{{"extra"}, {"-n", "x"}, {"--nope"}} {
		stderr.Reset()
		err := cli.Parse(fs, args)
		if !errors.Is(err, cli.ErrUsage) || !strings.Contains(stderr.String(), "Usage: go run ./scripts/prog [flags]") {
			t.Errorf("Parse(%v): %v\n%s", args, err, stderr.String())
		}
	}
	if err := cli.HelpOK(cli.Parse(fs, []string{"-h"})); err != nil {
		t.Errorf("-h: %v", err)
	}
}

func TestProgress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Short work shows nothing.
		var quiet syncbuf.Buffer
		p := cli.StartProgress(&quiet, "prog", 10, "scenarios")
		time.Sleep(500 * time.Millisecond)
		p.Add(10)
		if took := p.Stop(); took != 500*time.Millisecond || quiet.String() != "" {
			t.Fatalf("short work (%v) showed %q", took, quiet.String())
		}

		// Long work shows the count and the note after the interval, and
		// again every interval while nothing advances.
		var w syncbuf.Buffer
		p = cli.StartProgress(&w, "prog", 10, "scenarios")
		p.Add(3)
		p.Note("write window 2")
		synctest.Wait()
		if w.String() != "" {
			t.Fatalf("shown before the interval: %q", w.String())
		}
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		if out := w.String(); !strings.Contains(out, "prog (write window 2)") || !strings.Contains(out, "3/10") || !strings.Contains(out, "scenarios") {
			t.Fatalf("after a second: %q", out)
		}
		shown := len(w.String())
		time.Sleep(time.Second)
		synctest.Wait()
		if len(w.String()) == shown {
			t.Fatal("not shown again while nothing advanced")
		}
		p.Stop()
		p.Stop() // twice is fine
		stopped := len(w.String())
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if len(w.String()) != stopped {
			t.Fatalf("shown after Stop: %q", w.String()[stopped:])
		}
	})
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := cli.Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	for _, tc := range []struct {
		n          int
		noun, want string
	}{{1, "entity", "1 entity"}, {2, "entity", "2 entities"}, {0, "scenario", "0 scenarios"}, {3, "day", "3 days"}} {
		if got := cli.Plural(tc.n, tc.noun); got != tc.want {
			t.Errorf("Plural(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
	if got := cli.Elapsed(1234 * time.Millisecond); got != "1.2s" {
		t.Errorf("Elapsed: %s", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := cli.Pause(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Pause of a cancelled context: %v", err)
	}
}
