package mcp

import (
	"context"
	"fmt"
	"strings"

	"github.com/healthsim/healthsim-go/mcp/scenario"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// ListScenariosOutput is the result of healthsim_list_scenarios.
type ListScenariosOutput struct {
	Scenarios []scenario.ListEntry `json:"scenarios"`
	Count     int                  `json:"count"`
}

func (s *Server) listScenariosTool() server.ServerTool {
	tool := mcpgo.NewTool("healthsim_list_scenarios",
		mcpgo.WithTitleAnnotation("List saved scenarios"),
		mcpgo.WithDescription("List saved scenarios, newest first, with their description, tags and entity count. Filter by tag or by a word in the name or description."),
		mcpgo.WithString("tag", mcpgo.Description("Only scenarios with this tag (case-insensitive).")),
		mcpgo.WithString("search", mcpgo.Description("Only scenarios whose name or description contains this text (case-insensitive).")),
		mcpgo.WithInteger("limit", mcpgo.Description("At most this many scenarios."),
			mcpgo.Min(1), mcpgo.Max(scenario.MaxListLimit), mcpgo.DefaultNumber(scenario.DefaultListLimit)),
		mcpgo.WithOutputSchema[ListScenariosOutput](),
		readTool(),
	)
	handler := func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		args := struct {
			Tag    string `json:"tag"`
			Search string `json:"search"`
			Limit  int    `json:"limit"`
		}{Limit: scenario.DefaultListLimit}
		if res := bind(req, &args); res != nil {
			return res, nil
		}
		list, err := s.store.List(ctx, scenario.ListOptions{Tag: args.Tag, Search: args.Search, Limit: args.Limit})
		if err != nil {
			return s.failure(ctx, "list scenarios", err), nil
		}
		return structured(ListScenariosOutput{Scenarios: list, Count: len(list)})
	}
	return server.ServerTool{Tool: tool, Handler: handler}
}

// LoadScenarioOutput is the result of healthsim_load_scenario. Entities
// maps each entity type to one page of its entities exactly as saved;
// Page says which, and how to get the rest.
type LoadScenarioOutput struct {
	scenario.Overview
	Entities map[string][]any   `json:"entities,omitempty"`
	Page     *scenario.PageInfo `json:"page,omitempty"`
}

func (s *Server) loadScenarioTool() server.ServerTool {
	tool := mcpgo.NewTool("healthsim_load_scenario",
		mcpgo.WithTitleAnnotation("Load a scenario"),
		mcpgo.WithDescription(fmt.Sprintf("Load a saved scenario by name or id: its description, tags, entity counts and (unless include_entities is false) its entities as saved, a page at a time: "+
			"at most limit entities (default %d) and %d bytes of them, by type then as saved. page.next_offset, when present, is the offset of the next page; entity_type keeps to one type. "+
			"For an overview of a large scenario, prefer healthsim_get_summary.", scenario.DefaultPageLimit, scenario.MaxPageBytes)),
		mcpgo.WithString("name_or_id", mcpgo.Required(), mcpgo.MinLength(1), mcpgo.Description("The scenario's name or id.")),
		mcpgo.WithBoolean("include_entities", mcpgo.DefaultBool(true), mcpgo.Description("Include a page of the entities themselves, not only their counts.")),
		mcpgo.WithString("entity_type", mcpgo.Description("Only entities of this type (e.g. patients); default every type.")),
		mcpgo.WithInteger("offset", mcpgo.Min(0), mcpgo.DefaultNumber(0), mcpgo.Description("Entities to skip: the previous answer's page.next_offset.")),
		mcpgo.WithInteger("limit", mcpgo.Min(1), mcpgo.Max(scenario.MaxPageLimit), mcpgo.DefaultNumber(scenario.DefaultPageLimit),
			mcpgo.Description("At most this many entities in the page.")),
		mcpgo.WithOutputSchema[LoadScenarioOutput](),
		readTool(),
	)
	handler := func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		args := struct {
			NameOrID        string `json:"name_or_id"`
			IncludeEntities bool   `json:"include_entities"`
			EntityType      string `json:"entity_type"`
			Offset          int    `json:"offset"`
			Limit           int    `json:"limit"`
		}{IncludeEntities: true, Limit: scenario.DefaultPageLimit}
		if res := bind(req, &args); res != nil {
			return res, nil
		}
		what := fmt.Sprintf("load scenario %q", args.NameOrID)
		if !args.IncludeEntities {
			sc, err := s.store.Load(ctx, args.NameOrID, false)
			if err != nil {
				return s.failure(ctx, what, err), nil
			}
			return structured(LoadScenarioOutput{Overview: sc.Overview})
		}
		page, err := s.store.LoadPage(ctx, args.NameOrID, scenario.PageRequest{Type: args.EntityType, Offset: args.Offset, Limit: args.Limit})
		if err != nil {
			return s.failure(ctx, what, err), nil
		}
		out := LoadScenarioOutput{Overview: page.Overview, Entities: make(map[string][]any, len(page.Entities)), Page: &page.PageInfo}
		for typ, docs := range page.Entities {
			list := make([]any, len(docs))
			for i, doc := range docs {
				list[i] = doc // json.RawMessage: sent exactly as saved
			}
			out.Entities[typ] = list
		}
		return structured(out)
	}
	return server.ServerTool{Tool: tool, Handler: handler}
}

