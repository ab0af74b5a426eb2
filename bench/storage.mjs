// What the task path costs in D1: rows written and read per task (D1's own meta, from the
// row-cost test run in the Workers pool), and bytes stored per finished task (file growth).
import { spawnSync } from "node:child_process";

/**
 * Bytes the local D1 database in `persistDir` uses, in all and per table and index (SQLite's
 * dbstat, read through the WAL). The runtime only lets a Worker run PRAGMAs it allows, so this
 * opens the file with Python's sqlite3 while the server is stopped.
 */
export function d1StoredBytes(persistDir) {
  const script = `
import glob, json, sqlite3, sys
[f] = [x for x in glob.glob(sys.argv[1] + "/v3/d1/miniflare-D1DatabaseObject/*.sqlite") if not x.endswith("metadata.sqlite")]
c = sqlite3.connect(f)
objects = dict(c.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall())
used = (c.execute("PRAGMA page_count").fetchone()[0] - c.execute("PRAGMA freelist_count").fetchone()[0]) * c.execute("PRAGMA page_size").fetchone()[0]
tasks, params, result = c.execute("SELECT count(*), avg(length(params)), avg(length(result)) FROM tasks").fetchone()
print(json.dumps({"used": used, "objects": objects, "tasks": tasks, "params_bytes": params, "result_bytes": result}))`;
  const r = spawnSync("python3", ["-c", script, persistDir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`reading the D1 file failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/**
 * Runs test/integration/row-cost.integration.test.ts and reads its "D1 rows per task [kind]"
 * lines → { kind: { written: {submit, run, delete, total}, read: {…}, fold: {written, read} } }; `fold` is
 * the maintenance alarm's fold of the test's minute of rollup rows, once for all its tasks.
 */
export function rowCost() {
  const r = spawnSync("npx", ["vitest", "run", "test/integration/row-cost.integration.test.ts"], {
    encoding: "utf8",
    env: { ...process.env, CI: "1", NO_COLOR: "1", FORCE_COLOR: "0" },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`row-cost test failed:\n${r.stdout}\n${r.stderr}`);
  const out = {};
  for (const m of r.stdout.matchAll(/D1 rows per task \[(\w+)\] written (\{[^}]*\}) read (\{[^}]*\}) fold (\{[^}]*\})/g)) {
    out[m[1]] = { written: JSON.parse(m[2]), read: JSON.parse(m[3]), fold: JSON.parse(m[4]) };
  }
  if (Object.keys(out).length === 0) throw new Error(`row-cost test printed no figures:\n${r.stdout}`);
  return out;
}
