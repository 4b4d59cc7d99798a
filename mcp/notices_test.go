package mcp_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/healthsim/healthsim-go/mcp"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
)

// TestJSONTextIsNotHTMLEscaped: resource, prompt and tool texts carry <, >
// and & as they are, not as Go's HTML escapes (\u003c), which a model
// reads as they stand.
func TestJSONTextIsNotHTMLEscaped(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	ctx := context.Background()
	const desc = "<table> of A&E visits -> ward"
	sc := sampleScenario("html")
	sc["description"] = desc
	e.ok("healthsim_save_scenario", sc, nil)

	var texts []string
	read := mcpgo.ReadResourceRequest{}
	read.Params.URI = mcp.ScenarioURI("html")
	res, err := e.client.ReadResource(ctx, read)
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, res.Contents[0].(mcpgo.TextResourceContents).Text)
	get := mcpgo.GetPromptRequest{}
	get.Params.Name = mcp.PromptExploreScenario
	get.Params.Arguments = map[string]string{"name": "html"}
	prompt, err := e.client.GetPrompt(ctx, get)
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, prompt.Messages[0].Content.(mcpgo.EmbeddedResource).Resource.(mcpgo.TextResourceContents).Text)
	texts = append(texts, text(e.call("healthsim_list_scenarios", nil)))
	for i, text := range texts {
		if !strings.Contains(text, desc) || strings.Contains(text, `\u00`) {
			t.Errorf("text %d does not carry %q as it is:\n%s", i, desc, text)
		}
	}
}

// TestUnknownScenarioErrorCode: mcp-go v1.2.1 answers every error a
// resource or prompt handler returns as -32603 (internal error) and lets
// a handler choose no other code (docs/server.md says so); the message is
// the handler's sentence, which says where to look.
func TestUnknownScenarioErrorCode(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	ctx := context.Background()
	read := mcpgo.ReadResourceRequest{}
	read.Params.URI = mcp.ScenarioURI("nope")
	_, err := e.client.ReadResource(ctx, read)
	if !errors.Is(err, mcpgo.ErrInternalError) || !strings.Contains(err.Error(), `no scenario is named "nope"; resources/list or healthsim_list_scenarios shows the saved ones`) {
		t.Errorf("resources/read of an unknown scenario: %v", err)
	}
	get := mcpgo.GetPromptRequest{}
	get.Params.Name = mcp.PromptExploreScenario
	get.Params.Arguments = map[string]string{"name": "nope"}
	_, err = e.client.GetPrompt(ctx, get)
	if !errors.Is(err, mcpgo.ErrInternalError) || !strings.Contains(err.Error(), `no scenario is named "nope"`) {
		t.Errorf("prompts/get of an unknown scenario: %v", err)
	}
}

// TestControlCharactersInNamesRefused: healthsim_save_scenario refuses a
// name or tag with a control character, with a sentence that shows it
// escaped, and saves nothing.
func TestControlCharactersInNamesRefused(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	sc := sampleScenario("bad\x00name")
	msg := e.fails("healthsim_save_scenario", sc)
	if msg != `Could not save scenario "bad\x00name": name: the name has a control character (U+0000) at character 4; use letters, digits, punctuation and spaces. Nothing was changed.` {
		t.Errorf("NUL in the name: %q", msg)
	}
	sc = sampleScenario("fine")
	sc["tags"] = []any{"ding\a"}
	msg = e.fails("healthsim_save_scenario", sc)
	if !strings.Contains(msg, `tags: the tag "ding\a" has a control character (U+0007) at character 5`) {
		t.Errorf("BEL in a tag: %q", msg)
	}
	if n := e.count("SELECT count(*) FROM scenarios"); n != 0 {
		t.Errorf("%d scenarios saved", n)
	}
}
