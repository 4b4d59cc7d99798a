package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/mcp"
)

// bundleProject packs MCP Bundles (pack.mjs, with the official mcpb CLI).
const bundleProject = "../../packaging/mcpb"

// bundleManifest is the part of an MCP Bundle manifest the tests read.
type bundleManifest struct {
	Version string `json:"version"`
	Server  struct {
		EntryPoint string `json:"entry_point"`
		MCPConfig  struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Env     map[string]string `json:"env"`
		} `json:"mcp_config"`
	} `json:"server"`
	Tools []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"tools"`
	Compatibility struct {
		Platforms []string `json:"platforms"`
	} `json:"compatibility"`
	UserConfig map[string]struct {
		Default string `json:"default"`
	} `json:"user_config"`
}

func readManifest(t *testing.T, path string) bundleManifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m bundleManifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// TestBundleManifestTools: the bundle lists exactly the server's tools.
func TestBundleManifestTools(t *testing.T) {
	m := readManifest(t, filepath.Join(bundleProject, "manifest.json"))
	var listed []string
	for _, tool := range m.Tools {
		if tool.Description == "" {
			t.Errorf("manifest tool %s has no description", tool.Name)
		}
		listed = append(listed, tool.Name)
	}
	db, err := dbx.Open(context.Background(), tempDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var served []string
	for _, tool := range mcp.NewServer(db, mcp.Options{}).Tools() {
		served = append(served, tool.Name)
	}
	slices.Sort(listed)
	slices.Sort(served)
	if !slices.Equal(listed, served) {
		t.Fatalf("manifest.json lists tools %v; the server has %v", listed, served)
	}
}

// TestBundle packs this system's MCP Bundle as the release workflow does
// (pack.mjs: the official CLI validates the manifest and packs), unpacks
// it with the same CLI, starts the server exactly as the manifest's
// mcp_config says, with the database setting filled in as Claude Desktop
// does, and drives it with the TypeScript SDK client.
func TestBundle(t *testing.T) {
	node := e2eNode(t)
	npmProject(t, bundleProject, filepath.Join("@anthropic-ai", "mcpb", "package.json"))
	dir := t.TempDir()
	bundle := filepath.Join(dir, "healthsim.mcpb")
	pack := exec.Command(node, "pack.mjs", runtime.GOOS, testVersion, builtBinary(t), bundle)
	pack.Dir = bundleProject
	if out, err := pack.CombinedOutput(); err != nil {
		t.Fatalf("pack.mjs: %v\n%s", err, out)
	}
	unpacked := filepath.Join(dir, "unpacked")
	unpack := exec.Command(node, filepath.Join("node_modules", "@anthropic-ai", "mcpb", "dist", "cli", "cli.js"), "unpack", bundle, unpacked)
	unpack.Dir = bundleProject
	if out, err := unpack.CombinedOutput(); err != nil {
		t.Fatalf("mcpb unpack: %v\n%s", err, out)
	}

	m := readManifest(t, filepath.Join(unpacked, "manifest.json"))
	platform := map[string]string{"windows": "win32"}[runtime.GOOS]
	if platform == "" {
		platform = runtime.GOOS
	}
	if m.Version != strings.TrimPrefix(testVersion, "v") || !slices.Equal(m.Compatibility.Platforms, []string{platform}) {
		t.Fatalf("bundle manifest: version %q, platforms %v", m.Version, m.Compatibility.Platforms)
	}
	if _, err := os.Stat(filepath.Join(unpacked, m.Server.EntryPoint)); err != nil {
		t.Fatalf("the entry point is not in the bundle: %v", err)
	}
	if def := m.UserConfig["db_path"].Default; !strings.HasPrefix(def, "${HOME}") || !strings.HasSuffix(def, "healthsim.duckdb") {
		t.Fatalf("db_path default %q is not under the home folder", def)
	}

	// As the host does: ${__dirname} is the bundle's folder, and
	// ${user_config.db_path} what the user chose.
	db := tempDB(t)
	expand := strings.NewReplacer("${__dirname}", unpacked, "${user_config.db_path}", db).Replace
	cfg := m.Server.MCPConfig
	launch := map[string]any{"command": expand(cfg.Command), "args": cfg.Args, "env": map[string]string{}}
	for k, v := range cfg.Env {
		launch["env"].(map[string]string)[k] = expand(v)
	}
	spec, _ := json.Marshal(launch)
	res := e2eRunTS(t, []string{"HEALTHSIM_DB_PATH="}, "command", string(spec))
	if res["server_version"] != testVersion {
		t.Errorf("the server reports version %v; the binary was stamped %s", res["server_version"], testVersion)
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("the server did not use the database the user chose: %v", err)
	}
}
