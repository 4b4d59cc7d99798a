package dbx

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCheckpointDecisions: when the policy folds the WAL into the file,
// decided from the windows pending, the WAL's size and whether anyone
// waits (TestCheckpointPolicy checks the effect on a real file).
func TestCheckpointDecisions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.duckdb")
	p := checkpoints{checkpointPolicy: checkpointPolicy{every: 3, walBytes: 100}}
	setWAL := func(size int) {
		if err := os.WriteFile(path+".wal", make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if p.beforeLetGo(path, true) {
		t.Fatal("checkpoint with nothing pending")
	}
	for i := 1; i <= 2; i++ {
		if p.afterWindow(path, false) {
			t.Fatalf("window %d (rows only, small WAL): checkpointed at once", i)
		}
		if p.beforeLetGo(path, false) {
			t.Fatalf("window %d: checkpointed before letting go for a waiter with %d of %d pending", i, p.windows, p.every)
		}
	}
	if !p.afterWindow(path, true) || p.windows != 0 {
		t.Fatal("a window that changed more than rows was not checkpointed at once")
	}
	p.afterWindow(path, false)
	setWAL(100)
	if !p.afterWindow(path, false) {
		t.Fatal("a WAL at its size limit was not checkpointed at once")
	}
	setWAL(10)
	for range 3 {
		p.afterWindow(path, false)
	}
	if !p.beforeLetGo(path, false) {
		t.Fatal("three windows pending: not checkpointed before letting go")
	}
	p.afterWindow(path, false)
	if !p.beforeLetGo(path, true) {
		t.Fatal("idle linger end with a window pending: not checkpointed")
	}
	if p.beforeLetGo(path, true) {
		t.Fatal("checkpointed twice for the same windows")
	}
}
