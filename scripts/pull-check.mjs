// npm run pull-check: pull workers end to end against the real Worker (issue 22, pull). 200 tasks
// of a pull type (TASK_EXECUTORS {"pull_echo": {"kind": "pull"}}) are leased by two Node workers
// (scripts/pull-worker-child.mjs, the package's runPullWorker built into dist/pull-worker.mjs) and
// one Python worker (scripts/pull-worker-child.py, clients/python) with a scoped WORKER_TOKENS
// token. One Node worker is SIGKILLed while it holds leases. Checks: every task ends completed
// exactly once (one accepted result; each handler run logged to a shared file, and a task is run
// again only when the killed worker held it), the killed worker's leases are taken back only after
// they expired (the reaper) and finished by a surviving worker, no surviving worker lost a lease,
// the survivors stop gracefully on SIGTERM, and a token outside its scope gets 403. Then a Node
// and a Python worker holding long tasks: one task of each is cancelled (its handler must abort,
// the task stay cancelled), then both get SIGTERM with a 1 s grace: every other task is released.
// Prints the figures; exits non-zero on any violation.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { failAfter, freePort, getJson, migratedStateDir, spawnServer, until } from "./dev-server.mjs";

const TOTAL = Number(process.env.PULL_CHECK_TASKS ?? 200);
const TASK_MS = 400;
const LEASE_S = 5;
const TOKEN = "tok-pull-check";
const VARS = {
  RATE_LIMIT_ENABLED: "false",
  TASK_EXECUTORS: JSON.stringify({ pull_echo: { kind: "pull" }, pull_other: { kind: "pull" } }),
  WORKER_TOKENS: JSON.stringify({ [TOKEN]: ["pull_echo"] }),
  // The killed worker's leases expire LEASE_S after their last heartbeat; the reaper (every
  // REAPER_INTERVAL_S) puts them back in `retry`, due RETRY_BASE_S later.
  REAPER_INTERVAL_S: 1,
  SWEEP_AFTER_S: 2,
  RETRY_BASE_S: 1,
  RETRY_MAX_S: 2,
};
const START_BUDGET_MS = 60_000;
const DRAIN_BUDGET_MS = 90_000;

failAfter(240_000, "pull-check");
const failures = [];
const fail = (msg) => failures.push(msg);

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const server = await spawnServer(port, migratedStateDir("pull-check"), VARS);
const logFile = path.join(mkdtempSync(path.join(tmpdir(), "seedcore-pull-check-")), "runs.jsonl");
writeFileSync(logFile, "");
const readLog = () =>
  readFileSync(logFile, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

// A token outside its scope: 403 (pull_other is a pull type, but not the token's).
const scoped = await getJson(base, "/workers/lease", {
  method: "POST",
  headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
  body: JSON.stringify({ types: ["pull_other"], wait_s: 0 }),
});
if (scoped.status !== 403) fail(`leasing a type outside the token's scope answered ${scoped.status}, expected 403: ${JSON.stringify(scoped.body)}`);

// Submit.
const ids = [];
for (let i = 0; i < TOTAL; i += 100) {
  const n = Math.min(100, TOTAL - i);
  const r = await getJson(base, "/tasks/batch", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ tasks: Array.from({ length: n }, (_, j) => ({ type: "pull_echo", params: { n: i + j } })) }),
  });
  if (r.status !== 201 && r.status !== 200) {
    console.error(`pull-check FAILED: POST /tasks/batch answered ${r.status}: ${JSON.stringify(r.body)}`);
    process.exit(1);
  }
  for (const item of r.body.items) ids.push(item.id);
}
const t0 = Date.now();
console.log(`pull-check: submitted ${ids.length} pull_echo tasks`);

