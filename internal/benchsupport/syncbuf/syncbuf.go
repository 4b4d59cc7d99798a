// Package syncbuf has a bytes.Buffer that one goroutine can write (a child
// process's output, or a log, say) while others read it or wait for a text
// to appear in it.
package syncbuf

import (
	"bytes"
	"context"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent Write, String and Await
// calls. The zero value is ready to use.
type Buffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	written chan struct{} // closed at the next Write; nil while nobody waits
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.written != nil {
		close(b.written)
		b.written = nil
	}
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Await waits until what was written contains s, or ctx ends.
func (b *Buffer) Await(ctx context.Context, s string) error {
	for {
		b.mu.Lock()
		if strings.Contains(b.buf.String(), s) {
			b.mu.Unlock()
			return nil
		}
		if b.written == nil {
			b.written = make(chan struct{})
		}
		written := b.written
		b.mu.Unlock()
		select {
		case <-written:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
