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
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// Bridge forwards a stdio client's JSON-RPC messages to the owner of a
// database file over streamable HTTP, and the owner's answers, progress
// and log notifications back, without opening the database.
type Bridge struct {
	DBPath string
	Path   string // the owner's MCP endpoint path, e.g. "/mcp"
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

	mu        sync.Mutex // guards link, initLine, levelLine, sessionInit
	link      *link
	initLine  []byte // the client's initialize request, replayed to a new owner
	levelLine []byte // the client's last logging/setLevel request, replayed too
	took      bool
	ctx       context.Context // Run's, which the watches live for
	watches   sync.WaitGroup  // the watch goroutines; Run waits for them
	// sessionInit is an initialize request for a client that discovered
	// the server instead (protocol 2026-07-28 and later), sent when it
	// first needs a session (see session).
	sessionInit []byte
}

// link is a connection to one owner, and the session on it.
type link struct {
	rec      Record
	client   *http.Client
	session  atomic.Value // string: Mcp-Session-Id, set by the answer to initialize
	protocol atomic.Value // string: the protocol version initialize negotiated
}

// message is one JSON-RPC message from the client, decoded once.
type message struct {
	line     []byte
	id       json.RawMessage
	method   string
	tool     string // params.name: the tool of a tools/call
	protocol string // the version params._meta states (2026-07-28 and later), or ""
}

func parseMessage(line []byte) message {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Name string `json:"name"`
			Meta struct {
				Protocol string `json:"io.modelcontextprotocol/protocolVersion"`
			} `json:"_meta"`
		} `json:"params"`
	}
	_ = json.Unmarshal(line, &m)
	return message{line: line, id: m.ID, method: m.Method, tool: m.Params.Name, protocol: m.Params.Meta.Protocol}
}

// requestID is the id of a request, which gets an answer; nil for a
// notification, or the client's answer to a request of the owner.
func (m message) requestID() json.RawMessage {
	if m.method == "" {
		return nil
	}
	return m.id
}

// get returns the string in v, or "".
func get(v *atomic.Value) string {
	s, _ := v.Load().(string)
	return s
}

// errOwnerGone means the owner stopped before answering a message it may
// have received; errNotSent, that it could not be reached at all.
var (
	errOwnerGone = errors.New("share: the owner stopped")
	errNotSent   = fmt.Errorf("%w before the message reached it", errOwnerGone)
)

// replayID is the request id of initialize and setLevel requests the bridge
// replays to a new owner; their answers are not forwarded.
const replayID = `"healthsim-bridge-replay"`

