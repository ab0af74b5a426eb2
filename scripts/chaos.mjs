// npm run chaos: 500 tasks, SIGKILL the server's whole process group mid-run, restart it on the
// same state, and require every task to end terminal with none lost, none left running and
// attempts ≤ max_attempts. Prints the counts by status and the recovery time.
// `--kills N` (npm run chaos:3 = 3) kills and restarts N times, each while a sleep task runs.
import { parseArgs } from "node:util";
import { failAfter, freePort, getJson, migratedStateDir, scrapeMetrics, sleep, spawnServer } from "./dev-server.mjs";

const KILLS = Number(parseArgs({ options: { kills: { type: "string", default: "1" } } }).values.kills);
if (!Number.isInteger(KILLS) || KILLS < 1 || KILLS > 4) {
  console.error("usage: node scripts/chaos.mjs [--kills N]   (N = 1..4)");
  process.exit(2);
}
const TOTAL = 500;
const VARS = {
  // A kill costs every task of the pass in flight one attempt (the reaper counts it), on top of
  // a flaky task's two failures: with 3 + KILLS attempts no task fails for the kills alone.
  MAX_TASK_ATTEMPTS: 3 + KILLS,
  // 500 tasks and the status polls arrive faster than the production rate limit allows.
  RATE_LIMIT_ENABLED: "false",
  TASK_LEASE_S: 5,
  HEARTBEAT_S: 1,
  REAPER_INTERVAL_S: 1,
  SWEEP_AFTER_S: 2,
  RETRY_BASE_S: 1,
  RETRY_MAX_S: 4,
  DISPATCH_TIMEOUT_S: 10,
};
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
/** After the restart: lease + two reaper ticks for nothing to be `running` from before the kill. */
const STUCK_BOUND_MS = (VARS.TASK_LEASE_S + 2 * VARS.REAPER_INTERVAL_S) * 1000;
const RECOVERY_BUDGET_MS = 90_000;
/** How long to wait, before each kill, for the work to reach its point and for a sleep task to run. */
const KILL_WAIT_MS = 20_000;

failAfter(140_000 + 30_000 * KILLS, "chaos");

const persistDir = migratedStateDir("chaos");
const port = await freePort();
const base = `http://127.0.0.1:${port}`;

const startServer = () => spawnServer(port, persistDir, VARS);

function killGroup(child) {
  process.kill(-child.pid, "SIGKILL");
}

/** Deterministic mix: instant, sleep 200–2,000 ms, flaky (fails once or twice). */
function taskFor(i) {
  switch (i % 5) {
    case 0:
    case 1:
      return { type: "test_task", params: { i } };
    case 2:
      return { type: "general_query", description: `what is ${i}*2?` };
    case 3:
      return { type: "sleep", params: { ms: 200 + ((i * 37) % 1801) } };
    default:
      return { type: "flaky", params: { fail_times: 1 + (i % 2) } };
  }
}

async function pool(items, concurrency, fn) {
  let next = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}

async function statuses(ids) {
  const out = new Map();
  await pool(ids, 16, async (id) => {
    const { status, body } = await getJson(base, `/tasks/${id}`);
    if (status !== 200) throw new Error(`GET /tasks/${id} answered ${status}`);
    out.set(id, body);
  });
  return out;
}

let server = await startServer();
const ids = [];
await pool(
  Array.from({ length: TOTAL }, (_, i) => i),
  16,
  async (i) => {
    const { status, body } = await getJson(base, "/tasks", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(taskFor(i)),
    });
    if (status !== 201) throw new Error(`POST /tasks answered ${status}: ${JSON.stringify(body)}`);
    ids.push(body.id);
  },
);
console.log(`chaos: submitted ${ids.length} tasks`);

