package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// e2eTSProject is the Node project of the TypeScript SDK client; its
// dependencies come from the committed package-lock.json.
const e2eTSProject = "testdata/e2e-ts"

var (
	e2eNPMOnce sync.Once
	e2eNPMErr  error
)

// e2eNode returns the node executable, installing the client's
// dependencies with `npm ci` first when node_modules is missing. Without
// Node and npm the test fails: the TypeScript client is part of the suite.
func e2eNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (%v): the end-to-end tests run the official TypeScript MCP SDK; install Node.js 20 or later with npm", err)
	}
	e2eNPMOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(e2eTSProject, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err == nil {
			return
		}
		npm, err := exec.LookPath("npm")
		if err != nil {
			e2eNPMErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = e2eTSProject
		if out, err := cmd.CombinedOutput(); err != nil {
			e2eNPMErr = &npmError{err, out}
		}
	})
	if e2eNPMErr != nil {
		t.Fatalf("cannot install the TypeScript client's dependencies in %s with `npm ci` (needs npm and the npm registry, or run it once by hand): %v", e2eTSProject, e2eNPMErr)
	}
	return node
}

type npmError struct {
	err error
	out []byte
}

func (e *npmError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// e2eRunTS runs client.mjs with args and returns its result line.
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
