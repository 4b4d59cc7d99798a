package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// e2eTSProject is the Node project of the TypeScript SDK client; its
// dependencies come from the committed package-lock.json.
const e2eTSProject = "testdata/e2e-ts"

var (
	npmMu        sync.Mutex
	npmInstalled = map[string]error{} // Node project folder: its `npm ci` result
)

// npmProject makes sure the Node project in dir has its dependencies,
// running `npm ci` (from the committed package-lock.json) once when marker,
// a file under dir/node_modules, is missing. Without npm the test fails:
// the Node tools are part of the suite.
func npmProject(t *testing.T, dir, marker string) {
	t.Helper()
	npmMu.Lock()
	defer npmMu.Unlock()
	err, done := npmInstalled[dir]
	if !done {
		if _, err = os.Stat(filepath.Join(dir, "node_modules", marker)); err != nil {
			var npm string
			if npm, err = exec.LookPath("npm"); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
				cmd.Dir = dir
				if out, cerr := cmd.CombinedOutput(); cerr != nil {
					err = &npmError{cerr, out}
				}
			}
		}
		npmInstalled[dir] = err
	}
	if err != nil {
		t.Fatalf("cannot install the dependencies of %s with `npm ci` (needs npm and the npm registry, or run it once by hand): %v", dir, err)
	}
}

// e2eNode returns the node executable, with the TypeScript client's
// dependencies installed.
func e2eNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (%v): the end-to-end tests run the official TypeScript MCP SDK; install Node.js 20 or later with npm", err)
	}
	npmProject(t, e2eTSProject, filepath.Join("@modelcontextprotocol", "sdk", "package.json"))
	return node
}

type npmError struct {
	err error
	out []byte
}

func (e *npmError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// e2eRunTS runs client.mjs with args, checks its result line and returns
// it.
func e2eRunTS(t *testing.T, env []string, args ...string) map[string]any {
	t.Helper()
	node := e2eNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"client.mjs"}, args...)...)
	cmd.Dir = e2eTSProject
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node client.mjs %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	var res map[string]any
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || res["ok"] != true || res["tools"] != float64(8) || res["server"] != "healthsim" {
		t.Fatalf("node client.mjs %s: result %v (%v)\n%s", strings.Join(args, " "), res, err, stdout.String())
	}
	t.Logf("TypeScript SDK client: %s", lines[len(lines)-1])
	return res
}

// TestE2ETypeScriptSDKAsClaude: big scenarios are saved and paged
// through with the TypeScript SDK client, whose 10 MiB message limit is
// real, and the README's save example is joined by SQL.
func TestE2ETypeScriptSDKAsClaude(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("\\| `healthsim_save_scenario` \\|[^\\n]*\\| `(\\{.*\\})` \\|").FindSubmatch(readme)
	if m == nil {
		t.Fatal("no healthsim_save_scenario example in the README's tool table")
	}
	res := e2eRunTS(t, []string{"HEALTHSIM_README_EXAMPLE=" + string(m[1])}, "claude", builtBinary(t), tempDB(t))
	t.Logf("%v", res)
}

func TestE2ETypeScriptSDK(t *testing.T) {
	t.Run("stdio", func(t *testing.T) {
		e2eRunTS(t, nil, "stdio", builtBinary(t), tempDB(t))
	})
	t.Run("http", func(t *testing.T) {
		srv := e2eStartHTTP(t, tempDB(t))
		e2eRunTS(t, nil, "http", srv.url)
		srv.stop(t)
	})
	t.Run("http with token", func(t *testing.T) {
		srv := e2eStartHTTP(t, tempDB(t), "HEALTHSIM_MCP_TOKEN=secret")
		e2eRunTS(t, []string{"HEALTHSIM_MCP_TOKEN=secret"}, "http", srv.url)
		srv.stop(t)
	})
}