func (s *Server) getSummaryTool() server.ServerTool {
	tool := mcpgo.NewTool("healthsim_get_summary",
		mcpgo.WithTitleAnnotation("Summarise a scenario"),
		mcpgo.WithDescription("A compact overview of a saved scenario (about 500 tokens): entity counts per type and a few shortened sample entities of each type."),
		mcpgo.WithString("scenario_id_or_name", mcpgo.Required(), mcpgo.MinLength(1), mcpgo.Description("The scenario's name or id.")),
		mcpgo.WithBoolean("include_samples", mcpgo.DefaultBool(true), mcpgo.Description("Include sample entities.")),
		mcpgo.WithInteger("samples_per_type", mcpgo.Min(1), mcpgo.Max(scenario.MaxSamplesPerType), mcpgo.DefaultNumber(3),
			mcpgo.Description("Sample entities per entity type.")),
		mcpgo.WithOutputSchema[scenario.ScenarioSummary](),
		readTool(),
	)
	handler := func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		args := struct {
			NameOrID       string `json:"scenario_id_or_name"`
			IncludeSamples bool   `json:"include_samples"`
			SamplesPerType int    `json:"samples_per_type"`
		}{IncludeSamples: true, SamplesPerType: 3}
		if res := bind(req, &args); res != nil {
			return res, nil
		}
		sum, err := s.store.Summary(ctx, args.NameOrID, args.IncludeSamples, args.SamplesPerType)
		if err != nil {
			return s.failure(ctx, fmt.Sprintf("summarise scenario %q", args.NameOrID), err), nil
		}
		return structured(sum)
	}
	return server.ServerTool{Tool: tool, Handler: handler}
}

