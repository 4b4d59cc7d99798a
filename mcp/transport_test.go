package mcp_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/mcp"
	"github.com/healthsim/healthsim-go/migrations"
)

// serveHTTP serves a new database over streamable HTTP on loopback until
// the test ends, and returns the MCP endpoint's URL.
func serveHTTP(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := dbx.Open(ctx, filepath.Join(t.TempDir(), "healthsim.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Up(ctx, db); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- mcp.NewServer(db, mcp.Options{}).ServeHTTP(ctx, ln, "", nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Error(err)
		}
		db.Close()
	})
	return "http://" + ln.Addr().String() + mcp.HTTPPath
}

// TestHTTPGetNeedsSession: a GET (the stream of server messages) without
// a session, or with one the server does not know, is answered at once
// with a JSON-RPC error, not a stream that never ends; a session's GET
// still gets its stream.
func TestHTTPGetNeedsSession(t *testing.T) {
	url := serveHTTP(t)
	client := &http.Client{Timeout: 10 * time.Second} // a guard: the answers must come at once
	for _, tc := range []struct {
		session string
		status  int
		message string
	}{
		{"", http.StatusBadRequest, "needs the Mcp-Session-Id header"},
		{"mcp-session-6f1f7b8e-3c4e-4a51-9b1e-0b7c2d1f9a10", http.StatusNotFound, "session not found"},
		{"nonsense", http.StatusNotFound, "session not found"},
	} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", "text/event-stream")
		if tc.session != "" {
			req.Header.Set("Mcp-Session-Id", tc.session)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET with session %q: %v", tc.session, err)
		}
		var body struct {
			JSONRPC string `json:"jsonrpc"`
			ID      any    `json:"id"`
			Error   struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status || body.JSONRPC != "2.0" || body.ID != nil || body.Error.Code == 0 ||
			!strings.Contains(body.Error.Message, tc.message) || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET with session %q: %d %q %+v (%v); want %d and a JSON-RPC error saying %q",
				tc.session, resp.StatusCode, resp.Header.Get("Content-Type"), body, err, tc.status, tc.message)
		}
	}

	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(init))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	session := resp.Header.Get("Mcp-Session-Id")
	if session == "" {
		t.Fatalf("initialize gave no session: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", session)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET with the session: %d %q, want the event stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
