package mcp

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

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
	if err := CheckHTTPToken(ln.Addr().String(), token); err != nil {
		return err
	}
	httpSrv := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(slogWriter{s.log}, "", 0)}
	sessions := &server.InsecureStatefulSessionIdManager{} // WithStateful(true), kept to look sessions up
	streamable := server.NewStreamableHTTPServer(s.MCPServer,
		server.WithEndpointPath(HTTPPath),
		server.WithStreamableHTTPServer(httpSrv),
		server.WithStreamableHTTPLogger(s.log),
		server.WithSessionIdManager(sessions),
	)
	mux := http.NewServeMux()
	mux.Handle(HTTPPath, guard(getNeedsSession(streamable, sessions), token))
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

// CheckHTTPToken returns the error [Server.ServeHTTP] refuses to serve
// with on addr ("host:port") without a token: nil on a loopback address
// or with a token. Callers check first, before they open anything.
func CheckHTTPToken(addr, token string) error {
	if !isLoopback(addr) && token == "" {
		return fmt.Errorf("mcp: refusing to serve HTTP on %s without a token: set HEALTHSIM_MCP_TOKEN, or listen on a loopback address such as 127.0.0.1", addr)
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

// getNeedsSession answers a GET (the stream of a session's server
// messages) at once when it names no session (400) or one that is not
// open (404), with a JSON-RPC error, as the streamable HTTP transport
// allows; mcp-go would open a stream for a new session that no request
// can reach, and keep it open until the client gives up. The GET of an
// open session, and the 2026-07-28 protocol (which mcp-go answers itself),
// go to next.
func getNeedsSession(next http.Handler, sessions server.SessionIdManager) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || mcpgo.IsModernProtocol(r.Header.Get(mcpgo.HeaderProtocolVersion)) {
			next.ServeHTTP(w, r)
			return
		}
		id := r.Header.Get(server.HeaderKeySessionID)
		if id == "" {
			jsonRPCError(w, http.StatusBadRequest, -32600, "Bad Request: GET "+HTTPPath+" needs the Mcp-Session-Id header of a session: POST initialize first, then GET with the session id it returned")
			return
		}
		if terminated, err := sessions.Validate(id); terminated || err != nil {
			jsonRPCError(w, http.StatusNotFound, -32001, "Not Found: session not found; it may have ended: POST initialize to start a new one")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// jsonRPCError answers with HTTP status and a JSON-RPC error without an id.
func jsonRPCError(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(mcpgo.NewJSONRPCError(mcpgo.NewRequestId(nil), code, message, nil))
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
