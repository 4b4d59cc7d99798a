// DuckDB 1.5 in a process of its own, as a notebook or CLI on the release
// before ours opens the file (run by cmd/healthsim/skew_test.go).
//
//   node duckdb15.mjs create PATH  make a new file with DuckDB 1.5's defaults
//                                   and a table of the user's own (notes)
//   node duckdb15.mjs info PATH    open the file read-write and print, as one
//                                   JSON line, DuckDB's version, the file's
//                                   storage version and every table's rows
import { DuckDBInstance } from '@duckdb/node-api';

const [verb, path] = process.argv.slice(2);
if (!['create', 'info'].includes(verb) || !path) {
  console.error('usage: node duckdb15.mjs create|info PATH');
  process.exit(2);
}

const instance = await DuckDBInstance.create(path);
const conn = await instance.connect();
const rows = async (sql) => (await conn.runAndReadAll(sql)).getRowObjectsJson();

if (verb === 'create') {
  await conn.run(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR);
    INSERT INTO notes VALUES (1, 'made by DuckDB 1.5'), (2, 'still here')`);
}
const [{ version }] = await rows('SELECT version() AS version');
const [{ storage }] = await rows(
  `SELECT tags['storage_version'] AS storage FROM duckdb_databases() WHERE database_name = current_database()`);
const tables = {};
for (const { schema_name, table_name } of await rows(
  'SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY ALL')) {
  const [{ n }] = await rows(`SELECT count(*) AS n FROM "${schema_name}"."${table_name}"`);
  tables[`${schema_name}.${table_name}`] = Number(n);
}
console.log(JSON.stringify({ version, storage, tables }));
conn.closeSync();
instance.closeSync();
