package mcp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// TestServeLinesNotificationsBeforeAnswer: a request's notification is
// written before its answer, however many requests run at once.
func TestServeLinesNotificationsBeforeAnswer(t *testing.T) {
	ms := server.NewMCPServer("t", "1", server.WithToolCapabilities(false))
	ms.AddTool(mcpgo.NewTool("note"), func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		_ = server.ServerFromContext(ctx).SendNotificationToClient(ctx, "notifications/progress", map[string]any{"n": req.GetArguments()["n"]})
		return mcpgo.NewToolResultText("ok"), nil
	})
	s := &Server{MCPServer: ms, log: slog.New(slog.DiscardHandler)}
	const calls = 2000
	var in strings.Builder
	in.WriteString(`{"jsonrpc":"2.0","id":-1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}` + "\n")
	in.WriteString(`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n")
	for i := range calls {
		fmt.Fprintf(&in, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"note","arguments":{"n":%d}}}`+"\n", i, i)
	}
	pr, pw := io.Pipe()
	go func() { _ = s.ServeLines(context.Background(), strings.NewReader(in.String()), pw); pw.Close() }()
	answered := map[float64]bool{}
	late, notes := 0, 0
	for sc := bufio.NewScanner(pr); sc.Scan(); {
		var m struct {
			ID     *float64 `json:"id"`
			Method string
			Params struct{ N float64 }
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%v: %s", err, sc.Bytes())
		}
		if m.Method != "" {
			notes++
			if answered[m.Params.N] {
				late++
			}
		} else if m.ID != nil && *m.ID >= 0 {
			answered[*m.ID] = true
		}
	}
	// mcp-go drops a notification when the session's queue is full, as over
	// its own stdio: with this many calls at once some may go, more on a
	// loaded machine (1,777 of 2,000 seen); half is plenty to tell the order.
	if len(answered) != calls || notes < calls/2 {
		t.Fatalf("%d answers and %d notifications, want %d answers and about as many notifications", len(answered), notes, calls)
	}
	if late > 0 {
		t.Errorf("%d of %d notifications written after their request's answer", late, calls)
	}
}
