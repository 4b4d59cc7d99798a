package dbx

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestGate: reads wait while a write waits or runs and go on after it;
// the write waits for the reads in flight; a read that waits past its
// context's end or the busy timeout gives up.
func TestGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		ctx := context.Background()
		if onWriteSide, err := g.enterRead(ctx, time.Hour); err != nil || onWriteSide { // a read in flight
			t.Fatal(onWriteSide, err)
		}
		g.startWrite()
		if !g.writeWaiting() {
			t.Fatal("writeWaiting false after startWrite")
		}
		readIn := make(chan error, 1)
		go func() {
			_, err := g.enterRead(ctx, time.Hour)
			readIn <- err
		}()
		synctest.Wait()
		if g.readersWaiting() != 1 {
			t.Fatalf("%d readers waiting, want 1", g.readersWaiting())
		}
		select {
		case <-readIn:
			t.Fatal("a read entered while a write waits")
		default:
		}
		// The write waits for the read in flight, up to its deadline.
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if open, err := g.waitReaders(short); open != 1 || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("waitReaders with a read in flight: %d, %v", open, err)
		}
		g.leaveRead()
		if open, err := g.waitReaders(ctx); open != 0 || err != nil {
			t.Fatalf("waitReaders after the read: %d, %v", open, err)
		}
		// A read whose context ends while the write runs gives up.
		late, cancelLate := context.WithTimeout(ctx, time.Second)
		defer cancelLate()
		if _, err := g.enterRead(late, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read during a write past its deadline: %v", err)
		}
		// A read waits for the write the busy timeout at most.
		start := time.Now()
		if _, err := g.enterRead(ctx, 100*time.Millisecond); !errors.Is(err, ErrBusy) || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("read during a write past the busy timeout: %v after %v", err, time.Since(start))
		}
		g.endWrite()
		if err := <-readIn; err != nil {
			t.Fatalf("the waiting read after the write: %v", err)
		}
		if g.readersWaiting() != 0 || g.writeWaiting() {
			t.Fatal("the gate is not open after the write")
		}
		g.leaveRead()
		// Once closed, no read enters, and the write side shares no more.
		g.close()
		if _, err := g.enterRead(ctx, time.Hour); !errors.Is(err, ErrClosed) {
			t.Fatalf("a read after close: %v, want ErrClosed", err)
		}
		if g.tryEnterRead() {
			t.Fatal("tryEnterRead after close counted a reader")
		}
		g.share(true, nil)
		if g.sharingReads() {
			t.Fatal("the closed gate shares the write side")
		}
	})
}

// TestGateSharing: while the write side shares the file, reads enter at
// once, on the write side, and count as readers; once it stops sharing,
// new reads wait again, and the write side waits for those it took.
func TestGateSharing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		ctx := context.Background()
		g.startWrite()
		entered := make(chan bool, 1)
		go func() {
			onWriteSide, err := g.enterRead(ctx, time.Hour)
			if err != nil {
				t.Error(err)
			}
			entered <- onWriteSide
		}()
		synctest.Wait()
		if g.readersWaiting() != 1 {
			t.Fatalf("%d readers waiting before the write side shares, want 1", g.readersWaiting())
		}
		g.share(true, nil)
		if onWriteSide := <-entered; !onWriteSide || !g.sharingReads() {
			t.Fatalf("a read entered on the write side: %v, sharing: %v", onWriteSide, g.sharingReads())
		}
		if onWriteSide, err := g.enterRead(ctx, time.Hour); err != nil || !onWriteSide {
			t.Fatalf("a read while sharing: on the write side %v, %v", onWriteSide, err)
		}
		taken := make(chan struct{})
		close(taken)
		g.share(false, taken) // a watcher whose linger a window took back
		if !g.sharingReads() {
			t.Fatal("share with a closed channel stopped sharing")
		}
		g.share(false, nil)
		late, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, err := g.enterRead(late, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a read after sharing stopped: %v, want to wait", err)
		}
		if open, err := g.waitReaders(late); open != 2 || err == nil {
			t.Fatalf("waitReaders with two shared reads in flight: %d, %v", open, err)
		}
		g.leaveRead()
		g.leaveRead()
		if open, err := g.waitReaders(ctx); open != 0 || err != nil {
			t.Fatalf("waitReaders after the shared reads: %d, %v", open, err)
		}
		g.endWrite()
		if onWriteSide, err := g.enterRead(ctx, time.Hour); err != nil || onWriteSide {
			t.Fatalf("a read after the write: on the write side %v, %v", onWriteSide, err)
		}
	})
}
