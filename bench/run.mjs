// npm run bench: starts the Worker itself (no inspector) on fresh state, runs every scenario
// three times, prints a table and writes bench/results.json with medians and min–max.
// BENCH_ONLY=bulk_100k,latency,… runs only those scenarios (see SCENARIOS) and leaves
// bench/results.json as it is.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import { createRequire } from "node:module";
import { failAfter, freePort, migratedStateDir, spawnServer } from "../scripts/dev-server.mjs";
import { BENCH_VARS, getText, median, restarts, runtimeCpuMs } from "./lib.mjs";
import { bulk, ESCALATING, httpExec, httpVars, io, IO_ENTRY, keyed, latency, pull, PULL_VARS, reads, single } from "./scenarios.mjs";
import { startLoopback } from "../scripts/fixtures/loopback.mjs";
import { ageSeededTasks, d1Execute, seedFinishedTasks } from "./seed.mjs";
import { d1StoredBytes, rowCost } from "./storage.mjs";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const GROWTH_ROWS = Number(process.env.BENCH_GROWTH_ROWS ?? 1_000_000);
const READS = Number(process.env.BENCH_READS ?? 200);
const LARGE = 100_000;
const SCENARIOS = ["row_cost", "storage", "bulk", "bulk_submit_only", "bulk_escalating", "single", "latency", "reads", "keys", "bulk_100k", "growth", "retention", "index_cost", "io", "pull", "http"];
/**
 * The indexes whose write cost index_cost measures, one dropped at a time (tasks_type_status_idx
 * is named by INDEXED BY in lists and the reaper, so it cannot be dropped).
 */
const INDEXES = ["tasks_domain_created_idx"];
const DAY_MS = 86_400_000;
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(",").map((s) => s.trim()) : SCENARIOS;
const unknown = ONLY.filter((s) => !SCENARIOS.includes(s));
if (unknown.length) {
  console.error(`BENCH_ONLY: unknown scenario ${unknown.join(", ")} (known: ${SCENARIOS.join(", ")})`);
  process.exit(2);
}
const wanted = (name) => ONLY.includes(name);

failAfter(1_800_000, "bench");

/** The Worker runs in its own process, so the load client's event loop is not the server's. */
async function withServer(persistDir, fn, { vars = {}, entry } = {}) {
  const port = await freePort();
  const server = await spawnServer(port, persistDir, { ...BENCH_VARS, ...vars }, entry);
  try {
    return await fn(`http://127.0.0.1:${port}`, () => runtimeCpuMs(server.pid));
  } finally {
    process.kill(-server.pid, "SIGTERM");
  }
}

async function repeat(label, fn) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await fn();
    console.log(`  ${label} run ${i + 1}: ${JSON.stringify(round(r))}`);
    runs.push(r);
  }
  const summary = {};
  for (const key of Object.keys(runs[0])) {
    const values = runs.map((r) => r[key]);
    summary[key] = { median: median(values), min: Math.min(...values), max: Math.max(...values) };
  }
  return summary;
}

const round = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v * 100) / 100]));

const results = {};
// D1 rows written and read per task, as D1 reports them (the row-cost test in the Workers pool).
if (wanted("row_cost")) results.row_cost = rowCost();

/**
 * Finished tasks of two sizes: 98 B of params echoed by test_task in a 150 B result, and issue
 * 23's stated size, 100 B of params and a 182 B result, from the fixture Worker's sized_res (a
 * 9-letter type name, as test_task's: the row and its list index entry hold it).
 */