func (s *Server) saveScenarioTool() server.ServerTool {
	types := strings.Join(scenario.EntityTypes(), ", ")
	tool := mcpgo.NewTool("healthsim_save_scenario",
		mcpgo.WithTitleAnnotation("Save a scenario"),
		mcpgo.WithDescription("Save generated entities as a named scenario, all or nothing. Entity types: "+types+
			" (singular forms work too). Each entity is a JSON object with an id (patients: id, patient_id or mrn, and a patient without an mrn gets its id as mrn; encounters: encounter_id; claims: claim_id; others: id), unique within its type. Fields that match a column of the type's table (healthsim_tables lists them) are also stored there for SQL. "+
			scenario.LinkHint()+" Rename those fields to columns and save again with overwrite, so that SQL sees them."),
		mcpgo.WithString("name", mcpgo.Required(), mcpgo.MinLength(1), mcpgo.MaxLength(scenario.MaxNameLen),
			mcpgo.Description("The scenario's name, unique in the database.")),
		mcpgo.WithObject("entities", mcpgo.Required(), mcpgo.MinProperties(1),
			mcpgo.Description("Entities by type, e.g. {\"patients\": [{\"mrn\": \"p1\", \"given_name\": \"Ana\"}], \"encounters\": [{\"encounter_id\": \"e1\", \"patient_mrn\": \"p1\", \"admission_time\": \"2024-03-01T09:30:00\"}]}."),
			mcpgo.AdditionalProperties(map[string]any{"type": "array", "items": map[string]any{"type": "object"}})),
		mcpgo.WithString("description", mcpgo.Description("What the scenario is for.")),
		mcpgo.WithArray("tags", mcpgo.Description("Tags to find the scenario by (stored lowercased)."),
			mcpgo.Items(map[string]any{"type": "string"})),
		mcpgo.WithBoolean("overwrite", mcpgo.DefaultBool(false),
			mcpgo.Description("Replace an existing scenario of the same name (its id is kept) instead of failing.")),
		mcpgo.WithOutputSchema[scenario.SaveResult](),
		writeTool(false, false),
	)
	handler := func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		var args struct {
			Name        string                      `json:"name"`
			Entities    map[string][]map[string]any `json:"entities"`
			Description string                      `json:"description"`
			Tags        []string                    `json:"tags"`
			Overwrite   bool                        `json:"overwrite"`
		}
		if res := bind(req, &args); res != nil {
			return res, nil
		}
		what := fmt.Sprintf("save scenario %q", args.Name)
		if s.opts.ReadOnly {
			return readOnlyRefusal(what), nil
		}
		if res := s.unwritable(what); res != nil {
			return res, nil
		}
		res, err := s.store.Save(ctx, scenario.SaveRequest{
			Name: args.Name, Description: args.Description, Tags: args.Tags,
			Entities: args.Entities, Overwrite: args.Overwrite,
			Progress: progressReporter(ctx, req),
		})
		if err != nil {
			return s.failure(ctx, what, err), nil
		}
		out, err := structured(res)
		if err == nil { // a link to the saved scenario's resource
			out.Content = append(out.Content, mcpgo.NewResourceLink(ScenarioURI(res.Name), res.Name,
				"The saved scenario: its summary and how to read its entities.", "application/json"))
		}
		return out, err
	}
	return server.ServerTool{Tool: tool, Handler: handler}
}

// progressReporter returns a function that sends MCP progress notifications
// for req, or nil when the client asked for none (no progress token).
func progressReporter(ctx context.Context, req mcpgo.CallToolRequest) func(done, total int) {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return nil
	}
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return nil
	}
	token := req.Params.Meta.ProgressToken
	return func(done, total int) {
		// Best effort: a client that went away must not fail the save.
		_ = srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
			"progressToken": token,
			"progress":      done,
			"total":         total,
			"message":       fmt.Sprintf("saved %d of %d entities", done, total),
		})
	}
}

// DeleteScenarioOutput is the result of healthsim_delete_scenario.
type DeleteScenarioOutput struct {
	Deleted bool `json:"deleted"`
	scenario.DeleteResult
}

func (s *Server) deleteScenarioTool() server.ServerTool {
	tool := mcpgo.NewTool("healthsim_delete_scenario",
		mcpgo.WithTitleAnnotation("Delete a scenario"),
		mcpgo.WithDescription("Delete a saved scenario with its entities and tags, for good. Ask the user first; set confirm to true only once they agreed."),
		mcpgo.WithString("name_or_id", mcpgo.Required(), mcpgo.MinLength(1), mcpgo.Description("The scenario's name or id.")),
		mcpgo.WithBoolean("confirm", mcpgo.DefaultBool(false), mcpgo.Description("Must be true: the deletion cannot be undone.")),
		mcpgo.WithOutputSchema[DeleteScenarioOutput](),
		writeTool(true, true),
	)
	handler := func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		var args struct {
			NameOrID string `json:"name_or_id"`
			Confirm  bool   `json:"confirm"`
		}
		if res := bind(req, &args); res != nil {
			return res, nil
		}
		what := fmt.Sprintf("delete scenario %q", args.NameOrID)
		if !args.Confirm {
			return mcpgo.NewToolResultErrorf("Did not %s: deleting cannot be undone, so confirm must be true. Ask the user, then call again with confirm: true.", what), nil
		}
		if s.opts.ReadOnly {
			return readOnlyRefusal(what), nil
		}
		if res := s.unwritable(what); res != nil {
			return res, nil
		}
		res, err := s.store.Delete(ctx, args.NameOrID)
		if err != nil {
			return s.failure(ctx, what, err), nil
		}
		return structured(DeleteScenarioOutput{Deleted: true, DeleteResult: res})
	}
	return server.ServerTool{Tool: tool, Handler: handler}
}
