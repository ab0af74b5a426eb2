// npm run test:cli: every `seedcore` command against a fresh dev server on a free loopback port,
// with API_TOKEN set (so the token path is exercised too). Hard deadline: 180 s.
import { spawn } from "node:child_process";
import { failAfter, freePort, getJson, startFreshWorker } from "./dev-server.mjs";

const DEADLINE_MS = 180_000;
const CMD_TIMEOUT_MS = 45_000;
const TOKEN = "cli-test-token";

failAfter(DEADLINE_MS, "cli-test");

const { worker, base } = await startFreshWorker("cli", { vars: { API_TOKEN: TOKEN } });

/** Runs the CLI asynchronously (spawnSync would block this process, which hosts the dev server's proxy). */
function cli(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["bin/seedcore.mjs", ...args], {
      env: { ...process.env, SEEDCORE_URL: base, SEEDCORE_TOKEN: TOKEN, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), CMD_TIMEOUT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ? `killed by ${signal}` : code, stdout, stderr });
    });
  });
}

let passed = 0;
const failures = [];
async function check(name, args, expect, env) {
  const r = await cli(args, env);
  const problems = [];
  if (r.code !== (expect.code ?? 0)) problems.push(`exit ${r.code}, wanted ${expect.code ?? 0}`);
  for (const s of expect.stdout ?? []) if (!(s instanceof RegExp ? s.test(r.stdout) : r.stdout.includes(s))) problems.push(`stdout lacks ${s}`);
  for (const s of expect.stderr ?? []) if (!(s instanceof RegExp ? s.test(r.stderr) : r.stderr.includes(s))) problems.push(`stderr lacks ${s}`);
  if (expect.json) {
    try {
      const problem = expect.json(JSON.parse(r.stdout));
      if (problem) problems.push(problem);
    } catch (err) {
      problems.push(`stdout is not the expected JSON: ${err.message}`);
    }
  }
  if (problems.length) {
    failures.push(`${name}: ${problems.join("; ")}\n    $ seedcore ${args.join(" ")}\n    stdout: ${r.stdout.trim().slice(0, 600)}\n    stderr: ${r.stderr.trim().slice(0, 600)}`);
    console.log(`  FAIL ${name}`);
  } else {
    passed++;
    console.log(`  ok   ${name}`);
  }
  return r;
}