const STORED_TASKS = [
  { kind: { type: "test_task", params: { pad: "x".repeat(88) } } },
  { kind: { type: "sized_res", params: { result_bytes: 182, pad: "x".repeat(71) } }, entry: IO_ENTRY },
];
// Bytes stored per finished task: D1's file growth over 100k tasks run to completion, in all and per table / index.
if (wanted("storage")) {
  results.storage = [];
  for (const { kind, entry } of STORED_TASKS) {
    const dir = migratedStateDir("bench-storage");
    const before = d1StoredBytes(dir);
    await withServer(dir, (base) => bulk(base, { total: LARGE, kind }), { entry });
    const after = d1StoredBytes(dir);
    const perTask = (a, b) => Math.round((a - b) / after.tasks);
    results.storage.push({
      tasks: after.tasks,
      params_bytes: after.params_bytes,
      result_bytes: after.result_bytes,
      bytes_per_task: perTask(after.used, before.used),
      by_object: Object.fromEntries(
        Object.entries(after.objects)
          .map(([name, bytes]) => [name, perTask(bytes, before.objects[name] ?? 0)])
          .filter(([, b]) => b > 0)
          .sort((a, b) => b[1] - a[1]),
      ),
    });
  }
}
if (["bulk", "bulk_submit_only", "bulk_escalating", "single", "latency", "reads", "keys"].some(wanted)) {
  await withServer(migratedStateDir("bench"), async (base, cpuMs) => {
    await bulk(base, { total: 1000 }); // warm-up: isolates, DOs, SQLite pages
    // First, while the table is (nearly) empty: the baseline of the growth scenario's reads.
    if (wanted("reads")) results.reads = await repeat("reads", () => reads(base, READS));
    if (wanted("bulk")) results.bulk = await repeat("bulk", () => bulk(base, { cpuMs }));
    if (wanted("bulk_submit_only")) results.bulk_submit_only = await repeat("bulk submit only", () => bulk(base, { cpuMs, dispatch: false }));
    if (wanted("bulk_escalating")) results.bulk_escalating = await repeat("bulk escalating", () => bulk(base, { cpuMs, kind: ESCALATING }));
    if (wanted("single")) results.single = await repeat("single", () => single(base, SECONDS * 1000));
    if (wanted("latency")) results.latency = await repeat("latency", () => latency(base, 50, SECONDS * 1000));
    if (wanted("keys")) results.keys = await repeat("keys (100 × limit 5)", () => keyed(base, { cpuMs }));
  });
}

// A 100k backlog on a server of its own, so its rows neither slow the scenarios above nor
// count as their history.
if (wanted("bulk_100k")) {
  await withServer(migratedStateDir("bench-100k"), async (base, cpuMs) => {
    await bulk(base, { total: 1000 });
    results.bulk_100k = await repeat("bulk 100k", () => bulk(base, { total: LARGE, cpuMs }));
  });
}

/** seedcore_tasks_pruned_total, from the rollups. */
async function prunedTotal(base) {
  const line = (await getText(base, "/metrics")).split("\n").find((l) => l.startsWith("seedcore_tasks_pruned_total "));
  return Number(line?.split(" ")[1] ?? 0);
}

/**
 * Bulk runs back to back for two alarm intervals (so the window holds two retention ticks
 * wherever it starts) → tasks/s over the window, and how many expired rows the alarm deleted
 * meanwhile.
 */
async function bulkWhileRetention(base, cpuMs) {
  const windowMs = 2 * 15_000 + 2_000;
  const p0 = await prunedTotal(base);
  const t0 = performance.now();
  let tasks = 0;
  let cpuUs = 0;
  while (performance.now() - t0 < windowMs) {
    const r = await bulk(base, { cpuMs });
    tasks += r.tasks;
    cpuUs += (r.runtime_cpu_us_per_task ?? 0) * r.tasks;
  }
  const seconds = (performance.now() - t0) / 1000;
  const pruned = (await prunedTotal(base)) - p0;
  return { tasks, seconds, tasks_per_s: tasks / seconds, runtime_cpu_us_per_task: cpuUs / tasks, pruned, pruned_per_s: pruned / seconds };
}

// The same scenarios on a database that already holds GROWTH_ROWS finished tasks (seeded with
// SQL); then those tasks are aged past their retention and bulk runs again while the alarm
// deletes them.
if (wanted("growth") || wanted("retention")) {
  const grownDir = migratedStateDir("bench-growth");
  console.log(`  seeding ${GROWTH_ROWS} finished tasks…`);
  const seeded = performance.now();
  seedFinishedTasks(grownDir, GROWTH_ROWS);
  console.log(`  seeded in ${((performance.now() - seeded) / 1000).toFixed(0)} s`);
  if (wanted("growth")) {
    await withServer(grownDir, async (base, cpuMs) => {
      await bulk(base, { total: 1000 });
      results.growth_reads = await repeat("growth reads", () => reads(base, READS));
      results.growth_bulk = await repeat("growth bulk", () => bulk(base, { cpuMs }));
      results.growth_bulk_submit_only = await repeat("growth bulk submit only", () => bulk(base, { cpuMs, dispatch: false }));
      results.growth_latency = await repeat("growth latency", () => latency(base, 50, SECONDS * 1000));
    });
  }
  if (wanted("retention")) {
    ageSeededTasks(grownDir, 8 * DAY_MS);
    await withServer(grownDir, async (base, cpuMs) => {
      await prunedTotal(base); // the first request arms the alarm
      await bulk(base, { total: 1000 });
      results.retention_bulk = await repeat("bulk while retention deletes", () => bulkWhileRetention(base, cpuMs));
    });
  }
}

