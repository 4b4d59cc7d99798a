package mcp

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// ServeStdio serves MCP over stdin/stdout (newline-delimited JSON-RPC) until
// in ends or ctx is cancelled, both of which are a clean stop (nil error).
// When in ends, requests already read are answered first (mcp-go would
// cancel them), so `printf '…' | healthsim serve` gets every answer. Only
// protocol messages are written to out.
func (s *Server) ServeStdio(ctx context.Context, in io.Reader, out io.Writer) error {
	stdio := server.NewStdioServer(s.MCPServer)
	stdio.SetErrorLogger(log.New(slogWriter{s.log}, "", 0))
	p := &pending{}
	p.cond = sync.NewCond(&p.mu)
	err := stdio.Listen(ctx, &drainingReader{r: in, p: p, ctx: ctx}, &answerCounter{w: out, p: p})
	if errors.Is(err, context.Canceled) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}

// pending counts the requests read from stdin and the responses written.
type pending struct {
	mu                  sync.Mutex
	cond                *sync.Cond
	requests, responses int
}

// drainingReader passes stdin through, counting requests; at the end of
// the input it returns io.EOF only once every request read has its
// response (or ctx ends).
type drainingReader struct {
	r    io.Reader
	p    *pending
	ctx  context.Context
	line []byte // the incomplete last line
}

func (d *drainingReader) Read(b []byte) (int, error) {
	n, err := d.r.Read(b)
	d.line = append(d.line, b[:n]...)
	for {
		i := bytes.IndexByte(d.line, '\n')
		if i < 0 {
			break
		}
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(d.line[:i], &msg) == nil && len(msg.ID) > 0 && msg.Method != "" {
			d.p.mu.Lock()
			d.p.requests++
			d.p.mu.Unlock()
		}
		d.line = d.line[i+1:]
	}
	if err == io.EOF {
		stop := context.AfterFunc(d.ctx, func() {
			d.p.mu.Lock()
			defer d.p.mu.Unlock()
			d.p.cond.Broadcast()
		})
		defer stop()
		d.p.mu.Lock()
		for d.p.responses < d.p.requests && d.ctx.Err() == nil {
			d.p.cond.Wait()
		}
		d.p.mu.Unlock()
	}
	return n, err
}

// answerCounter passes stdout through, counting responses.
type answerCounter struct {
	w    io.Writer
	p    *pending
	mu   sync.Mutex // mcp-go may write from several goroutines
	line []byte
}

func (a *answerCounter) Write(b []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, err := a.w.Write(b)
	a.line = append(a.line, b[:n]...)
	for {
		i := bytes.IndexByte(a.line, '\n')
		if i < 0 {
			break
		}
		if isResponse(a.line[:i]) {
			a.p.mu.Lock()
			a.p.responses++
			a.p.cond.Broadcast()
			a.p.mu.Unlock()
		}
		a.line = a.line[i+1:]
	}
	return n, err
}

// isResponse reports whether line is a JSON-RPC response (an id, and a
// result or an error). It decodes only the top-level keys it needs: mcp-go
// writes jsonrpc and id before the result, so a large result is not read.
func isResponse(line []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	hasID, answer := false, false
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return false
		}
		switch key {
		case "method":
			return false // a request or a notification
		case "result", "error":
			if hasID {
				return true
			}
			answer = true
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return false
		}
		if key == "id" {
			hasID = string(value) != "null"
		}
	}
	return hasID && answer
}

// slogWriter turns mcp-go's log.Logger lines into slog warnings.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Warn(strings.TrimSpace(string(p)))
	return len(p), nil
}

// HTTPPath is where ServeHTTP answers MCP's streamable HTTP transport.
const HTTPPath = "/mcp"

// ServeHTTP serves MCP's streamable HTTP transport at [HTTPPath], and the
// extra handlers at their paths, on ln until ctx is cancelled, then shuts
// down gracefully (closing sessions, waiting up to 5 s for calls in
// flight) and returns nil. Sessions are stateful: a client's logging
// level holds for its later requests.
//
// With a token, every request must carry "Authorization: Bearer TOKEN". A
// listener that is not on a loopback address needs a token: ServeHTTP
// refuses to serve without one. Requests whose Host (DNS rebinding) or
// Origin (a web page) is foreign to a loopback server are refused with 403.
func (s *Server) ServeHTTP(ctx context.Context, ln net.Listener, token string, extra map[string]http.Handler) error {
	if !isLoopback(ln.Addr().String()) && token == "" {
		return fmt.Errorf("mcp: refusing to serve HTTP on %s without a token: set HEALTHSIM_MCP_TOKEN, or listen on a loopback address such as 127.0.0.1", ln.Addr())
	}
	httpSrv := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(slogWriter{s.log}, "", 0)}
	streamable := server.NewStreamableHTTPServer(s.MCPServer,
		server.WithEndpointPath(HTTPPath),
		server.WithStreamableHTTPServer(httpSrv),
		server.WithStreamableHTTPLogger(s.log),
		server.WithStateful(true),
	)
	mux := http.NewServeMux()
	mux.Handle(HTTPPath, guard(streamable, token))
	for path, h := range extra {
		mux.Handle(path, guard(h, token))
	}
	httpSrv.Handler = mux

	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("mcp: serve HTTP: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := streamable.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("mcp: shut down HTTP: %w", err)
	}
	return nil
}

// guard checks the bearer token (if any) and the Origin header before next.
// mcp-go itself rejects a loopback connection with a foreign Host header.
func guard(next http.Handler, token string) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && !allowedOrigin(origin, r.Host) {
			http.Error(w, fmt.Sprintf("Forbidden: requests from origin %q are not allowed", origin), http.StatusForbidden)
			return
		}
		if token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="healthsim"`)
			http.Error(w, "Unauthorized: send the token from HEALTHSIM_MCP_TOKEN as \"Authorization: Bearer TOKEN\"", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowedOrigin reports whether a browser page at origin may call the
// server reached as host: only pages served from loopback or from the
// server's own host.
func allowedOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return isLoopback(u.Host) || strings.EqualFold(u.Host, host)
}

// isLoopback reports whether addr ("host" or "host:port") is a loopback
// address or "localhost".
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = strings.Trim(addr, "[]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
