import { sleep } from "../scripts/dev-server.mjs";
import { closedLoop, getBody, getText, percentile, postJson, sequential, tasksSince, waitDrained } from "./lib.mjs";
import { SEED_DOMAIN } from "./seed.mjs";

const NOOP = { type: "ping" };
/**
 * The escalating mix: at drift 0.35 the OCPS valve trips on every third task, which then runs a
 * three-step decomposition (plan → do → analyze) with each step stored; the rest take the fast path.
 */
export const ESCALATING = { type: "general_query", description: "what is 2+2?", drift_score: 0.35, params: { force_decomposition: true } };

/**
 * 1. Bulk: `total` (10,000; the backlog scenario 100,000) tasks via POST /tasks/batch (100 a call,
 * 4 callers) → time until all completed. With `dispatch: false` the tasks are stored but not
 * queued, which isolates the submission cost. `cpuMs` (see runtimeCpuMs) adds the runtime's CPU
 * per task and its busy share of one core. Draining may take `drainMs` (at least 500 tasks/s).
 */
export async function bulk(base, { total = 10_000, dispatch = true, cpuMs = () => null, drainMs = Math.max(120_000, total * 2), kind = NOOP, taskFor } = {}) {
  const calls = total / 100;
  const task = dispatch ? kind : { ...kind, run_immediately: false };
  const batch = () => Array.from({ length: 100 }, (_, i) => (taskFor ? taskFor(i) : task));
  let next = 0;
  const cpu0 = cpuMs();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < calls) {
        next++;
        await postJson(base, "/tasks/batch", { tasks: batch() });
      }
    }),
  );
  const submittedMs = performance.now() - t0;
  if (dispatch) await waitDrained(base, drainMs);
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = cpuMs();
  const cpu =
    cpu0 === null || cpu1 === null
      ? {}
      : { runtime_cpu_us_per_task: ((cpu1 - cpu0) * 1000) / total, runtime_busy_pct: (cpu1 - cpu0) / seconds / 10 };
  return { tasks: total, seconds, tasks_per_s: total / seconds, submit_ms: submittedMs, ...cpu };
}

/** 2. Single: POST /tasks at 64 concurrent for `durationMs` → request rate, p50/p99, completions/s. */
export async function single(base, durationMs = 20_000) {
  const start = Date.now();
  const latencies = await closedLoop(64, durationMs, () => postJson(base, "/tasks", NOOP));
  const end = Date.now();
  const seconds = (end - start) / 1000;
  await waitDrained(base, 120_000);
  const tasks = await tasksSince(base, start);
  const completedInWindow = tasks.filter((t) => t.status === "completed" && Date.parse(t.updated_at) <= end).length;
  return {
    requests: latencies.length,
    req_per_s: latencies.length / seconds,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    completions_per_s: completedInWindow / seconds,
    completion_ratio: completedInWindow / latencies.length,
  };
}

/** 3. Latency: a steady `rate` tasks/s for `durationMs` → submit-to-completed p50/p99 from task times. */
export async function latency(base, rate = 50, durationMs = 20_000) {
  const start = Date.now();
  const total = Math.round((rate * durationMs) / 1000);
  const pending = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
    // Settled at once, so a failure is reported after the loop rather than as an unhandled rejection.
    pending.push(postJson(base, "/tasks", NOOP).then(() => null, (err) => err));
  }
  const failed = (await Promise.all(pending)).find((err) => err !== null);
  if (failed) throw failed;
  await waitDrained(base, 60_000);
  const tasks = await tasksSince(base, start);
  const lat = tasks
    .filter((t) => t.status === "completed")
    .map((t) => Date.parse(t.updated_at) - Date.parse(t.created_at))
    .sort((a, b) => a - b);
  return { tasks: lat.length, p50_ms: percentile(lat, 50), p99_ms: percentile(lat, 99) };
}

/**
 * 4. Reads and small writes, one request at a time, `n` of each → p50/p99 per kind: the scrape,
 * the dashboard's poll, the task list (plain, each filter, a second page), a short-id lookup,
 * one submission, and one bulk call. 100 tasks of SEED_DOMAIN are added first, so the domain
 * filter has matches on an empty database too.
 */
