// Packs a healthsim binary into an MCP Bundle (.mcpb) for one system,
// from manifest.json next to this file, with the official CLI.
//
//   node pack.mjs GOOS VERSION BINARY OUT.mcpb
//
// GOOS is Go's name of the system the binary runs on (darwin, windows,
// linux). The bundle's manifest says that system only, the version (a
// leading "v" dropped), the binary's name there, and that system's
// default database location (the one `healthsim serve` uses without
// HEALTHSIM_DB_PATH). Run by .github/workflows/release.yml and by
// cmd/healthsim/bundle_test.go.

import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const systems = {
  darwin: { platform: "darwin", exe: "healthsim", db: "${HOME}/Library/Application Support/healthsim/healthsim.duckdb" },
  windows: { platform: "win32", exe: "healthsim.exe", db: "${HOME}\\AppData\\Local\\healthsim\\healthsim.duckdb" },
  linux: { platform: "linux", exe: "healthsim", db: "${HOME}/.local/share/healthsim/healthsim.duckdb" },
};

const [goos, version, binary, out] = process.argv.slice(2);
const system = systems[goos];
if (!system || !version || !binary || !out) {
  console.error("usage: node pack.mjs darwin|windows|linux VERSION BINARY OUT.mcpb");
  process.exit(2);
}

const manifest = JSON.parse(readFileSync(join(here, "manifest.json"), "utf8"));
manifest.version = version.replace(/^v/, "");
manifest.compatibility.platforms = [system.platform];
manifest.server.entry_point = `server/${system.exe}`;
manifest.server.mcp_config.command = `\${__dirname}/server/${system.exe}`;
manifest.user_config.db_path.default = system.db;

const stage = mkdtempSync(join(tmpdir(), "healthsim-mcpb-"));
try {
  mkdirSync(join(stage, "server"));
  copyFileSync(binary, join(stage, "server", system.exe));
  chmodSync(join(stage, "server", system.exe), 0o755);
  writeFileSync(join(stage, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  const cli = join(here, "node_modules", "@anthropic-ai", "mcpb", "dist", "cli", "cli.js");
  for (const args of [["validate", join(stage, "manifest.json")], ["pack", stage, resolve(out)]]) {
    const res = spawnSync(process.execPath, [cli, ...args], { stdio: "inherit" });
    if (res.status !== 0) {
      console.error(`mcpb ${args[0]} failed`);
      process.exit(1);
    }
  }
} finally {
  rmSync(stage, { recursive: true, force: true });
}
