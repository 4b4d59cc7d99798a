// Package mcp is the HealthSim MCP server: eight tools, three resources
// (the schema, the reference-data catalogue, each saved scenario by a
// template) and three prompts over one shared DuckDB file ([dbx.DB]). The
// read tools and the resources run on dbx's read pool, the two write tools
// each in one dbx write window, so several servers, scripts and notebooks
// can use the same file at once. Prompt and template arguments complete
// (scenario names, tags, states, counties), and tool calls are logged to
// the client at the level it asks for.
//
// Each tool has one constructor here that returns the tool (schema,
// annotations, output schema) and its handler. A tool that fails answers
// with an isError result whose text says what to do, never with a protocol
// error.
package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/mcp/input"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Name is the server name reported to clients.
const Name = "healthsim"

// Options configure a Server. Zero values mean the defaults.
type Options struct {
	// Version is reported to clients; default "dev".
	Version string
	// ReadOnly turns the write tools off: they answer with an error saying
	// so. It exists for the deprecated HEALTHSIM_READ_ONLY setting.
	ReadOnly bool
	// QueryTimeout bounds each healthsim_query call; default 5s.
	QueryTimeout time.Duration
	// Logger receives one line per failed tool call (debug: every call).
	// Default: discard.
	Logger *slog.Logger
	// Ready, if set, is called before each tool call, resource read, prompt
	// that reads the database and completion;
	// while it fails, the call fails with its error (a *dbx.LockError names
	// the process that holds the file). healthsim serve sets it so that
	// the database is migrated at the first call that finds it free (when
	// another process held it as the server started), and to answer every
	// call with what to run while the schema is not the one it needs.
	Ready func(context.Context) error
	// Writable, if set, is called by the write tools before they change
	// anything; while it fails, they answer with its error (a sentence) and
	// change nothing. healthsim serve sets it to report a database file or
	// folder this user cannot write.
	Writable func() error
	// ValidateOutput checks every result against its tool's output schema
	// and turns a mismatch into an error result. The results are built from
	// the typed structs the schemas come from, so this is for tests: it
	// adds a JSON Schema validation of the whole result to every call.
	ValidateOutput bool
}

// Server is the HealthSim MCP server over one database.
type Server struct {
	*server.MCPServer
	db      *dbx.DB
	store   *scenario.Store
	opts    Options
	log     *slog.Logger
	toolset []server.ServerTool
}

// NewServer returns the server with its eight tools, its resources and its
// prompts registered. db must
// have the HealthSim migrations applied; the caller closes it after the
// server has stopped.
func NewServer(db *dbx.DB, opts Options) *Server {
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{db: db, store: scenario.New(db), opts: opts, log: opts.Logger}
	hooks := &server.Hooks{}
	serverOpts := []server.ServerOption{
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		server.WithPromptCapabilities(false),
		server.WithCompletions(),
		server.WithPromptCompletionProvider(completer{s}),
		server.WithResourceCompletionProvider(completer{s}),
		server.WithLogging(),
		server.WithHooks(hooks),
		server.WithInstructions(instructions),
		server.WithStrictInputSchemaDefault(),
		server.WithRecovery(),
		server.WithToolHandlerMiddleware(s.logCalls),
		server.WithToolHandlerMiddleware(s.whenReady),
	}
	if opts.ValidateOutput {
		serverOpts = append(serverOpts, server.WithOutputSchemaValidation())
	}
	s.MCPServer = server.NewMCPServer(Name, opts.Version, serverOpts...)
	s.toolset = []server.ServerTool{
		s.listScenariosTool(),
		s.loadScenarioTool(),
		s.getSummaryTool(),
		s.queryTool(),
		s.queryReferenceTool(),
		s.tablesTool(),
		s.saveScenarioTool(),
		s.deleteScenarioTool(),
	}
	for i, t := range s.toolset {
		s.toolset[i].Tool = portableOutput(t.Tool)
		s.toolset[i].Handler = validated(t.Tool, t.Handler)
	}
	s.AddTools(s.toolset...)
	s.addResources(hooks)
	s.addPrompts()
	return s
}

// Tools returns the server's tools, in the order they are listed.
func (s *Server) Tools() []mcpgo.Tool {
	out := make([]mcpgo.Tool, len(s.toolset))
	for i, t := range s.toolset {
		out[i] = t.Tool
	}
	return out
}