const count = (m) => {
  const c = {};
  for (const t of m.values()) c[t.status] = (c[t.status] ?? 0) + 1;
  return c;
};
const metricFailures = [];
/** Tasks finished (completed, failed or cancelled), from one cheap GET /stats. */
async function finishedCount() {
  const { status, body } = await getJson(base, "/stats?minutes=1");
  if (status !== 200) throw new Error(`GET /stats answered ${status}`);
  return [...TERMINAL].reduce((n, s) => n + (body.by_status[s] ?? 0), 0);
}
let killedAt = 0;
let restartedAt = 0;
for (let kill = 1; kill <= KILLS; kill++) {
  // Kill once work is under way: the first time at 20 % finished; after a restart as soon as the
  // new server runs a pass (500 tasks drain within seconds of a restart, so waiting for more
  // progress would leave nothing to kill). Each time a sleep task claimed since the last kill
  // must be mid-run, so the reaper's lease path is exercised, not just the sweeper's.
  let done = await finishedCount();
  for (const until = Date.now() + KILL_WAIT_MS; kill === 1 && done < TOTAL * 0.2 && Date.now() < until; done = await finishedCount()) {
    await sleep(50);
  }
  // /metrics mid-run: every accepted task is counted in exactly one status.
  {
    const m = await scrapeMetrics(base);
    const counted = [...m].filter(([k]) => k.startsWith("seedcore_tasks{")).reduce((n, [, v]) => n + v, 0);
    if (counted !== TOTAL) metricFailures.push(`/metrics before kill ${kill} counts ${counted} tasks, not ${TOTAL}`);
  }
  // After a restart the work comes back through the sweeper and, for the tasks the kill left
  // running, the reaper (lease + backoff): allow for both before giving up.
  let runningAtKill = 0;
  for (const until = Date.now() + KILL_WAIT_MS; runningAtKill === 0 && Date.now() < until; ) {
    const page = (await getJson(base, "/tasks?status=running&type=sleep&limit=200")).body;
    runningAtKill = (page.items ?? []).filter((t) => Date.parse(t.locked_at) > killedAt).length;
    if (runningAtKill === 0) await sleep(5);
  }
  if (runningAtKill === 0) {
    console.error(
      `chaos FAILED: no sleep task was running to kill mid-run (kill ${kill} of ${KILLS}, waited ${KILL_WAIT_MS} ms; tasks ${JSON.stringify(count(await statuses(ids)))}), so the reaper would go untested`,
    );
    process.exit(1);
  }
  killGroup(server);
  killedAt = Date.now();
  console.log(`chaos: kill ${kill}/${KILLS}: SIGKILL with ${runningAtKill} sleep tasks running (${done} of ${TOTAL} tasks finished)`);
  await sleep(500);

  server = await startServer();
  restartedAt = Date.now();
}
let failures = [];
let final;
let stuckChecked = false;
for (;;) {
  final = await statuses(ids);
  const elapsed = Date.now() - restartedAt;
  if (!stuckChecked && elapsed >= STUCK_BOUND_MS) {
    stuckChecked = true;
    const stuck = [...final.values()].filter((t) => t.status === "running" && Date.parse(t.locked_at) < restartedAt);
    if (stuck.length) failures.push(`${stuck.length} tasks still running from before the last kill after ${STUCK_BOUND_MS} ms`);
  }
  if ([...final.values()].every((t) => TERMINAL.has(t.status))) break;
  if (elapsed > RECOVERY_BUDGET_MS) {
    failures.push(`not all terminal after ${RECOVERY_BUDGET_MS} ms: ${JSON.stringify(count(final))}`);
    break;
  }
  await sleep(250);
}
const recoveryMs = Date.now() - restartedAt;
// /metrics after recovery tells the same counts as the database (counters come from task_events).
{
  const m = await scrapeMetrics(base);
  const db = count(final);
  const want = {
    ...Object.fromEntries(["created", "queued", "running", "completed", "failed", "retry", "cancelled"].map((s) => [`seedcore_tasks{status="${s}"}`, db[s] ?? 0])),
    seedcore_tasks_submitted_total: TOTAL,
    seedcore_tasks_completed_total: db.completed ?? 0,
    seedcore_tasks_failed_total: db.failed ?? 0,
  };
  for (const [k, v] of Object.entries(want)) if (m.get(k) !== v) metricFailures.push(`/metrics ${k} = ${m.get(k)}, database says ${v}`);
  const claims = [...final.values()].reduce((n, t) => n + t.attempts, 0);
  if (m.get("seedcore_tasks_claimed_total") !== claims) metricFailures.push(`/metrics claimed ${m.get("seedcore_tasks_claimed_total")}, sum of attempts ${claims}`);
  if (!(m.get("seedcore_tasks_reaped_total") >= 1)) {
    metricFailures.push("tasks were running at the kills, yet the reaper reaped none");
  }
  console.log(`chaos: /metrics claimed=${m.get("seedcore_tasks_claimed_total")} completed=${m.get("seedcore_tasks_completed_total")} retried=${m.get("seedcore_tasks_retried_total")} reaped=${m.get("seedcore_tasks_reaped_total")}`);
}
killGroup(server);
failures.push(...metricFailures);

if (final.size !== TOTAL) failures.push(`lost tasks: found ${final.size} of ${TOTAL}`);
const over = [...final.values()].filter((t) => t.attempts > t.max_attempts);
if (over.length) failures.push(`${over.length} tasks with attempts > max_attempts`);
const failed = [...final.values()].filter((t) => t.status === "failed");
if (failed.length) failures.push(`${failed.length} tasks failed, e.g. ${failed[0].type}: ${failed[0].error}`);

const mostAttempts = Math.max(...[...final.values()].map((t) => t.attempts));
console.log(
  `chaos: after ${KILLS === 1 ? "the restart" : `${KILLS} restarts`} ${JSON.stringify(count(final))}; all terminal ${recoveryMs} ms after the ${KILLS === 1 ? "" : "last "}restart; most attempts ${mostAttempts} of ${VARS.MAX_TASK_ATTEMPTS}`,
);
if (failures.length) {
  for (const f of failures) console.error(`chaos FAILED: ${f}`);
  process.exit(1);
}
console.log("chaos: OK — none lost, none running, attempts within bounds");
process.exit(0);
