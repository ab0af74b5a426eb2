// npm run bench: starts the Worker itself (no inspector) on fresh state, runs every scenario
// three times, prints a table and writes bench/results.json with medians and min–max.
import { writeFileSync } from "node:fs";
import os from "node:os";
import { createRequire } from "node:module";
import { failAfter, freePort, migratedStateDir, spawnServer } from "../scripts/dev-server.mjs";
import { median, runtimeCpuMs } from "./lib.mjs";
import { bulk, latency, single } from "./scenarios.mjs";
import { seedFinishedTasks } from "./seed.mjs";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const GROWTH_ROWS = Number(process.env.BENCH_GROWTH_ROWS ?? 200_000);

failAfter(600_000, "bench");

/** The Worker runs in its own process, so the load client's event loop is not the server's. */
async function withServer(persistDir, fn) {
  const port = await freePort();
  const server = await spawnServer(port, persistDir);
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
const emptyDir = migratedStateDir("bench");
await withServer(emptyDir, async (base, cpuMs) => {
  await bulk(base, { total: 1000 }); // warm-up: isolates, DOs, SQLite pages
  results.bulk = await repeat("bulk", () => bulk(base, { cpuMs }));
  results.bulk_submit_only = await repeat("bulk submit only", () => bulk(base, { cpuMs, dispatch: false }));
  results.single = await repeat("single", () => single(base, SECONDS * 1000));
  results.latency = await repeat("latency", () => latency(base, 50, SECONDS * 1000));
});

const grownDir = migratedStateDir("bench-growth");
console.log(`  seeding ${GROWTH_ROWS} finished tasks…`);
seedFinishedTasks(grownDir, GROWTH_ROWS);
await withServer(grownDir, async (base, cpuMs) => {
  await bulk(base, { total: 1000 });
  results.growth_bulk = await repeat("growth bulk", () => bulk(base, { cpuMs }));
  results.growth_latency = await repeat("growth latency", () => latency(base, 50, SECONDS * 1000));
});

const require = createRequire(import.meta.url);
const report = {
  at: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memory_gb: Math.round(os.totalmem() / 2 ** 30), node: process.version },
  versions: { wrangler: require("wrangler/package.json").version, miniflare: require("miniflare/package.json").version },
  runs: RUNS,
  scenario_seconds: SECONDS,
  growth_rows: GROWTH_ROWS,
  results,
};
writeFileSync(new URL("./results.json", import.meta.url), `${JSON.stringify(report, null, 2)}\n`);

const fmt = (s) => `${s.median.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
const r = results;
const rows = [
  ["bulk 10k tasks/s", fmt(r.bulk.tasks_per_s)],
  ["bulk 10k seconds", fmt(r.bulk.seconds)],
  ["bulk submission only (no dispatch) tasks/s", fmt(r.bulk_submit_only.tasks_per_s)],
  ...(r.bulk.runtime_cpu_us_per_task
    ? [
        ["bulk runtime CPU µs/task (busy % of one core)", `${fmt(r.bulk.runtime_cpu_us_per_task)} (${fmt(r.bulk.runtime_busy_pct)})`],
        ["… of which submission µs/task", fmt(r.bulk_submit_only.runtime_cpu_us_per_task)],
      ]
    : []),
  ["single POST req/s (64 conc.)", fmt(r.single.req_per_s)],
  ["single POST p50 / p99 ms", `${fmt(r.single.p50_ms)} / ${fmt(r.single.p99_ms)}`],
  ["single completions/s", fmt(r.single.completions_per_s)],
  ["latency 50/s p50 / p99 ms", `${fmt(r.latency.p50_ms)} / ${fmt(r.latency.p99_ms)}`],
  [`growth (${GROWTH_ROWS} rows) bulk tasks/s`, fmt(r.growth_bulk.tasks_per_s)],
  [`growth latency p50 / p99 ms`, `${fmt(r.growth_latency.p50_ms)} / ${fmt(r.growth_latency.p99_ms)}`],
  ["growth bulk vs empty", `${((r.growth_bulk.tasks_per_s.median / r.bulk.tasks_per_s.median) * 100).toFixed(0)} %`],
];
console.log(`\nmedian (min–max) of ${RUNS} runs\n`);
console.log("| scenario | result |\n| --- | --- |");
for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
console.log("\nwrote bench/results.json");
process.exit(0);
