package main

// End-to-end tests of `healthsim serve` driven by a client we did not write:
// the official Go MCP SDK (github.com/modelcontextprotocol/go-sdk), over
// stdio and streamable HTTP, against the built binary. e2e_ts_test.go does
// the same with the TypeScript SDK.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/healthsim/healthsim-go/cmd/healthsim/internal/share"
	"github.com/healthsim/healthsim-go/internal/benchsupport/procctl"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/healthsim/healthsim-go/internal/testsupport/wine"
	"github.com/healthsim/healthsim-go/mcp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// e2eToolNames are the server's eight tools; e2eReadTools the six that only read.
var (
	e2eToolNames = []string{
		"healthsim_delete_scenario", "healthsim_get_summary", "healthsim_list_scenarios",
		"healthsim_load_scenario", "healthsim_query", "healthsim_query_reference",
		"healthsim_save_scenario", "healthsim_tables",
	}
	e2eReadTools = map[string]bool{
		"healthsim_list_scenarios": true, "healthsim_load_scenario": true, "healthsim_get_summary": true,
		"healthsim_query": true, "healthsim_query_reference": true, "healthsim_tables": true,
	}
)

// e2eEntities is the scenario every cycle saves: three patients and one
// encounter, with fields that have columns (cast by DuckDB), fields that do
// not, nesting, numbers, unicode and characters encoding/json escapes.
const e2eEntities = `{
	"patients": [
		{"id": "p-1", "mrn": "MRN001", "given_name": "Ana", "family_name": "García", "birth_date": "1980-02-29", "gender": "F",
		 "address": {"city": "Austin", "state": "TX", "lines": ["1 Main St", "Apt <2> & co"]}, "weight_kg": 61.5, "visits": 3, "deceased": false, "notes": null},
		{"id": "p-2", "mrn": "MRN002", "given_name": "Bo", "family_name": "Lee", "birth_date": "1975-11-03", "gender": "M", "tags": []},
		{"id": "p-3", "mrn": "MRN003", "given_name": "Chen", "family_name": "Wu", "birth_date": "2001-07-14", "gender": "U", "emoji": "🩺"}
	],
	"encounters": [
		{"encounter_id": "e-1", "patient_mrn": "MRN001", "class_code": "AMB", "status": "finished",
		 "admission_time": "2024-03-01T09:30:00Z", "discharge_time": "2024-03-01T10:15:00Z", "vitals": {"hr": 72, "bp": [120, 80]}}
	]
}`

// e2eNormJSON decodes JSON (keeping numbers exact) and encodes it again, so two
// texts of the same JSON value compare equal as bytes.
func e2eNormJSON(t *testing.T, data []byte) string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// e2eLog collects a child process's stderr and lets a test wait for a line.
type e2eLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	change chan struct{}
}

func newE2ELog() *e2eLog { return &e2eLog{change: make(chan struct{}, 1)} }

func (b *e2eLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	select {
	case b.change <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (b *e2eLog) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor returns the first submatch of re in the log once it appears, or ""
// when done is closed (the process ended) or the timeout passes first.
func (b *e2eLog) waitFor(re *regexp.Regexp, timeout time.Duration, done <-chan struct{}) string {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if m := re.FindStringSubmatch(b.String()); m != nil {
			return m[len(m)-1]
		}
		select {
		case <-b.change:
		case <-done:
			if m := re.FindStringSubmatch(b.String()); m != nil {
				return m[len(m)-1]
			}
			return ""
		case <-deadline.C:
			return ""
		}
	}
}

// e2eServer is a running `healthsim serve` process that the test started.
type e2eServer struct {
	cmd  *exec.Cmd
	log  *e2eLog
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, set before done closes
	url  string        // HTTP only: the MCP endpoint
}

// e2eStart runs `healthsim serve args...` with extra environment; the
// process is killed at the end of the test if it still runs. stdin and
// stdout, when non-nil, become the process's.
func e2eStart(t *testing.T, env []string, stdin io.Reader, stdout io.Writer, args ...string) *e2eServer {
	t.Helper()
	s := &e2eServer{log: newE2ELog(), done: make(chan struct{})}
	s.cmd = exec.Command(builtBinary(t), append([]string{"serve"}, args...)...)
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = stdin, stdout, s.log
	procctl.NewGroup(s.cmd) // for stop's Ctrl-Break on Windows
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
			t.Logf("killed healthsim serve %v; its log:\n%s", args, s.log)
		}
	})
	return s
}

var e2eServingURL = regexp.MustCompile(`msg="serving MCP over streamable HTTP" url=(http://\S+/mcp)`)

// e2eStartHTTP starts `healthsim serve --db db --http 127.0.0.1:0` and
// waits until it logs its URL.
func e2eStartHTTP(t *testing.T, db string, env ...string) *e2eServer {
	t.Helper()
	s := e2eStart(t, env, nil, nil, "--db", db, "--http", "127.0.0.1:0")
	s.url = s.log.waitFor(e2eServingURL, 30*time.Second, s.done)
	if s.url == "" {
		t.Fatalf("healthsim serve --http logged no URL; its log:\n%s", s.log)
	}
	return s
}

