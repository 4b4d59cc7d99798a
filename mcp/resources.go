package mcp

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/healthsim/healthsim-go/mcp/reference"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/yosida95/uritemplate/v3"
)

// The server's resources: the schema, the reference-data catalogue, and
// each saved scenario by the template ScenarioTemplate.
const (
	SchemaURI        = "healthsim://schema"
	ReferenceURI     = "healthsim://reference"
	ScenarioTemplate = "healthsim://scenarios/{name}"
)

// resourcePage is how many resources one resources/list page holds.
const resourcePage = 100

var scenarioTemplate = uritemplate.MustNew(ScenarioTemplate)

// ScenarioURI returns the URI of the saved scenario named name.
func ScenarioURI(name string) string {
	uri, _ := scenarioTemplate.Expand(uritemplate.Values{"name": uritemplate.String(name)})
	return uri
}

// addResources registers the resources and the scenario template, and
// makes resources/list page through the saved scenarios.
func (s *Server) addResources(hooks *server.Hooks) {
	s.AddResource(mcpgo.NewResource(SchemaURI, "schema",
		mcpgo.WithResourceTitle("HealthSim database schema"),
		mcpgo.WithResourceDescription("Every table of the database with its columns and what they hold, for writing SQL for healthsim_query."),
		mcpgo.WithMIMEType("application/json")),
		s.readJSON(func(ctx context.Context, _ mcpgo.ReadResourceRequest) (any, error) { return s.schema(ctx) }))
	s.AddResource(mcpgo.NewResource(ReferenceURI, "reference-data",
		mcpgo.WithResourceTitle("Population reference data catalogue"),
		mcpgo.WithResourceDescription("The population reference tables (CDC PLACES, CDC/ATSDR SVI, ADI): what each holds, its columns, and what is loaded now (the synthetic sample, an import, or nothing)."),
		mcpgo.WithMIMEType("application/json")),
		s.readJSON(func(ctx context.Context, _ mcpgo.ReadResourceRequest) (any, error) {
			return reference.Catalog(ctx, s.db)
		}))
	s.AddResourceTemplate(mcpgo.NewResourceTemplate(ScenarioTemplate, "scenario",
		mcpgo.WithTemplateTitle("Saved scenario"),
		mcpgo.WithTemplateDescription("A saved scenario: its description, tags and entity counts, and how to read all its entities."),
		mcpgo.WithTemplateMIMEType("application/json")),
		server.ResourceTemplateHandlerFunc(s.readJSON(s.scenarioResource)))
	hooks.AddAfterListResources(s.listScenarioResources)
}

// readJSON turns read into a resource handler whose one content is read's
// result as JSON.
func (s *Server) readJSON(read func(ctx context.Context, req mcpgo.ReadResourceRequest) (any, error)) server.ResourceHandlerFunc {
	return func(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
		if err := s.ready(ctx); err != nil {
			return nil, err
		}
		v, err := read(ctx, req)
		if err != nil {
			return nil, err
		}
		text, err := marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", req.Params.URI, err)
		}
		if len(text) > MaxAnswerBytes {
			return nil, fmt.Errorf("read %s: %w", req.Params.URI, errTooLarge(len(text)))
		}
		return []mcpgo.ResourceContents{mcpgo.TextResourceContents{URI: req.Params.URI, MIMEType: "application/json", Text: string(text)}}, nil
	}
}

// ScenarioResource is the content of a scenario's resource.
type ScenarioResource struct {
	scenario.Overview
	URI string `json:"uri"`
	// ReadEntities says how to get every entity of the scenario.
	ReadEntities EntityAccess `json:"read_entities"`
}

// EntityAccess names the tool call and the SQL that read a scenario's
// entities.
type EntityAccess struct {
	Tool      string         `json:"tool"`
	Arguments map[string]any `json:"arguments"`
	SQL       string         `json:"sql"`
	Tables    string         `json:"tables"`
}

func (s *Server) scenarioResource(ctx context.Context, req mcpgo.ReadResourceRequest) (any, error) {
	name, _ := req.Params.Arguments["name"].(string)
	if name == "" {
		if values := scenarioTemplate.Match(req.Params.URI); values != nil {
			name = values.Get("name").String()
		}
	}
	sum, err := s.store.Summary(ctx, name, false, 0)
	if errors.Is(err, scenario.ErrNotFound) {
		return nil, fmt.Errorf("no scenario is named %q; resources/list or healthsim_list_scenarios shows the saved ones", name)
	}
	if err != nil {
		return nil, err
	}
	id := strings.ReplaceAll(sum.ID, "'", "''")
	return ScenarioResource{
		Overview: sum.Overview,
		URI:      ScenarioURI(sum.Name),
		ReadEntities: EntityAccess{
			Tool:      "healthsim_load_scenario",
			Arguments: map[string]any{"name_or_id": sum.Name},
			SQL:       "SELECT entity_type, entity_data FROM scenario_entities WHERE scenario_id = '" + id + "' ORDER BY entity_type",
			Tables:    "Each entity type's table (patients, encounters, …) holds its fields as columns: SELECT * FROM patients WHERE scenario_id = '" + id + "'",
		},
	}, nil
}

