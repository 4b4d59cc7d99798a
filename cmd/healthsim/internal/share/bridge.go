package share

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthsim/healthsim-go/internal/sys/lines"
)

// Bridge forwards a stdio client's JSON-RPC messages to the owner of a
// database file over the owner's endpoint, and the owner's answers,
// progress and log notifications back, without opening the database. The
// client's session at the owner is the connection, as over stdio.
type Bridge struct {
	DBPath string
	Log    *slog.Logger
	// WriteTools are the tools whose interrupted calls may have changed
	// the database.
	WriteTools []string
	// TakeOver starts serving the database in this process once it has
	// claimed the file from an owner that went away, and returns its
	// record. It is called at most once.
	TakeOver func(ctx context.Context, o *Owner) (Record, error)

	outMu sync.Mutex
	out   io.Writer

	mu        sync.Mutex // guards the fields below; held while switching owners
	conn      *ownerConn // nil while no owner could be reached
	pending   map[string]message
	answered  chan struct{} // closed and replaced when pending shrinks
	initLine  []byte        // the client's initialize request, replayed to a new owner
	levelLine []byte        // the client's last logging/setLevel request, replayed too
	took      bool
	done      bool            // Run is ending: a closed connection is not a failover
	ctx       context.Context // Run's, for which the readers of the connections live
	readers   sync.WaitGroup

	// clientGone is set when the client's input ends: a failover then only
	// answers what is pending, and neither claims the file nor reconnects.
	clientGone atomic.Bool
}

// ownerConn is a connection to one owner, carrying the client's session.
type ownerConn struct {
	rec     Record
	conn    net.Conn
	r       *bufio.Reader
	writeMu sync.Mutex
}

func (c *ownerConn) send(line []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err := c.conn.Write(append(line, '\n'))
	return err
}

// message is one JSON-RPC message from the client, decoded once.
type message struct {
	line   []byte
	id     json.RawMessage
	method string
	tool   string // params.name: the tool of a tools/call
}

func parseMessage(line []byte) message {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	_ = json.Unmarshal(line, &m)
	return message{line: line, id: m.ID, method: m.Method, tool: m.Params.Name}
}

// requestID is the id of a request, which gets an answer; nil for a
// notification, or the client's answer to a request of the owner.
func (m message) requestID() json.RawMessage {
	if m.method == "" || len(m.id) == 0 || string(m.id) == "null" {
		return nil
	}
	return m.id
}

// replayID is the request id of initialize and setLevel requests the bridge
// replays to a new owner; their answers are not forwarded.
const replayID = `"healthsim-bridge-replay"`

