package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/mcp"
	"github.com/healthsim/healthsim-go/mcp/reference"
	"github.com/jmoiron/sqlx"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// readJSON reads uri and decodes its one JSON text content into out.
func (e *env) readJSON(uri string, out any) {
	e.t.Helper()
	req := mcpgo.ReadResourceRequest{}
	req.Params.URI = uri
	res, err := e.client.ReadResource(context.Background(), req)
	if err != nil {
		e.t.Fatalf("read %s: %v", uri, err)
	}
	if len(res.Contents) != 1 {
		e.t.Fatalf("read %s: %d contents, want 1", uri, len(res.Contents))
	}
	tc, ok := res.Contents[0].(mcpgo.TextResourceContents)
	if !ok || tc.MIMEType != "application/json" || tc.URI != uri {
		e.t.Fatalf("read %s: content %#v, want application/json text for that URI", uri, res.Contents[0])
	}
	if err := json.Unmarshal([]byte(tc.Text), out); err != nil {
		e.t.Fatalf("read %s: %v in %s", uri, err, tc.Text)
	}
}

func TestResources(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	ctx := context.Background()
	name := "cohort a/b: 50% done" // a name that needs escaping in a URI
	save := e.call("healthsim_save_scenario", sampleScenario(name))
	if save.IsError {
		t.Fatal(text(save))
	}
	// The save links the new scenario's resource.
	var link *mcpgo.ResourceLink
	for _, c := range save.Content {
		if l, ok := c.(mcpgo.ResourceLink); ok {
			link = &l
		}
	}
	if link == nil || link.URI != mcp.ScenarioURI(name) || link.Name != name {
		t.Fatalf("save result content %#v: want a resource_link to %s", save.Content, mcp.ScenarioURI(name))
	}
	if !strings.HasPrefix(link.URI, "healthsim://scenarios/") || strings.Count(link.URI, "/") != 3 {
		t.Errorf("scenario URI %s: the name is not escaped", link.URI)
	}

	list, err := e.client.ListResources(ctx, mcpgo.ListResourcesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, r := range list.Resources {
		uris = append(uris, r.URI)
	}
	if want := []string{mcp.ReferenceURI, mcp.SchemaURI, link.URI}; !slices.Equal(uris, want) {
		t.Errorf("resources/list: %v, want %v", uris, want)
	}
	templates, err := e.client.ListResourceTemplates(ctx, mcpgo.ListResourceTemplatesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(templates.ResourceTemplates) != 1 || templates.ResourceTemplates[0].URITemplate.Raw() != mcp.ScenarioTemplate {
		t.Errorf("resources/templates/list: %+v, want %s", templates.ResourceTemplates, mcp.ScenarioTemplate)
	}

	// The scenario: its overview, and SQL that really reads its entities.
	var sc mcp.ScenarioResource
	e.readJSON(link.URI, &sc)
	if sc.Name != name || sc.TotalEntities != 5 || sc.EntityCounts["patients"] != 3 || !slices.Equal(sc.Tags, []string{"demo", "diabetes"}) {
		t.Errorf("scenario resource: %+v", sc)
	}
	if sc.ReadEntities.Tool != "healthsim_load_scenario" || sc.ReadEntities.Arguments["name_or_id"] != name {
		t.Errorf("read_entities names %s(%v)", sc.ReadEntities.Tool, sc.ReadEntities.Arguments)
	}
	if n := e.count("SELECT count(*) FROM (" + sc.ReadEntities.SQL + ")"); n != 5 {
		t.Errorf("read_entities SQL %q: %d rows, want 5", sc.ReadEntities.SQL, n)
	}

	var schema mcp.SchemaOutput
	e.readJSON(mcp.SchemaURI, &schema)
	groups := map[string]mcp.SchemaGroup{}
	for _, g := range schema.Groups {
		groups[g.Name] = g
		for _, tb := range g.Tables {
			if tb.Description == "" || tb.Columns == "" {
				t.Errorf("schema: table %s has no description or columns: %+v", tb.Name, tb)
			}
		}
	}
	if len(groups["entity"].Tables) != 17 || len(groups["reference"].Tables) != 5 || schema.ProvenanceColumns["scenario_id"] == "" {
		t.Errorf("schema: %d entity tables, %d reference tables, provenance %v", len(groups["entity"].Tables), len(groups["reference"].Tables), schema.ProvenanceColumns)
	}

	var catalog []reference.CatalogEntry
	e.readJSON(mcp.ReferenceURI, &catalog)
	if len(catalog) != 5 || catalog[0].Table != "places_county" || catalog[0].Source.Source != "empty" || len(catalog[0].Columns) == 0 {
		t.Errorf("reference catalogue: %+v", catalog)
	}

	// An unknown scenario is an error that says where to look.
	req := mcpgo.ReadResourceRequest{}
	req.Params.URI = mcp.ScenarioURI("nope")
	if _, err := e.client.ReadResource(ctx, req); err == nil || !strings.Contains(err.Error(), `no scenario is named "nope"`) {
		t.Errorf("read unknown scenario: %v", err)
	}
}

func TestResourcesListPages(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	ctx := context.Background()
	const n = 230
	if err := e.db.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.Exec(`INSERT INTO scenarios (id, name) SELECT 'id-' || i, 'scenario ' || lpad(i::VARCHAR, 3, '0') FROM range(?) t(i)`, n)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var names []string
	cursor := mcpgo.Cursor("")
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("more than 5 pages")
		}
		req := mcpgo.ListResourcesRequest{}
		req.Params.Cursor = cursor
		page, err := e.client.ListResourcesByPage(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Resources) > 102 {
			t.Errorf("page of %d resources", len(page.Resources))
		}
		for _, r := range page.Resources {
			names = append(names, r.Name)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if len(names) != n+2 || names[0] != "reference-data" || names[1] != "schema" {
		t.Fatalf("listed %d resources, first %v; want %d, the fixed two first", len(names), names[:min(3, len(names))], n+2)
	}
	for i, got := range names[2:] {
		if want := fmt.Sprintf("scenario %03d", i); got != want {
			t.Fatalf("resource %d is %q, want %q (each once, in name order)", i+2, got, want)
		}
	}
}

func TestPrompts(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	ctx := context.Background()
	if res := e.call("healthsim_save_scenario", sampleScenario("diabetics")); res.IsError {
		t.Fatal(text(res))
	}
	list, err := e.client.ListPrompts(ctx, mcpgo.ListPromptsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Prompts {
		names = append(names, p.Name)
		if p.Description == "" || len(p.Arguments) == 0 {
			t.Errorf("prompt %s: no description or arguments", p.Name)
		}
	}
	slices.Sort(names)
	if want := []string{mcp.PromptCompare, mcp.PromptExploreScenario, mcp.PromptGenerateCohort}; !slices.Equal(names, want) {
		t.Errorf("prompts %v, want %v", names, want)
	}

	get := func(name string, args map[string]string) (*mcpgo.GetPromptResult, error) {
		req := mcpgo.GetPromptRequest{}
		req.Params.Name, req.Params.Arguments = name, args
		return e.client.GetPrompt(ctx, req)
	}
	texts := func(res *mcpgo.GetPromptResult) (all string, embedded []mcpgo.TextResourceContents) {
		for _, m := range res.Messages {
			switch c := m.Content.(type) {
			case mcpgo.TextContent:
				all += c.Text
			case mcpgo.EmbeddedResource:
				embedded = append(embedded, c.Resource.(mcpgo.TextResourceContents))
			}
		}
		return all, embedded
	}

	res, err := get(mcp.PromptGenerateCohort, map[string]string{"description": "20 asthmatic children in Ohio", "name": "ohio kids", "tags": "asthma, pediatric"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := texts(res); !strings.Contains(got, "20 asthmatic children in Ohio") || !strings.Contains(got, `"ohio kids"`) ||
		!strings.Contains(got, `"asthma", "pediatric"`) || !strings.Contains(got, "healthsim_save_scenario") {
		t.Errorf("generate_cohort text: %s", got)
	}

	res, err = get(mcp.PromptExploreScenario, map[string]string{"name": "diabetics"})
	if err != nil {
		t.Fatal(err)
	}
	got, embedded := texts(res)
	if len(embedded) != 1 || embedded[0].URI != mcp.ScenarioURI("diabetics") || !strings.Contains(embedded[0].Text, `"total_entities":5`) {
		t.Errorf("explore_scenario embeds %+v; want the scenario's resource", embedded)
	}
	if !strings.Contains(got, `"diabetics"`) {
		t.Errorf("explore_scenario text: %s", got)
	}

	res, err = get(mcp.PromptCompare, map[string]string{"name": "diabetics", "state": "tx", "county": "Harris"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := texts(res); !strings.Contains(got, "Harris, Texas") || !strings.Contains(got, "places_county") || !strings.Contains(got, "svi_county") {
		t.Errorf("compare text: %s", got)
	}

	// Bad arguments: an error that says what is wrong.
	for _, c := range []struct {
		name string
		args map[string]string
		want string
	}{
		{mcp.PromptGenerateCohort, nil, `needs the argument "description"`},
		{mcp.PromptExploreScenario, map[string]string{"name": "nope"}, `no scenario is named "nope"`},
		{mcp.PromptCompare, map[string]string{"name": "diabetics", "state": "Atlantis"}, `"Atlantis" is not a US state`},
		{mcp.PromptCompare, map[string]string{"name": "diabetics"}, `needs the argument "state"`},
	} {
		if _, err := get(c.name, c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s(%v): %v, want an error containing %q", c.name, c.args, err, c.want)
		}
	}
}

func TestCompletions(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	ctx := context.Background()
	for _, name := range []string{"Diabetes cohort", "diabetes kids", "asthma"} {
		sc := sampleScenario(name)
		sc["tags"] = []any{"demo", "diabetes", "dialysis"}
		if res := e.call("healthsim_save_scenario", sc); res.IsError {
			t.Fatal(text(res))
		}
	}
	if _, err := reference.LoadSample(ctx, e.db); err != nil {
		t.Fatal(err)
	}
	complete := func(ref any, arg, value string, context map[string]string) mcpgo.Completion {
		t.Helper()
		req := mcpgo.CompleteRequest{}
		req.Params.Ref = ref
		req.Params.Argument.Name, req.Params.Argument.Value = arg, value
		req.Params.Context.Arguments = context
		res, err := e.client.Complete(ctx, req)
		if err != nil {
			t.Fatalf("complete %v %s=%q: %v", ref, arg, value, err)
		}
		return res.Completion
	}
	prompt := func(name string) any { return mcpgo.PromptReference{Type: "ref/prompt", Name: name} }
	for _, c := range []struct {
		ref        any
		arg, value string
		context    map[string]string
		want       []string
	}{
		{prompt(mcp.PromptExploreScenario), "name", "DIAB", nil, []string{"Diabetes cohort", "diabetes kids"}},
		{mcpgo.ResourceReference{Type: "ref/resource", URI: mcp.ScenarioTemplate}, "name", "as", nil, []string{"asthma"}},
		{prompt(mcp.PromptGenerateCohort), "tags", "demo, di", nil, []string{"demo, diabetes", "demo, dialysis"}},
		{prompt(mcp.PromptCompare), "state", "tex", nil, []string{"Texas"}},
		{prompt(mcp.PromptCompare), "state", "ne", nil, []string{"Nebraska", "Nevada", "New Hampshire", "New Jersey", "New Mexico", "New York"}},
		{prompt(mcp.PromptCompare), "county", "", map[string]string{"state": "TX"}, []string{"Dallas", "Harris", "Travis"}},
		{prompt(mcp.PromptCompare), "county", "h", map[string]string{"state": "Texas"}, []string{"Harris"}},
		{prompt("test_prompt_with_arguments"), "arg1", "x", nil, []string{}},
	} {
		got := complete(c.ref, c.arg, c.value, c.context)
		if !slices.Equal(got.Values, c.want) {
			t.Errorf("complete %v %s=%q (%v): %q, want %q", c.ref, c.arg, c.value, c.context, got.Values, c.want)
		}
	}
}

func TestLogsToClient(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	messages := make(chan map[string]any, 10)
	e.client.OnNotification(func(n mcpgo.JSONRPCNotification) {
		if n.Method == "notifications/message" {
			messages <- n.Params.AdditionalFields
		}
	})
	next := func() map[string]any {
		t.Helper()
		select {
		case m := <-messages:
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no log message within 10 s")
			return nil
		}
	}
	req := mcpgo.SetLevelRequest{}
	req.Params.Level = mcpgo.LoggingLevelWarning
	if err := e.client.SetLevel(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	e.call("healthsim_list_scenarios", nil) // debug: below the level
	e.fails("healthsim_load_scenario", map[string]any{"name_or_id": "nope"})
	m := next()
	data, _ := m["data"].(map[string]any)
	if fmt.Sprint(m["level"]) != "warning" || data["tool"] != "healthsim_load_scenario" ||
		!strings.Contains(fmt.Sprint(data["error"]), "no scenario has that name") {
		t.Errorf("logged %v; want the failed call at warning", m)
	}
	req.Params.Level = mcpgo.LoggingLevelDebug
	if err := e.client.SetLevel(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	e.call("healthsim_list_scenarios", nil)
	m = next()
	data, _ = m["data"].(map[string]any)
	if fmt.Sprint(m["level"]) != "debug" || data["tool"] != "healthsim_list_scenarios" {
		t.Errorf("logged %v; want the call at debug", m)
	}
	select {
	case m := <-messages:
		t.Errorf("logged %v as well", m)
	default:
	}
}