// wait waits up to timeout for the process to exit and returns its exit
// code, failing the test if it did not exit.
func (s *e2eServer) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		return exitCode(s.err)
	case <-time.After(timeout):
		t.Fatalf("healthsim serve still runs after %s; its log:\n%s", timeout, s.log)
		return 0
	}
}

// stop interrupts the server (SIGTERM, or Ctrl-Break on Windows) and
// checks, in a subtest, that it exits with status 0 within a few seconds.
// Under Wine, which cannot send Ctrl-Break, the subtest skips and stop
// kills the server.
func (s *e2eServer) stop(t *testing.T) (took time.Duration) {
	t.Helper()
	if !wine.Run(t, "stops when interrupted", wine.CtrlBreak, func(t *testing.T) {
		start := time.Now()
		if err := procctl.Interrupt(s.cmd.Process); err != nil {
			t.Fatal(err)
		}
		if code := s.wait(t, 8*time.Second); code != 0 {
			t.Fatalf("healthsim serve exited %d when interrupted; its log:\n%s", code, s.log)
		}
		took = time.Since(start)
	}) {
		t.FailNow()
	}
	select {
	case <-s.done:
	default:
		s.cmd.Process.Kill()
		<-s.done
	}
	return took
}

// e2eConnectStdio starts `healthsim serve --db db` under the SDK's
// CommandTransport. Closing the session closes the server's stdin, which
// must make it exit with status 0. It may run on any goroutine.
func e2eConnectStdio(t *testing.T, ctx context.Context, db string, args ...string) (*sdk.ClientSession, *exec.Cmd, *e2eLog, error) {
	log := newE2ELog()
	cmd := exec.Command(builtBinary(t), append([]string{"serve", "--db", db}, args...)...)
	cmd.Stderr = log
	client := sdk.NewClient(&sdk.Implementation{Name: "healthsim-e2e-go", Version: "test"}, nil)
	cs, err := client.Connect(ctx, &sdk.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	if err != nil {
		if cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		return nil, cmd, log, fmt.Errorf("connect over stdio: %v; server log:\n%s", err, log)
	}
	t.Cleanup(func() { cs.Close() }) // closes stdin, then SIGTERM, then kill
	return cs, cmd, log, nil
}

// e2eBearer adds an Authorization header to every request.
type e2eBearer struct {
	token string
	next  http.RoundTripper
}

func (b e2eBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// e2eConnectHTTP connects the SDK's streamable HTTP client to url, with a
// bearer token unless token is "".
func e2eConnectHTTP(t *testing.T, ctx context.Context, url, token string) (*sdk.ClientSession, error) {
	t.Helper()
	transport := &sdk.StreamableClientTransport{Endpoint: url, MaxRetries: -1}
	if token != "" {
		transport.HTTPClient = &http.Client{Transport: e2eBearer{token, http.DefaultTransport}}
	}
	client := sdk.NewClient(&sdk.Implementation{Name: "healthsim-e2e-go", Version: "test"}, nil)
	cs, err := client.Connect(ctx, transport, nil)
	if err == nil {
		t.Cleanup(func() { cs.Close() })
	}
	return cs, err
}

// e2eCheckTools checks the listed tools (names, annotations, output
// schemas) and returns each tool's resolved output schema.
func e2eCheckTools(t *testing.T, ctx context.Context, cs *sdk.ClientSession) map[string]*jsonschema.Resolved {
	t.Helper()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	schemas := map[string]*jsonschema.Resolved{}
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		a := tool.Annotations
		if a == nil {
			t.Errorf("%s: no annotations", tool.Name)
			continue
		}
		destructive := a.DestructiveHint != nil && *a.DestructiveHint
		if a.ReadOnlyHint != e2eReadTools[tool.Name] {
			t.Errorf("%s: readOnlyHint %v", tool.Name, a.ReadOnlyHint)
		}
		if destructive != (tool.Name == "healthsim_delete_scenario") {
			t.Errorf("%s: destructiveHint %v", tool.Name, destructive)
		}
		if a.OpenWorldHint == nil || *a.OpenWorldHint {
			t.Errorf("%s: openWorldHint %v, want false", tool.Name, a.OpenWorldHint)
		}
		if tool.OutputSchema == nil {
			t.Errorf("%s: no outputSchema", tool.Name)
			continue
		}
		raw, err := json.Marshal(tool.OutputSchema)
		if err != nil {
			t.Fatal(err)
		}
		var schema jsonschema.Schema
		if err := json.Unmarshal(raw, &schema); err != nil {
			t.Errorf("%s: outputSchema is not a JSON schema: %v\n%s", tool.Name, err, raw)
			continue
		}
		resolved, err := schema.Resolve(nil)
		if err != nil {
			t.Errorf("%s: outputSchema does not resolve: %v\n%s", tool.Name, err, raw)
			continue
		}
		schemas[tool.Name] = resolved
	}
	sort.Strings(names)
	if !slices.Equal(names, e2eToolNames) {
		t.Fatalf("tools: %v\nwant %v", names, e2eToolNames)
	}
	return schemas
}

// e2eCaller calls tools and checks their results.
type e2eCaller struct {
	t       *testing.T
	ctx     context.Context
	cs      *sdk.ClientSession
	schemas map[string]*jsonschema.Resolved
}

// call calls a tool; a protocol error fails the test.
func (c e2eCaller) call(name string, args map[string]any) *sdk.CallToolResult {
	c.t.Helper()
	res, err := c.cs.CallTool(c.ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		c.t.Fatalf("%s: protocol error %v", name, err)
	}
	return res
}

// ok calls a tool that must succeed and decodes its structured result into
// out after checking it against the tool's output schema and its text.
func (c e2eCaller) ok(name string, args map[string]any, out any) {
	c.t.Helper()
	res := c.call(name, args)
	if res.IsError {
		c.t.Fatalf("%s: isError: %s", name, e2eText(res))
	}
	if res.StructuredContent == nil {
		c.t.Fatalf("%s: no structuredContent; text %s", name, e2eText(res))
	}
	if schema := c.schemas[name]; schema != nil {
		if err := schema.Validate(res.StructuredContent); err != nil {
			c.t.Errorf("%s: structuredContent does not match the outputSchema: %v", name, err)
		}
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		c.t.Fatal(err)
	}
	if text := e2eText(res); e2eNormJSON(c.t, []byte(text)) != e2eNormJSON(c.t, raw) {
		c.t.Errorf("%s: text content is not the structured result:\ntext %s\nstructured %s", name, text, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		c.t.Fatalf("%s: decode %s: %v", name, raw, err)
	}
}

// failing calls a tool that must answer with an isError result (not a
// protocol error) whose text contains want.
func (c e2eCaller) failing(name string, args map[string]any, want string) {
	c.t.Helper()
	res := c.call(name, args)
	if !res.IsError || !strings.Contains(e2eText(res), want) {
		c.t.Fatalf("%s %v: isError %v, text %q; want an isError result containing %q", name, args, res.IsError, e2eText(res), want)
	}
}

func e2eText(res *sdk.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// The wire shapes the cycle reads, decoded independently of the server's types.
type (
	e2eListed struct {
		ID          string   `json:"id"`
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Tags        []string `json:"tags"`
		EntityCount int      `json:"entity_count"`
	}
	e2eOverview struct {
		ID            string         `json:"id"`
		Name          string         `json:"name"`
		Description   string         `json:"description"`
		Tags          []string       `json:"tags"`
		TotalEntities int            `json:"total_entities"`
		EntityCounts  map[string]int `json:"entity_counts"`
	}
)

// e2eCycle runs save → list → load → get_summary → query → delete → list on a
// fresh database, checking every result.
func e2eCycle(t *testing.T, ctx context.Context, cs *sdk.ClientSession) {
	c := e2eCaller{t: t, ctx: ctx, cs: cs, schemas: e2eCheckTools(t, ctx, cs)}
	var entities map[string]any
	if err := json.Unmarshal([]byte(e2eEntities), &entities); err != nil {
		t.Fatal(err)
	}
	name := "e2e cycle " + t.Name()
	wantCounts := map[string]int{"patients": 3, "encounters": 1}
	wantTags := []string{"demo", "e2e"}

	var saved e2eOverview
	c.ok("healthsim_save_scenario", map[string]any{
		"name": name, "description": "End-to-end test", "tags": []string{"E2E", "demo", "e2e"}, "entities": entities,
	}, &saved)
	if saved.ID == "" || saved.Name != name || saved.TotalEntities != 4 || !e2eSameCounts(saved.EntityCounts, wantCounts) || !e2eSameSet(saved.Tags, wantTags) {
		t.Fatalf("save: %+v", saved)
	}

	var list struct {
		Scenarios []e2eListed `json:"scenarios"`
		Count     int         `json:"count"`
	}
	c.ok("healthsim_list_scenarios", map[string]any{"tag": "E2E"}, &list)
	if list.Count != 1 || len(list.Scenarios) != 1 {
		t.Fatalf("list by tag: %+v", list)
	}
	if got := list.Scenarios[0]; got.ID != saved.ID || got.Name != name || got.Description != "End-to-end test" || got.EntityCount != 4 || !e2eSameSet(got.Tags, wantTags) {
		t.Fatalf("list entry: %+v", got)
	}

	for _, key := range []string{name, saved.ID} {
		var loaded struct {
			e2eOverview
			Entities map[string][]json.RawMessage `json:"entities"`
		}
		c.ok("healthsim_load_scenario", map[string]any{"name_or_id": key}, &loaded)
		if loaded.ID != saved.ID || loaded.TotalEntities != 4 || !e2eSameCounts(loaded.EntityCounts, wantCounts) || !e2eSameSet(loaded.Tags, wantTags) {
			t.Fatalf("load %q: %+v", key, loaded.e2eOverview)
		}
		var sent map[string][]json.RawMessage
		json.Unmarshal([]byte(e2eEntities), &sent)
		if len(loaded.Entities) != len(sent) {
			t.Fatalf("load %q: entity types %v", key, loaded.Entities)
		}
		for typ, docs := range sent {
			got := loaded.Entities[typ]
			if len(got) != len(docs) {
				t.Fatalf("load %q: %d %s, want %d", key, len(got), typ, len(docs))
			}
			for i := range docs {
				if g, w := e2eNormJSON(t, got[i]), e2eNormJSON(t, docs[i]); g != w {
					t.Errorf("load %q: %s[%d] came back changed:\ngot  %s\nwant %s", key, typ, i, g, w)
				}
			}
		}
	}
	var noEntities map[string]any
	c.ok("healthsim_load_scenario", map[string]any{"name_or_id": name, "include_entities": false}, &noEntities)
	if _, ok := noEntities["entities"]; ok {
		t.Errorf("load with include_entities false returned entities")
	}

	var summary struct {
		e2eOverview
		Samples map[string][]map[string]any `json:"samples"`
	}
	c.ok("healthsim_get_summary", map[string]any{"scenario_id_or_name": name, "samples_per_type": 2}, &summary)
	if summary.ID != saved.ID || summary.TotalEntities != 4 || !e2eSameCounts(summary.EntityCounts, wantCounts) ||
		len(summary.Samples["patients"]) != 2 || len(summary.Samples["encounters"]) != 1 {
		t.Fatalf("summary: %+v", summary)
	}
	if id := summary.Samples["patients"][0]["id"]; id != "p-1" {
		t.Errorf("summary: first patient sample has id %v, want p-1", id)
	}

	var rows struct {
		Columns []struct {
			Name string `json:"name"`
		} `json:"columns"`
		Rows      [][]any `json:"rows"`
		RowCount  int     `json:"row_count"`
		Truncated bool    `json:"truncated"`
	}
	c.ok("healthsim_query", map[string]any{"sql": "SELECT count(*) FROM patients"}, &rows)
	if rows.RowCount != 1 || len(rows.Rows) != 1 || len(rows.Rows[0]) != 1 || rows.Rows[0][0] != float64(3) || rows.Truncated {
		t.Fatalf("query: %+v", rows)
	}
	c.failing("healthsim_query", map[string]any{"sql": "DELETE FROM patients"}, "Refused")

	// The other two read tools answer too, within their output schemas.
	type table struct {
		Name string `json:"name"`
	}
	var tables struct{ Reference, Entity, System []table }
	c.ok("healthsim_tables", nil, &tables)
	if !slices.Contains(tables.Entity, table{"patients"}) || !slices.Contains(tables.Reference, table{"population.svi_county"}) ||
		!slices.Contains(tables.System, table{"scenarios"}) {
		t.Fatalf("tables: %+v", tables)
	}
	var ref map[string]any
	c.ok("healthsim_query_reference", map[string]any{"table": "svi_county", "state": "CA", "limit": 5}, &ref)

	e2eResourcesAndPrompts(t, ctx, cs, name, saved.ID)

	// A bad call is a tool error the model can read, not a protocol error.
	c.failing("healthsim_delete_scenario", map[string]any{"name_or_id": name}, "confirm")
	c.failing("healthsim_delete_scenario", map[string]any{"name_or_id": name, "confirm": false}, "confirm")

	var deleted struct {
		Deleted  bool   `json:"deleted"`
		ID       string `json:"id"`
		Name     string `json:"name"`
		Entities int    `json:"entities"`
		Tags     int    `json:"tags"`
	}
	c.ok("healthsim_delete_scenario", map[string]any{"name_or_id": name, "confirm": true}, &deleted)
	if !deleted.Deleted || deleted.ID != saved.ID || deleted.Name != name || deleted.Entities != 4 || deleted.Tags != 2 {
		t.Fatalf("delete: %+v", deleted)
	}

	list.Scenarios, list.Count = nil, -1
	c.ok("healthsim_list_scenarios", map[string]any{}, &list)
	if list.Count != 0 || len(list.Scenarios) != 0 {
		t.Fatalf("list after delete: %+v", list)
	}
	c.failing("healthsim_load_scenario", map[string]any{"name_or_id": name}, "no scenario has that name or id")
	rows.Rows = nil
	c.ok("healthsim_query", map[string]any{"sql": "SELECT count(*) FROM patients"}, &rows)
	if len(rows.Rows) != 1 || len(rows.Rows[0]) != 1 || rows.Rows[0][0] != float64(0) {
		t.Fatalf("patients after delete: %v", rows.Rows)
	}
}

// e2eResourcesAndPrompts checks, for the saved scenario name (id), the
// resources, the scenario template, the prompts and the completions.
func e2eResourcesAndPrompts(t *testing.T, ctx context.Context, cs *sdk.ClientSession, name, id string) {
	t.Helper()
	uri := mcp.ScenarioURI(name)
	var uris []string
	for r, err := range cs.Resources(ctx, nil) {
		if err != nil {
			t.Fatalf("resources/list: %v", err)
		}
		uris = append(uris, r.URI)
	}
	if !e2eSameSet(uris, []string{mcp.SchemaURI, mcp.ReferenceURI, uri}) {
		t.Errorf("resources/list: %v", uris)
	}
	templates, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil || len(templates.ResourceTemplates) != 1 || templates.ResourceTemplates[0].URITemplate != mcp.ScenarioTemplate {
		t.Errorf("resources/templates/list: %+v, %v", templates, err)
	}
	read, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
	if err != nil || len(read.Contents) != 1 {
		t.Fatalf("read %s: %+v, %v", uri, read, err)
	}
	var sc mcp.ScenarioResource
	if err := json.Unmarshal([]byte(read.Contents[0].Text), &sc); err != nil || sc.ID != id || sc.TotalEntities != 4 || sc.ReadEntities.Tool != "healthsim_load_scenario" {
		t.Errorf("read %s: %s (%v)", uri, read.Contents[0].Text, err)
	}
	schema, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: mcp.SchemaURI})
	if err != nil || !strings.Contains(schema.Contents[0].Text, `"name":"patients"`) {
		t.Errorf("read %s: %v", mcp.SchemaURI, err)
	}

	prompts, err := cs.ListPrompts(ctx, nil)
	if err != nil || len(prompts.Prompts) != 3 {
		t.Fatalf("prompts/list: %+v, %v", prompts, err)
	}
	got, err := cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: mcp.PromptCompare, Arguments: map[string]string{"name": name, "state": "CA", "county": "Los Angeles"}})
	if err != nil || len(got.Messages) != 2 {
		t.Fatalf("prompts/get %s: %+v, %v", mcp.PromptCompare, got, err)
	}
	if res, ok := got.Messages[0].Content.(*sdk.EmbeddedResource); !ok || res.Resource.URI != uri {
		t.Errorf("prompts/get %s: first message %+v, want the scenario embedded", mcp.PromptCompare, got.Messages[0].Content)
	}
	if text, ok := got.Messages[1].Content.(*sdk.TextContent); !ok || !strings.Contains(text.Text, "Los Angeles, California") {
		t.Errorf("prompts/get %s: second message %+v", mcp.PromptCompare, got.Messages[1].Content)
	}
	if _, err := cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: mcp.PromptExploreScenario}); err == nil || !strings.Contains(err.Error(), `needs the argument "name"`) {
		t.Errorf("prompts/get without its argument: %v", err)
	}

	for _, ref := range []*sdk.CompleteReference{{Type: "ref/prompt", Name: mcp.PromptExploreScenario}, {Type: "ref/resource", URI: mcp.ScenarioTemplate}} {
		done, err := cs.Complete(ctx, &sdk.CompleteParams{Ref: ref, Argument: sdk.CompleteParamsArgument{Name: "name", Value: strings.ToUpper(name[:5])}})
		if err != nil || !slices.Equal(done.Completion.Values, []string{name}) {
			t.Errorf("complete %+v: %+v, %v", ref, done, err)
		}
	}
	states, err := cs.Complete(ctx, &sdk.CompleteParams{Ref: &sdk.CompleteReference{Type: "ref/prompt", Name: mcp.PromptCompare},
		Argument: sdk.CompleteParamsArgument{Name: "state", Value: "cal"}})
	if err != nil || !slices.Equal(states.Completion.Values, []string{"California"}) {
		t.Errorf("complete state: %+v, %v", states, err)
	}
}