const children = new Map();
function startChild(name, cmd, args) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err = (err + d).slice(-2000)));
  child.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal, stderr: err })));
  process.on("exit", () => child.exitCode === null && child.kill("SIGKILL"));
  children.set(name, child);
  return child;
}
const common = (name, concurrency) => [base, name, logFile, String(concurrency), String(TASK_MS), TOKEN, String(LEASE_S)];
startChild("node-a", process.execPath, ["scripts/pull-worker-child.mjs", ...common("node-a", 8)]);
startChild("node-b", process.execPath, ["scripts/pull-worker-child.mjs", ...common("node-b", 8)]);
startChild("python", "python3", ["scripts/pull-worker-child.py", ...common("python", 4)]);

// Kill node-a once it has finished some tasks and holds several leases (handlers started and not finished).
const open = (worker) => {
  const o = new Map();
  for (const l of readLog()) {
    if (l.worker !== worker) continue;
    if (l.ev === "run") o.set(`${l.id}#${l.attempt}`, l);
    if (l.ev === "done") o.delete(`${l.id}#${l.attempt}`);
  }
  return o;
};
const doneBy = (worker) => readLog().filter((l) => l.worker === worker && l.ev === "done").length;
const holding = await until(START_BUDGET_MS, () => (doneBy("node-a") >= 16 && open("node-a").size >= 4 ? open("node-a") : null), 20);
if (!holding) {
  console.error(`pull-check FAILED: node-a did not finish 16 tasks and hold 4 leases at once within ${START_BUDGET_MS} ms`);
  process.exit(1);
}
children.get("node-a").kill("SIGKILL");
const killedAt = Date.now();
await children.get("node-a").exited;
const heldAtKill = open("node-a"); // runs started but not finished: their leases died with the process
console.log(`pull-check: SIGKILLed node-a ${killedAt - t0} ms after submission, holding ${heldAtKill.size} lease(s)`);

