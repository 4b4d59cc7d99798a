//go:build unix

package main

import (
	"path/filepath"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
)

// TestGetlkHolder: what `healthsim locks` tells on macOS, checked here
// too: the kernel names a plain DuckDB process holding the file, read-only
// or read-write, and nobody once it is gone.
func TestGetlkHolder(t *testing.T) {
	db := tempDB(t)
	mustRun(t, "migrate", "up", "--db", db)
	if _, held, err := getlkHolder(db); err != nil || held {
		t.Fatalf("nobody holds it: held %v, %v", held, err)
	}
	for _, tc := range []struct {
		helper string
		mode   dbx.Mode
	}{{"hold-ro", dbx.ReadOnly}, {"hold-rw", dbx.ReadWrite}} {
		pid, stop := hold(t, tc.helper, db)
		h, held, err := getlkHolder(db)
		if err != nil || !held || h.PID != pid || h.Mode != tc.mode {
			t.Fatalf("%s (PID %d): %+v held %v, %v", tc.helper, pid, h, held, err)
		}
		if self, _ := filepath.Glob(h.Exe); len(self) == 0 {
			t.Errorf("%s: executable %q not named", tc.helper, h.Exe)
		}
		stop()
	}
	if _, held, err := getlkHolder(db); err != nil || held {
		t.Fatalf("after the holders stopped: held %v, %v", held, err)
	}
}