func e2eSameCounts(a, b map[string]int) bool { return reflect.DeepEqual(a, b) }

func e2eSameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestE2EGoSDK(t *testing.T) {
	t.Run("stdio", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cs, _, log, err := e2eConnectStdio(t, ctx, tempDB(t))
		if err != nil {
			t.Fatal(err)
		}
		e2eCycle(t, ctx, cs)
		// The client closes stdin: the server stops cleanly.
		if err := cs.Close(); err != nil {
			t.Fatalf("close (server exit): %v; server log:\n%s", err, log)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", log)
		}
	})
	t.Run("http", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		srv := e2eStartHTTP(t, tempDB(t))
		cs, err := e2eConnectHTTP(t, ctx, srv.url, "")
		if err != nil {
			t.Fatalf("connect to %s: %v; server log:\n%s", srv.url, err, srv.log)
		}
		e2eCycle(t, ctx, cs)
		cs.Close()
		srv.stop(t)
		if t.Failed() {
			t.Logf("server log:\n%s", srv.log)
		}
	})
}

// e2eInitialize is a client's first message over streamable HTTP.
const e2eInitialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`

// e2ePost sends e2eInitialize to url with the given headers and returns the
// status code.
func e2ePost(t *testing.T, ctx context.Context, url string, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(e2eInitialize))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestE2EHTTPSecurity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("token", func(t *testing.T) {
		srv := e2eStartHTTP(t, tempDB(t), "HEALTHSIM_MCP_TOKEN=secret")
		if _, err := e2eConnectHTTP(t, ctx, srv.url, ""); err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "Unauthorized") {
			t.Errorf("SDK client without the token: %v; want a 401 error", err)
		}
		if _, err := e2eConnectHTTP(t, ctx, srv.url, "wrong"); err == nil {
			t.Errorf("SDK client with a wrong token connected")
		}
		for _, h := range []map[string]string{nil, {"Authorization": "Bearer wrong"}, {"Authorization": "secret"}} {
			if code := e2ePost(t, ctx, srv.url, h); code != http.StatusUnauthorized {
				t.Errorf("POST with %v: status %d, want 401", h, code)
			}
		}
		if code := e2ePost(t, ctx, srv.url, map[string]string{"Authorization": "Bearer secret"}); code != http.StatusOK {
			t.Errorf("POST with the token: status %d, want 200", code)
		}
		cs, err := e2eConnectHTTP(t, ctx, srv.url, "secret")
		if err != nil {
			t.Fatalf("SDK client with the token: %v; server log:\n%s", err, srv.log)
		}
		var list struct {
			Count int `json:"count"`
		}
		e2eCaller{t: t, ctx: ctx, cs: cs}.ok("healthsim_list_scenarios", nil, &list)
		cs.Close()
		srv.stop(t)
	})

	t.Run("host and origin", func(t *testing.T) {
		srv := e2eStartHTTP(t, tempDB(t))
		if code := e2ePost(t, ctx, srv.url, nil); code != http.StatusOK {
			t.Fatalf("plain POST: status %d, want 200", code)
		}
		for _, h := range []map[string]string{
			{"Host": "evil.example"},
			{"Host": "evil.example:80"},
			{"Origin": "https://evil.example"},
			{"Origin": "null"},
		} {
			if code := e2ePost(t, ctx, srv.url, h); code != http.StatusForbidden {
				t.Errorf("POST with %v: status %d, want 403", h, code)
			}
		}
		// A page served from loopback may call its own loopback server.
		if code := e2ePost(t, ctx, srv.url, map[string]string{"Origin": "http://localhost:3000"}); code != http.StatusOK {
			t.Errorf("POST with a loopback Origin: status %d, want 200", code)
		}
		srv.stop(t)
	})

	t.Run("off loopback needs a token", func(t *testing.T) {
		srv := e2eStart(t, []string{"HEALTHSIM_MCP_TOKEN="}, nil, nil, "--db", tempDB(t), "--http", "0.0.0.0:0")
		if code := srv.wait(t, 30*time.Second); code == 0 || !strings.Contains(srv.log.String(), "HEALTHSIM_MCP_TOKEN") {
			t.Fatalf("serve --http 0.0.0.0:0 without a token: exit %d, log:\n%s", code, srv.log)
		}
	})
}

// e2eAssertFileFree proves that no process holds db any more: a second process
// opens it read-write with plain DuckDB, and `healthsim locks` finds nobody.
func e2eAssertFileFree(t *testing.T, db string) {
	t.Helper()
	out, err := exec.Command(builtBinary(t), "locks", "--db", db).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Nobody holds") {
		t.Errorf("healthsim locks after the server stopped: %v\n%s", err, out)
	}
	proctest.StartReady(t, "hold-rw", db).Stop()
	out, err = exec.Command(builtBinary(t), "migrate", "version", "--db", db, "--busy-timeout", "0s").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "version ") {
		t.Errorf("healthsim migrate version after the server stopped: %v\n%s", err, out)
	}
}

func TestE2EShutdown(t *testing.T) {
	wine.Skip(t, wine.CtrlBreak)
	t.Run("http", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		db := tempDB(t)
		srv := e2eStartHTTP(t, db)
		cs, err := e2eConnectHTTP(t, ctx, srv.url, "")
		if err != nil {
			t.Fatal(err)
		}
		// A session with its standalone SSE stream open, and the file in use.
		var list struct {
			Count int `json:"count"`
		}
		e2eCaller{t: t, ctx: ctx, cs: cs}.ok("healthsim_list_scenarios", nil, &list)
		took := srv.stop(t)
		t.Logf("HTTP server with an open session stopped %s after SIGTERM", took.Round(time.Millisecond))
		e2eAssertFileFree(t, db)
	})
	t.Run("stdio", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		db := tempDB(t)
		// Our own pipes (not CommandTransport, which reaps the process
		// itself), so the test sees the exit status after SIGTERM.
		inR, inW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		srv := e2eStart(t, nil, inR, outW, "--db", db)
		inR.Close()
		outW.Close()
		t.Cleanup(func() { inW.Close(); outR.Close() })
		client := sdk.NewClient(&sdk.Implementation{Name: "healthsim-e2e-go", Version: "test"}, nil)
		cs, err := client.Connect(ctx, &sdk.IOTransport{Reader: outR, Writer: inW}, nil)
		if err != nil {
			t.Fatalf("connect: %v; server log:\n%s", err, srv.log)
		}
		var list struct {
			Count int `json:"count"`
		}
		e2eCaller{t: t, ctx: ctx, cs: cs}.ok("healthsim_list_scenarios", nil, &list)
		// stdin stays open: only the signal stops the server.
		took := srv.stop(t)
		t.Logf("stdio server stopped %s after SIGTERM", took.Round(time.Millisecond))
		cs.Close()
		e2eAssertFileFree(t, db)
	})
}

// TestE2ETwoServers runs two stdio servers on one file, as two desktop
// client windows do, each with its own SDK client that saves a scenario
// every 50 ms while it also reads without pause. Every save must succeed.
func TestE2ETwoServers(t *testing.T) {
	const (
		runFor   = 5 * time.Second
		interval = 50 * time.Millisecond
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	db := tempDB(t)

	type stats struct {
		saves     []time.Duration
		saveErrs  []string
		reads     int
		readErrs  []string
		protoErrs []string
	}
	var (
		sessions [2]*sdk.ClientSession
		cmds     [2]*exec.Cmd
		logs     [2]*e2eLog
		wg       sync.WaitGroup
	)
	var errs [2]error
	builtBinary(t)
	for i := range 2 { // started together: both migrate (or find nothing to do) at once
		// --no-share: each server opens the file itself, through dbx.
		wg.Go(func() { sessions[i], cmds[i], logs[i], errs[i] = e2eConnectStdio(t, ctx, db, "--no-share") })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	if rec, owned := share.Owned(db); owned {
		t.Fatalf("with --no-share, PID %d owns the file's shared server", rec.PID)
	}

	results := [2]*stats{{}, {}}
	stopAt := time.Now().Add(runFor)
	for i, cs := range sessions {
		st := results[i]
		var mu sync.Mutex
		wg.Go(func() { // the writer: one small scenario every 50 ms
			for n := 0; time.Now().Before(stopAt); n++ {
				next := time.Now().Add(interval)
				args := map[string]any{
					"name": fmt.Sprintf("server %d save %04d", i, n),
					"tags": []string{fmt.Sprintf("server-%d", i)},
					"entities": map[string]any{"patients": []any{
						map[string]any{"id": "p1", "given_name": "Ana", "birth_date": "1990-01-01"},
						map[string]any{"id": "p2", "given_name": "Bo"},
					}},
				}
				start := time.Now()
				res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "healthsim_save_scenario", Arguments: args})
				took := time.Since(start)
				mu.Lock()
				switch {
				case err != nil:
					st.protoErrs = append(st.protoErrs, "save: "+err.Error())
				case res.IsError:
					st.saveErrs = append(st.saveErrs, e2eText(res))
				default:
					st.saves = append(st.saves, took)
				}
				mu.Unlock()
				if err != nil && ctx.Err() != nil {
					return
				}
				time.Sleep(time.Until(next))
			}
		})
		wg.Go(func() { // the reader: list and query without pause
			for time.Now().Before(stopAt) {
				for _, p := range []*sdk.CallToolParams{
					{Name: "healthsim_list_scenarios", Arguments: map[string]any{"limit": 5}},
					{Name: "healthsim_query", Arguments: map[string]any{"sql": "SELECT count(*) FROM scenarios"}},
				} {
					res, err := cs.CallTool(ctx, p)
					mu.Lock()
					switch {
					case err != nil:
						st.protoErrs = append(st.protoErrs, p.Name+": "+err.Error())
					case res.IsError:
						st.readErrs = append(st.readErrs, p.Name+": "+e2eText(res))
					default:
						st.reads++
					}
					mu.Unlock()
					if err != nil && ctx.Err() != nil {
						return
					}
				}
			}
		})
	}
	wg.Wait()

	var all []time.Duration
	for i, st := range results {
		t.Logf("server %d (PID %d): %d saves, %d failed saves, %d reads, %d failed reads, %d protocol errors",
			i, cmds[i].Process.Pid, len(st.saves), len(st.saveErrs), st.reads, len(st.readErrs), len(st.protoErrs))
		for _, list := range [][]string{st.protoErrs, st.saveErrs, st.readErrs} {
			for j, msg := range list {
				if j == 3 {
					t.Errorf("server %d: ... and %d more like these", i, len(list)-3)
					break
				}
				t.Errorf("server %d: %s", i, msg)
			}
		}
		if len(st.saves) == 0 || st.reads == 0 {
			t.Errorf("server %d made no progress", i)
		}
		all = append(all, st.saves...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		pct := func(p float64) time.Duration { return all[min(len(all)-1, int(p*float64(len(all))))] }
		t.Logf("save latency over %d saves by two servers on one file: p50 %s, p99 %s, max %s",
			len(all), pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), all[len(all)-1].Round(10*time.Microsecond))
	}

	for i, cs := range sessions {
		if err := cs.Close(); err != nil {
			t.Errorf("server %d did not stop cleanly: %v", i, err)
		}
	}
	if t.Failed() {
		for i, log := range logs {
			text := log.String()
			t.Logf("server %d log (last 8 KiB):\n%s", i, text[max(0, len(text)-8<<10):])
		}
	}

	// Counted by a third process, after both servers let go of the file.
	out, err := exec.CommandContext(ctx, builtBinary(t), "query", "--json", "--db", db, "SELECT count(*) AS n FROM scenarios").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			out = append(out, ee.Stderr...)
		}
		t.Fatalf("healthsim query: %v\n%s", err, out)
	}
	var res struct {
		Rows [][]int `json:"rows"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		t.Fatalf("healthsim query --json: %v\n%s", err, out)
	}
	if got := res.Rows[0][0]; got != len(all) {
		t.Fatalf("the file holds %d scenarios; %d saves succeeded", got, len(all))
	}
}