export async function reads(base, n = 200) {
  const { items } = await postJson(base, "/tasks/batch", { tasks: Array.from({ length: 100 }, () => ({ ...NOOP, domain: SEED_DOMAIN, run_immediately: false })) });
  const prefix = items[0].id.slice(0, 8);
  const { next_cursor: cursor } = await getBody(base, `/tasks?domain=${SEED_DOMAIN}&limit=50`);
  const kinds = {
    metrics: () => getText(base, "/metrics"),
    stats: () => getBody(base, "/stats?minutes=60"),
    list: () => getBody(base, "/tasks?limit=50"),
    list_status: () => getBody(base, "/tasks?status=completed&limit=50"),
    list_type: () => getBody(base, "/tasks?type=ping&limit=50"),
    list_domain: () => getBody(base, `/tasks?domain=${SEED_DOMAIN}&limit=50`),
    list_page_2: () => getBody(base, `/tasks?domain=${SEED_DOMAIN}&limit=50&cursor=${cursor}`),
    prefix: () => getBody(base, `/tasks/${prefix}`),
    submit: () => postJson(base, "/tasks", { ...NOOP, run_immediately: false }),
    // Nothing has failed: the cost of one bulk call that finds nothing to do.
    bulk_retry: () => postJson(base, "/tasks/bulk/retry", { status: "failed", limit: 1000 }),
  };
  const out = {};
  for (const [kind, fn] of Object.entries(kinds)) {
    const { p50, p99 } = await sequential(n, fn);
    out[`${kind}_p50_ms`] = p50;
    out[`${kind}_p99_ms`] = p99;
  }
  return out;
}

/**
 * 5. Keys: the bulk scenario with every task on one of `keys` concurrency keys of limit `limit`
 * (100 × 5) → tasks/s, and the most tasks of one key seen running at once, sampled from
 * GET /concurrency-keys every 20 ms while the backlog drains (never above `limit` if the claim
 * keeps its promise). The tasks sleep 20 ms, so a running task stays running long enough to be seen.
 */
export async function keyed(base, { total = 10_000, keys = 100, limit = 5, cpuMs } = {}) {
  let maxRunning = 0;
  let samples = 0;
  let sampling = true;
  const sampler = (async () => {
    const deadline = Date.now() + 300_000;
    while (sampling && Date.now() < deadline) {
      const page = await getBody(base, `/concurrency-keys?limit=${Math.min(200, keys)}`);
      for (const k of page.items) if (k.key.startsWith("bench-key-")) maxRunning = Math.max(maxRunning, k.running);
      samples++;
      await sleep(20);
    }
  })();
  let n = 0;
  const taskFor = () => ({ type: "sleep", params: { ms: 20 }, concurrency_key: `bench-key-${n++ % keys}`, concurrency_limit: limit });
  try {
    const r = await bulk(base, { total, cpuMs, taskFor });
    return { ...r, max_running_per_key: maxRunning, samples };
  } finally {
    sampling = false;
    await sampler;
  }
}

/** The fixture Worker of the `io` scenario (its own task types; see scripts/fixtures/work-worker.ts). */
export const IO_ENTRY = "scripts/fixtures/work-worker.ts";

/**
 * 6. I/O-bound: `total` (1,000) `fixture_io` tasks, each waiting on one loopback request that
 * answers after `ms` (1,000) ms, submitted as in bulk (100 per POST /tasks/batch, 4 callers) →
 * wall time until every one is terminal, completed and failed counts, and the most requests the
 * loopback server saw open at once (`loopback`: scripts/fixtures/loopback.mjs, in this process).
 * Every task waits the same second, so the time past one second is the dispatcher's doing:
 * 1,000 tasks in ≤ 20 s needs ≥ 50 of them waiting at once.
 */
export async function io(base, loopback, { total = 1000, ms = 1000, drainMs = 300_000 } = {}) {
  loopback.resetSlow();
  const before = (await getBody(base, "/stats?minutes=1")).by_status;
  const t0 = performance.now();
  const submitMs = await submitBatches(base, total, "fixture_io", { ms });
  await waitDrained(base, drainMs);
  const seconds = (performance.now() - t0) / 1000;
  const after = (await getBody(base, "/stats?minutes=1")).by_status;
  const delta = (s) => (after[s] ?? 0) - (before[s] ?? 0);
  return {
    tasks: total,
    seconds,
    completed: delta("completed"),
    failed: delta("failed"),
    peak_concurrency: loopback.slow.peak,
    // Tasks waiting at once on average: the waits' total over the wall time.
    mean_concurrency: (total * ms) / 1000 / seconds,
    served: loopback.slow.served,
    submit_ms: submitMs,
  };
}

/** The pull scenario's task type: leased by pull workers only (TASK_EXECUTORS, see PULL_VARS). */
export const PULL_TYPE = "bench_pull_noop";
/** The http scenario's task type: POSTed to the bench's loopback server (httpVars). */
export const HTTP_TYPE = "bench_http";
export const PULL_VARS = { TASK_EXECUTORS: JSON.stringify({ [PULL_TYPE]: { kind: "pull" } }) };
/** The http executor's endpoint is the loopback server's /slow (answers after `ms`, counts requests open at once). */
export const httpVars = (loopback, ms) => ({
  TASK_EXECUTORS: JSON.stringify({ [HTTP_TYPE]: { kind: "http", url: `${loopback.origin}/slow?ms=${ms}` } }),
  EXECUTOR_ALLOW_LOOPBACK: "true",
  WEBHOOK_SECRET: "bench-webhook-secret",
});

