// npm run steps-kill: a three-step task (scripts/fixtures/work-worker.ts `fixture_steps`: effect →
// wait → effect, each a stored ctx.step) on the fixture Worker; the server's whole process group
// is SIGKILLed while step 2 waits, then restarted on the same state. The reaper must take the
// task back when its lease runs out (short TASK_LEASE_S), and it must finish `completed` with
// step 1's effect counted exactly once (its stored result is returned to attempt 2) and step 3's
// once. Effects are counted by a loopback server in this process, which outlives the kill.
// Prints the figures; exits non-zero on any violation.
import { failAfter, freePort, getJson, migratedStateDir, scrapeMetrics, spawnServer, until } from "./dev-server.mjs";
import { startLoopback } from "./fixtures/loopback.mjs";

const ENTRY = "scripts/fixtures/work-worker.ts";
/** Step 2's wait, on every attempt: the window the kill must land in (polled every 20 ms). */
const WAIT_MS = 5000;
const VARS = {
  RATE_LIMIT_ENABLED: "false",
  // The kill leaves the task `running` with a lease at most TASK_LEASE_S old: the reaper (every
  // REAPER_INTERVAL_S) takes it back into `retry`, RETRY_BASE_S later it is due again.
  TASK_LEASE_S: 6,
  HEARTBEAT_S: 2,
  REAPER_INTERVAL_S: 1,
  SWEEP_AFTER_S: 2,
  RETRY_BASE_S: 1,
  RETRY_MAX_S: 2,
};
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
/** Until step 2 has begun (a cold start compiles the fixture and creates the Durable Objects). */
const START_BUDGET_MS = 45_000;
/** After the restart: lease + reaper ticks + retry delay + step 2's wait again, with room for a slow CI machine. */
const RECOVERY_BUDGET_MS = 60_000;

failAfter(180_000, "steps-kill");

const failures = [];
const fail = (msg) => failures.push(msg);

const loopback = await startLoopback();
const persistDir = migratedStateDir("steps-kill");
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const vars = { ...VARS, LOOPBACK_ORIGIN: loopback.origin };
const startServer = () => spawnServer(port, persistDir, vars, ENTRY);

let server = await startServer();
const submitted = await getJson(base, "/tasks", {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ type: "fixture_steps", params: { wait_ms: WAIT_MS } }),
});
if (submitted.status !== 201) {
  console.error(`steps-kill FAILED: POST /tasks answered ${submitted.status}: ${JSON.stringify(submitted.body)}`);
  process.exit(1);
}
const id = submitted.body.id;
const t0 = Date.now();
console.log(`steps-kill: submitted ${id}`);

// Step 2 has begun once its mark is counted: step 1's result is stored by then (ctx.step stores
// a result before it returns, and step 2 runs only after).
const inStep2 = await until(START_BUDGET_MS, () => (loopback.effectsOf(id).wait ?? 0) >= 1);
if (!inStep2) {
  const { body } = await getJson(base, `/tasks/${id}`);
  console.error(`steps-kill FAILED: step 2 did not begin within ${START_BUDGET_MS} ms (task ${body?.status}, effects ${JSON.stringify(loopback.effectsOf(id))})`);
  process.exit(1);
}
const before = (await getJson(base, `/tasks/${id}`)).body;
const exited = new Promise((resolve) => server.once("exit", resolve));
process.kill(-server.pid, "SIGKILL");
const killedAt = Date.now();
const atKill = loopback.effectsOf(id);
console.log(`steps-kill: SIGKILL ${killedAt - t0} ms after submission, in step 2 (task ${before.status}, attempt ${before.attempts}; effects ${JSON.stringify(atKill)})`);
if (before.status !== "running") fail(`the task was ${before.status}, not running, when step 2 began`);
if ((atKill["3"] ?? 0) !== 0) fail(`step 3 ran before the kill (${atKill["3"]}): the kill did not land in step 2`);

// Restart once the old group is gone and the port is free (no fixed pause).
await exited;
const portFree = await until(10_000, () => fetch(`${base}/health`).then(() => false, () => true), 50);
if (!portFree) {
  console.error(`steps-kill FAILED: port ${port} still answers 10 s after the kill`);
  process.exit(1);
}
server = await startServer();
const restartedAt = Date.now();
console.log(`steps-kill: restarted ${restartedAt - killedAt} ms after the kill`);

// Watch the task come back: running (lease of the dead attempt) → retry (reaped) → running → completed.
const seen = [];
const final = await until(
  RECOVERY_BUDGET_MS,
  async () => {
    const { status, body } = await getJson(base, `/tasks/${id}`);
    if (status !== 200) throw new Error(`GET /tasks/${id} answered ${status}`);
    const state = `${body.status}#${body.attempts}`;
    if (seen.at(-1) !== state) seen.push(state);
    return TERMINAL.has(body.status) ? body : null;
  },
  100,
);
const doneAt = Date.now();
const effects = loopback.effectsOf(id);
const metrics = await scrapeMetrics(base);
const reaped = metrics.get("seedcore_tasks_reaped_total");
process.kill(-server.pid, "SIGKILL");
await loopback.close();

console.log(`steps-kill: states after the restart ${seen.join(" → ")}`);
if (!final) {
  fail(`the task is not terminal ${RECOVERY_BUDGET_MS} ms after the restart (last ${seen.at(-1)})`);
} else {
  console.log(
    `steps-kill: ${final.status} after ${final.attempts} attempts, ${doneAt - killedAt} ms after the kill (${doneAt - restartedAt} ms after the restart); effects ${JSON.stringify(effects)}; reaped_total ${reaped}`,
  );
  if (final.status !== "completed") fail(`the task ended ${final.status}: ${final.error}`);
  if (final.attempts !== 2) fail(`${final.attempts} attempts, expected 2 (the killed one and the one after the reaper)`);
  const r = final.result ?? {};
  // Attempt 2 got step 1's stored result (the first effect, n = 1) without running it again.
  if (r.first?.n !== 1) fail(`step 1's result seen by the last attempt is ${JSON.stringify(r.first)}, expected the stored one (n = 1)`);
  if (r.waited?.attempt !== 2) fail(`step 2's stored result is from attempt ${r.waited?.attempt}, expected 2 (it never finished in attempt 1)`);
}
if ((effects["1"] ?? 0) !== 1) fail(`step 1's effect counted ${effects["1"] ?? 0} times, expected exactly 1`);
if ((effects["3"] ?? 0) !== 1) fail(`step 3's effect counted ${effects["3"] ?? 0} times, expected exactly 1`);
if ((effects.wait ?? 0) !== 2) fail(`step 2 began ${effects.wait ?? 0} times, expected 2 (once per attempt)`);
if (!(reaped >= 1)) fail(`seedcore_tasks_reaped_total is ${reaped}: the reaper did not take the task back`);

if (failures.length) {
  for (const f of failures) console.error(`steps-kill FAILED: ${f}`);
  process.exit(1);
}
console.log("steps-kill: OK — reaped after the kill, completed; step 1 and step 3 each took effect exactly once");
process.exit(0);
