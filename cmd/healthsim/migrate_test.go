package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/cmd/healthsim/internal/share"
	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/migrations"
	"github.com/jmoiron/sqlx"
)

// runMigrate runs `healthsim migrate args` in-process with stdin given and
// stdin taken for a terminal or not, and returns its stderr and error.
func runMigrate(t *testing.T, terminal bool, stdin string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr, terminal: terminal}
	err := (&MigrateCommand{env: e}).Run(context.Background(), args)
	return stderr.String(), err
}

// TestMigrateRollbackAsks: the verbs that drop data say what they drop and
// ask on a terminal; --yes does not ask; without a terminal they need --yes.
func TestMigrateRollbackAsks(t *testing.T) {
	db := tempDB(t)
	mustRun(t, "migrate", "up", "--db", db)
	version := func() string { return strings.Fields(mustRun(t, "migrate", "version", "--db", db))[1] }
	want := fmt.Sprint(latest)

	// No terminal, no --yes: a sentence saying to pass --yes, nothing changed.
	if _, err := runMigrate(t, false, "y\n", "down-to", "0", "--db", db); err == nil || !strings.Contains(err.Error(), "pass --yes") ||
		!strings.Contains(err.Error(), "every saved scenario is lost") {
		t.Fatalf("down-to 0 without a terminal: %v", err)
	}
	// On a terminal: the question names the migrations; "n" (or nothing) changes nothing.
	for _, answer := range []string{"n\n", "", "maybe\n"} {
		question, err := runMigrate(t, true, answer, "reset", "--db", db)
		if err == nil || !strings.Contains(err.Error(), "not confirmed; nothing was changed") {
			t.Fatalf("reset answered %q: %v", answer, err)
		}
		for _, part := range []string{fmt.Sprintf("roll back %d migrations of %s", latest, db), "00001_scenarios.sql", "every saved scenario is lost", "Continue? [y/N]"} {
			if !strings.Contains(question, part) {
				t.Fatalf("the question lacks %q:\n%s", part, question)
			}
		}
	}
	if v := version(); v != want {
		t.Fatalf("refused rollbacks changed the version to %s", v)
	}
	question, err := runMigrate(t, true, "yes\n", "down", "--db", db)
	if err != nil || !strings.Contains(question, "roll back 1 migration of") || strings.Contains(question, "every saved scenario") {
		t.Fatalf("down, confirmed: %v\n%s", err, question)
	}
	if v := version(); v != fmt.Sprint(latest-1) {
		t.Fatalf("after a confirmed down: version %s", v)
	}
	if question, err := runMigrate(t, true, "", "down-to", "2", "--db", db, "--yes"); err != nil || question != "" {
		t.Fatalf("down-to 2 --yes asked %q: %v", question, err)
	}
	if v := version(); v != "2" {
		t.Fatalf("after down-to 2 --yes: version %s", v)
	}
	// Nothing to roll back: nothing to ask.
	if _, err := runMigrate(t, false, "", "down-to", "5", "--db", db); err != nil {
		t.Fatalf("down-to above the version: %v", err)
	}
}

// TestE2EMigrateUnderServer: with a real `healthsim serve` owning the file,
// a second `healthsim` process's rollback refuses and changes nothing
// unless forced; forced, the server answers every call with one sentence
// saying what to run, and after `migrate up` it serves again.
func TestE2EMigrateUnderServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := tempDB(t)
	cs, cmd, log, err := e2eConnectStdio(t, ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", log)
		}
	}()
	c := e2eCaller{t: t, ctx: ctx, cs: cs}
	c.ok("healthsim_save_scenario", map[string]any{"name": "kept", "entities": map[string]any{"patients": []any{map[string]any{"id": "p1"}}}}, &struct{}{})
	if rec, owned := share.Owned(db); !owned || rec.PID != cmd.Process.Pid {
		t.Fatalf("the server (PID %d) does not own the file: %+v, %v", cmd.Process.Pid, rec, owned)
	}
	migrate := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, builtBinary(t), append([]string{"migrate", "--db", db}, args...)...).CombinedOutput()
		return string(out), err
	}
	var list struct {
		Count int `json:"count"`
	}

	for _, args := range [][]string{{"down-to", "0"}, {"down-to", "0", "--yes"}, {"reset", "--yes"}, {"down", "--yes"}, {"redo", "--yes"}} {
		out, err := migrate(args...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, fmt.Sprintf("healthsim serve (PID %d) is serving %s", cmd.Process.Pid, db)) ||
			!strings.Contains(out, fmt.Sprintf("`kill %d`", cmd.Process.Pid)) || !strings.Contains(out, "--force") {
			t.Fatalf("migrate %v under the server: %v\n%s", args, err, out)
		}
	}
	if out, _ := migrate("version"); !strings.HasPrefix(out, fmt.Sprintf("version %d", latest)) {
		t.Fatalf("a refused rollback changed the schema: %s", out)
	}
	c.ok("healthsim_list_scenarios", nil, &list)
	if list.Count != 1 {
		t.Fatalf("after the refusals: %d scenarios", list.Count)
	}
	// --force alone, without a terminal: still asks for --yes.
	if out, err := migrate("down-to", "0", "--force"); err == nil || !strings.Contains(out, "pass --yes") {
		t.Fatalf("down-to 0 --force without a terminal: %v\n%s", err, out)
	}

	if out, err := migrate("down-to", "0", "--force", "--yes"); err != nil {
		t.Fatalf("down-to 0 --force --yes: %v\n%s", err, out)
	}
	sentence := fmt.Sprintf("the database %s is at schema version 0, but this server needs version %d: run `healthsim migrate up --db %s`, then call this tool again.", db, latest, db)
	c.failing("healthsim_list_scenarios", nil, sentence)
	c.failing("healthsim_query", map[string]any{"sql": "SELECT count(*) FROM scenarios"}, sentence)
	c.failing("healthsim_save_scenario", map[string]any{"name": "x", "entities": map[string]any{"patients": []any{map[string]any{"id": "p1"}}}}, sentence)

	if out, err := migrate("up"); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, out)
	}
	c.ok("healthsim_list_scenarios", nil, &list)
	if list.Count != 0 {
		t.Fatalf("after down-to 0 and up: %d scenarios", list.Count)
	}
	c.ok("healthsim_save_scenario", map[string]any{"name": "again", "entities": map[string]any{"patients": []any{map[string]any{"id": "p1"}}}}, &struct{}{})

	// A schema newer than the server's: it says to upgrade healthsim.
	other, err := dbx.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	err = other.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (?, true)", latest+1)
		return err
	})
	other.Close()
	if err != nil {
		t.Fatal(err)
	}
	c.failing("healthsim_list_scenarios", nil, fmt.Sprintf("is at schema version %d, newer than this server knows (version %d): upgrade healthsim", latest+1, latest))
}

// BenchmarkSchemaCheck measures what serve's schema check costs a tool
// call: "unchanged" when the file is as last seen (two stats), "read" when
// it changed (goose's version read).
//
//	go test -run '^$' -bench SchemaCheck ./cmd/healthsim/
func BenchmarkSchemaCheck(b *testing.B) {
	ctx := context.Background()
	db, err := dbx.Open(ctx, filepath.Join(b.TempDir(), "hs.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := migrations.Up(ctx, db); err != nil {
		b.Fatal(err)
	}
	w := schemaWatch{db: db, need: migrations.Latest()}
	b.Run("unchanged", func(b *testing.B) {
		for b.Loop() {
			if err := w.check(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			w.seen = fileState{}
			if err := w.check(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
