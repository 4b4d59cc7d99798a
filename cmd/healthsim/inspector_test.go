package main

// The MCP Inspector CLI (npm @modelcontextprotocol/inspector, pinned with the
// conformance suite in testdata/conformance, on the same Node 22) against
// `healthsim serve` over stdio: it lists the tools, resources, templates
// and prompts, reads a resource and gets a prompt.

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/mcp"
)

// inspect runs the Inspector CLI with args against `healthsim serve --db
// db` and decodes the JSON it prints.
func inspect(t *testing.T, db string, args ...string) map[string]any {
	t.Helper()
	node, _ := conformanceSuite(t)
	pkg := filepath.Join(conformanceProject, "node_modules", "@modelcontextprotocol", "inspector")
	script, err := npmBin(pkg, "mcp-inspector")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmdArgs := append([]string{script, "--cli"}, args...)
	cmd := exec.CommandContext(ctx, node, append(cmdArgs, "--", builtBinary(t), "serve", "--db", db)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("inspector %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("inspector %v: %v in\n%s", args, err, stdout.String())
	}
	return out
}

// names returns the field key of each object in list.
func names(list any, key string) []string {
	var out []string
	for _, item := range list.([]any) {
		out = append(out, item.(map[string]any)[key].(string))
	}
	slices.Sort(out)
	return out
}

func TestInspectorCLI(t *testing.T) {
	db := tempDB(t)
	if got := names(inspect(t, db, "--method", "tools/list")["tools"], "name"); len(got) != 8 {
		t.Errorf("tools/list: %v", got)
	}
	if got := names(inspect(t, db, "--method", "resources/list")["resources"], "uri"); !slices.Equal(got, []string{mcp.ReferenceURI, mcp.SchemaURI}) {
		t.Errorf("resources/list: %v", got)
	}
	if got := names(inspect(t, db, "--method", "resources/templates/list")["resourceTemplates"], "uriTemplate"); !slices.Equal(got, []string{mcp.ScenarioTemplate}) {
		t.Errorf("resources/templates/list: %v", got)
	}
	if got := names(inspect(t, db, "--method", "prompts/list")["prompts"], "name"); !slices.Equal(got, []string{mcp.PromptCompare, mcp.PromptExploreScenario, mcp.PromptGenerateCohort}) {
		t.Errorf("prompts/list: %v", got)
	}
	read := inspect(t, db, "--method", "resources/read", "--uri", mcp.SchemaURI)
	if text := read["contents"].([]any)[0].(map[string]any)["text"].(string); !strings.Contains(text, `"name":"patients"`) {
		t.Errorf("resources/read %s: %.200s", mcp.SchemaURI, text)
	}
	got := inspect(t, db, "--method", "prompts/get", "--prompt-name", mcp.PromptGenerateCohort, "--prompt-args", "description=10 smokers in Maine")
	if msg, _ := json.Marshal(got["messages"]); !strings.Contains(string(msg), "10 smokers in Maine") {
		t.Errorf("prompts/get %s: %s", mcp.PromptGenerateCohort, msg)
	}
}