// Run forwards messages from in to the owner at rec, and its messages to
// out, until in ends and every request read has its answer, or ctx ends
// (both a clean stop: nil error).
func (b *Bridge) Run(ctx context.Context, rec Record, in io.Reader, out io.Writer) error {
	b.ctx, b.out, b.pending, b.answered = ctx, out, map[string]message{}, make(chan struct{})
	b.mu.Lock()
	if err := b.connect(ctx, rec); err != nil {
		b.Log.Warn("share: cannot reach the owner", "owner_pid", rec.PID, "err", err)
		b.failover(ctx, &ownerConn{rec: rec})
	}
	b.mu.Unlock()
	defer b.readers.Wait()
	defer b.stop()

	incoming, readErr := lines.Read(ctx, in)
	for {
		select {
		case line := <-incoming:
			b.forward(ctx, parseMessage(line))
		case err := <-readErr:
			if !errors.Is(err, io.EOF) {
				return err
			}
			b.clientGone.Store(true)
			b.Log.Debug("share: the client's input ended; waiting for the answers to its requests")
			b.awaitAnswers(ctx)
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// forward sends m to the owner. A request whose owner goes away before
// answering it gets an answer from failover.
func (b *Bridge) forward(ctx context.Context, m message) {
	b.mu.Lock()
	switch m.method {
	case "initialize":
		b.initLine = m.line
	case "logging/setLevel":
		b.levelLine = m.line
	}
	if b.conn == nil { // the last failover found no owner: look again
		b.failover(ctx, nil)
	}
	c := b.conn
	if id := m.requestID(); id != nil {
		if c == nil {
			b.mu.Unlock()
			b.write(rpcError(id, "no HealthSim server owns the database and this one could not take it over; restart the server (see its log)"))
			return
		}
		b.pending[idKey(id)] = m
	}
	b.mu.Unlock()
	if c == nil {
		return
	}
	if err := c.send(m.line); err != nil {
		// The owner is gone: its reader fails over and answers m.
		b.Log.Warn("share: could not send to the owner", "owner_pid", c.rec.PID, "method", m.method, "err", err)
	}
}

// connect dials the owner at rec, replays the client's session on it and
// makes it the connection (the caller holds b.mu).
func (b *Bridge) connect(ctx context.Context, rec Record) error {
	dialCtx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	conn, r, _, err := rec.dial(dialCtx, "mcp")
	if err != nil {
		return err
	}
	c := &ownerConn{rec: rec, conn: conn, r: r}
	if err := b.replay(c); err != nil {
		conn.Close()
		return err
	}
	b.conn = c
	b.readers.Go(func() { b.read(c) })
	return nil
}

// read passes the owner's messages on c to the client until c ends, then
// fails over unless the bridge is stopping.
func (b *Bridge) read(c *ownerConn) {
	for {
		line, err := c.r.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			b.write(line)
			if id, ok := answerID(line); ok {
				b.mu.Lock()
				if _, was := b.pending[idKey(id)]; was {
					delete(b.pending, idKey(id))
					close(b.answered)
					b.answered = make(chan struct{})
				}
				b.mu.Unlock()
			}
		}
		if err != nil {
			break
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done || b.conn != c || b.ctx.Err() != nil {
		return
	}
	b.Log.Warn("share: the owner stopped", "owner_pid", c.rec.PID)
	b.failover(b.ctx, c)
}

// failover answers the requests the owner of broken (nil: none) left
// unanswered and, unless the client has gone, moves to the next owner:
// another bridge that claimed the file, or this process, which claims it
// if nobody owns it (TakeOver). The caller holds b.mu; b.conn is nil if no
// owner could be reached.
func (b *Bridge) failover(ctx context.Context, broken *ownerConn) {
	if broken != nil && broken.conn != nil {
		broken.conn.Close()
	}
	b.conn = nil
	for id, m := range b.pending {
		b.write(interrupted(m, b.WriteTools))
		delete(b.pending, id)
	}
	close(b.answered)
	b.answered = make(chan struct{})

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	notPID := 0
	if broken != nil {
		notPID = broken.rec.PID
	}
	for ctx.Err() == nil && !b.clientGone.Load() {
		rec, err := Find(ctx, b.DBPath, notPID)
		if errors.Is(err, ErrUnowned) && !b.took {
			o, claimErr := Claim(b.DBPath)
			if errors.Is(claimErr, ErrOwned) {
				continue // another bridge was first: find it
			}
			if claimErr != nil {
				b.Log.Error("share: cannot claim the database", "err", claimErr)
				return
			}
			b.took = true
			if rec, err = b.TakeOver(ctx, o); err != nil {
				o.Release()
				b.Log.Error("share: cannot serve the database", "err", err)
				return
			}
		} else if err != nil {
			b.Log.Error("share: no owner to reconnect to", "err", err)
			return
		}
		if err := b.connect(ctx, rec); err != nil {
			b.Log.Warn("share: the new owner did not take the session", "owner_pid", rec.PID, "err", err)
			notPID = rec.PID
			continue
		}
		b.Log.Info("share: bridging to a new owner", "owner_pid", rec.PID)
		return
	}
}

// replay sends the client's initialize (and logging level) on c, a new
// connection, and drops the answers (the caller holds b.mu; nothing reads
// c yet).
func (b *Bridge) replay(c *ownerConn) error {
	_ = c.conn.SetDeadline(time.Now().Add(helloTimeout))
	defer c.conn.SetDeadline(time.Time{})
	for _, line := range [][]byte{b.initLine, b.levelLine} {
		if line == nil {
			continue
		}
		var msg map[string]json.RawMessage
		if err := json.Unmarshal(line, &msg); err != nil {
			return err
		}
		msg["id"] = json.RawMessage(replayID)
		replayed, _ := json.Marshal(msg)
		if err := c.send(replayed); err != nil {
			return err
		}
		for { // until the answer; notifications meanwhile are the replay's
			answer, err := c.r.ReadBytes('\n')
			if err != nil {
				return fmt.Errorf("replaying the session: %w", err)
			}
			if id, ok := answerID(answer); ok && idKey(id) == idKey(json.RawMessage(replayID)) {
				break
			}
		}
		if bytes.Equal(line, b.initLine) {
			if err := c.send([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil {
				return err
			}
		}
	}
	return nil
}

// awaitAnswers waits until every request sent has its answer, or ctx ends.
func (b *Bridge) awaitAnswers(ctx context.Context) {
	for {
		b.mu.Lock()
		left, answered := len(b.pending), b.answered
		b.mu.Unlock()
		if left == 0 {
			return
		}
		select {
		case <-answered:
		case <-ctx.Done():
			return
		}
	}
}

// stop closes the connection to the owner.
func (b *Bridge) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	if b.conn != nil {
		b.conn.conn.Close()
	}
}

// write sends one message to the client, on a line of its own.
func (b *Bridge) write(msg []byte) {
	b.outMu.Lock()
	defer b.outMu.Unlock()
	_, _ = b.out.Write(append(bytes.TrimSpace(msg), '\n'))
}

// idKey is the key of a request id in the pending map: the id as the owner
// writes it back (decoded and encoded again: 1.0 and 1 are one id, and so
// are "\u0061" and "a").
func idKey(id json.RawMessage) string {
	var v any
	if json.Unmarshal(id, &v) != nil {
		return string(id)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// answerID returns the id of a JSON-RPC answer (an id, and a result or an
// error), and false for anything else. It decodes only the top-level keys
// it needs: mcp-go writes jsonrpc and id before the result, so a large
// result is not read.
func answerID(line []byte) (json.RawMessage, bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var id json.RawMessage
	answer := false
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, false
		}
		switch key {
		case "method":
			return nil, false // a request or a notification
		case "result", "error":
			if id != nil {
				return id, true
			}
			answer = true
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, false
		}
		if key == "id" && string(value) != "null" {
			id = value
		}
	}
	return id, id != nil && answer
}

// interrupted is the answer to a request whose owner went away before
// answering it: for a tool call, a tool error that says whether it may
// have changed the database; for anything else, a JSON-RPC error.
func interrupted(m message, writeTools []string) []byte {
	if m.method != "tools/call" {
		return rpcError(m.id, "the HealthSim server that owned the database stopped before answering; send the request again")
	}
	text := fmt.Sprintf("Could not finish %s: the HealthSim server that owned the database stopped while the call ran. Nothing was changed; call the tool again.", m.tool)
	if slices.Contains(writeTools, m.tool) {
		text = fmt.Sprintf("Could not confirm %s: the HealthSim server that owned the database stopped while the call ran. The change may or may not have been written: check with healthsim_list_scenarios before calling it again.", m.tool)
	}
	res, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": m.id, "result": map[string]any{
		"isError": true, "content": []any{map[string]any{"type": "text", "text": text}}}})
	return res
}

func rpcError(id json.RawMessage, msg string) []byte {
	res, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": -32603, "message": msg}})
	return res
}