// TestE2EServesWhileFileHeld: a server started while a plain DuckDB program
// holds the file read-write answers initialize and tools/list at once (not
// after the busy timeout), answers tool calls with a sentence that names
// the holder, and, once the holder has gone, migrates the file and works.
func TestE2EServesWhileFileHeld(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := tempDB(t)
	holder := proctest.StartReady(t, "hold-rw", db) // creates the file, unmigrated
	builtBinary(t)
	start := time.Now()
	cs, _, log, err := e2eConnectStdio(t, ctx, db, "--busy-timeout", "1s")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("initialize answered %v after the server started, the file held", time.Since(start).Round(time.Millisecond))
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 8 {
		t.Fatalf("tools/list while the file is held: %v, %v", tools, err)
	}
	c := e2eCaller{t: t, ctx: ctx, cs: cs}
	// Calls that come together wait for one attempt, not one each.
	const calls = 4
	start = time.Now()
	var wg sync.WaitGroup
	results := make([]*sdk.CallToolResult, calls)
	errs := make([]error, calls)
	for i := range calls {
		wg.Go(func() {
			results[i], errs[i] = cs.CallTool(ctx, &sdk.CallToolParams{Name: "healthsim_list_scenarios"})
		})
	}
	wg.Wait()
	for i, res := range results {
		if errs[i] != nil || !res.IsError || !strings.Contains(e2eText(res), "is held by") {
			t.Fatalf("call %d while the file is held: %v, %v", i, errs[i], res)
		}
	}
	wine.Run(t, "holder named", wine.HolderPIDs, func(t *testing.T) {
		if text := e2eText(results[0]); !strings.Contains(text, fmt.Sprintf("PID %d", holder.PID())) {
			t.Errorf("the answer does not name the holder, PID %d: %s", holder.PID(), text)
		}
	})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("%d calls together took %v with a 1 s busy timeout: each waited its own turn", calls, took.Round(time.Millisecond))
	}
	c.failing("healthsim_save_scenario", map[string]any{"name": "held", "entities": map[string]any{"patients": []any{map[string]any{"id": "p1"}}}},
		"is held by")
	holder.Stop()
	var list struct {
		Count int `json:"count"`
	}
	c.ok("healthsim_list_scenarios", nil, &list)
	if list.Count != 0 {
		t.Fatalf("%d scenarios in a new file", list.Count)
	}
	c.ok("healthsim_save_scenario", map[string]any{"name": "after", "entities": map[string]any{"patients": []any{map[string]any{"id": "p1"}}}}, &struct{}{})
	if !strings.Contains(log.String(), "another process holds the database") {
		t.Errorf("the server did not log that the file was held; its log:\n%s", log)
	}
}

