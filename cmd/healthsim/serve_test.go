package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/internal/benchsupport/syncbuf"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
)

// serveStdio runs `healthsim serve` in-process and talks to it as a
// sequential client: it writes each JSON-RPC line to stdin and, for a
// request (a line with an id), waits for its response on stdout before the
// next. Then it closes stdin, as a client does on exit, and returns stdout
// and stderr once serve has returned.
func serveStdio(t *testing.T, env map[string]string, args []string, lines ...string) (string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	stdinR, stdinW := io.Pipe()
	var stdout, stderr syncbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), append([]string{"serve"}, args...), stdinR, &stdout, &stderr)
	}()
	answered := 0
	for _, line := range lines {
		io.WriteString(stdinW, line+"\n") // the server reads stdin all the time
		if !strings.Contains(line, `"id":`) {
			continue
		}
		answered++
		deadline := time.Now().Add(30 * time.Second)
		for len(responses(t, completeLines(stdout.String()))) < answered {
			select {
			case err := <-done:
				t.Fatalf("serve returned early: %v\n%s", err, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no answer to %s after 30 s; stdout:\n%s\nstderr:\n%s", line, stdout.String(), stderr.String())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	stdinW.Close()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

const (
	initialize  = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	initialized = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
)

func toolCall(id int, name string, args any) string {
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": "tools/call",
		"params": map[string]any{"name": name, "arguments": args}})
	return string(b)
}

// completeLines cuts s after its last newline.
func completeLines(s string) string { return s[:strings.LastIndex(s, "\n")+1] }

// responses decodes stdout, which must hold JSON-RPC messages only.
func responses(t *testing.T, stdout string) map[float64]map[string]any {
	t.Helper()
	out := map[float64]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var msg map[string]any
		if err := json.Unmarshal([]byte(line), &msg); err != nil || msg["jsonrpc"] != "2.0" {
			t.Fatalf("stdout carries a non-MCP line %q", line)
		}
		if id, ok := msg["id"].(float64); ok && (msg["result"] != nil || msg["error"] != nil) {
			out[id] = msg
		}
	}
	return out
}

// TestServeStdioCreatesAndMigrates: on a path where nothing exists, serve
// creates and migrates the database, logs where and which version to
// stderr, and answers on stdout with protocol messages only.
func TestServeStdioCreatesAndMigrates(t *testing.T) {
	db := tempDB(t)
	stdout, stderr := serveStdio(t, nil, []string{"--db", db},
		initialize, initialized,
		toolCall(2, "healthsim_save_scenario", map[string]any{"name": "s", "entities": map[string]any{"patients": []any{map[string]any{"id": "p1"}}}}),
		toolCall(3, "healthsim_query", map[string]any{"sql": "SELECT count(*) AS n FROM patients"}),
	)
	res := responses(t, stdout)
	if len(res) != 3 {
		t.Fatalf("got %d responses:\n%s", len(res), stdout)
	}
	query := res[3]["result"].(map[string]any)["structuredContent"].(map[string]any)
	if rows := query["rows"].([]any); rows[0].([]any)[0] != float64(1) {
		t.Fatalf("query after save: %v", query)
	}
	for _, want := range []string{"migrated the database", "schema_version=", "serving MCP over stdio", "db=" + db, "stopped"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// A second start finds nothing to migrate.
	_, stderr = serveStdio(t, nil, []string{"--db", db}, initialize)
	if strings.Contains(stderr, "migrated the database") {
		t.Errorf("second start migrated again:\n%s", stderr)
	}
	if strings.Contains(stderr, "old storage format") {
		t.Errorf("a file dbx created is said to be in an old storage format:\n%s", stderr)
	}
}

// TestServeWarnsOfOldStorage: a file in a storage format older than
// v1.4.0, whose checkpoints hold the file long, is named at start with
// the command that upgrades it.
func TestServeWarnsOfOldStorage(t *testing.T) {
	db := tempDB(t)
	raw, err := proctest.OpenRaw(db+"?storage_compatibility_version=v1.2.0", false) // as DuckDB 1.2 and 1.3 write
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, stderr := serveStdio(t, nil, []string{"--db", db}, initialize)
	if !strings.Contains(stderr, "old storage format") || !strings.Contains(stderr, "healthsim storage upgrade") {
		t.Errorf("no warning of the old storage format:\n%s", stderr)
	}
}

func TestServeReadOnlyIsDeprecated(t *testing.T) {
	db := tempDB(t)
	mustRun(t, "migrate", "up", "--db", db)
	stdout, stderr := serveStdio(t, map[string]string{"HEALTHSIM_READ_ONLY": "true"}, []string{"--db", db},
		initialize, initialized,
		toolCall(2, "healthsim_save_scenario", map[string]any{"name": "s", "entities": map[string]any{"patients": []any{map[string]any{"id": "p1"}}}}),
		toolCall(3, "healthsim_list_scenarios", map[string]any{}),
	)
	if !strings.Contains(stderr, "HEALTHSIM_READ_ONLY is deprecated") {
		t.Errorf("no deprecation warning:\n%s", stderr)
	}
	res := responses(t, stdout)
	save := res[2]["result"].(map[string]any)
	if save["isError"] != true || !strings.Contains(save["content"].([]any)[0].(map[string]any)["text"].(string), "writing is turned off") {
		t.Fatalf("save in read-only mode: %v", save)
	}
	if list := res[3]["result"].(map[string]any); list["isError"] == true {
		t.Fatalf("list in read-only mode: %v", list)
	}
}

func TestServeBadArguments(t *testing.T) {
	db := tempDB(t)
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"serve", "--db", db, "--transport", "carrier-pigeon"}, "--transport must be stdio or http"},
		{map[string]string{"MCP_TRANSPORT": "smoke"}, []string{"serve", "--db", db}, "--transport must be stdio or http"},
		{nil, []string{"serve", "--db", db, "--log-level", "loud"}, "--log-level"},
		{nil, []string{"serve", "--db", db, "extra"}, "serve takes no arguments"},
		{map[string]string{"HEALTHSIM_READ_ONLY": "perhaps"}, []string{"serve", "--db", db}, "HEALTHSIM_READ_ONLY must be true or false"},
		{nil, []string{"query", "--db", db}, "query takes one SQL statement"},
		{nil, []string{"query", "--db", db, "--json", "--csv", "SELECT 1"}, "not both"},
		{nil, []string{"query", "--db", db, "--limit", "0", "SELECT 1"}, "--limit must be between 1 and 1000"},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, errOut, err := run(t, tc.args...)
			if err != errUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("err %v, stderr %q; want usage error with %q", err, errOut, tc.want)
			}
		})
	}
}

