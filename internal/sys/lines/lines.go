// Package lines reads newline-delimited messages (JSON-RPC over stdio or
// a socket) on a goroutine of their own.
package lines

import (
	"bufio"
	"bytes"
	"context"
	"io"
)

// Read reads in on a new goroutine and sends each line, trimmed and not
// empty, on the first channel, then the error that ended the reading
// (io.EOF at the end of in) on the second; it stops sending when ctx ends.
// The caller watches ctx too: a read (of os.Stdin, say) cannot be
// interrupted, so the goroutine may stay blocked in it.
func Read(ctx context.Context, in io.Reader) (<-chan []byte, <-chan error) {
	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		r := bufio.NewReader(in)
		for {
			line, err := r.ReadBytes('\n')
			if line = bytes.TrimSpace(line); len(line) > 0 {
				select {
				case lines <- line:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	return lines, readErr
}