// Run forwards messages from in to the owner at rec, and its answers to
// out, until in ends and every request read has its answer, or ctx ends.
func (b *Bridge) Run(ctx context.Context, rec Record, in io.Reader, out io.Writer) error {
	ctx, stop := context.WithCancel(ctx)
	defer b.watches.Wait()
	defer stop() // ends the watch, and a reconnect it started
	b.ctx, b.out = ctx, out
	first := newLink(rec)
	b.link = first
	b.watches.Go(func() { b.watch(ctx, first) })
	defer func() {
		if l := b.current(); get(&l.session) != "" {
			req, _ := http.NewRequest(http.MethodDelete, "http://localhost"+b.Path, nil)
			b.headers(req, l)
			if resp, err := l.client.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}()
	r := bufio.NewReader(in)
	var calls sync.WaitGroup
	defer calls.Wait()
	for {
		line, err := r.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			m := parseMessage(line)
			switch {
			case m.method == "initialize":
				b.mu.Lock()
				b.initLine = line
				b.mu.Unlock()
				b.forward(ctx, m)
			case m.method == "logging/setLevel":
				b.mu.Lock()
				b.levelLine = line
				b.mu.Unlock()
				b.forward(ctx, m)
			case m.method == "server/discover": // answered before the client goes on
				b.forward(ctx, m)
				b.noteDiscover(m)
			case m.requestID() != nil:
				calls.Go(func() { b.forward(ctx, m) })
			default: // notifications and answers to the owner's requests, in order
				b.forward(ctx, m)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// Get fetches path from the owner at rec with its token, for at most
// timeout.
func (rec Record) Get(path string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	l := newLink(rec)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost"+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+rec.Token)
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func newLink(rec Record) *link {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, rec.Network, rec.Address)
	}
	return &link{rec: rec, client: &http.Client{Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 16}}}
}

func (b *Bridge) current() *link {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.link
}

func (b *Bridge) headers(req *http.Request, l *link) {
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+l.rec.Token)
	if session := get(&l.session); session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	if protocol := get(&l.protocol); protocol != "" {
		req.Header.Set("MCP-Protocol-Version", protocol)
	}
}

// forward sends one message to the owner and writes what comes back. A
// request (id not nil) always gets an answer: the owner's, or, if the
// owner went away before answering, an error that says whether to retry.
func (b *Bridge) forward(ctx context.Context, m message) {
	for attempt := 1; ; attempt++ {
		l := b.current()
		err := b.session(ctx, l, m)
		answered := false
		if err == nil {
			answered, err = b.send(ctx, l, m, b.write)
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		b.Log.Warn("share: the owner stopped", "owner_pid", l.rec.PID, "method", m.method, "err", err)
		_, reconnectErr := b.reconnect(ctx, l)
		if reconnectErr != nil {
			b.Log.Error("share: no owner to reconnect to", "err", reconnectErr)
		}
		if errors.Is(err, errNotSent) && reconnectErr == nil && attempt < 3 {
			continue // the owner never got it: send it to the new one
		}
		if m.requestID() != nil && !answered {
			b.write(interrupted(m, b.WriteTools))
		}
		return
	}
}

// send posts m on l and passes each message of the answer to emit. It
// reports whether the answer to a request came, and errOwnerGone (wrapped)
// if the owner could not be reached or stopped before answering.
func (b *Bridge) send(ctx context.Context, l *link, m message, emit func([]byte)) (answered bool, err error) {
	id := m.requestID()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost"+b.Path, bytes.NewReader(m.line))
	if err != nil {
		return false, err
	}
	b.headers(req, l)
	modernHeaders(req.Header, m)
	resp, err := l.client.Do(req)
	if opErr := (*net.OpError)(nil); errors.As(err, &opErr) && opErr.Op == "dial" {
		return false, fmt.Errorf("%w: %w", errNotSent, err)
	} else if err != nil {
		return false, fmt.Errorf("%w: %w", errOwnerGone, err)
	}
	defer resp.Body.Close()
	if s := resp.Header.Get("Mcp-Session-Id"); s != "" {
		l.session.Store(s) // only initialize sets it
	}
	each := func(msg []byte) {
		var a struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Result struct {
				ProtocolVersion string `json:"protocolVersion"`
			} `json:"result"`
		}
		if id != nil && !answered && json.Unmarshal(msg, &a) == nil && a.Method == "" && bytes.Equal(a.ID, id) {
			answered = true
			if a.Result.ProtocolVersion != "" {
				l.protocol.Store(a.Result.ProtocolVersion)
			}
		}
		emit(msg)
	}
	ct := resp.Header.Get("Content-Type")
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return true, nil
	case strings.HasPrefix(ct, "text/event-stream"):
		err = readEvents(resp.Body, each)
	case strings.HasPrefix(ct, "application/json") && resp.StatusCode < 500:
		// An answer, or a JSON-RPC error with a 4xx status (2026-07-28).
		var body []byte
		if body, err = io.ReadAll(resp.Body); err == nil {
			each(bytes.TrimSpace(body))
		}
	case resp.StatusCode >= 500:
		return false, fmt.Errorf("%w: HTTP %s", errOwnerGone, resp.Status)
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if id != nil {
			emit(rpcError(id, fmt.Sprintf("the HealthSim server that owns the database refused the request (HTTP %s): %s", resp.Status, bytes.TrimSpace(body))))
		}
		return true, nil
	}
	if id != nil && !answered {
		return false, fmt.Errorf("%w: the answer stream ended early (%v)", errOwnerGone, err)
	}
	return answered, nil
}

// noteDiscover keeps, from the client's server/discover (protocol
// 2026-07-28 and later), an initialize request for a session (see
// session). A client whose discover fails falls back to initialize, whose
// session then takes precedence.
func (b *Bridge) noteDiscover(m message) {
	var req struct {
		Params struct {
			Meta struct {
				ClientInfo   json.RawMessage `json:"io.modelcontextprotocol/clientInfo"`
				Capabilities json.RawMessage `json:"io.modelcontextprotocol/clientCapabilities"`
			} `json:"_meta"`
		} `json:"params"`
	}
	if json.Unmarshal(m.line, &req) != nil {
		return
	}
	init, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": map[string]any{
		"protocolVersion": mcpgo.LATEST_LEGACY_PROTOCOL_VERSION, "clientInfo": req.Params.Meta.ClientInfo,
		"capabilities": req.Params.Meta.Capabilities}})
	b.mu.Lock()
	b.sessionInit = init
	b.mu.Unlock()
}

