// npm run storm: a submission storm behind a busy dispatcher. One 3 s `sleep` task occupies the
// consumer while 8 callers submit 30,000 `test_task` tasks through POST /tasks/batch (100 a
// call), so the next consumer pass meets a full backlog. Every one of the 30,001 tasks must
// complete, each claimed exactly once (/metrics), and none may be left `running`. Prints the
// submission throughput, the time to drain, the end-to-end rate and the final counts.
import { postJson } from "../bench/lib.mjs";
import { failAfter, freePort, getJson, migratedStateDir, scrapeMetrics, sleep, spawnServer } from "./dev-server.mjs";

const DEADLINE_MS = 180_000;
failAfter(DEADLINE_MS, "storm");
const scriptStart = Date.now();

const TOTAL = 30_000;
const PER_CALL = 100;
const CALLERS = 8;
const SLEEP_MS = 3_000;
const EXPECTED = TOTAL + 1;
// Only the rate limit is switched off (the load comes from one loopback client). TASK_LEASE_S
// stays at its 600 s default: a pass that loses its outcomes must show up as stuck `running`.
const VARS = { RATE_LIMIT_ENABLED: "false" };
/** Leave time before the hard deadline to scrape /metrics and report. */
const DRAIN_UNTIL = scriptStart + DEADLINE_MS - 15_000;
/**
 * Only `running` tasks left and no count moving for this long is a stall: a pass that lost its
 * outcomes leaves its tasks running until the 600 s lease, far past the deadline, so report it
 * at once. (Tasks left `queued` may be waiting for the sweeper, SWEEP_AFTER_S = 60 s: those get
 * the whole drain budget.)
 */
const STALL_MS = 30_000;
const UNFINISHED = ["created", "queued", "running", "retry"];

function fail(message) {
  console.error(`storm FAILED: ${message}`);
  process.exit(1);
}

const persistDir = migratedStateDir("storm");
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const server = await spawnServer(port, persistDir, VARS);
// The first D1 errors the Worker logs (SQLITE_TOOBIG and the like), to name the cause on failure.
const serverErrors = [];
for (const stream of [server.stdout, server.stderr]) {
  stream.on("data", (d) => {
    for (const line of String(d).replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim())) {
      if (serverErrors.length < 3 && !serverErrors.includes(line) && /TOOBIG|too big|D1_ERROR|dispatch pass failed/i.test(line)) serverErrors.push(line.slice(0, 300));
    }
  });
}
console.log(`storm: server up in ${((Date.now() - scriptStart) / 1000).toFixed(1)} s`);

async function stats() {
  const { status, body } = await getJson(base, "/stats?minutes=1").catch((err) => fail(`GET /stats: ${err.message}`));
  if (status !== 200) fail(`GET /stats answered ${status}: ${JSON.stringify(body)}`);
  return body;
}
const nonZero = (byStatus) => Object.fromEntries(Object.entries(byStatus).filter(([, n]) => n > 0));
const unfinished = (byStatus) => UNFINISHED.reduce((n, s) => n + (byStatus[s] ?? 0), 0);

// 1. Occupy the dispatcher: one sleep task, running before the storm starts.
const sleeper = await getJson(base, "/tasks", {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ type: "sleep", params: { ms: SLEEP_MS } }),
});
if (sleeper.status !== 201) fail(`POST /tasks (sleep) answered ${sleeper.status}: ${JSON.stringify(sleeper.body)}`);
for (let i = 0; ; i++) {
  const { body } = await getJson(base, `/tasks/${sleeper.body.id}/status`);
  if (body.status === "running") break;
  if (body.status !== "queued" || i >= 200) fail(`the ${SLEEP_MS} ms sleep task is ${body.status}, not running, ${i * 25} ms after submission`);
  await sleep(25);
}