// Write cost of each list/retention index: the bulk pipeline's runtime CPU per task with all of
// them, then with one dropped at a time, each on fresh state.
if (wanted("index_cost")) {
  for (const drop of [null, ...INDEXES]) {
    const dir = migratedStateDir("bench-index");
    if (drop) d1Execute(dir, `DROP INDEX ${drop}`);
    await withServer(dir, async (base, cpuMs) => {
      await bulk(base, { total: 1000 });
      results[`index_cost_${drop ?? "all"}`] = await repeat(drop ? `bulk without ${drop}` : "bulk with every index", () => bulk(base, { cpuMs }));
    });
  }
}

// I/O-bound tasks on the fixture Worker (its own task types) against a loopback server in this
// process: 1,000 tasks that each wait 1 s on one request → wall time, and how many waited at once.
if (wanted("io")) {
  const loopback = await startLoopback();
  try {
    await withServer(
      migratedStateDir("bench-io"),
      async (base) => {
        await io(base, loopback, { total: 100, ms: 100 }); // warm-up: isolates, DOs, the fixture's types
        results.io = await repeat("io (1,000 × 1 s fetch)", () => io(base, loopback));
      },
      { entry: IO_ENTRY, vars: { LOOPBACK_ORIGIN: loopback.origin } },
    );
  } finally {
    await loopback.close();
  }
}

// Pull workers: 10,000 no-op tasks of a pull type drained by 1, then 4, Node pull workers (each
// a process of its own running the package's runPullWorker, 32 tasks at once) → tasks/s and the
// lease call's round trip. Each run on fresh state, so no run inherits another's rows.
if (wanted("pull")) {
  execFileSync("npm", ["run", "--silent", "build:pull-worker"], { stdio: "inherit" });
  for (const workers of [1, 4]) {
    results[`pull_${workers}`] = await repeat(`pull (10,000 tasks, ${workers} worker${workers > 1 ? "s" : ""})`, () =>
      withServer(migratedStateDir("bench-pull"), async (base) => {
        await pull(base, { workers, total: 200 }); // warm-up: isolates, DOs, the claim's statements
        return pull(base, { workers });
      }, { vars: PULL_VARS }),
    );
  }
}

// HTTP executor: 1,000 tasks POSTed by the Worker to the loopback server (answers after 100 ms)
// → tasks/s and the most requests open at once there.
if (wanted("http")) {
  const loopback = await startLoopback();
  try {
    await withServer(
      migratedStateDir("bench-http"),
      async (base) => {
        await httpExec(base, loopback, { total: 100 }); // warm-up
        results.http = await repeat("http executor (1,000 × 100 ms POST)", () => httpExec(base, loopback));
      },
      { vars: httpVars(loopback, 100) },
    );
  } finally {
    await loopback.close();
  }
}

/** `a` ÷ `b` of the medians of one figure, when both scenarios ran. */
const ratio = (a, b, key = "tasks_per_s") => (a && b ? a[key].median / b[key].median : undefined);
const READ_KEYS = results.reads ? Object.keys(results.reads) : [];
const ratios = {
  bulk_100k_vs_10k_tasks_per_s: ratio(results.bulk_100k, results.bulk),
  growth_bulk_vs_empty_tasks_per_s: ratio(results.growth_bulk, results.bulk),
  growth_submit_vs_empty_tasks_per_s: ratio(results.growth_bulk_submit_only, results.bulk_submit_only),
  retention_bulk_vs_growth_tasks_per_s: ratio(results.retention_bulk, results.growth_bulk),
  // Latencies: 1 M rows ÷ empty (≤ 1.5 is the target).
  ...Object.fromEntries(READ_KEYS.map((k) => [`growth_${k}_vs_empty`, ratio(results.growth_reads, results.reads, k)])),
};

