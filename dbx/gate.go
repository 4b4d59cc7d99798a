package dbx

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// gate keeps reads and the write window of one process apart: while a
// write waits or runs, no read connection opens on the read side, and the
// write starts only once every read connection has closed (so the read side
// has detached the file). The file must never be attached twice in one
// process: on Linux and macOS nothing else would stop it (fcntl locks do
// not conflict within a process), and on Windows the second open would
// fail. With [WithReadsDuringWrites], reads open on the write side while it
// holds the file and shares it (see share).
type gate struct {
	mu      sync.Mutex
	readers int  // read connections open or opening, on either side
	waiting int  // reads waiting for the write side to let go or share
	writing bool // a write window waits or runs, or the write side lingers
	sharing bool // the write side holds the file and takes reads
	closed  bool // Close has begun: no read enters, the write side shares no more
	changed chan struct{}
	// lastRead is when a read connection, on either side, last ran a
	// statement (unix nanoseconds).
	lastRead atomic.Int64
}

// readWithin reports whether a read ran within d.
func (g *gate) readWithin(d time.Duration) bool {
	return time.Since(time.Unix(0, g.lastRead.Load())) < d
}

func newGate() *gate { return &gate{changed: make(chan struct{})} }

func (g *gate) notifyLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// enterRead waits until no write waits or runs, or the write side shares
// the file, then counts a reader; onWriteSide says which. It waits for
// busy at most, then fails with ErrBusy; once Close has begun it fails
// with ErrClosed.
func (g *gate) enterRead(ctx context.Context, busy time.Duration) (onWriteSide bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.writing && !g.sharing && !g.closed {
		g.waiting++
		g.notifyLocked() // a lingering write side lets go
		defer func() {
			g.waiting--
			g.notifyLocked()
		}()
		wait, cancel := context.WithTimeout(ctx, max(busy, time.Millisecond))
		defer cancel()
		if err := g.awaitLocked(wait, func() bool { return !g.writing || g.sharing || g.closed }); err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, fmt.Errorf("%w: a read waited the busy timeout (%v) for it (if this goroutine runs a window, read through its transaction)", ErrBusy, busy)
		}
	}
	if g.closed {
		return false, ErrClosed
	}
	g.readers++
	return g.sharing, nil
}

// tryEnterRead counts a reader on the read side, without waiting, unless
// a write waits or runs (or the write side lingers).
func (g *gate) tryEnterRead() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.writing || g.closed {
		return false
	}
	g.readers++
	g.notifyLocked()
	return true
}

// awaitLocked waits, with g.mu held on entry and on return, until done
// reports true at a change of the gate, or ctx ends.
func (g *gate) awaitLocked(ctx context.Context, done func() bool) error {
	for !done() {
		changed := g.changed
		g.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			g.mu.Lock()
			return ctx.Err()
		}
		g.mu.Lock()
	}
	return nil
}

// readersWaiting returns how many reads wait for the write side.
func (g *gate) readersWaiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

// waitingChanged returns a channel closed at the next change of the gate.
func (g *gate) waitingChanged() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed
}

func (g *gate) leaveRead() {
	g.mu.Lock()
	g.readers--
	g.notifyLocked()
	g.mu.Unlock()
}

// writeWaiting reports whether a write waits or runs, or Close has begun:
// a read connection then closes when returned, and the read side lets go.
func (g *gate) writeWaiting() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.writing || g.closed
}

// startWrite stops new reads. Call waitReaders next, and endWrite in any
// case.
func (g *gate) startWrite() {
	g.mu.Lock()
	g.writing = true
	g.notifyLocked()
	g.mu.Unlock()
}

// waitReaders returns when no read connection is open, or returns the
// number still open when ctx ends.
func (g *gate) waitReaders(ctx context.Context) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	err := g.awaitLocked(ctx, func() bool { return g.readers == 0 })
	return g.readers, err
}

func (g *gate) endWrite() {
	g.mu.Lock()
	g.writing, g.sharing = false, false
	g.notifyLocked()
	g.mu.Unlock()
}

// close lets no read in from now on (those waiting fail with ErrClosed),
// and stops sharing the write side for good: Close waits for the reads in
// use, which no window may then hand more connections.
func (g *gate) close() {
	g.mu.Lock()
	g.closed, g.sharing = true, false
	g.notifyLocked()
	g.mu.Unlock()
}