// 2. The storm: 8 callers, 100 test_task tasks a call, while the sleep task holds the consumer.
const calls = TOTAL / PER_CALL;
let nextCall = 0;
const t0 = performance.now();
try {
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (nextCall < calls) {
        const i = nextCall++;
        const tasks = Array.from({ length: PER_CALL }, (_, j) => ({ type: "test_task", params: { i: i * PER_CALL + j } }));
        const body = await postJson(base, "/tasks/batch", { tasks });
        if (body.items?.length !== PER_CALL) throw new Error(`POST /tasks/batch #${i} returned ${body.items?.length} items, not ${PER_CALL}`);
      }
    }),
  );
} catch (err) {
  fail(`submission: ${err instanceof Error ? err.message : err}`);
}
const submitMs = performance.now() - t0;
console.log(`storm: submitted ${TOTAL} tasks in ${(submitMs / 1000).toFixed(2)} s (${Math.round(TOTAL / (submitMs / 1000))} tasks/s, ${CALLERS} callers)`);

// 3. Drain: poll /stats until nothing is created, queued, running or waiting to retry.
let last = await stats();
let lastChange = Date.now();
let stalled = false;
while (unfinished(last.by_status) > 0 && Date.now() < DRAIN_UNTIL) {
  await sleep(250);
  const now = await stats();
  if (JSON.stringify(now.by_status) !== JSON.stringify(last.by_status)) lastChange = Date.now();
  last = now;
  if (Date.now() - lastChange >= STALL_MS && unfinished(last.by_status) === (last.by_status.running ?? 0)) {
    stalled = true;
    break;
  }
}
const drainedMs = performance.now() - t0;
const drainS = ((drainedMs - submitMs) / 1000).toFixed(1);
const byStatus = last.by_status;
console.log(`storm: final counts ${JSON.stringify(nonZero(byStatus))} (total ${last.total})`);

const failures = [];
if (unfinished(byStatus) > 0) {
  const why = stalled ? `no count moved for ${STALL_MS / 1000} s` : "the drain budget ran out";
  if (byStatus.running) failures.push(`${byStatus.running} tasks still running after ${drainS} s (${why}; the lease is 600 s)`);
  const waiting = unfinished(byStatus) - (byStatus.running ?? 0);
  if (waiting) failures.push(`${waiting} tasks still created/queued/retry after ${drainS} s (${why})`);
} else {
  console.log(`storm: drained ${drainS} s after the last submission; end to end ${(drainedMs / 1000).toFixed(1)} s = ${Math.round(EXPECTED / (drainedMs / 1000))} tasks/s`);
}
if (last.total !== EXPECTED) failures.push(`the database holds ${last.total} tasks, not ${EXPECTED}`);
if ((byStatus.completed ?? 0) !== EXPECTED) failures.push(`${byStatus.completed ?? 0} of ${EXPECTED} tasks completed`);

// 4. /metrics: every task claimed exactly once and completed once (counters from task_events).
try {
  const m = await scrapeMetrics(base);
  const claimed = m.get("seedcore_tasks_claimed_total");
  const completed = m.get("seedcore_tasks_completed_total");
  console.log(
    `storm: /metrics submitted=${m.get("seedcore_tasks_submitted_total")} claimed=${claimed} completed=${completed} retried=${m.get("seedcore_tasks_retried_total")} reaped=${m.get("seedcore_tasks_reaped_total")} failed=${m.get("seedcore_tasks_failed_total")}`,
  );
  if (claimed !== EXPECTED) failures.push(`seedcore_tasks_claimed_total = ${claimed}, not ${EXPECTED}${claimed > EXPECTED ? " (tasks claimed more than once)" : ""}`);
  if (completed !== EXPECTED) failures.push(`seedcore_tasks_completed_total = ${completed}, not ${EXPECTED}`);
} catch (err) {
  failures.push(`/metrics: ${err instanceof Error ? err.message : err}`);
}

if (failures.length) {
  for (const f of failures) console.error(`storm FAILED: ${f}`);
  for (const line of serverErrors) console.error(`storm: server log: ${line}`);
  process.exit(1);
}
console.log(`storm: OK — ${EXPECTED} tasks completed, each claimed once, none running (${((Date.now() - scriptStart) / 1000).toFixed(0)} s in all)`);
process.exit(0);
