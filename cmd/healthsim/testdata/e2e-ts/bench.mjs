// bench.mjs times sequential healthsim_query calls from the official MCP
// TypeScript SDK client to `healthsim serve` over stdio, one client, one
// call at a time. Run by
// BenchmarkReadToolCallTS in cmd/healthsim/bench_test.go.
//
//   node bench.mjs BINARY DBFILE N [SQL]
//
// It warms up, times N calls with process.hrtime.bigint, and prints one JSON
// line: {"calls", "p50_ms", "p99_ms", "mean_ms", "calls_per_s"}. Without SQL
// it queries the patient with the greatest id. In SQL, {n8} becomes a
// different 8-digit number on every call (0 to 99999 in turn), so that
// every call sends a new text, as a model's queries are.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [binary, dbFile, nArg, sqlArg] = process.argv.slice(2);
const n = Number.parseInt(nArg ?? "", 10);
if (!binary || !dbFile || !(n > 0)) {
  console.error("usage: node bench.mjs BINARY DBFILE N [SQL]");
  process.exit(2);
}
const warmUp = Math.min(200, Math.max(50, Math.floor(n / 10)));

const transport = new StdioClientTransport({
  command: binary,
  args: ["serve", "--db", dbFile, "--log-level", "warn"],
  stderr: "inherit",
});
const client = new Client({ name: "healthsim-bench-ts", version: "1.0.0" });
await client.connect(transport);

async function query(sql) {
  const res = await client.callTool({ name: "healthsim_query", arguments: { sql } });
  if (res.isError) {
    throw new Error(`healthsim_query: ${res.content?.[0]?.text}`);
  }
  return res.structuredContent;
}

let sql = sqlArg;
if (!sql) {
  const found = await query("SELECT max(id) AS id FROM patients");
  sql = `SELECT * FROM patients WHERE id = '${found.rows[0][0]}'`;
}
let call = 0;
const next = () => sql.replaceAll("{n8}", String(call++ % 100000).padStart(8, "0"));
const first = await query(next());
if (first.row_count !== 1) {
  throw new Error(`${sql}: ${first.row_count} rows, want 1`);
}
for (let i = 0; i < warmUp; i++) {
  await query(next());
}

const times = new Float64Array(n); // milliseconds
const start = process.hrtime.bigint();
for (let i = 0; i < n; i++) {
  const text = next();
  const t0 = process.hrtime.bigint();
  await query(text);
  times[i] = Number(process.hrtime.bigint() - t0) / 1e6;
}
const totalMs = Number(process.hrtime.bigint() - start) / 1e6;
await client.close();

times.sort();
// Nearest rank, as the Go benchmarks compute it.
const percentile = (p) => times[Math.max(0, Math.ceil((n * p) / 100) - 1)];
console.log(
  JSON.stringify({
    calls: n,
    p50_ms: percentile(50),
    p99_ms: percentile(99),
    mean_ms: totalMs / n,
    calls_per_s: n / (totalMs / 1000),
  }),
);
