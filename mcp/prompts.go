package mcp

import (
	"context"
	"fmt"
	"strings"

	"github.com/healthsim/healthsim-go/mcp/reference"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// The server's prompts: the HealthSim workflows a user starts from Claude.
const (
	PromptGenerateCohort  = "generate_cohort"
	PromptExploreScenario = "explore_scenario"
	PromptCompare         = "compare_with_population"
)

// completionLimit is the most values one completion returns (the protocol's
// maximum).
const completionLimit = 100

// addPrompts registers the prompts; their arguments complete through
// completer.
func (s *Server) addPrompts() {
	s.AddPrompt(mcpgo.NewPrompt(PromptGenerateCohort,
		mcpgo.WithPromptTitle("Generate a cohort and save it"),
		mcpgo.WithPromptDescription("Generate a synthetic patient cohort from a description and save it as a named scenario."),
		mcpgo.WithArgument("description", mcpgo.RequiredArgument(),
			mcpgo.ArgumentDescription("Who is in the cohort, e.g. \"50 adults with type 2 diabetes in Harris County, TX, with a year of encounters and claims\".")),
		mcpgo.WithArgument("name", mcpgo.ArgumentDescription("The scenario's name; one is made up from the description if not given.")),
		mcpgo.WithArgument("tags", mcpgo.ArgumentDescription("Tags for the scenario, separated by commas."))),
		s.generateCohortPrompt)
	s.AddPrompt(mcpgo.NewPrompt(PromptExploreScenario,
		mcpgo.WithPromptTitle("Explore a saved scenario"),
		mcpgo.WithPromptDescription("Describe a saved scenario: who is in it, what happened to them, and what stands out."),
		mcpgo.WithArgument("name", mcpgo.RequiredArgument(), mcpgo.ArgumentDescription("The saved scenario's name."))),
		s.whenReadyPrompt(s.exploreScenarioPrompt))
	s.AddPrompt(mcpgo.NewPrompt(PromptCompare,
		mcpgo.WithPromptTitle("Compare a scenario with population data"),
		mcpgo.WithPromptDescription("Compare a saved scenario's patients with the population reference data (CDC PLACES, CDC/ATSDR SVI) of a state or county."),
		mcpgo.WithArgument("name", mcpgo.RequiredArgument(), mcpgo.ArgumentDescription("The saved scenario's name.")),
		mcpgo.WithArgument("state", mcpgo.RequiredArgument(), mcpgo.ArgumentDescription("The state: a name, a two-letter abbreviation or a FIPS code.")),
		mcpgo.WithArgument("county", mcpgo.ArgumentDescription("A county of that state (name or 5-digit FIPS code); the whole state if not given."))),
		s.whenReadyPrompt(s.comparePrompt))
}

// whenReadyPrompt fails a prompt that reads the database while
// Options.Ready does.
func (s *Server) whenReadyPrompt(next server.PromptHandlerFunc) server.PromptHandlerFunc {
	return func(ctx context.Context, req mcpgo.GetPromptRequest) (*mcpgo.GetPromptResult, error) {
		if err := s.ready(ctx); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// promptArg returns the trimmed argument name of req, or an error naming
// it when it is required and missing.
func promptArg(req mcpgo.GetPromptRequest, name string, required bool) (string, error) {
	v := strings.TrimSpace(req.Params.Arguments[name])
	if v == "" && required {
		return "", fmt.Errorf("prompt %s needs the argument %q", req.Params.Name, name)
	}
	return v, nil
}

// userText is a prompt message from the user with text.
func userText(text string) mcpgo.PromptMessage {
	return mcpgo.NewPromptMessage(mcpgo.RoleUser, mcpgo.NewTextContent(text))
}

func (s *Server) generateCohortPrompt(ctx context.Context, req mcpgo.GetPromptRequest) (*mcpgo.GetPromptResult, error) {
	desc, err := promptArg(req, "description", true)
	if err != nil {
		return nil, err
	}
	name, _ := promptArg(req, "name", false)
	tags, _ := promptArg(req, "tags", false)
	var b strings.Builder
	fmt.Fprintf(&b, "Generate a synthetic healthcare cohort: %s.\n\n", desc)
	fmt.Fprintf(&b, "Use HealthSim's entity types (%s), with the column names healthsim_tables lists as field names. Give every entity an id unique within its type (a patient its mrn), and keep values clinically plausible: real ICD-10, CPT, LOINC and NDC codes, dates in order. %s\n\n",
		strings.Join(scenario.EntityTypes(), ", "), scenario.LinkHint())
	b.WriteString("Then save it in one call to healthsim_save_scenario")
	if name != "" {
		fmt.Fprintf(&b, " named %q", name)
	} else {
		b.WriteString(" under a short, descriptive name")
	}
	if tags != "" {
		fmt.Fprintf(&b, ", with the tags %s", quoteList(strings.Split(tags, ",")))
	}
	b.WriteString(". If the name is taken, ask me before overwriting. Finally call healthsim_get_summary on the saved scenario and tell me what was saved, by entity type.")
	return mcpgo.NewGetPromptResult("Generate and save: "+desc, []mcpgo.PromptMessage{userText(b.String())}), nil
}

func (s *Server) exploreScenarioPrompt(ctx context.Context, req mcpgo.GetPromptRequest) (*mcpgo.GetPromptResult, error) {
	name, err := promptArg(req, "name", true)
	if err != nil {
		return nil, err
	}
	res, err := s.scenarioEmbed(ctx, name)
	if err != nil {
		return nil, err
	}
	text := fmt.Sprintf("Explore the saved HealthSim scenario %q (attached). Describe who is in it (age, sex, where they live), what happened to them (encounters, diagnoses, medications, claims, as the scenario has them) and anything that stands out. Use healthsim_get_summary with samples for a first look and healthsim_query for counts and distributions over the entity tables, filtered on its scenario_id; healthsim_tables lists the columns.", name)
	return mcpgo.NewGetPromptResult("Explore scenario "+name, []mcpgo.PromptMessage{
		mcpgo.NewPromptMessage(mcpgo.RoleUser, res), userText(text)}), nil
}

func (s *Server) comparePrompt(ctx context.Context, req mcpgo.GetPromptRequest) (*mcpgo.GetPromptResult, error) {
	name, err := promptArg(req, "name", true)
	if err != nil {
		return nil, err
	}
	stateArg, err := promptArg(req, "state", true)
	if err != nil {
		return nil, err
	}
	state, ok := reference.StateName(stateArg)
	if !ok {
		return nil, fmt.Errorf("%q is not a US state or territory; give a name (Texas), a two-letter abbreviation (TX) or a FIPS code (48)", stateArg)
	}
	county, _ := promptArg(req, "county", false)
	res, err := s.scenarioEmbed(ctx, name)
	if err != nil {
		return nil, err
	}
	place, filter := state, fmt.Sprintf("state %q", state)
	if county != "" {
		place, filter = county+", "+state, fmt.Sprintf("state %q and county %q", state, county)
	}
	text := fmt.Sprintf("Compare the saved HealthSim scenario %q (attached) with the population of %s.\n\n"+
		"1. From the scenario, with healthsim_query over its entity tables (filtered on its scenario_id): the patients' age and sex, and the share with diabetes, hypertension, COPD, asthma, depression and obesity (by ICD-10 code in diagnoses).\n"+
		"2. From the reference data, with healthsim_query_reference and %s: places_county (crude prevalence of the same conditions) and svi_county (social vulnerability).\n"+
		"3. A table of scenario against population, measure by measure, and what the differences mean for using this scenario as a stand-in for %s.\n\n"+
		"The reference tables may hold the synthetic sample rather than real CDC data: healthsim_query_reference says which, and so must you.",
		name, place, filter, place)
	return mcpgo.NewGetPromptResult("Compare "+name+" with "+place, []mcpgo.PromptMessage{
		mcpgo.NewPromptMessage(mcpgo.RoleUser, res), userText(text)}), nil
}

// scenarioEmbed returns the scenario's resource, embedded in a prompt.
func (s *Server) scenarioEmbed(ctx context.Context, name string) (mcpgo.EmbeddedResource, error) {
	v, err := s.scenarioResource(ctx, mcpgo.ReadResourceRequest{Params: mcpgo.ReadResourceParams{
		URI: ScenarioURI(name), Arguments: map[string]any{"name": name}}})
	if err != nil {
		return mcpgo.EmbeddedResource{}, err
	}
	text, err := marshal(v)
	if err != nil {
		return mcpgo.EmbeddedResource{}, err
	}
	return mcpgo.NewEmbeddedResource(mcpgo.TextResourceContents{
		URI: v.(ScenarioResource).URI, MIMEType: "application/json", Text: string(text)}), nil
}

// quoteList quotes each non-blank item, trimmed, and joins them with
// commas.
func quoteList(items []string) string {
	var q []string
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			q = append(q, fmt.Sprintf("%q", it))
		}
	}
	return strings.Join(q, ", ")
}

// completer answers completion/complete for the prompts' arguments and the
// scenario template's name.
type completer struct{ s *Server }

func (c completer) CompletePromptArgument(ctx context.Context, prompt string, arg mcpgo.CompleteArgument, cc mcpgo.CompleteContext) (*mcpgo.Completion, error) {
	if err := c.s.ready(ctx); err != nil {
		return nil, err
	}
	switch {
	case arg.Name == "name" && (prompt == PromptExploreScenario || prompt == PromptCompare):
		return c.fromStore(c.s.store.CompleteNames(ctx, arg.Value, completionLimit))
	case arg.Name == "tags" && prompt == PromptGenerateCohort:
		// Complete the last tag of the comma-separated list.
		head, last := "", arg.Value
		if i := strings.LastIndex(arg.Value, ","); i >= 0 {
			head, last = arg.Value[:i+1]+" ", arg.Value[i+1:]
		}
		got, err := c.s.store.CompleteTags(ctx, strings.TrimSpace(last), completionLimit)
		for i := range got.Values {
			got.Values[i] = head + got.Values[i]
		}
		return c.fromStore(got, err)
	case arg.Name == "state" && prompt == PromptCompare:
		values := reference.CompleteStates(arg.Value)
		return &mcpgo.Completion{Values: values, Total: len(values)}, nil
	case arg.Name == "county" && prompt == PromptCompare:
		values, total, err := reference.CompleteCounties(ctx, c.s.db, cc.Arguments["state"], arg.Value, completionLimit)
		if err != nil {
			return nil, err
		}
		return &mcpgo.Completion{Values: values, Total: total, HasMore: total > len(values)}, nil
	}
	return &mcpgo.Completion{Values: []string{}}, nil
}

func (c completer) CompleteResourceArgument(ctx context.Context, uri string, arg mcpgo.CompleteArgument, _ mcpgo.CompleteContext) (*mcpgo.Completion, error) {
	if err := c.s.ready(ctx); err != nil {
		return nil, err
	}
	if uri == ScenarioTemplate && arg.Name == "name" {
		return c.fromStore(c.s.store.CompleteNames(ctx, arg.Value, completionLimit))
	}
	return &mcpgo.Completion{Values: []string{}}, nil
}

func (completer) fromStore(got scenario.Completions, err error) (*mcpgo.Completion, error) {
	if err != nil {
		return nil, err
	}
	return &mcpgo.Completion{Values: got.Values, Total: got.Total, HasMore: got.Total > len(got.Values)}, nil
}