const instructions = `HealthSim stores synthetic healthcare scenarios (patients, encounters, claims, trial subjects, ...) in a DuckDB database shared with other tools.
Save generated data with healthsim_save_scenario; find it with healthsim_list_scenarios; read it back with healthsim_load_scenario or, for a compact overview, healthsim_get_summary.
healthsim_tables shows every table and its columns; healthsim_query runs one read-only SELECT over them; healthsim_query_reference looks up population reference data (CDC PLACES, SVI, ADI) by state and county.
Resources: healthsim://schema (tables, columns and what they hold), healthsim://reference (the reference-data catalogue) and healthsim://scenarios/{name} (each saved scenario).`

// logCalls logs every call at debug and every failed call at warn.
func (s *Server) logCalls(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		start := time.Now()
		res, err := next(ctx, req)
		level, msg := slog.LevelDebug, ""
		if err != nil {
			level, msg = slog.LevelWarn, err.Error()
		} else if res != nil && res.IsError && len(res.Content) > 0 {
			level = slog.LevelWarn
			if tc, ok := mcpgo.AsTextContent(res.Content[0]); ok {
				msg = tc.Text
			}
		}
		elapsed := time.Since(start).Round(time.Microsecond)
		if s.log.Enabled(ctx, level) {
			s.log.Log(ctx, level, "tool call", "tool", req.Params.Name, "elapsed", elapsed, "error", msg)
		}
		s.logToClient(ctx, req.Params.Name, elapsed, msg)
		return res, err
	}
}

// ready calls Options.Ready, if set.
func (s *Server) ready(ctx context.Context) error {
	if s.opts.Ready == nil {
		return nil
	}
	return s.opts.Ready(ctx)
}

// whenReady fails a tool call while Options.Ready does.
func (s *Server) whenReady(next server.ToolHandlerFunc) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		if err := s.ready(ctx); err != nil {
			return s.failure(ctx, "call "+req.Params.Name, err), nil
		}
		return next(ctx, req)
	}
}

// logToClient sends a tool call's log line to the client as
// notifications/message, if the client asked for that level (with
// logging/setLevel, or per request from protocol 2026-07-28 on).
func (s *Server) logToClient(ctx context.Context, tool string, elapsed time.Duration, msg string) {
	data := map[string]any{"tool": tool, "elapsed_ms": float64(elapsed.Microseconds()) / 1000}
	clientLevel := mcpgo.LoggingLevelDebug
	if msg != "" {
		data["error"], clientLevel = msg, mcpgo.LoggingLevelWarning
	}
	_ = s.SendLogMessageToClient(ctx, mcpgo.NewLoggingMessageNotification(clientLevel, Name, data))
}

// portableOutput rewrites the output schema generated from a Go type into
// one every client understands: one type per field ("array", not
// ["null", "array"]: the tools never return null for a list) and {} instead
// of the boolean schema true for values of any type.
func portableOutput(t mcpgo.Tool) mcpgo.Tool {
	raw, err := json.Marshal(t.OutputSchema)
	if err != nil {
		panic(fmt.Sprintf("mcp: output schema of %s: %v", t.Name, err)) // a programming error
	}
	var schema any
	_ = json.Unmarshal(raw, &schema)
	var rewrite func(v any) any
	rewrite = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, sub := range x {
				switch types, _ := sub.([]any); {
				case k == "type" && len(types) == 2 && types[0] == "null":
					x[k] = types[1]
				case k == "items" && sub == true:
					x[k] = map[string]any{}
				default:
					x[k] = rewrite(sub)
				}
			}
		case []any:
			for i := range x {
				x[i] = rewrite(x[i])
			}
		}
		return v
	}
	t.RawOutputSchema, _ = json.Marshal(rewrite(schema))
	t.OutputSchema = mcpgo.ToolOutputSchema{}
	return t
}

// readTool marks a tool as reading only this server's database.
func readTool() mcpgo.ToolOption {
	return mcpgo.WithToolAnnotation(mcpgo.ToolAnnotation{
		ReadOnlyHint:    mcpgo.ToBoolPtr(true),
		DestructiveHint: mcpgo.ToBoolPtr(false),
		IdempotentHint:  mcpgo.ToBoolPtr(true),
		OpenWorldHint:   mcpgo.ToBoolPtr(false),
	})
}

// writeTool marks a tool as changing this server's database.
func writeTool(destructive, idempotent bool) mcpgo.ToolOption {
	return mcpgo.WithToolAnnotation(mcpgo.ToolAnnotation{
		ReadOnlyHint:    mcpgo.ToBoolPtr(false),
		DestructiveHint: mcpgo.ToBoolPtr(destructive),
		IdempotentHint:  mcpgo.ToBoolPtr(idempotent),
		OpenWorldHint:   mcpgo.ToBoolPtr(false),
	})
}