func TestQueryCommand(t *testing.T) {
	db := tempDB(t)
	serveStdio(t, nil, []string{"--db", db}, initialize, initialized,
		toolCall(2, "healthsim_save_scenario", map[string]any{"name": "demo", "description": "two\tpatients", "entities": map[string]any{
			"patients": []any{map[string]any{"id": "p1", "gender": "F"}, map[string]any{"id": "p2"}}}}))
	sql := "SELECT id, gender, [1, 2] AS list FROM patients ORDER BY id"

	table := mustRun(t, "query", "--db", db, sql)
	want := "id  gender  list\n--  ------  ----\np1  F       [1,2]\np2  NULL    [1,2]\n(2 rows)\n"
	if table != want {
		t.Errorf("table:\n%s\nwant:\n%s", table, want)
	}
	csv := mustRun(t, "query", "--db", db, "--csv", sql)
	if csv != "id,gender,list\np1,F,\"[1,2]\"\np2,,\"[1,2]\"\n" {
		t.Errorf("csv:\n%s", csv)
	}
	var res struct {
		Columns []struct{ Name, Type string }
		Rows    [][]any
	}
	if err := json.Unmarshal([]byte(mustRun(t, "query", sql, "--json", "--db", db)), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 || res.Columns[2].Type != "INTEGER[]" {
		t.Errorf("json: %+v", res)
	}

	_, errOut, _ := run(t, "query", "--db", db, "--limit", "1", sql)
	if !strings.Contains(errOut, "showing the first 1 row") {
		t.Errorf("truncation not reported: %q", errOut)
	}
	_, _, err := run(t, "query", "--db", db, "DELETE FROM patients")
	if err == nil || !strings.Contains(err.Error(), "refused: only a single SELECT") {
		t.Errorf("DELETE: %v", err)
	}
	if n := mustRun(t, "query", "--db", db, "--csv", "SELECT count(*) AS n FROM patients"); n != "n\n2\n" {
		t.Errorf("patients after refused DELETE: %q", n)
	}
}

// TestServeAnswersEverythingBeforeEOF: a client that writes its requests and
// closes stdin at once (a shell pipe) still gets every answer.
func TestServeAnswersEverythingBeforeEOF(t *testing.T) {
	db := tempDB(t)
	in := strings.Join([]string{initialize, initialized,
		toolCall(2, "healthsim_save_scenario", map[string]any{"name": "piped", "entities": map[string]any{"patients": []any{map[string]any{"id": "p1"}}}}),
		toolCall(3, "healthsim_tables", map[string]any{}),
		toolCall(4, "healthsim_query", map[string]any{"sql": "SELECT 42 AS answer"}),
	}, "\n") + "\n"
	var stdout, stderr bytes.Buffer
	if err := Run(context.Background(), []string{"serve", "--db", db}, strings.NewReader(in), &stdout, &stderr); err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	res := responses(t, stdout.String())
	for id := 1.0; id <= 4; id++ {
		r, ok := res[id]
		if !ok {
			t.Fatalf("no answer to request %v:\n%s", id, stdout.String())
		}
		if result, _ := r["result"].(map[string]any); result == nil || result["isError"] == true {
			t.Fatalf("request %v: %v", id, r)
		}
	}
}