/** Submits `total` tasks of `type` (100 per POST /tasks/batch, 4 callers) → ms it took. */
async function submitBatches(base, total, type, params = {}) {
  const calls = Math.ceil(total / 100);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < calls) {
        const n = Math.min(100, total - next * 100);
        next++;
        await postJson(base, "/tasks/batch", { tasks: Array.from({ length: n }, () => ({ type, params })) });
      }
    }),
  );
  return performance.now() - t0;
}

/**
 * 7. Pull: `total` (10,000) no-op tasks of a pull type submitted first (the dispatcher never takes
 * them), then `workers` Node pull workers (scripts/pull-worker-child.mjs, the package's
 * runPullWorker, each `concurrency` tasks at once, in processes of their own) drain them → tasks/s
 * from the workers' start to drained, and the lease call's round trip p50/p99 over the calls that
 * brought tasks (timed in the workers). Needs dist/pull-worker.mjs (npm run build:pull-worker).
 */
export async function pull(base, { workers = 1, total = 10_000, concurrency = 32, drainMs = 600_000 } = {}) {
  const submitMs = await submitBatches(base, total, PULL_TYPE);
  const { spawn } = await import("node:child_process");
  const children = Array.from({ length: workers }, (_, i) => {
    const child = spawn(process.execPath, ["scripts/pull-worker-child.mjs", base, `bench-${i}`, "-", String(concurrency), "0", "", "60", PULL_TYPE], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, PULL_CHILD_STATS: "1" },
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const exited = new Promise((resolve) => child.once("exit", (code) => resolve({ out, code })));
    const ready = new Promise((resolve, reject) => {
      child.stdout.on("data", () => out.includes("leasing from") && resolve());
      exited.then(({ code }) => reject(new Error(`pull worker bench-${i} exited (${code}) before leasing`)));
    });
    return { child, ready, exited };
  });
  const t0 = performance.now();
  try {
    await Promise.all(children.map((c) => c.ready));
    // A worker that dies (a 400 from the server) ends the wait instead of draining nothing.
    const died = Promise.race(children.map((c) => c.exited.then(({ code }) => Promise.reject(new Error(`a pull worker exited (${code}) while draining`)))));
    await Promise.race([waitDrained(base, drainMs), died]);
  } finally {
    for (const c of children) c.child.kill("SIGTERM");
  }
  const seconds = (performance.now() - t0) / 1000;
  const lease = [];
  let leased = 0;
  for (const { out } of await Promise.all(children.map((c) => c.exited))) {
    const line = out.split("\n").find((l) => l.startsWith("STATS "));
    if (!line) continue;
    const s = JSON.parse(line.slice(6));
    lease.push(...s.lease_ms);
    leased += s.tasks;
  }
  lease.sort((a, b) => a - b);
  return {
    tasks: total,
    seconds,
    tasks_per_s: total / seconds,
    lease_calls: lease.length,
    tasks_per_lease: leased / Math.max(1, lease.length),
    lease_p50_ms: percentile(lease, 50),
    lease_p99_ms: percentile(lease, 99),
    submit_ms: submitMs,
  };
}

/**
 * 8. HTTP executor: `total` (1,000) tasks of a type TASK_EXECUTORS sends to the loopback server
 * (/slow, answering after `ms` = 100 ms) → tasks/s from the first submission until all are
 * terminal, completed/failed counts, and the most requests the loopback server saw open at once.
 */
export async function httpExec(base, loopback, { total = 1000, ms = 100, drainMs = 300_000 } = {}) {
  loopback.resetSlow();
  const before = (await getBody(base, "/stats?minutes=1")).by_status;
  const t0 = performance.now();
  const submitMs = await submitBatches(base, total, HTTP_TYPE);
  await waitDrained(base, drainMs);
  const seconds = (performance.now() - t0) / 1000;
  const after = (await getBody(base, "/stats?minutes=1")).by_status;
  const delta = (s) => (after[s] ?? 0) - (before[s] ?? 0);
  return {
    tasks: total,
    seconds,
    tasks_per_s: total / seconds,
    completed: delta("completed"),
    failed: delta("failed"),
    peak_concurrency: loopback.slow.peak,
    served: loopback.slow.served,
    submit_ms: submitMs,
  };
}