// listScenarioResources appends a page of saved scenarios to resources/list:
// the first page starts with the fixed resources, and the cursor carries
// the last name listed.
func (s *Server) listScenarioResources(ctx context.Context, _ any, req *mcpgo.ListResourcesRequest, res *mcpgo.ListResourcesResult) {
	if res == nil {
		return
	}
	after := ""
	if req.Params.Cursor != "" {
		res.Resources = res.Resources[:0] // the fixed ones were on the first page
		raw, _ := base64.StdEncoding.DecodeString(string(req.Params.Cursor))
		after = strings.TrimPrefix(string(raw), "scenarios:")
	}
	if err := s.ready(ctx); err != nil {
		s.log.Warn("list scenario resources", "err", err)
		res.NextCursor = ""
		return
	}
	page, err := s.store.ByName(ctx, after, resourcePage)
	if err != nil {
		s.log.Error("list scenario resources", "err", err)
		res.NextCursor = ""
		return
	}
	for _, e := range page {
		desc := fmt.Sprintf("%d entities", e.EntityCount)
		if e.Description != "" {
			desc = e.Description + " (" + desc + ")"
		}
		res.Resources = append(res.Resources, mcpgo.NewResource(ScenarioURI(e.Name), e.Name,
			mcpgo.WithResourceTitle("Scenario "+e.Name),
			mcpgo.WithResourceDescription(desc),
			mcpgo.WithMIMEType("application/json")))
	}
	res.NextCursor = ""
	if len(page) == resourcePage {
		res.NextCursor = mcpgo.Cursor(base64.StdEncoding.EncodeToString([]byte("scenarios:" + page[len(page)-1].Name)))
	}
}

// SchemaOutput is the content of the schema resource.
type SchemaOutput struct {
	Catalog string        `json:"catalog"`
	Groups  []SchemaGroup `json:"groups"`
	// ProvenanceColumns are the columns every entity table has besides the
	// entity's own fields.
	ProvenanceColumns map[string]string `json:"provenance_columns"`
	// Links say how entity tables refer to each other, for joins.
	Links string `json:"links"`
}

// SchemaGroup is a kind of table, with what its tables hold.
type SchemaGroup struct {
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Tables      []SchemaTable `json:"tables"`
}

// SchemaTable is one table with its columns and what it holds.
type SchemaTable struct {
	TableInfo
	Description string `json:"description"`
}

// systemTables says what each bookkeeping table holds.
var systemTables = map[string]string{
	"scenarios":                    "One row per saved scenario: id, name (unique), description, created_at, updated_at.",
	"scenario_entities":            "Every saved entity as JSON (entity_data), with its scenario_id, entity_type (the table name) and entity_id, in the order saved.",
	"scenario_tags":                "The tags of each scenario (lowercased), by scenario_id.",
	"goose_db_version":             "The migrations applied to this database.",
	"population.reference_sources": "What is loaded in each reference table: the synthetic sample or an import (file name, description, loaded_at).",
}

func (s *Server) schema(ctx context.Context) (*SchemaOutput, error) {
	tables, err := s.tables(ctx)
	if err != nil {
		return nil, err
	}
	catalog, err := reference.Catalog(ctx, s.db)
	if err != nil {
		return nil, err
	}
	describe := func(infos []TableInfo, what func(TableInfo) string) []SchemaTable {
		out := make([]SchemaTable, len(infos))
		for i, t := range infos {
			out[i] = SchemaTable{TableInfo: t, Description: what(t)}
		}
		return out
	}
	return &SchemaOutput{
		Catalog: "Query with healthsim_query (one read-only SELECT); unqualified names are the tables of schema main, reference tables are population.<table>.",
		Groups: []SchemaGroup{
			{Name: "entity", Description: "One table per canonical entity type, filled by saved scenarios: each entity's fields that match a column, beside the full entity in scenario_entities.",
				Tables: describe(tables.Entity, func(t TableInfo) string {
					return "The " + strings.ReplaceAll(t.Name, "_", " ") + " of saved scenarios, one row per entity."
				})},
			{Name: "reference", Description: "Public population data by county, tract or block group, keyed by FIPS code; see the healthsim://reference resource for what is loaded.",
				Tables: describe(tables.Reference, func(t TableInfo) string {
					for _, e := range catalog {
						if "population."+e.Table == t.Name {
							return e.Description + ", by " + e.Key + "."
						}
					}
					return ""
				})},
			{Name: "system", Description: "Scenario bookkeeping and the schema version.",
				Tables: describe(tables.System, func(t TableInfo) string { return systemTables[t.Name] })},
		},
		ProvenanceColumns: map[string]string{
			"scenario_id":     "The scenario the row belongs to (scenarios.id).",
			"source_type":     "The entity's own source_type field; generated when it has none.",
			"source_system":   "The entity's own source_system field, if any.",
			"skill_used":      "The entity's own skill_used field: the HealthSim skill that generated it, if given.",
			"generation_seed": "The entity's own generation_seed field, if given.",
			"created_at":      "When the row was saved.",
		},
		Links: scenario.LinkHint(),
	}, nil
}
