package dbx

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestLingerEnd: the write linger ends idle a linger after the write
// side's last use (a read on it counts), early when someone wants the file
// (seen within pollMax, or at once on a gate change), and not at all when
// a window takes the write side back.
func TestLingerEnd(t *testing.T) {
	never := func() bool { return false }
	noChange := func() <-chan struct{} { return nil }
	var lastUse atomic.Int64 // set by each bubble
	used := func() time.Time { return time.Unix(0, lastUse.Load()) }
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		lastUse.Store(start.UnixNano())
		if idle, taken := awaitLingerEnd(make(chan struct{}), 10*time.Millisecond, used, never, noChange); !idle || taken {
			t.Fatalf("nobody wants the file: idle %v taken %v", idle, taken)
		}
		if took := time.Since(start); took != 10*time.Millisecond {
			t.Fatalf("the linger ended after %v, want 10ms", took)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		lastUse.Store(start.UnixNano())
		go func() { // a read on the shared write side
			time.Sleep(6 * time.Millisecond)
			lastUse.Store(time.Now().UnixNano())
		}()
		if idle, taken := awaitLingerEnd(make(chan struct{}), 10*time.Millisecond, used, never, noChange); !idle || taken {
			t.Fatalf("nobody wants the file: idle %v taken %v", idle, taken)
		}
		if took := time.Since(start); took != 16*time.Millisecond {
			t.Fatalf("the linger ended after %v, want 16ms (10ms after the read at 6ms)", took)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		wantedAt := start.Add(2500 * time.Microsecond) // another process starts waiting
		wanted := func() bool { return !time.Now().Before(wantedAt) }
		if idle, taken := awaitLingerEnd(make(chan struct{}), time.Minute, used, wanted, noChange); idle || taken {
			t.Fatalf("wanted: idle %v taken %v", idle, taken)
		}
		if late := time.Since(wantedAt); late < 0 || late > pollMax {
			t.Fatalf("let go %v after the file was wanted; want within %v", late, pollMax)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		lastUse.Store(start.UnixNano())
		var waiting atomic.Bool
		changed := make(chan struct{})
		go func() { // a reader of this process comes to the gate
			time.Sleep(300 * time.Microsecond)
			waiting.Store(true)
			close(changed)
		}()
		if idle, taken := awaitLingerEnd(make(chan struct{}), time.Minute, used, waiting.Load, func() <-chan struct{} { return changed }); idle || taken {
			t.Fatalf("a reader of this process waits: idle %v taken %v; want wanted (neither)", idle, taken)
		}
		if took := time.Since(start); took != 300*time.Microsecond {
			t.Fatalf("a reader of this process waited %v, want 0 after it came", took-300*time.Microsecond)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		go func() { time.Sleep(5 * time.Millisecond); close(stop) }() // the next window
		if idle, taken := awaitLingerEnd(stop, time.Minute, used, never, noChange); idle || !taken {
			t.Fatalf("taken back: idle %v taken %v", idle, taken)
		}
	})
}

// TestLeaseWatcher: an attached read host lets go of the file once its
// last statement is a lease old (within watchEvery), not before, and at
// once for a writer of another dbx process.
func TestLeaseWatcher(t *testing.T) {
	newReadHost := func(in *intent) (*host, *atomic.Int32) {
		var letGos atomic.Int32
		h := &host{mode: ReadOnly, lease: time.Second, intent: in,
			opening: make(chan struct{}, 1), changed: make(chan struct{}),
			letGo: func() { letGos.Add(1) }}
		h.lastUse.Store(time.Now().UnixNano())
		return h, &letGos
	}
	synctest.Test(t, func(t *testing.T) {
		h, letGos := newReadHost(nil)
		stop := make(chan struct{})
		defer close(stop)
		go h.watch(stop)
		time.Sleep(500 * time.Millisecond)
		h.lastUse.Store(time.Now().UnixNano()) // a statement: the lease starts again
		time.Sleep(time.Second - time.Millisecond)
		synctest.Wait()
		if n := letGos.Load(); n != 0 {
			t.Fatalf("let go %d times within the lease", n)
		}
		time.Sleep(watchEvery + time.Millisecond)
		synctest.Wait()
		if letGos.Load() == 0 {
			t.Fatalf("still holding the file %v after the lease", watchEvery)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "x.duckdb")
		reader, writer := openIntent(path), openIntent(path)
		defer reader.close()
		defer writer.close()
		h, letGos := newReadHost(reader)
		stop := make(chan struct{})
		defer close(stop)
		go h.watch(stop)
		time.Sleep(100 * time.Millisecond)
		if err := writer.lock(context.Background(), time.Second); err != nil { // another process's writer
			t.Fatal(err)
		}
		defer writer.unlock()
		time.Sleep(watchEvery + time.Millisecond)
		synctest.Wait()
		if letGos.Load() == 0 {
			t.Fatalf("a writer waits, but the read host did not let go within %v", watchEvery)
		}
	})
}