const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
let ok = false;
try {
  await check("health", ["health"], { stdout: ["healthy, ready", "DEPENDENCY", "coordinator"] });
  await check("health --json", ["health", "--json"], { json: (b) => (b.ready.status === "ready" ? null : "not ready") });

  // submit → watch → show → list
  const submitted = await check("submit --json", ["submit", "general_query", "what is 12*(3+4)?", "--json"], {
    json: (t) => (t.status === "queued" && t.type === "general_query" ? null : `status ${t.status}`),
  });
  const id = JSON.parse(submitted.stdout).id;
  const short = id.slice(0, 8);
  await check("watch <prefix> until completed", ["watch", short, "--interval", "200", "--timeout", "30"], { stdout: [short, "completed", "84"] });
  await check("show <prefix>", ["show", short], { stdout: [`id:            ${id}`, "status:        completed", "events:", "new -> queued", "queued -> running", "running -> completed", '"answer": 84'] });
  await check("show --json", ["show", id, "--json"], {
    json: (t) => (t.id === id && t.events.length === 3 && t.result.answer === 84 && t.execution.path === "fast" ? null : `unexpected ${JSON.stringify(t).slice(0, 200)}`),
  });
  await check("list", ["list"], { stdout: ["ID", "STATUS", "TYPE", short, "completed", "what is 12*(3+4)?"] });
  await check("list --status completed --json", ["list", "--status", "completed", "--json"], {
    json: (p) => (p.items.some((t) => t.id === id) && p.items.every((t) => t.status === "completed") ? null : "wrong items"),
  });
  await check("submit table output", ["submit", "test_task", "-p", '{"hello":"edge"}'], { stdout: [/^submitted [0-9a-f-]{36}  queued  test_task  attempts 0\/3$/m] });

  // cancel and run
  const created = await check("submit --created", ["submit", "test_task", "--created", "--json"], { json: (t) => (t.status === "created" ? null : t.status) });
  const cid = JSON.parse(created.stdout).id;
  await check("cancel", ["cancel", cid.slice(0, 8)], { stdout: [`cancelled ${cid}  cancelled`] });
  await check("run", ["run", cid.slice(0, 8)], { stdout: [`queued ${cid}  queued`] });
  await check("watch after run", ["watch", cid, "--interval", "200", "--timeout", "30"], { stdout: ["completed"] });
  await check("cancel a completed task: 409, exit 1", ["cancel", cid], { code: 1, stderr: ["[HTTP 409]"] });
  await check("submit --wait", ["submit", "ping", "--wait"], { stdout: ["submitted", "completed", "result:"] });

  // dependencies: a dependent of a parent that waits for /run
  const parent = await check("submit a parent --created", ["submit", "ping", "--created", "--json"], { json: (t) => (t.status === "created" ? null : t.status) });
  const pid = JSON.parse(parent.stdout).id;
  const child = await check("submit --after: the dependent waits", ["submit", "test_task", "--after", pid, "--json"], {
    json: (t) => (t.status === "created" && t.waiting_on === 1 && t.depends_on[0] === pid ? null : JSON.stringify(t).slice(0, 200)),
  });
  const kid = JSON.parse(child.stdout).id;
  await check("list shows it waiting", ["list", "--status", "created"], { stdout: [kid.slice(0, 8), "waiting(1)"] });
  await check("show lists its parent", ["show", kid], { stdout: ["depends on:", pid, "(waiting on 1)"] });
  await check("run the parent", ["run", pid], { stdout: ["queued"] });
  await check("the dependent follows", ["watch", kid, "--interval", "200", "--timeout", "30"], { stdout: ["completed"] });

  // a task that fails: watch exits 1 and says why
  await check("watch a failing task: exit 1", ["submit", "plan", "--params", '{"goal":";"}', "--wait"], { code: 1, stderr: ["failed", "nothing to plan"] });
  await check("submit an unknown type: 400 naming it", ["submit", "no_such_type"], { code: 1, stderr: ["unknown task type 'no_such_type'", "HTTP 400"] });

  // metrics
  await check("metrics", ["metrics"], { stdout: ["# TYPE seedcore_tasks gauge", "seedcore_tasks_completed_total", "seedcore_task_queue_wait_seconds_bucket", "seedcore_p_fast"] });
  // Three tasks were watched to completion above (the un-watched test_task may not be done yet).
  await check("metrics <prefix> --json", ["metrics", "seedcore_tasks_completed_total", "--json"], {
    json: (s) => (s.length === 1 && s[0].value >= 3 ? null : `got ${JSON.stringify(s)}`),
  });

  // bulk forms: cancel, retry and purge over a filter, one call or --all
  const held = await getJson(base, "/tasks/batch", {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ tasks: Array.from({ length: 5 }, () => ({ type: "test_task", domain: "cli-bulk", run_immediately: false })) }),
  });
  if (held.status !== 201) throw new Error(`POST /tasks/batch answered ${held.status}: ${JSON.stringify(held.body)}`);
  await check("cancel --domain --limit 2 (bulk, one call)", ["cancel", "--domain", "cli-bulk", "--limit", "2"], { stdout: ["cancelled 2 tasks", "more may match: repeat with --cursor "] });
  await check("cancel --domain --all --json", ["cancel", "--domain", "cli-bulk", "--all", "--json"], {
    json: (r) => (r.affected === 3 && r.calls >= 1 ? null : `got ${JSON.stringify(r)}`),
  });
  await check("list --domain --status cancelled", ["list", "--domain", "cli-bulk", "--status", "cancelled", "--json"], {
    json: (p) => (p.items.length === 5 ? null : `${p.items.length} cancelled`),
  });
  await check("retry --status cancelled --domain --json", ["retry", "--status", "cancelled", "--domain", "cli-bulk", "--limit", "10", "--json"], {
    json: (r) => (r.affected === 5 && r.next === null ? null : `got ${JSON.stringify(r)}`),
  });
  await check("purge --type --all", ["purge", "--type", "general_query", "--all"], { stdout: [/^purged [1-9]\d* tasks? in 1 call$/m] });
  await check("show a purged task: 404, exit 1", ["show", id], { code: 1, stderr: ["[HTTP 404]"] });
  await check("purge a status it cannot touch: 400, exit 1", ["purge", "--status", "running"], { code: 1, stderr: ["status", "[HTTP 400]"] });
  await check("usage: retry without a filter exits 2", ["retry"], { code: 2, stderr: ["retry needs a filter"] });
  await check("usage: cancel without an id or a filter exits 2", ["cancel"], { code: 2, stderr: ["cancel needs a task id or a filter"] });
  // flow control: priority and keys on submit, schedules, pause / resume of types and keys
  await check("submit --priority --concurrency-key --json", ["submit", "ping", "--priority", "60", "--concurrency-key", "cli:k", "--concurrency-limit", "2", "--json"], {
    json: (t) => (t.priority === 60 && t.concurrency_key === "cli:k" && t.concurrency_limit === 2 ? null : JSON.stringify(t)),
  });
  await check("schedules create", ["schedules", "create", "cli-every-hour", "0 * * * *", "ping", "--tz", "Europe/Berlin", "--missed", "once"], {
    stdout: ["NAME", "cli-every-hour", "Europe/Berlin", "active"],
  });
  await check("schedules create: a bad cron is exit 1 naming it", ["schedules", "create", "cli-bad", "every hour", "ping"], { code: 1, stderr: ["'every hour'", "[HTTP 400]"] });
  await check("schedules list", ["schedules", "list"], { stdout: ["cli-every-hour", "0 * * * *"] });
  await check("schedules trigger", ["schedules", "trigger", "cli-every-hour"], { stdout: ["triggered", "queued  ping"] });
  await check("schedules show --json", ["schedules", "show", "cli-every-hour", "--json"], {
    json: (s) => (s.name === "cli-every-hour" && s.last_task_id && s.fired === 1 ? null : JSON.stringify(s)),
  });
  await check("schedules pause", ["schedules", "pause", "cli-every-hour"], { stdout: ["paused"] });
  await check("schedules resume", ["schedules", "resume", "cli-every-hour"], { stdout: ["active"] });
  await check("schedules delete", ["schedules", "delete", "cli-every-hour"], { stdout: ["deleted schedule cli-every-hour"] });
  await check("schedules show a deleted one: exit 1", ["schedules", "show", "cli-every-hour"], { code: 1, stderr: ["[HTTP 404]"] });
  // A type is paused once some task had it (a pause of a name never seen is a 404).
  await check("submit --created", ["submit", "workflow_step", "--created", "--json"], { json: (t) => (t.status === "created" ? null : JSON.stringify(t)) });
  await check("pause-type", ["pause-type", "workflow_step"], { stdout: ["type workflow_step: paused"] });
  await check("types", ["types"], { stdout: ["TYPE", "QUEUED", "COMPLETED", "workflow_step", "paused", "ping"] });
  await check("resume-type", ["resume-type", "workflow_step"], { stdout: ["type workflow_step: active"] });
  await check("pause-key", ["pause-key", "cli:k"], { stdout: ["key cli:k: paused"] });
  await check("keys --json", ["keys", "--json"], { json: (p) => (p.items.some((k) => k.key === "cli:k" && k.paused && k.limit === 2) ? null : JSON.stringify(p)) });
  await check("resume-key", ["resume-key", "cli:k"], { stdout: ["key cli:k: active"] });
  await check("list --concurrency-key --json", ["list", "--concurrency-key", "cli:k", "--json"], {
    json: (p) => (p.items.length === 1 && p.items[0].concurrency_key === "cli:k" ? null : JSON.stringify(p)),
  });
  await check("usage: schedules create without a type exits 2", ["schedules", "create", "x", "* * * * *"], { code: 2, stderr: ["schedules create needs a task type", "usage: seedcore"] });
  await check("usage: schedules with an unknown command exits 2", ["schedules", "frob"], { code: 2, stderr: ["unknown schedules command 'frob'"] });

  // errors: unknown id, ambiguous prefix, bad input, no token, unreachable server, usage
  await check("show an unknown id: 404, exit 1", ["show", "00000000-0000-4000-8000-000000000000"], {
    code: 1,
    stderr: ["no task matches '00000000-0000-4000-8000-000000000000'", "[HTTP 404]"],
  });
  const ids = [];
  for (let b = 0; b < 15; b++) {
    const tasks = Array.from({ length: 100 }, () => ({ type: "test_task", run_immediately: false }));
    const r = await getJson(base, "/tasks/batch", { method: "POST", headers: auth, body: JSON.stringify({ tasks }) });
    if (r.status !== 201) throw new Error(`POST /tasks/batch answered ${r.status}: ${JSON.stringify(r.body)}`);
    ids.push(...r.body.items.map((t) => t.id));
  }
  const byPrefix = new Map();
  let shared = null;
  for (const t of ids) {
    const p = t.slice(0, 4);
    if (byPrefix.has(p)) shared = p;
    byPrefix.set(p, t);
  }
  if (!shared) throw new Error("1,500 tasks and no shared 4-char prefix (probability < 1e-7)");
  await check("show an ambiguous prefix: 409, exit 1", ["show", shared], { code: 1, stderr: ["Ambiguous task ID prefix", "[HTTP 409]", "give more characters"] });
  await check("watch an ambiguous prefix: exit 1", ["watch", shared], { code: 1, stderr: ["Ambiguous task ID prefix"] });
  await check("invalid type: 400, exit 1", ["submit", "Bad Type!"], { code: 1, stderr: ["[HTTP 400]", "type"] });
  await check("no token: 401, exit 1", ["list"], { code: 1, stderr: ["[HTTP 401]", "set SEEDCORE_TOKEN"] }, { SEEDCORE_TOKEN: "" });
  await check("wrong token: 401, exit 1", ["list"], { code: 1, stderr: ["[HTTP 401]", "check SEEDCORE_TOKEN"] }, { SEEDCORE_TOKEN: "nope" });
  const closed = await freePort();
  await check("unreachable server: exit 1", ["health"], { code: 1, stderr: ["cannot reach http://127.0.0.1:", "ECONNREFUSED"] }, { SEEDCORE_URL: `http://127.0.0.1:${closed}` });
  await check("usage: show without an id exits 2", ["show"], { code: 2, stderr: ["needs a task id"] });
  await check("usage: unknown command exits 2", ["frobnicate"], { code: 2, stderr: ["unknown command 'frobnicate'"] });
  await check("--help", ["--help"], { stdout: ["usage: seedcore", "watch <id|prefix>"] });
  ok = failures.length === 0;
} catch (err) {
  failures.push(`aborted: ${err instanceof Error ? err.stack : err}`);
} finally {
  await worker.dispose();
}
for (const f of failures) console.error(`cli-test FAILED: ${f}`);
console.log(`cli-test: ${passed} passed, ${failures.length} failed`);
process.exit(ok ? 0 : 1);
