package main

// `healthsim serve` over stdio with the mcp-go client, which speaks
// protocol 2026-07-28 (no initialize handshake: server/discover, and every
// request carries its version, client and log level in _meta).

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/mcp"
	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// The client talks to its own server (direct), and to a second server of
// the file, which bridges to the first (bridged).
func TestE2EModernProtocol(t *testing.T) {
	t.Run("direct", func(t *testing.T) { modernProtocol(t, tempDB(t)) })
	t.Run("bridged", func(t *testing.T) {
		db := tempDB(t)
		startShared(t, context.Background(), db, owning)
		modernProtocol(t, db)
	})
}

// modernProtocol runs the checks on a new client of db, a failed call
// logged to it among them.
func modernProtocol(t *testing.T, db string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.NewStdioMCPClient(builtBinary(t), nil, "serve", "--db", db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(ctx); err != nil { // wires OnNotification
		t.Fatal(err)
	}
	messages := make(chan map[string]any, 10)
	c.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method == "notifications/message" {
			messages <- n.Params.AdditionalFields
		}
	})
	init := mcpgo.InitializeRequest{}
	init.Params.ProtocolVersion = mcpgo.ProtocolVersion20260728
	init.Params.ClientInfo = mcpgo.Implementation{Name: "healthsim-e2e-modern", Version: "test"}
	res, err := c.Initialize(ctx, init)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ProtocolVersion(); got != mcpgo.ProtocolVersion20260728 {
		t.Fatalf("negotiated %q, want %s", got, mcpgo.ProtocolVersion20260728)
	}
	caps := res.Capabilities
	if caps.Tools == nil || caps.Resources == nil || caps.Prompts == nil || caps.Completions == nil {
		t.Errorf("capabilities %+v: want tools, resources, prompts and completions", caps)
	}

	tools, err := c.ListTools(ctx, mcpgo.ListToolsRequest{})
	if err != nil || len(tools.Tools) != 8 {
		t.Fatalf("tools/list: %v tools, %v", len(tools.Tools), err)
	}
	resources, err := c.ListResources(ctx, mcpgo.ListResourcesRequest{})
	if err != nil || len(resources.Resources) != 2 {
		t.Fatalf("resources/list: %+v, %v", resources, err)
	}
	prompts, err := c.ListPrompts(ctx, mcpgo.ListPromptsRequest{})
	if err != nil || len(prompts.Prompts) != 3 {
		t.Fatalf("prompts/list: %+v, %v", prompts, err)
	}
	done := mcpgo.CompleteRequest{}
	done.Params.Ref = mcpgo.PromptReference{Type: "ref/prompt", Name: mcp.PromptCompare}
	done.Params.Argument.Name, done.Params.Argument.Value = "state", "wash"
	completion, err := c.Complete(ctx, done)
	if err != nil || fmt.Sprint(completion.Completion.Values) != "[Washington]" {
		t.Errorf("complete state: %+v, %v", completion, err)
	}

	// The log level travels with each request; a failed call is logged at
	// warning, a good one at debug (below it).
	level := mcpgo.SetLevelRequest{}
	level.Params.Level = mcpgo.LoggingLevelWarning
	if err := c.SetLevel(ctx, level); err != nil {
		t.Fatal(err)
	}
	call := mcpgo.CallToolRequest{}
	call.Params.Name = "healthsim_list_scenarios"
	if r, err := c.CallTool(ctx, call); err != nil || r.IsError {
		t.Fatalf("list scenarios: %+v, %v", r, err)
	}
	call.Params.Name, call.Params.Arguments = "healthsim_load_scenario", map[string]any{"name_or_id": "nope"}
	if r, err := c.CallTool(ctx, call); err != nil || !r.IsError {
		t.Fatalf("load a missing scenario: %+v, %v; want an isError result", r, err)
	}
	select {
	case m := <-messages:
		if fmt.Sprint(m["level"]) != "warning" || !strings.Contains(fmt.Sprint(m["data"]), "healthsim_load_scenario") {
			t.Errorf("log message %v; want the failed load at warning", m)
		}
	case <-ctx.Done():
		t.Fatal("no log message for the failed call")
	}
}