// TestE2EReadLease: while calls come within the read lease, the server
// keeps its shared lock, so a plain DuckDB program cannot open the file
// read-write; it gets the file within the read lease after the last read,
// a save in between or not.
func TestE2EReadLease(t *testing.T) {
	const lease = 4 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := tempDB(t)
	cs, _, _, err := e2eConnectStdio(t, ctx, db, "--read-lease", lease.String())
	if err != nil {
		t.Fatal(err)
	}
	c := e2eCaller{t: t, ctx: ctx, cs: cs}
	probe := proctest.StartReady(t, "probe-rw", db)
	var out any
	c.ok("healthsim_list_scenarios", nil, &out)
	c.ok("healthsim_save_scenario", map[string]any{"name": "lease", "entities": map[string]any{"patients": []any{map[string]any{"id": "p1"}}}}, &out)
	c.ok("healthsim_list_scenarios", nil, &out)
	last := time.Now()
	probe.Send(t, "open")
	line := probe.Line(t)
	if time.Since(last) < lease/2 && line == "ok" {
		t.Fatal("a plain process opened the file read-write right after a call: the read side did not keep it")
	}
	for line != "ok" {
		if waited := time.Since(last); waited > lease+5*time.Second {
			t.Fatalf("the file is still held %v after the last call, with a %v read lease: %s", waited.Round(time.Millisecond), lease, line)
		}
		probe.Send(t, "open")
		line = probe.Line(t)
	}
	t.Logf("a plain read-write open got the file %v after the last call (read lease %v)", time.Since(last).Round(time.Millisecond), lease)
}
