package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/healthsim/healthsim-go/mcp"
	"github.com/healthsim/healthsim-go/migrations"
	"github.com/mark3labs/mcp-go/client"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

func TestMain(m *testing.M) {
	proctest.Main(m, map[string]proctest.Helper{"hold-rw-when-free": holdWhenFree})
}

// holdWhenFree opens the file read-write with plain duckdb-go, as a foreign
// program does, as soon as the test's read lease lets it go; prints "ready"
// and holds it until stdin closes.
func holdWhenFree(path string, done <-chan struct{}) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		db, err := proctest.OpenRaw(path, false)
		if err == nil {
			defer db.Close()
			fmt.Println("ready")
			<-done
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// env is a migrated database in t.TempDir() with a server and an in-process
// mcp-go client connected to it.
type env struct {
	t      *testing.T
	path   string
	db     *dbx.DB
	srv    *mcp.Server
	client *client.Client

	mu            sync.Mutex
	notifications []mcpgo.JSONRPCNotification
}

func newEnv(t *testing.T, opts mcp.Options, dbOpts ...dbx.Option) *env {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "healthsim.duckdb")
	db, err := dbx.Open(ctx, path, dbOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := migrations.Up(ctx, db); err != nil {
		t.Fatal(err)
	}
	opts.ValidateOutput = true // every result must match its output schema
	srv := mcp.NewServer(db, opts)
	c, err := client.NewInProcessClient(srv.MCPServer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	e := &env{t: t, path: path, db: db, srv: srv, client: c}
	c.OnNotification(func(n mcpgo.JSONRPCNotification) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.notifications = append(e.notifications, n)
	})
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcpgo.InitializeRequest{}
	init.Params.ProtocolVersion = mcpgo.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcpgo.Implementation{Name: "test", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return e
}

// call calls tool with args and returns the result; a protocol error fails
// the test, since every tool failure must be an isError result.
func (e *env) call(tool string, args map[string]any) *mcpgo.CallToolResult {
	e.t.Helper()
	return e.callMeta(tool, args, nil)
}

func (e *env) callMeta(tool string, args map[string]any, meta *mcpgo.Meta) *mcpgo.CallToolResult {
	e.t.Helper()
	req := mcpgo.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = args
	req.Params.Meta = meta
	res, err := e.client.CallTool(context.Background(), req)
	if err != nil {
		e.t.Fatalf("%s(%v): protocol error %v; want a tool result", tool, args, err)
	}
	return res
}

// ok calls tool, requires success and decodes the structured result into out.
func (e *env) ok(tool string, args map[string]any, out any) {
	e.t.Helper()
	res := e.call(tool, args)
	if res.IsError {
		e.t.Fatalf("%s(%v) failed: %s", tool, args, text(res))
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		e.t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s: decode %s: %v", tool, b, err)
		}
	}
	// The text fallback carries the same result.
	var fromText, fromStructured any
	if err := json.Unmarshal([]byte(text(res)), &fromText); err != nil {
		e.t.Fatalf("%s: text fallback is not the JSON result: %v", tool, err)
	}
	_ = json.Unmarshal(b, &fromStructured)
	if fmt.Sprint(fromText) != fmt.Sprint(fromStructured) {
		e.t.Fatalf("%s: text fallback differs from structured content", tool)
	}
}

// fails calls tool, requires an isError result and returns its text.
func (e *env) fails(tool string, args map[string]any) string {
	e.t.Helper()
	res := e.call(tool, args)
	if !res.IsError {
		e.t.Fatalf("%s(%v) succeeded; want an error result", tool, args)
	}
	return text(res)
}

// count runs a COUNT query on the read pool.
func (e *env) count(query string) int {
	e.t.Helper()
	var n int
	if err := e.db.Read().Get(&n, query); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func text(res *mcpgo.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := mcpgo.AsTextContent(c); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func patients(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{
			"id": fmt.Sprintf("p%05d", i), "given_name": "Ana", "family_name": fmt.Sprintf("Diaz-%d", i),
			"birth_date": "1980-02-03", "gender": "F",
		}
	}
	return out
}

func sampleScenario(name string) map[string]any {
	return map[string]any{
		"name":        name,
		"description": "Diabetic cohort for a demo",
		"tags":        []any{"Diabetes", "demo"},
		"entities": map[string]any{
			"patients": patients(3),
			"encounters": []any{
				map[string]any{"encounter_id": "e1", "patient_id": "p00000", "class_code": "AMB", "admission_time": "2024-01-02T10:00:00Z"},
			},
			"diagnosis": []any{ // singular works too
				map[string]any{"id": "d1", "patient_id": "p00000", "code": "E11.9", "description": "Type 2 diabetes"},
			},
		},
	}
}

func TestToolsAndAnnotations(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	list, err := e.client.ListTools(context.Background(), mcpgo.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	reads := map[string]bool{
		"healthsim_list_scenarios": true, "healthsim_load_scenario": true, "healthsim_get_summary": true,
		"healthsim_query": true, "healthsim_query_reference": true, "healthsim_tables": true,
		"healthsim_save_scenario": false, "healthsim_delete_scenario": false,
	}
	if len(list.Tools) != len(reads) {
		t.Fatalf("%d tools, want %d", len(list.Tools), len(reads))
	}
	for _, tool := range list.Tools {
		read, known := reads[tool.Name]
		if !known {
			t.Errorf("unexpected tool %s", tool.Name)
			continue
		}
		a := tool.Annotations
		if *a.ReadOnlyHint != read || *a.OpenWorldHint || *a.DestructiveHint != (tool.Name == "healthsim_delete_scenario") {
			t.Errorf("%s: annotations readOnly=%v destructive=%v openWorld=%v", tool.Name, *a.ReadOnlyHint, *a.DestructiveHint, *a.OpenWorldHint)
		}
		if tool.Description == "" || tool.OutputSchema.Type != "object" {
			t.Errorf("%s: needs a description and an output schema", tool.Name)
		}
		// Portable schemas: one type per field, no boolean schemas.
		if b, _ := json.Marshal(tool.OutputSchema); strings.Contains(string(b), `"null"`) || strings.Contains(string(b), `"items":true`) {
			t.Errorf("%s: output schema not portable: %s", tool.Name, b)
		}
		for name, p := range tool.InputSchema.Properties {
			if d, _ := p.(map[string]any)["description"].(string); d == "" {
				t.Errorf("%s.%s: no description", tool.Name, name)
			}
		}
	}
}

func TestScenarioCycle(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	var saved struct {
		ID            string         `json:"id"`
		TotalEntities int            `json:"total_entities"`
		EntityCounts  map[string]int `json:"entity_counts"`
		Tags          []string       `json:"tags"`
	}
	e.ok("healthsim_save_scenario", sampleScenario("diabetes demo"), &saved)
	if saved.TotalEntities != 5 || saved.EntityCounts["diagnoses"] != 1 || strings.Join(saved.Tags, ",") != "diabetes,demo" {
		t.Fatalf("saved %+v", saved)
	}

	var list mcp.ListScenariosOutput
	e.ok("healthsim_list_scenarios", map[string]any{"tag": "DIABETES"}, &list)
	if list.Count != 1 || list.Scenarios[0].ID != saved.ID || list.Scenarios[0].EntityCount != 5 {
		t.Fatalf("list %+v", list)
	}
	// A whole number written as a float, as JSON text from the wire.
	req := mcpgo.CallToolRequest{}
	req.Params.Name = "healthsim_list_scenarios"
	req.Params.Arguments = json.RawMessage(`{"tag": "demo", "limit": 1e1}`)
	if res, err := e.client.CallTool(context.Background(), req); err != nil || res.IsError {
		t.Fatalf("limit 1e1: %v %v", err, res)
	}
	e.ok("healthsim_list_scenarios", map[string]any{"search": "nothing like this"}, &list)
	if list.Count != 0 {
		t.Fatalf("search matched %+v", list)
	}

	var loaded struct {
		ID       string                       `json:"id"`
		Entities map[string][]json.RawMessage `json:"entities"`
	}
	e.ok("healthsim_load_scenario", map[string]any{"name_or_id": saved.ID}, &loaded)
	if loaded.ID != saved.ID || len(loaded.Entities["patients"]) != 3 || len(loaded.Entities["encounters"]) != 1 {
		t.Fatalf("loaded %+v", loaded)
	}
	var p map[string]any
	_ = json.Unmarshal(loaded.Entities["patients"][0], &p)
	if p["family_name"] != "Diaz-0" || p["birth_date"] != "1980-02-03" {
		t.Fatalf("patient came back as %v", p)
	}
	var counts struct {
		EntityCounts map[string]int `json:"entity_counts"`
		Entities     map[string]any `json:"entities"`
	}
	e.ok("healthsim_load_scenario", map[string]any{"name_or_id": "diabetes demo", "include_entities": false}, &counts)
	if counts.Entities != nil || counts.EntityCounts["patients"] != 3 {
		t.Fatalf("include_entities false still sent entities")
	}

	var sum struct {
		EntityCounts map[string]int              `json:"entity_counts"`
		Samples      map[string][]map[string]any `json:"samples"`
	}
	e.ok("healthsim_get_summary", map[string]any{"scenario_id_or_name": "diabetes demo", "samples_per_type": 2}, &sum)
	if sum.EntityCounts["patients"] != 3 || len(sum.Samples["patients"]) != 2 {
		t.Fatalf("summary %+v", sum)
	}

	// The canonical tables hold the rows for SQL.
	var q struct {
		Rows [][]any `json:"rows"`
	}
	e.ok("healthsim_query", map[string]any{"sql": "SELECT count(*) AS n FROM patients WHERE family_name LIKE 'Diaz%'"}, &q)
	if len(q.Rows) != 1 || q.Rows[0][0] != float64(3) {
		t.Fatalf("query rows %v", q.Rows)
	}

	var del mcp.DeleteScenarioOutput
	e.ok("healthsim_delete_scenario", map[string]any{"name_or_id": "diabetes demo", "confirm": true}, &del)
	if !del.Deleted || del.Entities != 5 || del.Rows["patients"] != 3 {
		t.Fatalf("delete %+v", del)
	}
	for _, table := range []string{"scenarios", "scenario_entities", "scenario_tags", "patients", "encounters", "diagnoses"} {
		if n := e.count("SELECT count(*) FROM " + table); n != 0 {
			t.Errorf("%s has %d rows after delete", table, n)
		}
	}
}

func TestSummaryFitsAModelsContext(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	long := strings.Repeat("very long clinical note text ", 40)
	sc := sampleScenario("big")
	ents := sc["entities"].(map[string]any)
	ents["patients"] = patients(200)
	notes := make([]any, 50)
	for i := range notes {
		notes[i] = map[string]any{"id": fmt.Sprint("n", i), "patient_id": "p00001", "note_text": long, "author": "Dr. Who",
			"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7}
	}
	ents["clinical_notes"] = notes
	e.ok("healthsim_save_scenario", sc, nil)
	res := e.call("healthsim_get_summary", map[string]any{"scenario_id_or_name": "big"})
	// About 4 characters per token: 500 tokens is about 2,000 characters.
	if n := len(text(res)); n > 2600 {
		t.Fatalf("summary is %d characters, want about 2,000 (500 tokens):\n%s", n, text(res))
	}
}

func TestOverwrite(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	var first, second struct {
		ID          string `json:"id"`
		Overwritten bool   `json:"overwritten"`
	}
	e.ok("healthsim_save_scenario", sampleScenario("s"), &first)
	msg := e.fails("healthsim_save_scenario", sampleScenario("s"))
	if !strings.Contains(msg, "already exists") || !strings.Contains(msg, "overwrite") {
		t.Fatalf("duplicate save: %s", msg)
	}
	sc := sampleScenario("s")
	sc["overwrite"] = true
	sc["entities"] = map[string]any{"patients": patients(2)}
	e.ok("healthsim_save_scenario", sc, &second)
	if second.ID != first.ID || !second.Overwritten {
		t.Fatalf("overwrite gave %+v after %+v", second, first)
	}
	if n := e.count("SELECT count(*) FROM scenario_entities"); n != 2 {
		t.Fatalf("%d entities after overwrite, want 2", n)
	}
	if n := e.count("SELECT count(*) FROM encounters"); n != 0 {
		t.Fatalf("overwrite kept %d old encounter rows", n)
	}
}

// TestSaveIsAtomic: a save that fails half-way, after thousands of rows went
// in, leaves nothing behind, and a failed overwrite keeps the old scenario.
func TestSaveIsAtomic(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	ps := patients(2500)
	ps[2400].(map[string]any)["birth_date"] = "the third of never" // DuckDB cannot cast it
	msg := e.fails("healthsim_save_scenario", map[string]any{"name": "half", "tags": []any{"x"},
		"entities": map[string]any{"encounters": []any{map[string]any{"encounter_id": "e1"}}, "patients": ps}})
	if !strings.Contains(msg, "birth_date") || !strings.Contains(msg, "Nothing was changed") {
		t.Fatalf("message %q should name the field and say nothing changed", msg)
	}
	for _, table := range []string{"scenarios", "scenario_entities", "scenario_tags", "patients", "encounters"} {
		if n := e.count("SELECT count(*) FROM " + table); n != 0 {
			t.Errorf("%s has %d rows after a failed save", table, n)
		}
	}

	e.ok("healthsim_save_scenario", sampleScenario("kept"), nil)
	bad := sampleScenario("kept")
	bad["overwrite"] = true
	bad["entities"] = map[string]any{"patients": ps}
	e.fails("healthsim_save_scenario", bad)
	if n := e.count("SELECT count(*) FROM scenario_entities"); n != 5 {
		t.Fatalf("failed overwrite left %d entities, want the old 5", n)
	}
	if n := e.count("SELECT count(*) FROM patients"); n != 3 {
		t.Fatalf("failed overwrite left %d patients, want the old 3", n)
	}
}

func TestSaveReportsProgress(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	res := e.callMeta("healthsim_save_scenario",
		map[string]any{"name": "large", "entities": map[string]any{"patients": patients(10_000)}},
		&mcpgo.Meta{ProgressToken: "save-1"})
	if res.IsError {
		t.Fatal(text(res))
	}
	deadline := time.Now().Add(5 * time.Second)
	var progress []float64
	for time.Now().Before(deadline) {
		e.mu.Lock()
		progress = progress[:0]
		for _, n := range e.notifications {
			if n.Method == "notifications/progress" && n.Params.AdditionalFields["progressToken"] == "save-1" {
				var p float64
				_, _ = fmt.Sscan(fmt.Sprint(n.Params.AdditionalFields["progress"]), &p)
				progress = append(progress, p)
			}
		}
		e.mu.Unlock()
		if len(progress) == 10 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(progress) != 10 || progress[9] != 10_000 {
		t.Fatalf("progress notifications %v, want 10 ending at 10000", progress)
	}
	if n := e.count("SELECT count(*) FROM patients"); n != 10_000 {
		t.Fatalf("%d patients saved", n)
	}
}

// TestArgumentErrors: every bad argument is an isError result that names
// the argument, and changes nothing.
func TestArgumentErrors(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	e.ok("healthsim_save_scenario", sampleScenario("existing"), nil)
	long := strings.Repeat("x", 201)
	cases := []struct {
		tool string
		args map[string]any
		want string // in the message
	}{
		{"healthsim_list_scenarios", map[string]any{"limit": 0}, "limit"},
		{"healthsim_list_scenarios", map[string]any{"limit": 201}, "limit"},
		{"healthsim_list_scenarios", map[string]any{"limit": "ten"}, "limit"},
		{"healthsim_list_scenarios", map[string]any{"tag": 3}, "tag"},
		{"healthsim_list_scenarios", map[string]any{"page": 2}, "page"},
		{"healthsim_load_scenario", map[string]any{}, "name_or_id"},
		{"healthsim_load_scenario", map[string]any{"name_or_id": ""}, "name_or_id"},
		{"healthsim_load_scenario", map[string]any{"name_or_id": "existing", "include_entities": "yes"}, "include_entities"},
		{"healthsim_get_summary", map[string]any{}, "scenario_id_or_name"},
		{"healthsim_get_summary", map[string]any{"scenario_id_or_name": "existing", "samples_per_type": 0}, "samples_per_type"},
		{"healthsim_get_summary", map[string]any{"scenario_id_or_name": "existing", "samples_per_type": 11}, "samples_per_type"},
		{"healthsim_query", map[string]any{}, "sql"},
		{"healthsim_query", map[string]any{"sql": ""}, "sql"},
		{"healthsim_query", map[string]any{"sql": "SELECT 1", "limit": 0}, "limit"},
		{"healthsim_query", map[string]any{"sql": "SELECT 1", "limit": 1001}, "limit"},
		{"healthsim_query_reference", map[string]any{}, "table"},
		{"healthsim_query_reference", map[string]any{"table": "patients"}, "table"},
		{"healthsim_query_reference", map[string]any{"table": "svi_county", "limit": 101}, "limit"},
		{"healthsim_query_reference", map[string]any{"table": "svi_county", "state": "Atlantis"}, "state"},
		{"healthsim_tables", map[string]any{"schema": "main"}, "schema"},
		{"healthsim_save_scenario", map[string]any{"entities": map[string]any{"patients": patients(1)}}, "name"},
		{"healthsim_save_scenario", map[string]any{"name": long, "entities": map[string]any{"patients": patients(1)}}, "name"},
		{"healthsim_save_scenario", map[string]any{"name": "   ", "entities": map[string]any{"patients": patients(1)}}, "name"},
		{"healthsim_save_scenario", map[string]any{"name": "n"}, "entities"},
		{"healthsim_save_scenario", map[string]any{"name": "n", "entities": map[string]any{}}, "entities"},
		{"healthsim_save_scenario", map[string]any{"name": "n", "entities": []any{}}, "entities"},
		{"healthsim_save_scenario", map[string]any{"name": "n", "entities": map[string]any{"patients": []any{"p1"}}}, "entities"},
		{"healthsim_save_scenario", map[string]any{"name": "n", "entities": map[string]any{"spaceships": []any{map[string]any{"id": "s1"}}}}, "spaceships"},
		{"healthsim_save_scenario", map[string]any{"name": "n", "entities": map[string]any{"patients": []any{map[string]any{"given_name": "No Id"}}}}, "id"},
		{"healthsim_save_scenario", map[string]any{"name": "n", "entities": map[string]any{"patients": []any{map[string]any{"id": "a"}, map[string]any{"id": "a"}}}}, "a"},
		{"healthsim_save_scenario", map[string]any{"name": "n", "tags": "x", "entities": map[string]any{"patients": patients(1)}}, "tags"},
		{"healthsim_save_scenario", map[string]any{"name": "n", "overwrite": "yes", "entities": map[string]any{"patients": patients(1)}}, "overwrite"},
		{"healthsim_delete_scenario", map[string]any{"name_or_id": "existing"}, "confirm"},
		{"healthsim_delete_scenario", map[string]any{"name_or_id": "existing", "confirm": false}, "confirm"},
		{"healthsim_delete_scenario", map[string]any{"confirm": true}, "name_or_id"},
		{"healthsim_delete_scenario", map[string]any{"name_or_id": "existing", "confirm": "true"}, "confirm"},
	}
	for _, c := range cases {
		t.Run(c.tool, func(t *testing.T) {
			msg := e.fails(c.tool, c.args)
			t.Log(msg)
			if !strings.Contains(msg, c.want) {
				t.Errorf("%v: message %q does not name %q", c.args, msg, c.want)
			}
		})
	}
	if n := e.count("SELECT count(*) FROM scenarios"); n != 1 {
		t.Fatalf("%d scenarios after bad calls, want 1", n)
	}
	if n := e.count("SELECT count(*) FROM scenario_entities"); n != 5 {
		t.Fatalf("%d entities after bad calls, want 5", n)
	}
}

// TestArgumentMessages: the validator's refusals say the rule from the
// schema, whole: the range and default, the length, the kinds of values,
// with what was given, cut on a character boundary.
func TestArgumentMessages(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	for _, c := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"healthsim_list_scenarios", map[string]any{"limit": 0}, "limit must be a whole number from 1 to 200 (default 50); got 0"},
		{"healthsim_list_scenarios", map[string]any{"limit": 2.5}, "limit must be a whole number from 1 to 200 (default 50); got 2.5"},
		{"healthsim_list_scenarios", map[string]any{"limit": nil, "tag": nil, "page": 1}, "page is not an argument of this tool (it takes limit, search, tag)"},
		{"healthsim_load_scenario", map[string]any{"name_or_id": ""}, "name_or_id must be a string of at least 1 character"},
		{"healthsim_load_scenario", map[string]any{"name_or_id": nil}, "name_or_id is required"},
		{"healthsim_query_reference", map[string]any{"table": "x"}, "table must be one of places_county, places_tract, svi_county, svi_tract, adi_blockgroup"},
		{"healthsim_save_scenario", map[string]any{"name": strings.Repeat("é", 201), "entities": map[string]any{"patients": patients(1)}},
			"name must be a string of 1 to 200 characters; got the string \"" + strings.Repeat("é", 40) + "…\""},
		{"healthsim_save_scenario", map[string]any{"name": "n", "entities": map[string]any{"patients": []any{"p1"}}},
			"entities must be an object of at least 1 entry whose values are arrays of objects"},
	} {
		msg := e.fails(c.tool, c.args)
		if !strings.Contains(msg, c.want) || !utf8.ValidString(msg) {
			t.Errorf("%s %v:\n got %q\nwant it to contain %q", c.tool, c.args, msg, c.want)
		}
	}
	// null for an optional argument means "not given".
	e.ok("healthsim_list_scenarios", map[string]any{"limit": nil, "tag": nil}, nil)
}

func TestNotFound(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	for tool, args := range map[string]map[string]any{
		"healthsim_load_scenario":   {"name_or_id": "nope"},
		"healthsim_get_summary":     {"scenario_id_or_name": "nope"},
		"healthsim_delete_scenario": {"name_or_id": "nope", "confirm": true},
	} {
		if msg := e.fails(tool, args); !strings.Contains(msg, "healthsim_list_scenarios") {
			t.Errorf("%s: %q should point to healthsim_list_scenarios", tool, msg)
		}
	}
}

func TestReadOnlyTurnsWritesOff(t *testing.T) {
	e := newEnv(t, mcp.Options{ReadOnly: true})
	for tool, args := range map[string]map[string]any{
		"healthsim_save_scenario":   sampleScenario("x"),
		"healthsim_delete_scenario": {"name_or_id": "x", "confirm": true},
	} {
		if msg := e.fails(tool, args); !strings.Contains(msg, "HEALTHSIM_READ_ONLY") {
			t.Errorf("%s: %q", tool, msg)
		}
	}
	e.ok("healthsim_list_scenarios", nil, nil)
}

// TestLockErrorNamesTheProcess: a foreign program holding the file past
// the busy timeout gets named, with its PID, in the tool's error.
func TestLockErrorNamesTheProcess(t *testing.T) {
	e := newEnv(t, mcp.Options{}, dbx.WithBusyTimeout(300*time.Millisecond), dbx.WithReadLease(50*time.Millisecond))
	holder := proctest.StartReady(t, "hold-rw-when-free", e.path)
	msg := e.fails("healthsim_save_scenario", sampleScenario("blocked"))
	if !strings.Contains(msg, fmt.Sprintf("PID %d", holder.PID())) || !strings.Contains(msg, "Close that process") {
		t.Fatalf("message %q should name PID %d and say what to do", msg, holder.PID())
	}
	msg = e.fails("healthsim_list_scenarios", nil)
	if !strings.Contains(msg, fmt.Sprintf("PID %d", holder.PID())) {
		t.Fatalf("read while held: %q", msg)
	}
	holder.Stop()
	e.ok("healthsim_save_scenario", sampleScenario("blocked"), nil)
}

// WriteTools (what a bridge tells a client whose call was cut off) names
// exactly the tools not annotated read-only.
func TestWriteTools(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	var writes []string
	for _, tool := range mcp.NewServer(e.db, mcp.Options{}).Tools() {
		if ro := tool.Annotations.ReadOnlyHint; ro == nil || !*ro {
			writes = append(writes, tool.Name)
		}
	}
	if !slices.Equal(writes, mcp.WriteTools) {
		t.Fatalf("tools that write: %v; mcp.WriteTools: %v", writes, mcp.WriteTools)
	}
}
