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
// context's end gives up.
func TestGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		ctx := context.Background()
		if err := g.enterRead(ctx); err != nil { // a read in flight
			t.Fatal(err)
		}
		g.startWrite()
		if !g.writeWaiting() {
			t.Fatal("writeWaiting false after startWrite")
		}
		readIn := make(chan error, 1)
		go func() { readIn <- g.enterRead(ctx) }()
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
		if err := g.enterRead(late); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read during a write past its deadline: %v", err)
		}
		g.endWrite()
		if err := <-readIn; err != nil {
			t.Fatalf("the waiting read after the write: %v", err)
		}
		if g.readersWaiting() != 0 || g.writeWaiting() {
			t.Fatal("the gate is not open after the write")
		}
		g.leaveRead()
	})
}