// session gives l a session before a message that needs one is sent: a
// client that discovered the server (protocol 2026-07-28 and later) has
// none, but may still send a message without a version, such as
// logging/setLevel, which the owner takes only in a session (over stdio,
// the connection is one).
func (b *Bridge) session(ctx context.Context, l *link, m message) error {
	if m.protocol != "" {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if get(&l.session) != "" || b.sessionInit == nil || b.initLine != nil {
		return nil
	}
	b.initLine = b.sessionInit // replayed to a new owner too
	return b.replay(ctx, l)
}

// modernHeaders sets the headers protocol 2026-07-28 and later require of
// a message over HTTP, which states its version in its params' _meta:
// that version, and the method and name (no session: there is none).
func modernHeaders(h http.Header, m message) {
	if !mcpgo.IsModernProtocol(m.protocol) {
		return
	}
	h.Set(mcpgo.HeaderProtocolVersion, m.protocol)
	h.Del(mcpgo.HeaderSessionID)
	if m.method == "" || !mcpgo.RequiresStandardHeaders(m.protocol) {
		return
	}
	h.Set(mcpgo.HeaderMethod, m.method)
	var raw struct {
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(m.line, &raw) == nil {
		if name, ok := mcpgo.ExtractHeaderName(mcpgo.MCPMethod(m.method), raw.Params); ok {
			h.Set(mcpgo.HeaderName, name)
		}
	}
}

// readEvents passes the data of each server-sent event in r to emit.
func readEvents(r io.Reader, emit func([]byte)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<30)
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if len(data) > 0 {
				emit(data)
				data = nil
			}
		case bytes.HasPrefix(line, []byte("data:")):
			data = append(data, bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))...)
		}
	}
	if len(data) > 0 {
		emit(data)
	}
	return sc.Err()
}

// write sends one message to the client, on a line of its own.
func (b *Bridge) write(msg []byte) {
	b.outMu.Lock()
	defer b.outMu.Unlock()
	_, _ = b.out.Write(append(bytes.TrimSpace(msg), '\n'))
}

// reconnect replaces the broken link: with one to the next owner, or, if
// none owns the file, by claiming it and serving it here (TakeOver). The
// client's initialize and logging level are replayed on the new session.
func (b *Bridge) reconnect(ctx context.Context, broken *link) (*link, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.link != broken {
		return b.link, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		rec, err := Find(ctx, b.DBPath, broken.rec.PID)
		if errors.Is(err, ErrUnowned) && !b.took {
			o, claimErr := Claim(b.DBPath)
			if errors.Is(claimErr, ErrOwned) {
				continue // another bridge was first: find it
			}
			if claimErr != nil {
				return nil, claimErr
			}
			b.took = true
			if rec, err = b.TakeOver(ctx, o); err != nil {
				o.Release()
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
		l := newLink(rec)
		if err := b.replay(ctx, l); err != nil {
			b.Log.Warn("share: the new owner did not take the session", "owner_pid", rec.PID, "err", err)
			broken = l
			continue
		}
		b.Log.Info("share: bridging to a new owner", "owner_pid", rec.PID)
		b.link = l
		b.watches.Go(func() { b.watch(b.ctx, l) }) // not ctx: that ends with this call
		return l, nil
	}
}

// watch holds the owner's WatchPath open while l is the link, and
// reconnects as soon as the owner goes away, so that a bridge takes
// ownership at once rather than at its client's next message.
func (b *Bridge) watch(ctx context.Context, l *link) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost"+WatchPath, nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+l.rec.Token)
	req.Header.Set(bridgePIDHeader, strconv.Itoa(os.Getpid()))
	if resp, err := l.client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body) // until the owner stops
		resp.Body.Close()
	}
	if ctx.Err() != nil || b.current() != l {
		return
	}
	b.Log.Warn("share: the owner stopped", "owner_pid", l.rec.PID)
	if _, err := b.reconnect(ctx, l); err != nil {
		b.Log.Error("share: no owner to reconnect to", "err", err)
	}
}

// replay sends the client's initialize (and logging level) to l, the link
// to a new owner, dropping the answers (the caller holds b.mu).
func (b *Bridge) replay(ctx context.Context, l *link) error {
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
		if _, err := b.send(ctx, l, parseMessage(replayed), func([]byte) {}); err != nil {
			return err
		}
		if bytes.Equal(line, b.initLine) {
			initialized := parseMessage([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
			if _, err := b.send(ctx, l, initialized, func([]byte) {}); err != nil {
				return err
			}
		}
	}
	return nil
}

// interrupted is the answer to a request whose owner went away before
// answering it: for a tool call, a tool error that says whether it may
// have changed the database; for anything else, a JSON-RPC error.
func interrupted(m message, writeTools []string) []byte {
	if m.method != "tools/call" {
		return rpcError(m.id, "the HealthSim server that owned the database stopped before answering; send the request again")
	}
	text := fmt.Sprintf("Could not finish %s: the HealthSim server that owned the database stopped while the call ran, and another took over. Nothing was changed; call the tool again.", m.tool)
	if slices.Contains(writeTools, m.tool) {
		text = fmt.Sprintf("Could not confirm %s: the HealthSim server that owned the database stopped while the call ran, and another took over. The change may or may not have been written: check with healthsim_list_scenarios before calling it again.", m.tool)
	}
	res, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": m.id, "result": map[string]any{
		"isError": true, "content": []any{map[string]any{"type": "text", "text": text}}}})
	return res
}

func rpcError(id json.RawMessage, msg string) []byte {
	res, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{"code": -32603, "message": msg}})
	return res
}
