// End-to-end client for `healthsim serve`, written with the official MCP
// TypeScript SDK (the client most desktop hosts use).
//
//   node client.mjs stdio BINARY DBPATH   starts BINARY serve --db DBPATH
//   node client.mjs http URL              connects to a running server
//                                         (HEALTHSIM_MCP_TOKEN, if set, is sent as a bearer token)
//   node client.mjs command JSON          starts {"command", "args", "env"} as a
//                                         host does from an MCP Bundle's mcp_config
//   node client.mjs claude BINARY DBPATH  stdio, as Claude meets the server: saves
//                                         a 6 MB and a 30,000-entity scenario and
//                                         pages through both (every entity once, no
//                                         answer near the SDK's 10 MiB limit), and
//                                         saves the README's example
//                                         ($HEALTHSIM_README_EXAMPLE) and joins it
//
// It lists the tools, then saves a scenario, lists, loads, summarises,
// queries it, reads it as a resource, gets a prompt about it, completes its
// name, and deletes it, checking every result (the SDK also checks each
// structured result against the tool's output schema). On success it prints
// one JSON line; on any failure it prints the reason to stderr and exits 1.
// Run by cmd/healthsim/e2e_ts_test.go.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const TOOLS = [
  "healthsim_delete_scenario", "healthsim_get_summary", "healthsim_list_scenarios",
  "healthsim_load_scenario", "healthsim_query", "healthsim_query_reference",
  "healthsim_save_scenario", "healthsim_tables",
];
const READ_TOOLS = new Set(TOOLS.filter(n => !["healthsim_save_scenario", "healthsim_delete_scenario"].includes(n)));
const CALL_TIMEOUT_MS = 20_000;
const TOTAL_TIMEOUT_MS = 60_000;

const ENTITIES = {
  patients: [
    { id: "p-1", mrn: "MRN001", given_name: "Ana", family_name: "García", birth_date: "1980-02-29", gender: "F",
      address: { city: "Austin", state: "TX", lines: ["1 Main St", "Apt <2> & co"] }, weight_kg: 61.5, visits: 3, deceased: false, notes: null },
    { id: "p-2", mrn: "MRN002", given_name: "Bo", family_name: "Lee", birth_date: "1975-11-03", gender: "M", tags: [] },
    { id: "p-3", mrn: "MRN003", given_name: "Chen", family_name: "Wu", birth_date: "2001-07-14", gender: "U", emoji: "🩺" },
  ],
  encounters: [
    { encounter_id: "e-1", patient_mrn: "MRN001", class_code: "AMB", status: "finished",
      admission_time: "2024-03-01T09:30:00Z", discharge_time: "2024-03-01T10:15:00Z", vitals: { hr: 72, bp: [120, 80] } },
  ],
};

class Failure extends Error {}

function check(cond, message) {
  if (!cond) throw new Failure(message);
}

