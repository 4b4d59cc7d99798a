package dbx

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// cancelAtFirstErr is a context cancelled when its Err is first asked: as
// if the caller's context ended right after the write queue was taken,
// before lockWrites looked at it.
type cancelAtFirstErr struct {
	context.Context
	cancel context.CancelFunc
	asked  atomic.Int32
}

func (c *cancelAtFirstErr) Err() error {
	if c.asked.Add(1) == 1 {
		c.cancel()
	}
	return c.Context.Err()
}

// TestLockWritesKeepsNoTurnItRefuses: a window whose context ends as it
// gets its turn in the write queue either keeps the turn (and runs) or
// gives it back; the next window gets its turn.
func TestLockWritesKeepsNoTurnItRefuses(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "x.duckdb"), WithBusyTimeout(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	inner, cancel := context.WithCancel(context.Background())
	if err := db.lockWrites(&cancelAtFirstErr{Context: inner, cancel: cancel}); err == nil {
		db.writes.Release(1)
	}
	if !db.writes.TryAcquire(1) {
		t.Fatal("lockWrites kept the write queue after its context ended") // and Close would wait for it
	}
	db.writes.Release(1)
	db.Close()
}
