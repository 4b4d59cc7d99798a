//go:build unix

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// nobody is the user a root test runs the server as, so that file modes
// keep it out (root may write anything).
const nobody = 65534

// TestE2EUnwritableDatabase: a database file, or its folder, that the
// server's user cannot write is logged at start, and the write tools answer
// with a sentence saying so, changing nothing, while reads work. Run as
// root, the server runs as user nobody over files owned by root; run as
// another user, over files without write permission.
func TestE2EUnwritableDatabase(t *testing.T) {
	root := os.Geteuid() == 0
	// The binary and the folders must be reachable by nobody.
	binDir := openDir(t)
	bin := filepath.Join(binDir, "healthsim")
	if err := copyFile(builtBinary(t), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                string
		dirMode, fileMode   os.FileMode // as root: the server runs as nobody, others' bits count
		dirModeU, fileModeU os.FileMode // as another user: the owner's bits count
		want                string
	}{
		{"file", 0o777, 0o644, 0o755, 0o444, "this server cannot write the database file"},
		{"folder", 0o755, 0o666, 0o555, 0o644, "this server cannot write in the folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dir := openDir(t)
			db := filepath.Join(dir, "hs.duckdb")
			mustRun(t, "migrate", "up", "--db", db)
			mustRun(t, "reference", "load-sample", "--db", db) // something to read
			dirMode, fileMode := tc.dirModeU, tc.fileModeU
			if root {
				dirMode, fileMode = tc.dirMode, tc.fileMode
			}
			os.Chmod(db, fileMode)
			os.Chmod(dir, dirMode)
			t.Cleanup(func() { os.Chmod(dir, 0o755) }) // for t.TempDir's removal

			log := newE2ELog()
			cmd := exec.Command(bin, "serve", "--db", db)
			cmd.Env = append(os.Environ(), "HOME="+binDir)
			cmd.Stderr = log
			if root {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			}
			client := sdk.NewClient(&sdk.Implementation{Name: "healthsim-e2e-go", Version: "test"}, nil)
			cs, err := client.Connect(ctx, &sdk.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
			if err != nil {
				t.Fatalf("connect: %v; server log:\n%s", err, log)
			}
			defer cs.Close()
			c := e2eCaller{t: t, ctx: ctx, cs: cs}
			var rows struct {
				RowCount int `json:"row_count"`
			}
			c.ok("healthsim_query", map[string]any{"sql": "SELECT count(*) FROM population.places_county"}, &rows)
			c.failing("healthsim_save_scenario", map[string]any{"name": "x", "entities": map[string]any{"patients": []any{map[string]any{"id": "p1"}}}},
				`Could not save scenario "x": `+tc.want)
			c.failing("healthsim_delete_scenario", map[string]any{"name_or_id": "x", "confirm": true}, `Could not delete scenario "x": `+tc.want)
			if !strings.Contains(log.String(), "the database cannot be written") || !strings.Contains(log.String(), tc.want) {
				t.Errorf("the server did not log that it cannot write; its log:\n%s", log)
			}
			if t.Failed() {
				t.Logf("server log:\n%s", log)
			}
		})
	}
}

// openDir returns a new folder that every user can enter and read, removed
// at the end of the test.
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "healthsim-open")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