// canonical is JSON with object keys sorted, so equal values give equal text.
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v).sort().map(k => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

const sameSet = (a, b) => canonical([...a].sort()) === canonical([...b].sort());
const text = res => (res.content ?? []).filter(c => c.type === "text").map(c => c.text).join("\n");

async function call(client, name, args) {
  return client.callTool({ name, arguments: args }, undefined, { timeout: CALL_TIMEOUT_MS });
}

// ok calls a tool that must succeed and returns its structured result.
async function ok(client, name, args) {
  const res = await call(client, name, args);
  check(!res.isError, `${name}: isError: ${text(res)}`);
  check(res.structuredContent && typeof res.structuredContent === "object", `${name}: no structuredContent`);
  check(canonical(JSON.parse(text(res))) === canonical(res.structuredContent), `${name}: text content is not the structured result`);
  return res.structuredContent;
}

// failing calls a tool that must answer with an isError result containing want.
async function failing(client, name, args, want) {
  const res = await call(client, name, args);
  check(res.isError === true && text(res).includes(want), `${name} ${JSON.stringify(args)}: want an isError result containing ${JSON.stringify(want)}, got isError ${res.isError}: ${text(res)}`);
}

async function cycle(client) {
  const { tools } = await client.listTools(undefined, { timeout: CALL_TIMEOUT_MS });
  const names = tools.map(t => t.name).sort();
  check(canonical(names) === canonical(TOOLS), `tools: ${names.join(", ")}`);
  for (const t of tools) {
    const a = t.annotations ?? {};
    check(a.readOnlyHint === READ_TOOLS.has(t.name), `${t.name}: readOnlyHint ${a.readOnlyHint}`);
    check((a.destructiveHint === true) === (t.name === "healthsim_delete_scenario"), `${t.name}: destructiveHint ${a.destructiveHint}`);
    check(a.openWorldHint === false, `${t.name}: openWorldHint ${a.openWorldHint}`);
    check(t.outputSchema && t.outputSchema.type === "object", `${t.name}: no outputSchema`);
  }

  const name = `e2e ts ${Date.now()}`;
  const counts = { patients: 3, encounters: 1 };
  const tags = ["demo", "e2e"];
  const saved = await ok(client, "healthsim_save_scenario", {
    name, description: "End-to-end test (TypeScript SDK)", tags: ["E2E", "demo"], entities: ENTITIES,
  });
  check(saved.id && saved.name === name && saved.total_entities === 4 && canonical(saved.entity_counts) === canonical(counts) && sameSet(saved.tags, tags),
    `save: ${JSON.stringify(saved)}`);

  const list = await ok(client, "healthsim_list_scenarios", { search: name });
  check(list.count === 1 && list.scenarios[0].id === saved.id && list.scenarios[0].entity_count === 4 && sameSet(list.scenarios[0].tags, tags),
    `list: ${JSON.stringify(list)}`);

  const loaded = await ok(client, "healthsim_load_scenario", { name_or_id: saved.id });
  check(loaded.name === name && loaded.total_entities === 4 && canonical(loaded.entity_counts) === canonical(counts),
    `load: ${JSON.stringify({ ...loaded, entities: undefined })}`);
  check(canonical(loaded.entities) === canonical(ENTITIES),
    `load: entities came back changed:\n got  ${canonical(loaded.entities)}\n want ${canonical(ENTITIES)}`);

  const summary = await ok(client, "healthsim_get_summary", { scenario_id_or_name: name });
  check(summary.id === saved.id && summary.total_entities === 4 && summary.samples?.patients?.length === 3 && summary.samples?.encounters?.length === 1,
    `summary: ${JSON.stringify(summary)}`);

  const rows = await ok(client, "healthsim_query", { sql: `SELECT count(*) AS n FROM patients WHERE scenario_id = '${saved.id}'` });
  check(rows.row_count === 1 && rows.rows[0][0] === 3, `query: ${JSON.stringify(rows)}`);

  await resourcesAndPrompts(client, name, saved.id);

  await failing(client, "healthsim_delete_scenario", { name_or_id: name }, "confirm");
  const deleted = await ok(client, "healthsim_delete_scenario", { name_or_id: name, confirm: true });
  check(deleted.deleted === true && deleted.id === saved.id && deleted.entities === 4, `delete: ${JSON.stringify(deleted)}`);

  const after = await ok(client, "healthsim_list_scenarios", { search: name });
  check(after.count === 0, `list after delete: ${JSON.stringify(after)}`);
  await failing(client, "healthsim_load_scenario", { name_or_id: saved.id }, "no scenario has that name or id");
  return { tools: names.length, scenario_id: saved.id };
}

// resourcesAndPrompts checks the resources, the scenario template, the
// prompts and the completions for the saved scenario name (id).
async function resourcesAndPrompts(client, name, id) {
  const opts = { timeout: CALL_TIMEOUT_MS };
  const uri = `healthsim://scenarios/${encodeURIComponent(name)}`;
  const { resources } = await client.listResources(undefined, opts);
  check(sameSet(resources.map(r => r.uri), ["healthsim://schema", "healthsim://reference", uri]), `resources/list: ${JSON.stringify(resources)}`);
  const { resourceTemplates } = await client.listResourceTemplates(undefined, opts);
  check(resourceTemplates.length === 1 && resourceTemplates[0].uriTemplate === "healthsim://scenarios/{name}", `resources/templates/list: ${JSON.stringify(resourceTemplates)}`);
  const read = await client.readResource({ uri }, opts);
  const sc = JSON.parse(read.contents[0].text);
  check(read.contents[0].mimeType === "application/json" && sc.id === id && sc.total_entities === 4 && sc.read_entities.tool === "healthsim_load_scenario",
    `read ${uri}: ${JSON.stringify(read)}`);

  const { prompts } = await client.listPrompts(undefined, opts);
  check(sameSet(prompts.map(p => p.name), ["generate_cohort", "explore_scenario", "compare_with_population"]), `prompts/list: ${JSON.stringify(prompts)}`);
  const prompt = await client.getPrompt({ name: "explore_scenario", arguments: { name } }, opts);
  check(prompt.messages[0].content.type === "resource" && prompt.messages[0].content.resource.uri === uri &&
    prompt.messages[1].content.type === "text" && prompt.messages[1].content.text.includes(name), `prompts/get explore_scenario: ${JSON.stringify(prompt)}`);

  const names = await client.complete({ ref: { type: "ref/resource", uri: "healthsim://scenarios/{name}" }, argument: { name: "name", value: name.slice(0, 6) } }, opts);
  check(canonical(names.completion.values) === canonical([name]), `complete name: ${JSON.stringify(names)}`);
  const states = await client.complete({ ref: { type: "ref/prompt", name: "compare_with_population" }, argument: { name: "state", value: "new y" } }, opts);
  check(canonical(states.completion.values) === canonical(["New York"]), `complete state: ${JSON.stringify(states)}`);
}

// claude saves big scenarios and pages through them, and checks that the
// README's save example is joined by SQL.
async function claude(client) {
  const big = {
    "6 MB": { patients: Array.from({ length: 1500 }, (_, i) => ({ mrn: `m${i}`, given_name: "Ana", note: "n".repeat(4000) })) },
    "30k": {
      patients: Array.from({ length: 20000 }, (_, i) => ({ mrn: `m${i}` })),
      encounters: Array.from({ length: 10000 }, (_, i) => ({ encounter_id: `e${i}`, patient_mrn: `m${i}` })),
    },
  };
  const result = {};
  for (const [label, entities] of Object.entries(big)) {
    const want = Object.values(entities).reduce((n, l) => n + l.length, 0);
    const saved = await ok(client, "healthsim_save_scenario", { name: `claude ${label}`, entities });
    check(saved.total_entities === want, `save ${label}: ${JSON.stringify(saved)}`);
    const seen = new Set();
    let offset = 0, pages = 0, largest = 0;
    for (;;) {
      const res = await call(client, "healthsim_load_scenario", { name_or_id: saved.id, offset, limit: 1000 });
      largest = Math.max(largest, text(res).length);
      check(!res.isError, `load ${label} at offset ${offset}: ${text(res)}`);
      const { entities: got = {}, page } = res.structuredContent;
      for (const [typ, list] of Object.entries(got)) {
        for (const e of list) seen.add(`${typ}/${e.mrn ?? e.encounter_id}`);
      }
      pages++;
      if (page.next_offset === undefined) break;
      check(page.note.includes(`offset ${page.next_offset}`), `load ${label}: page ${JSON.stringify(page)}`);
      offset = page.next_offset;
    }
    check(seen.size === want, `load ${label}: paging reached ${seen.size} of ${want} entities`);
    check(largest < 1_000_000, `load ${label}: an answer of ${largest} bytes`);
    const first = await ok(client, "healthsim_load_scenario", { name_or_id: saved.id });
    check(first.page.returned <= 100 && first.page.next_offset !== undefined, `load ${label} with defaults: ${JSON.stringify(first.page)}`);
    result[label] = { entities: want, pages, largest_answer: largest };
  }
  const example = JSON.parse(process.env.HEALTHSIM_README_EXAMPLE);
  const saved = await ok(client, "healthsim_save_scenario", example);
  check(saved.json_only_fields === undefined, `README example: fields without a column: ${JSON.stringify(saved.json_only_fields)}`);
  const joined = await ok(client, "healthsim_query", {
    sql: `SELECT p.mrn, e.encounter_id FROM patients p JOIN encounters e ON e.patient_mrn = p.mrn AND e.scenario_id = p.scenario_id WHERE p.scenario_id = '${saved.id}'`,
  });
  check(joined.row_count === example.entities.encounters.length, `README example join: ${JSON.stringify(joined)}`);
  const { tools } = await client.listTools(undefined, { timeout: CALL_TIMEOUT_MS });
  return { tools: tools.length, ...result };
}

async function main() {
  const [mode, ...rest] = process.argv.slice(2);
  let transport;
  let serverLog = "";
  if ((mode === "stdio" || mode === "claude") && rest.length === 2) {
    transport = new StdioClientTransport({
      command: rest[0], args: ["serve", "--db", rest[1]], env: { ...process.env }, stderr: "pipe",
    });
    transport.stderr?.on("data", chunk => { serverLog = (serverLog + chunk).slice(-8192); });
  } else if (mode === "command" && rest.length === 1) {
    const { command, args = [], env = {} } = JSON.parse(rest[0]);
    transport = new StdioClientTransport({ command, args, env: { ...process.env, ...env }, stderr: "pipe" });
    transport.stderr?.on("data", chunk => { serverLog = (serverLog + chunk).slice(-8192); });
  } else if (mode === "http" && rest.length === 1) {
    const token = process.env.HEALTHSIM_MCP_TOKEN;
    transport = new StreamableHTTPClientTransport(new URL(rest[0]), {
      requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : undefined,
    });
  } else {
    console.error("usage: node client.mjs stdio BINARY DBPATH | http URL | command JSON");
    process.exit(2);
  }

  const watchdog = setTimeout(() => {
    console.error(`e2e-ts: no result after ${TOTAL_TIMEOUT_MS} ms${serverLog ? `; server log:\n${serverLog}` : ""}`);
    process.exit(1);
  }, TOTAL_TIMEOUT_MS);
  watchdog.unref();

  const client = new Client({ name: "healthsim-e2e-ts", version: "0.0.0" });
  const start = Date.now();
  try {
    await client.connect(transport, { timeout: CALL_TIMEOUT_MS });
    const result = mode === "claude" ? await claude(client) : await cycle(client);
    const server = client.getServerVersion();
    await client.close();
    console.log(JSON.stringify({ ok: true, transport: mode, server: server?.name, server_version: server?.version, ...result, elapsed_ms: Date.now() - start }));
    process.exit(0);
  } catch (err) {
    const what = err instanceof Failure ? err.message : (err?.stack ?? String(err));
    console.error(`e2e-ts (${mode}): ${what}${serverLog ? `\nserver log:\n${serverLog}` : ""}`);
    await client.close().catch(() => {});
    process.exit(1);
  }
}

main();