// Wait until every task is terminal.
const statusOf = async () => {
  const all = new Map();
  let cursor = null;
  for (;;) {
    const { status, body } = await getJson(base, `/tasks?type=pull_echo&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    if (status !== 200) throw new Error(`GET /tasks answered ${status}`);
    for (const t of body.items) all.set(t.id, t);
    if (!body.next_cursor) return all;
    cursor = body.next_cursor;
  }
};
let final = null;
await until(
  DRAIN_BUDGET_MS,
  async () => {
    final = await statusOf();
    return [...final.values()].every((t) => ["completed", "failed", "cancelled"].includes(t.status));
  },
  250,
);
const drainedAt = Date.now();

// Graceful stop of the survivors (SIGTERM: they finish or release; nothing is left to do anyway).
for (const name of ["node-b", "python"]) children.get(name).kill("SIGTERM");
const exits = Object.fromEntries(await Promise.all(["node-b", "python"].map(async (n) => [n, await children.get(n).exited])));

// Phase 2, release: long tasks (30 s each) held by a fresh Node and a fresh Python worker, which
// get SIGTERM with a 1 s grace: every task must be released (queued again, attempt given back),
// no outcome sent, and both must exit 0 soon after the grace.
const LONG = 8;
const longIds = [];
{
  const r = await getJson(base, "/tasks/batch", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ tasks: Array.from({ length: LONG }, (_, j) => ({ type: "pull_echo", params: { n: 1000 + j, ms: 30_000 } })) }),
  });
  if (r.status !== 201) fail(`POST /tasks/batch (long tasks) answered ${r.status}`);
  else for (const item of r.body.items) longIds.push(item.id);
}
process.env.PULL_CHILD_GRACE_S = "1";
startChild("node-c", process.execPath, ["scripts/pull-worker-child.mjs", ...common("node-c", LONG / 2)]);
startChild("python-2", "python3", ["scripts/pull-worker-child.py", ...common("python-2", LONG / 2)]);
const longRuns = () => readLog().filter((l) => l.ev === "run" && longIds.includes(l.id));
const allHeld = await until(START_BUDGET_MS, () => longRuns().length >= LONG, 50);
let releaseExits = {};
let stopMs = 0;
const cancelledIds = [];
if (!allHeld) fail(`the ${LONG} long tasks were not all leased within ${START_BUDGET_MS} ms (${longRuns().length})`);
else {
  // Cancel one task of each worker: the next heartbeat says cancel_requested, the handler's
  // signal aborts (Node: TaskCancelled, Python: cancelled), the task stays cancelled.
  for (const worker of ["node-c", "python-2"]) {
    const run = longRuns().find((l) => l.worker === worker);
    if (!run) continue;
    const r = await getJson(base, `/tasks/${run.id}/cancel`, { method: "POST" });
    if (r.status !== 200) fail(`POST /tasks/${run.id}/cancel answered ${r.status}: ${JSON.stringify(r.body)}`);
    cancelledIds.push(run.id);
  }
  const aborted = () => readLog().filter((l) => l.ev === "aborted" && cancelledIds.includes(l.id));
  const sawAborts = await until(15_000, () => aborted().length >= cancelledIds.length, 50);
  if (!sawAborts) fail(`cancelled tasks' handlers not aborted within 15 s (${JSON.stringify(aborted())})`);
  for (const a of aborted()) if (!["TaskCancelled", "cancelled"].includes(a.reason)) fail(`cancelled task ${a.id} was aborted for ${a.reason} on ${a.worker}`);
  for (const id of cancelledIds) {
    const { body } = await getJson(base, `/tasks/${id}`);
    if (body?.status !== "cancelled") fail(`cancelled task ${id} is ${body?.status}`);
  }
  if (sawAborts) console.log(`pull-check: cancelled ${cancelledIds.length} running long tasks: their handlers aborted (${aborted().map((a) => `${a.worker}: ${a.reason}`).join(", ")}), tasks stay cancelled`);
  const stopAt = Date.now();
  for (const name of ["node-c", "python-2"]) children.get(name).kill("SIGTERM");
  releaseExits = Object.fromEntries(await Promise.all(["node-c", "python-2"].map(async (n) => [n, await children.get(n).exited])));
  stopMs = Date.now() - stopAt;
  const heldBy = Object.fromEntries(longRuns().map((l) => [l.id, l.worker]));
  for (const id of longIds.filter((i) => !cancelledIds.includes(i))) {
    const { body } = await getJson(base, `/tasks/${id}`);
    if (body?.status !== "queued" || body?.attempts !== 0) fail(`long task ${id} (held by ${heldBy[id]}) is ${body?.status} with ${body?.attempts} attempts after the graceful stop, expected queued with 0 (released)`);
  }
  for (const [n, e] of Object.entries(releaseExits)) if (e.code !== 0) fail(`${n} exited ${e.code ?? e.signal} after SIGTERM: ${e.stderr}`);
  if (stopMs > 10_000) fail(`the graceful stop with a 1 s grace took ${stopMs} ms`);
  const heldCount = {};
  for (const [id, w] of Object.entries(heldBy)) if (!cancelledIds.includes(id)) heldCount[w] = (heldCount[w] ?? 0) + 1;
  console.log(`pull-check: SIGTERM with ${LONG - cancelledIds.length} long tasks held (${JSON.stringify(heldCount)}): both workers exited in ${stopMs} ms, every task released (queued, attempt given back)`);
}
process.kill(-server.pid, "SIGKILL");

// Checks.
const log = readLog().filter((l) => !longIds.includes(l.id));
const runs = log.filter((l) => l.ev === "run");
// Lost leases in either phase (a cancelled task's 409 after its fail is expected and not reported).
const lost = readLog().filter((l) => l.ev === "lease_lost");
const runsById = new Map();
for (const r of runs) runsById.set(r.id, [...(runsById.get(r.id) ?? []), r]);
const heldIds = new Set([...heldAtKill.values()].map((l) => l.id));
const doneAt = new Map(log.filter((l) => l.ev === "done").map((l) => [`${l.id}#${l.attempt}`, l.at]));
const byStatus = {};
let completed = 0;
for (const id of ids) {
  const t = final?.get(id);
  byStatus[t?.status ?? "missing"] = (byStatus[t?.status ?? "missing"] ?? 0) + 1;
  if (t?.status !== "completed") {
    fail(`task ${id} ended ${t?.status ?? "missing"}${t?.error ? `: ${t.error}` : ""}`);
    continue;
  }
  completed++;
  const mine = runsById.get(id) ?? [];
  // Ran once, plus once for each run that died with node-a: held at the kill, or finished so
  // shortly before it (≤ 1 s) that its /complete may not have gone out.
  const diedWithA = (r) => r.worker === "node-a" && (heldAtKill.has(`${id}#${r.attempt}`) || (doneAt.get(`${id}#${r.attempt}`) ?? 0) >= killedAt - 1000);
  const extra = mine.slice(0, -1);
  if (mine.length === 0 || !extra.every(diedWithA)) fail(`task ${id} ran ${mine.length} times (${mine.map((r) => `${r.worker}#${r.attempt}`).join(", ")}): more than once without a kill to explain it`);
  if (heldIds.has(id) && mine.length < 2) fail(`task ${id} was held by node-a at the kill but ran only once`);
  const result = t.result ?? {};
  const last = mine.at(-1);
  if (!last || result.worker !== last.worker || result.attempt !== last.attempt) fail(`task ${id}: result ${JSON.stringify(result)} is not from its last run ${JSON.stringify(last)}`);
  if (t.attempts !== result.attempt) fail(`task ${id}: ${t.attempts} attempts but the result is from attempt ${result.attempt}`);
}
// The killed worker's leases came back only after they expired, to a surviving worker.
let backAfterMs = [];
for (const held of heldAtKill.values()) {
  const later = (runsById.get(held.id) ?? []).filter((r) => r.attempt > held.attempt);
  const again = later[0];
  if (!again) {
    fail(`task ${held.id} held by node-a at the kill was never run again`);
    continue;
  }
  if (again.worker === "node-a") fail(`task ${held.id} was run again by the killed worker`);
  // The lease in the log is the one the lease call gave; heartbeats may have extended it, never shortened it.
  if (again.at < held.lease_expires_at) fail(`task ${held.id} was leased again ${held.lease_expires_at - again.at} ms before node-a's lease expired`);
  // Its last heartbeat was at most lease_s / 3 before the kill, so the lease ran ≥ ⅔ lease_s past it.
  if (again.at - killedAt < (LEASE_S * 1000 * 2) / 3 - 100) fail(`task ${held.id} was leased again ${again.at - killedAt} ms after the kill, before its lease can have expired`);
  backAfterMs.push(again.at - killedAt);
}
if (lost.length) fail(`surviving workers lost ${lost.length} lease(s): ${lost.map((l) => `${l.worker}:${l.id}`).join(", ")}`);
for (const [n, e] of Object.entries(exits)) if (e.code !== 0) fail(`${n} exited ${e.code ?? e.signal} after SIGTERM: ${e.stderr}`);
const perWorker = {};
for (const t of final?.values() ?? []) if (t.status === "completed") perWorker[t.result?.worker] = (perWorker[t.result?.worker] ?? 0) + 1;

backAfterMs = backAfterMs.sort((a, b) => a - b);
console.log(
  `pull-check: ${completed}/${ids.length} completed (${JSON.stringify(byStatus)}) in ${((drainedAt - t0) / 1000).toFixed(1)} s; completed by ${JSON.stringify(perWorker)}; ${runs.length} handler runs`,
);
if (backAfterMs.length) console.log(`pull-check: node-a's ${backAfterMs.length} lease(s) re-run ${backAfterMs[0]}–${backAfterMs.at(-1)} ms after the kill (lease ${LEASE_S} s)`);
if (failures.length) {
  for (const f of failures.slice(0, 30)) console.error(`pull-check FAILED: ${f}`);
  if (failures.length > 30) console.error(`pull-check FAILED: … and ${failures.length - 30} more`);
  process.exit(1);
}
console.log("pull-check: OK — every task completed exactly once; the killed worker's leases came back after expiry; graceful stops finished or released everything");
process.exit(0);
