package dbx

import (
	"path/filepath"
	"testing"

	"github.com/healthsim/healthsim-go/internal/sys/filelock"
)

// TestWaitMarkRetried: a waiter whose mark met a writer's peek (which
// holds the wait sidecar exclusively for an instant) marks again at its
// next look, and a writer then sees it.
func TestWaitMarkRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.duckdb")
	writer, waiter := openIntent(path), openIntent(path)
	defer writer.close()
	defer waiter.close()

	if ok, err := filelock.TryLock(writer.peek, true); !ok { // a peek in progress
		t.Fatalf("peek: %v", err)
	}
	waiter.want()
	if waiter.marked {
		t.Fatal("marked while a peek holds the wait sidecar")
	}
	filelock.Unlock(writer.peek)
	if writer.wanted() {
		t.Fatal("wanted before the waiter marked again")
	}
	waiter.mu.Lock()
	waiter.markLocked() // what poll does at each look
	waiter.mu.Unlock()
	if !writer.wanted() {
		t.Fatal("the waiter marked again but the writer does not see it")
	}
	waiter.unwant()
	if writer.wanted() {
		t.Fatal("wanted after the waiter is done")
	}
}
