package main

import (
	"os"
	"strings"
	"testing"
)

// TestServeMemoryLimit: queries run under --memory-limit (1GiB unless
// set, also by HEALTHSIM_MEMORY_LIMIT); a value that is not a size, or
// leaves saves too little, is a usage error.
func TestServeMemoryLimit(t *testing.T) {
	setting := toolCall(2, "healthsim_query", map[string]any{"sql": "SELECT current_setting('memory_limit') AS m"})
	limitOf := func(stdout string) any {
		res := responses(t, stdout)[2]["result"].(map[string]any)["structuredContent"].(map[string]any)
		return res["rows"].([]any)[0].([]any)[0]
	}
	stdout, _ := serveStdio(t, nil, []string{"--db", tempDB(t), "--no-share"}, initialize, initialized, setting)
	if got := limitOf(stdout); got != "1.0 GiB" {
		t.Errorf("default memory limit %v, want 1.0 GiB", got)
	}
	stdout, _ = serveStdio(t, nil, []string{"--db", tempDB(t), "--no-share", "--memory-limit", "512MiB"}, initialize, initialized, setting)
	if got := limitOf(stdout); got != "512.0 MiB" {
		t.Errorf("--memory-limit 512MiB gave %v", got)
	}
	stdout, _ = serveStdio(t, map[string]string{"HEALTHSIM_MEMORY_LIMIT": "2GiB"}, []string{"--db", tempDB(t), "--no-share"}, initialize, initialized, setting)
	if got := limitOf(stdout); got != "2.0 GiB" {
		t.Errorf("HEALTHSIM_MEMORY_LIMIT=2GiB gave %v", got)
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
	}{
		{nil, []string{"--memory-limit", "lots"}},
		{nil, []string{"--memory-limit", "100MiB"}},
		{map[string]string{"HEALTHSIM_MEMORY_LIMIT": "1 gigabyte"}, nil},
	} {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		db := tempDB(t)
		_, errOut, err := run(t, append([]string{"serve", "--db", db}, tc.args...)...)
		if err != errUsage || !strings.Contains(errOut, "--memory-limit (or HEALTHSIM_MEMORY_LIMIT) must be a size of at least 256MiB") {
			t.Errorf("%v %v: err %v, stderr %q", tc.env, tc.args, err, errOut)
		}
		if _, err := os.Stat(db); !os.IsNotExist(err) {
			t.Errorf("%v %v: the database was created", tc.env, tc.args)
		}
	}
}

// TestServeHTTPOffLoopbackNeedsToken: without a token, serving off
// loopback is refused before the database is opened (created, here) and
// before anything says it serves.
func TestServeHTTPOffLoopbackNeedsToken(t *testing.T) {
	t.Setenv("HEALTHSIM_MCP_TOKEN", "")
	db := tempDB(t)
	_, errOut, err := run(t, "serve", "--db", db, "--http", "0.0.0.0:0")
	if err == nil || !strings.Contains(err.Error(), "refusing to serve HTTP on 0.0.0.0:0 without a token") {
		t.Fatalf("err %v, stderr %q; want the refusal", err, errOut)
	}
	if strings.Contains(errOut, "serving") {
		t.Errorf("logged that it serves before refusing:\n%s", errOut)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("the database was created before the refusal")
	}
}