// bind decodes the call's arguments into args, which holds the defaults.
// Types and ranges were already checked against the input schema; decoding
// the checked values again (not the raw text) lets a whole number written
// as 10.0 or 1e2 fill an int.
func bind(req mcpgo.CallToolRequest, args any) *mcpgo.CallToolResult {
	m, err := arguments(req)
	if err == nil {
		var raw []byte
		if raw, err = json.Marshal(m); err == nil {
			err = json.Unmarshal(raw, args)
		}
	}
	if err != nil {
		return mcpgo.NewToolResultErrorf("The arguments could not be read (%v); check them against the tool's input schema.", err)
	}
	return nil
}

// MaxAnswerBytes bounds the JSON of any tool result or resource. The tools
// bound what they return well below it (healthsim_query's rows: 256 KiB;
// a page of entities: 100 kB); this catches the rest (long descriptions,
// many tags), which a client would otherwise receive twice (as text and as
// structured content) in one message.
const MaxAnswerBytes = 512 << 10

// errTooLarge says that an answer of size bytes is over MaxAnswerBytes.
func errTooLarge(size int) error {
	return fmt.Errorf("the answer would be %d bytes, more than the %d an answer may have; ask for less (a smaller limit, one entity type, a narrower search)", size, MaxAnswerBytes)
}

// structured returns v as the structured result, with its JSON as the text
// for clients that read only text (encoded once for both), or an error
// result if it is over MaxAnswerBytes.
func structured(v any) (*mcpgo.CallToolResult, error) {
	text, err := marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	if len(text) > MaxAnswerBytes {
		return mcpgo.NewToolResultErrorf("Could not answer: %v.", errTooLarge(len(text))), nil
	}
	return mcpgo.NewToolResultStructured(json.RawMessage(text), string(text)), nil
}

// marshal encodes v as JSON as json.Marshal does, but leaves <, > and &
// as they are: the text goes to a model, which would read Go's HTML
// escapes (\u003c) as they stand, not into a web page.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// failure turns err into the isError result a model and a person can act on.
// what says what was being done ("save scenario \"x\"").
func (s *Server) failure(ctx context.Context, what string, err error) *mcpgo.CallToolResult {
	var (
		lockErr *dbx.LockError
		invalid *input.Error
	)
	switch {
	case errors.As(err, &lockErr):
		who := "another process"
		if lockErr.PID != 0 {
			who = fmt.Sprintf("%s (PID %d)", lockErr.Exe, lockErr.PID)
		}
		return mcpgo.NewToolResultErrorf("Could not %s: the database %s is held by %s, which kept it %s for %s. Close that process or wait until it is done, then call this tool again. Nothing was changed.",
			what, lockErr.Path, who, lockErr.Holder, lockErr.Waited.Round(time.Millisecond))
	case errors.As(err, &invalid):
		return mcpgo.NewToolResultErrorf("Could not %s: %s. Nothing was changed.", what, invalid.Message)
	case errors.Is(err, scenario.ErrNotFound):
		return mcpgo.NewToolResultErrorf("Could not %s: no scenario has that name or id. Call healthsim_list_scenarios to see the saved scenarios.", what)
	case errors.Is(err, scenario.ErrExists):
		return mcpgo.NewToolResultErrorf("Could not %s: %v. Nothing was changed.", what, err)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return mcpgo.NewToolResultErrorf("Could not %s: the call was cancelled. Nothing was changed.", what)
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return mcpgo.NewToolResultErrorf("Could not %s: the call ran out of time. Nothing was changed.", what)
	}
	s.log.Error("tool failed", "what", what, "err", err)
	return mcpgo.NewToolResultErrorf("Could not %s: %v.", what, err)
}

// readOnlyRefusal is the answer of the write tools when writing is off.
func readOnlyRefusal(what string) *mcpgo.CallToolResult {
	return mcpgo.NewToolResultErrorf("Could not %s: writing is turned off because this server was started with HEALTHSIM_READ_ONLY=true (deprecated). Restart it without that setting: HealthSim servers share the database with other processes while writing.", what)
}

// unwritable is the answer of the write tools while Options.Writable
// fails, or nil.
func (s *Server) unwritable(what string) *mcpgo.CallToolResult {
	if s.opts.Writable == nil {
		return nil
	}
	if err := s.opts.Writable(); err != nil {
		return mcpgo.NewToolResultErrorf("Could not %s: %v. Nothing was changed.", what, err)
	}
	return nil
}

// WriteTools are the tools that change the database.
var WriteTools = []string{"healthsim_save_scenario", "healthsim_delete_scenario"}