const require = createRequire(import.meta.url);
const report = {
  at: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memory_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
  versions: { wrangler: require("wrangler/package.json").version, miniflare: require("miniflare/package.json").version },
  runs: RUNS,
  scenario_seconds: SECONDS,
  growth_rows: GROWTH_ROWS,
  /** Requests the local runtime answered "worker restarted mid-request" and the client sent again. */
  worker_restarts: restarts.count,
  results,
  ratios,
};
const partial = !SCENARIOS.every(wanted);
if (!partial) writeFileSync(new URL("./results.json", import.meta.url), `${JSON.stringify(report, null, 2)}\n`);

const fmt = (s) => `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
const r = results;
const rows = [
  ...Object.entries(r.row_cost ?? {}).map(([kind, c]) => [
    `D1 rows per task, ${kind}: written (submit / run / delete) · read`,
    `${c.written.total} (${c.written.submit} / ${c.written.run} / ${c.written.delete}) · ${c.read.total}`,
  ]),
  ...Object.entries(r.row_cost ?? {}).slice(0, 1).map(([, c]) => ["D1 rows the alarm's fold of one minute's rollups writes (per minute and type, not per task)", String(c.fold.written)]),
  ...(r.storage ?? []).flatMap((st) => [
    [`bytes stored per finished task (params ${Math.round(st.params_bytes)} B, result ${Math.round(st.result_bytes)} B)`, String(st.bytes_per_task)],
    ["… by table / index", Object.entries(st.by_object).map(([k, v]) => `${k} ${v}`).join(", ")],
  ]),
  ...(r.bulk
    ? [
        ["bulk 10k tasks/s", fmt(r.bulk.tasks_per_s)],
        ["bulk 10k seconds", fmt(r.bulk.seconds)],
      ]
    : []),
  ...(r.bulk_100k
    ? [
        ["bulk 100k tasks/s", fmt(r.bulk_100k.tasks_per_s)],
        ["bulk 100k seconds", fmt(r.bulk_100k.seconds)],
      ]
    : []),
  ...(ratios.bulk_100k_vs_10k_tasks_per_s === undefined ? [] : [["bulk 100k ÷ 10k tasks/s", `${ratios.bulk_100k_vs_10k_tasks_per_s.toFixed(2)}×`]]),
  ...(r.bulk_submit_only ? [["bulk submission only (no dispatch) tasks/s", fmt(r.bulk_submit_only.tasks_per_s)]] : []),
  ...(r.bulk_escalating
    ? [
        ["bulk escalating mix (⅓ escalate to 3 stored steps) tasks/s", fmt(r.bulk_escalating.tasks_per_s)],
        ...(r.bulk_escalating.runtime_cpu_us_per_task ? [["… runtime CPU µs/task", fmt(r.bulk_escalating.runtime_cpu_us_per_task)]] : []),
      ]
    : []),
  ...(r.bulk?.runtime_cpu_us_per_task
    ? [["bulk runtime CPU µs/task (busy % of one core)", `${fmt(r.bulk.runtime_cpu_us_per_task)} (${fmt(r.bulk.runtime_busy_pct)})`]]
    : []),
  ...(r.bulk_100k?.runtime_cpu_us_per_task
    ? [["bulk 100k runtime CPU µs/task (busy % of one core)", `${fmt(r.bulk_100k.runtime_cpu_us_per_task)} (${fmt(r.bulk_100k.runtime_busy_pct)})`]]
    : []),
  ...(r.bulk_submit_only?.runtime_cpu_us_per_task ? [["… of which submission µs/task", fmt(r.bulk_submit_only.runtime_cpu_us_per_task)]] : []),
  ...(r.single
    ? [
        ["single POST req/s (64 conc.)", fmt(r.single.req_per_s)],
        ["single POST p50 / p99 ms", `${fmt(r.single.p50_ms)} / ${fmt(r.single.p99_ms)}`],
        ["single completions/s", fmt(r.single.completions_per_s)],
      ]
    : []),
  ...(r.latency ? [["latency 50/s p50 / p99 ms", `${fmt(r.latency.p50_ms)} / ${fmt(r.latency.p99_ms)}`]] : []),
  ...(r.keys
    ? [
        ["keys: 10k tasks on 100 keys of limit 5, tasks/s", fmt(r.keys.tasks_per_s)],
        ["keys: most running per key observed (limit 5)", fmt(r.keys.max_running_per_key)],
      ]
    : []),
  ...(r.growth_bulk
    ? [
        [`growth (${GROWTH_ROWS} rows) bulk tasks/s`, fmt(r.growth_bulk.tasks_per_s)],
        [`growth latency p50 / p99 ms`, `${fmt(r.growth_latency.p50_ms)} / ${fmt(r.growth_latency.p99_ms)}`],
      ]
    : []),
  ...(ratios.growth_bulk_vs_empty_tasks_per_s === undefined ? [] : [["growth bulk vs empty", `${(ratios.growth_bulk_vs_empty_tasks_per_s * 100).toFixed(0)} %`]]),
  ...(r.growth_bulk_submit_only ? [[`growth submission only tasks/s`, fmt(r.growth_bulk_submit_only.tasks_per_s)]] : []),
  ...(ratios.growth_submit_vs_empty_tasks_per_s === undefined ? [] : [["growth submission vs empty", `${(ratios.growth_submit_vs_empty_tasks_per_s * 100).toFixed(0)} %`]]),
  ...READ_KEYS.filter((k) => r.growth_reads?.[k]).map((k) => [`${k.replace(/_ms$/, "")} ms: empty → ${GROWTH_ROWS} rows`, `${fmt(r.reads[k])} → ${fmt(r.growth_reads[k])} (${ratios[`growth_${k}_vs_empty`].toFixed(2)}×)`]),
  ...(r.retention_bulk
    ? [
        ["bulk tasks/s while retention deletes", fmt(r.retention_bulk.tasks_per_s)],
        ...(ratios.retention_bulk_vs_growth_tasks_per_s === undefined ? [] : [["… vs growth bulk", `${(ratios.retention_bulk_vs_growth_tasks_per_s * 100).toFixed(0)} %`]]),
        ["retention rows deleted meanwhile, per s (per window)", `${fmt(r.retention_bulk.pruned_per_s)} (${fmt(r.retention_bulk.pruned)})`],
      ]
    : []),
  ...(r.io
    ? [
        ["io: 1,000 tasks × 1 s fetch, seconds until all terminal (target ≤ 20)", fmt(r.io.seconds)],
        ["io: completed / failed", `${fmt(r.io.completed)} / ${fmt(r.io.failed)}`],
        ["io: peak concurrent requests at the loopback server (mean over the run)", `${fmt(r.io.peak_concurrency)} (${fmt(r.io.mean_concurrency)})`],
      ]
    : []),
  ...[1, 4].filter((n) => r[`pull_${n}`]).flatMap((n) => [
    [`pull: 10,000 no-op tasks, ${n} Node worker${n > 1 ? "s" : ""} × 32, tasks/s`, fmt(r[`pull_${n}`].tasks_per_s)],
    [`pull: ${n} worker${n > 1 ? "s" : ""}, lease round trip p50 / p99 ms (tasks per lease call)`, `${fmt(r[`pull_${n}`].lease_p50_ms)} / ${fmt(r[`pull_${n}`].lease_p99_ms)} (${fmt(r[`pull_${n}`].tasks_per_lease)})`],
  ]),
  ...(r.http
    ? [
        ["http executor: 1,000 tasks × 100 ms loopback POST, tasks/s", fmt(r.http.tasks_per_s)],
        ["http executor: completed / failed", `${fmt(r.http.completed)} / ${fmt(r.http.failed)}`],
        ["http executor: peak concurrent requests at the loopback server", fmt(r.http.peak_concurrency)],
      ]
    : []),
  ...["all", ...INDEXES].filter((k) => r[`index_cost_${k}`]).map((k) => [`bulk runtime CPU µs/task, ${k === "all" ? "all indexes" : `without ${k}`}`, fmt(r[`index_cost_${k}`].runtime_cpu_us_per_task)]),
];
console.log(`\nmedian (min–max) of ${RUNS} runs; ${restarts.count} request(s) retried after "worker restarted mid-request"\n`);
console.log("| scenario | result |\n| --- | --- |");
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
console.log(partial ? `\npartial run (BENCH_ONLY=${ONLY.join(",")}): bench/results.json left as it was` : "\nwrote bench/results.json");
process.exit(0);
