package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/scripts/internal/scripttest"
)

func TestMain(m *testing.M) { proctest.Main(m, nil) }

// withWAL makes a database whose last writes are still in its WAL, as a
// program that does not checkpoint (or crashed) leaves it.
func withWAL(t *testing.T) string {
	path := scripttest.NewDB(t)
	scripttest.Store(t, path, func(s *scenario.Store) { scripttest.Save(t, s, "a", 2) })
	raw, err := proctest.OpenRaw(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`PRAGMA disable_checkpoint_on_shutdown; SET checkpoint_threshold = '1GB';
		CREATE TABLE filler AS SELECT range AS n, repeat('x', 100) AS s FROM range(20000)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if size(path+".wal") == 0 {
		t.Fatal("no WAL to checkpoint")
	}
	return path
}

func TestCheckpoint(t *testing.T) {
	path := withWAL(t)
	walBefore := size(path + ".wal")
	out := scripttest.MustRun(t, run, "--db", path)
	if !strings.Contains(out, "wal       "+cli.Bytes(walBefore)+" -> 0 B") || !strings.Contains(out, "checkpointed in") {
		t.Fatalf("checkpoint:\n%s", out)
	}
	if n := size(path + ".wal"); n != 0 {
		t.Fatalf("WAL after the checkpoint: %d bytes", n)
	}
	var n int
	scripttest.With(t, path, func(db *dbx.DB) {
		if err := db.Read().Get(&n, "SELECT count(*) FROM filler"); err != nil {
			t.Fatal(err)
		}
	})
	if n != 20000 {
		t.Fatalf("rows after the checkpoint: %d", n)
	}
	// Nothing to fold in: it still succeeds.
	if out := scripttest.MustRun(t, run, "--db", path); !strings.Contains(out, "wal       0 B -> 0 B") {
		t.Fatalf("second checkpoint:\n%s", out)
	}
}

func TestLockedAndBadFlags(t *testing.T) {
	path := withWAL(t)
	walBefore := size(path + ".wal")
	holder := proctest.StartReady(t, "hold-ro", path)
	_, _, err := scripttest.Run(t, run, "--db", path, "--busy-timeout", "300ms")
	var le *dbx.LockError
	if !errors.As(err, &le) || le.PID != holder.PID() {
		t.Fatalf("checkpoint beside a foreign reader: %v", err)
	}
	holder.Stop()
	if size(path+".wal") != walBefore {
		t.Fatal("a failed checkpoint changed the WAL")
	}
	_, stderr, err := scripttest.Run(t, run, "--db", path, "now")
	if !errors.Is(err, cli.ErrUsage) || !strings.Contains(stderr, `unexpected argument "now"`) {
		t.Fatalf("bad argument: %v\n%s", err, stderr)
	}
	missing := filepath.Join(t.TempDir(), "none.duckdb")
	if _, _, err := scripttest.Run(t, run, "--db", missing); !errors.Is(err, cli.ErrNoDatabase) {
		t.Fatalf("missing database: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a missing database was created")
	}
}
