// One Node pull worker for scripts/pull-check.mjs and the bench's `pull` scenario: runs
// runPullWorker from the built package entry (dist/pull-worker.mjs: npm run build:pull-worker).
// Usage: node scripts/pull-worker-child.mjs <base> <name> <logFile|-> <concurrency> <ms> [token] [lease_s] [type]
// Type `pull_echo` (or [type]): waits `ms` (params.ms wins), returns {worker, pid, attempt, n}. Each handler
// start and end is appended to logFile as a JSON line ({ev: "run"|"done", id, worker, attempt,
// lease_expires_at, at}), so the parent sees which leases this process held when it was killed.
import { appendFileSync } from "node:fs";
import { runPullWorker } from "../dist/pull-worker.mjs";

const [base, name, logFile, concurrency = "8", ms = "300", token = "", leaseS = "5", type = "pull_echo"] = process.argv.slice(2);
const log = logFile === "-" ? () => undefined : (line) => appendFileSync(logFile, `${JSON.stringify({ ...line, worker: name, at: Date.now() })}\n`);
const wait = (n, signal) =>
  new Promise((resolve) => {
    if (n <= 0) return resolve();
    const t = setTimeout(resolve, n);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

// PULL_CHILD_STATS=1 (the bench): time each lease call that brought tasks, and print
// `STATS {"lease_ms": [...], "tasks": n}` on the way out.
const stats = { lease_ms: [], tasks: 0 };
const timedFetch = async (input, init) => {
  if (!String(input).endsWith("/workers/lease")) return fetch(input, init);
  const t0 = performance.now();
  const res = await fetch(input, init);
  const text = await res.text();
  const n = res.ok ? (JSON.parse(text).tasks?.length ?? 0) : 0;
  if (n > 0) stats.lease_ms.push(performance.now() - t0), (stats.tasks += n);
  return new Response(text, { status: res.status, headers: res.headers });
};

const worker = runPullWorker({
  url: base,
  ...(process.env.PULL_CHILD_STATS ? { fetch: timedFetch } : {}),
  token: token || undefined,
  concurrency: Number(concurrency),
  lease_s: Number(leaseS),
  wait_s: 2,
  grace_s: Number(process.env.PULL_CHILD_GRACE_S ?? 10),
  stopOnSignals: true,
  onError: (err, { op, task_id }) => {
    if (op === "lease_lost") log({ ev: "lease_lost", id: task_id });
    else if (process.env.PULL_CHILD_VERBOSE) console.error(`${name}: ${op} ${task_id ?? ""}: ${err?.message ?? err}`);
  },
  handlers: {
    [type]: async (task, { signal }) => {
      log({ ev: "run", id: task.id, attempt: task.attempt, lease_expires_at: task.lease_expires_at });
      await wait(Number(task.params?.ms ?? ms), signal);
      if (signal.aborted) {
        log({ ev: "aborted", id: task.id, attempt: task.attempt, reason: signal.reason?.name });
        throw signal.reason;
      }
      log({ ev: "done", id: task.id, attempt: task.attempt });
      return { worker: name, pid: process.pid, attempt: task.attempt, n: task.params?.n ?? null };
    },
  },
});
console.log(`${name}: leasing from ${base}`);
worker.done.then(
  () => {
    if (process.env.PULL_CHILD_STATS) console.log(`STATS ${JSON.stringify(stats)}`);
    process.exit(0);
  },
  (err) => {
    console.error(`${name}: ${err?.message ?? err}`);
    process.exit(1);
  },
);
