package mcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthsim/healthsim-go/internal/sys/lines"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// drainFor is how long requests in flight get to finish once ServeLines
// stops reading because its context ended.
const drainFor = 5 * time.Second

// ServeLines serves one client over newline-delimited JSON-RPC (stdio, or
// a bridge's connection to the owner of the database) with a session of
// its own, until in ends or ctx is cancelled, both a clean stop (nil
// error). Requests run concurrently. When in ends, requests already read
// are answered first; when ctx ends, they get drainFor to finish. Only
// protocol messages are written to out, each on one line; a request's log
// and progress notifications queued before its answer are written before
// it.
func (s *Server) ServeLines(ctx context.Context, in io.Reader, out io.Writer) error {
	sess := newLineSession()
	if err := s.MCPServer.RegisterSession(ctx, sess); err != nil {
		return fmt.Errorf("mcp: register session: %w", err)
	}
	defer s.MCPServer.UnregisterSession(context.WithoutCancel(ctx), sess.id)
	w := startLineWriter(out, sess.notifications)
	// Requests outlive ctx by drainFor at most.
	reqCtx, cancelRequests := context.WithCancel(s.MCPServer.WithContext(context.WithoutCancel(ctx), sess))
	defer cancelRequests()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(drainFor, cancelRequests) })
	defer stopDrain()

	incoming, readErr := lines.Read(ctx, in)

	var requests sync.WaitGroup
	var err error
loop:
	for {
		select {
		case line := <-incoming:
			s.handleLine(reqCtx, line, w, &requests)
		case err = <-readErr:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	requests.Wait()
	cancelRequests()
	w.close()
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return fmt.Errorf("mcp: read: %w", err)
}

// handleLine runs one message: a request on a goroutine of its own (its
// answer written when done), a notification at once, in order.
func (s *Server) handleLine(ctx context.Context, line []byte, w *lineWriter, requests *sync.WaitGroup) {
	var head struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		w.answer(mcpgo.NewJSONRPCError(mcpgo.NewRequestId(nil), mcpgo.PARSE_ERROR, "Parse error: each line must be one JSON-RPC message", nil))
		return
	}
	switch {
	case head.Method == "":
		// An answer to a request of the server's: it sends none.
	case len(head.ID) == 0 || string(head.ID) == "null":
		s.handle(ctx, nil, line)
	default:
		var id any
		_ = json.Unmarshal(head.ID, &id)
		requests.Go(func() {
			if answer := s.handle(ctx, id, line); answer != nil {
				w.answer(answer)
			}
		})
	}
}

// handle runs HandleMessage, turning a panic into an error answer (for a
// request) so that it cannot end the process.
func (s *Server) handle(ctx context.Context, id any, line []byte) (answer mcpgo.JSONRPCMessage) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("mcp: panic while handling a message", "panic", r)
			if id != nil {
				answer = mcpgo.NewJSONRPCError(mcpgo.NewRequestId(id), mcpgo.INTERNAL_ERROR, fmt.Sprintf("internal error: %v", r), nil)
			}
		}
	}()
	return s.MCPServer.HandleMessage(ctx, line)
}

// lineWriter is the one goroutine that writes to out, a message per line:
// the session's notifications as they come, and each answer after the
// notifications queued before it (its request's among them).
type lineWriter struct {
	out           io.Writer
	notifications <-chan mcpgo.JSONRPCNotification
	answers       chan any
	done          chan struct{}
}

func startLineWriter(out io.Writer, notifications <-chan mcpgo.JSONRPCNotification) *lineWriter {
	w := &lineWriter{out: out, notifications: notifications, answers: make(chan any), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *lineWriter) run() {
	defer close(w.done)
	for {
		select {
		case n := <-w.notifications:
			w.writeLine(n)
		case msg, ok := <-w.answers:
			w.flushNotifications()
			if !ok {
				return
			}
			w.writeLine(msg)
		}
	}
}

// answer writes msg after the notifications queued so far.
func (w *lineWriter) answer(msg any) { w.answers <- msg }

// close writes the notifications queued so far and stops the writer; no
// answer may follow.
func (w *lineWriter) close() {
	close(w.answers)
	<-w.done
}

func (w *lineWriter) flushNotifications() {
	for {
		select {
		case n := <-w.notifications:
			w.writeLine(n)
		default:
			return
		}
	}
}

func (w *lineWriter) writeLine(msg any) {
	b, err := json.Marshal(msg)
	if err != nil {
		return
	}
	_, _ = w.out.Write(append(b, '\n')) // a client that has gone reads nothing more
}

// lineSession is the session of one client of ServeLines.
type lineSession struct {
	id            string
	notifications chan mcpgo.JSONRPCNotification
	initialized   atomic.Bool
	level         atomic.Value // mcpgo.LoggingLevel
	clientInfo    atomic.Value // mcpgo.Implementation
	capabilities  atomic.Value // mcpgo.ClientCapabilities
	protocol      atomic.Value // string
}

func newLineSession() *lineSession {
	id := make([]byte, 8)
	_, _ = rand.Read(id) // never fails
	return &lineSession{id: "lines-" + hex.EncodeToString(id), notifications: make(chan mcpgo.JSONRPCNotification, 100)}
}

func (s *lineSession) SessionID() string { return s.id }
func (s *lineSession) NotificationChannel() chan<- mcpgo.JSONRPCNotification {
	return s.notifications
}
func (s *lineSession) Initialize()                             { s.initialized.Store(true) }
func (s *lineSession) Initialized() bool                       { return s.initialized.Load() }
func (s *lineSession) SetLogLevel(level mcpgo.LoggingLevel)    { s.level.Store(level) }
func (s *lineSession) SetClientInfo(info mcpgo.Implementation) { s.clientInfo.Store(info) }
func (s *lineSession) SetClientCapabilities(c mcpgo.ClientCapabilities) {
	s.capabilities.Store(c)
}
func (s *lineSession) SetProtocolVersion(version string) { s.protocol.Store(version) }

// GetLogLevel is the level the client asked for, "error" until it does
// (as over mcp-go's stdio).
func (s *lineSession) GetLogLevel() mcpgo.LoggingLevel {
	level, ok := s.level.Load().(mcpgo.LoggingLevel)
	if !ok {
		return mcpgo.LoggingLevelError
	}
	return level
}

func (s *lineSession) GetClientInfo() mcpgo.Implementation {
	info, _ := s.clientInfo.Load().(mcpgo.Implementation)
	return info
}

func (s *lineSession) GetClientCapabilities() mcpgo.ClientCapabilities {
	c, _ := s.capabilities.Load().(mcpgo.ClientCapabilities)
	return c
}

func (s *lineSession) ProtocolVersion() string {
	v, _ := s.protocol.Load().(string)
	return v
}

var (
	_ server.SessionWithLogging         = (*lineSession)(nil)
	_ server.SessionWithClientInfo      = (*lineSession)(nil)
	_ server.SessionWithProtocolVersion = (*lineSession)(nil)
)
