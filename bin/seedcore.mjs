#!/usr/bin/env node
// seedcore: a small CLI for the SeedCore Edge HTTP API. Plain Node ESM (>= 18), no build step.
// SEEDCORE_URL (default http://localhost:8787) and SEEDCORE_TOKEN (Authorization: Bearer).
import { parseArgs } from "node:util";

const USAGE = `usage: seedcore <command> [options]

commands:
  submit <type> [description]   create a task   (-p/--params JSON, --domain D, --drift X,
                                 --created: store without running, --key K: idempotency key,
                                 --wait: follow it until it finishes, --priority S: seconds
                                 of head start, --concurrency-key K, --concurrency-limit N)
  list                          recent tasks     (--status S, --type T, --limit N, --cursor C)
  show <id|prefix>              a task, its result or error, and its event timeline
  watch <id|prefix>             follow a task until it is completed, failed or cancelled
                                 (--interval MS, default 500; --timeout S, default none)
  cancel <id|prefix>            cancel a created, queued, retry or running task
  run <id|prefix>               queue a created, failed, retry or cancelled task now
  health                        /health and /readyz (exit 1 when not ready)
  schedules list|show|create|pause|resume|trigger|delete [name]
                                cron schedules; create <name> <cron> <type> [description]
                                 (--tz ZONE, --missed skip|once|all, --max-catchup N, -p JSON,
                                 --priority, --concurrency-key, --concurrency-limit as for submit)
  types                         task types: counts by status, paused or not
  pause-type|resume-type <type> hold / release a type's waiting tasks
  keys                          concurrency keys: limit, waiting, running, paused
  pause-key|resume-key <key>    hold / release a concurrency key's tasks
  metrics [prefix]              Prometheus metrics, optionally only names starting with prefix

options:
  --json          machine-readable output
  --url URL       API base (default $SEEDCORE_URL or http://localhost:8787)
  --token T       bearer token (default $SEEDCORE_TOKEN)
  -h, --help      this help

exit codes: 0 ok; 1 error (HTTP error, unreachable server, watched task failed or cancelled); 2 usage`;

const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const REQUEST_TIMEOUT_MS = 30_000;

class CliError extends Error {
  constructor(message, code = 1) {
    super(message);
    this.code = code;
  }
}

function parse(argv) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: "boolean", default: false },
        url: { type: "string" },
        token: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
        params: { type: "string", short: "p" },
        description: { type: "string", short: "d" },
        domain: { type: "string" },
        drift: { type: "string" },
        created: { type: "boolean", default: false },
        key: { type: "string" },
        wait: { type: "boolean", default: false },
        status: { type: "string" },
        type: { type: "string" },
        limit: { type: "string" },
        cursor: { type: "string" },
        interval: { type: "string" },
        priority: { type: "string" },
        "concurrency-key": { type: "string" },
        "concurrency-limit": { type: "string" },
        tz: { type: "string" },
        missed: { type: "string" },
        "max-catchup": { type: "string" },
        timeout: { type: "string" },
      },
    });
  } catch (err) {
    throw new CliError(`${err.message}\n\n${USAGE}`, 2);
  }
}

function client(opts) {
  const base = (opts.url ?? process.env.SEEDCORE_URL ?? "http://localhost:8787").replace(/\/+$/, "");
  const token = opts.token ?? process.env.SEEDCORE_TOKEN ?? "";
  async function request(method, path, body, accept = "application/json") {
    const headers = { accept };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = err.cause?.code ?? err.cause?.message ?? err.message;
      throw new CliError(`cannot reach ${base} (${cause}); is the server running? set SEEDCORE_URL to point elsewhere`);
    }
    const text = await res.text();
    let parsed = text;
    if ((res.headers.get("content-type") ?? "").includes("json")) {
      try {
        parsed = JSON.parse(text);
      } catch {
        /* keep the text */
      }
    }
    if (!res.ok && !(accept === "application/json" && path === "/readyz")) {
      const message = parsed?.error?.message ?? (text.slice(0, 200) || res.statusText);
      let hint = res.status === 401 ? (token ? " (check SEEDCORE_TOKEN)" : " (set SEEDCORE_TOKEN)") : "";
      const candidates = parsed?.error?.details?.candidates;
      if (Array.isArray(candidates) && candidates.length) {
        const ids = candidates.map((c) => (typeof c === "string" ? c : c?.id)).filter(Boolean);
        hint = `: matches ${ids.join(", ")}; give more characters`;
      }
      throw new CliError(`${message}${hint} [HTTP ${res.status}]`);
    }
    return { status: res.status, body: parsed };
  }
  return {
    base,
    get: (p, accept) => request("GET", p, undefined, accept),
    post: (p, body) => request("POST", p, body),
    del: (p) => request("DELETE", p),
  };
}

// ---- output helpers --------------------------------------------------------------------------

function table(rows, columns) {
  const cells = rows.map((r) => columns.map((c) => String(c.get(r) ?? "")));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((row) => row[i].length)));
  const line = (vals) => vals.map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(columns.map((c) => c.title)), ...cells.map(line)].join("\n");
}

const clip = (s, n) => {
  const t = String(s ?? "").replace(/\s+/g, " ");
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
};

function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

const out = (s) => process.stdout.write(`${s}\n`);
const printJson = (v) => out(JSON.stringify(v, null, 2));

function needRef(positionals, command) {
  const ref = positionals[1];
  if (!ref) throw new CliError(`${command} needs a task id or prefix\n\n${USAGE}`, 2);
  return encodeURIComponent(ref);
}

function number(value, name) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new CliError(`--${name} must be a number, got '${value}'`, 2);
  return n;
}

function taskLine(t) {
  return `${t.id}  ${t.status}  ${t.type}  attempts ${t.attempts}/${t.max_attempts}`;
}

// ---- commands --------------------------------------------------------------------------------

/** --priority, --concurrency-key, --concurrency-limit as task fields (submit and schedules create). */
function flowOptions(opts) {
  const fields = {};
  if (opts.priority !== undefined) fields.priority = number(opts.priority, "priority");
  if (opts["concurrency-key"] !== undefined) fields.concurrency_key = opts["concurrency-key"];
  if (opts["concurrency-limit"] !== undefined) fields.concurrency_limit = number(opts["concurrency-limit"], "concurrency-limit");
  return fields;
}

async function submit(api, opts, positionals) {
  const type = positionals[1];
  if (!type) throw new CliError(`submit needs a task type, e.g. seedcore submit general_query "what is 2+2?"\n\n${USAGE}`, 2);
  let params = {};
  if (opts.params !== undefined) {
    try {
      params = JSON.parse(opts.params);
    } catch (err) {
      throw new CliError(`--params is not valid JSON: ${err.message}`, 2);
    }
  }
  const body = { type, params, run_immediately: !opts.created };
  const description = opts.description ?? (positionals.length > 2 ? positionals.slice(2).join(" ") : undefined);
  if (description !== undefined) body.description = description;
  if (opts.domain !== undefined) body.domain = opts.domain;
  if (opts.drift !== undefined) body.drift_score = number(opts.drift, "drift");
  if (opts.key !== undefined) body.idempotency_key = opts.key;
  Object.assign(body, flowOptions(opts));
  const { status, body: task } = await api.post("/tasks", body);
  if (opts.wait) {
    if (!opts.json) out(`submitted ${task.id} (${task.status})`);
    return watch(api, opts, [null, task.id]);
  }
  if (opts.json) printJson(task);
  else out(`${status === 200 ? "existing task (same idempotency key)" : "submitted"} ${taskLine(task)}`);
  return 0;
}

async function list(api, opts) {
  const q = new URLSearchParams();
  if (opts.status) q.set("status", opts.status);
  if (opts.type) q.set("type", opts.type);
  if (opts.limit) q.set("limit", opts.limit);
  if (opts.cursor) q.set("cursor", opts.cursor);
  const qs = q.toString();
  const { body } = await api.get(`/tasks${qs ? `?${qs}` : ""}`);
  if (opts.json) return printJson(body), 0;
  if (body.items.length === 0) {
    out("no tasks");
    return 0;
  }
  out(
    table(body.items, [
      { title: "ID", get: (t) => t.id.slice(0, 8) },
      { title: "STATUS", get: (t) => t.status },
      { title: "TYPE", get: (t) => t.type },
      { title: "ATTEMPTS", get: (t) => `${t.attempts}/${t.max_attempts}` },
      { title: "CREATED", get: (t) => ago(t.created_at) },
      { title: "UPDATED", get: (t) => ago(t.updated_at) },
      { title: "DESCRIPTION / ERROR", get: (t) => clip(t.error ? `error: ${t.error}` : t.description, 60) },
    ]),
  );
  if (body.next_cursor) out(`more: seedcore list --cursor ${body.next_cursor}`);
  return 0;
}

async function show(api, opts, positionals) {
  const ref = needRef(positionals, "show");
  const { body: task } = await api.get(`/tasks/${ref}`);
  const { body: events } = await api.get(`/tasks/${task.id}/events`);
  if (opts.json) return printJson({ ...task, events: events.items }), 0;
  const fields = [
    ["id", task.id],
    ["status", task.status],
    ["type", task.type],
    ["description", task.description],
    ["domain", task.domain],
    ["drift score", task.drift_score],
    ["attempts", `${task.attempts} of ${task.max_attempts}`],
    ["params", JSON.stringify(task.params)],
    ["created", task.created_at],
    ["updated", task.updated_at],
    ["run after", task.run_after],
    ["lease expires", task.lease_expires_at],
  ];
  for (const [k, v] of fields) if (v !== null && v !== undefined && v !== "") out(`${`${k}:`.padEnd(15)}${v}`);
  if (task.error) out(`${"error:".padEnd(15)}${task.error}`);
  if (task.result != null) out(`result:\n${JSON.stringify(task.result, null, 2).replace(/^/gm, "  ")}`);
  out("\nevents:");
  out(
    table(events.items, [
      { title: "AT", get: (e) => e.at },
      { title: "CHANGE", get: (e) => `${e.from_status ?? "new"} -> ${e.to_status}` },
      { title: "ACTOR", get: (e) => e.actor },
      { title: "ATTEMPT", get: (e) => e.attempt },
      { title: "MESSAGE", get: (e) => clip(e.message, 80) },
    ]).replace(/^/gm, "  "),
  );
  return 0;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function watch(api, opts, positionals) {
  const ref = needRef(positionals, "watch");
  const interval = number(opts.interval, "interval") ?? 500;
  const timeoutS = number(opts.timeout, "timeout");
  const deadline = timeoutS === undefined ? Infinity : Date.now() + timeoutS * 1000;
  const { body: first } = await api.get(`/tasks/${ref}`);
  const id = first.id;
  let last = "";
  let status = first;
  for (;;) {
    const key = `${status.status}/${status.attempts}`;
    if (key !== last && !opts.json) {
      const note = status.status === "retry" && status.error ? `: ${status.error}` : "";
      out(`${new Date().toISOString().slice(11, 19)}  ${id.slice(0, 8)}  ${status.status} (attempt ${status.attempts}/${status.max_attempts})${note}`);
    }
    last = key;
    if (TERMINAL.has(status.status)) break;
    if (Date.now() >= deadline) throw new CliError(`task ${id.slice(0, 8)} still ${status.status} after ${timeoutS}s`);
    await sleep(interval);
    status = (await api.get(`/tasks/${id}/status`)).body;
  }
  const { body: task } = await api.get(`/tasks/${id}`);
  if (opts.json) printJson(task);
  else if (task.status === "completed") out(`result: ${JSON.stringify(task.result?.result ?? task.result)}`);
  if (task.status === "completed") return 0;
  process.stderr.write(`seedcore: task ${id.slice(0, 8)} ${task.status}${task.error ? `: ${task.error}` : ""}\n`);
  return 1;
}

async function action(api, opts, positionals, verb) {
  const ref = needRef(positionals, verb);
  const { body: task } = await api.post(`/tasks/${ref}/${verb}`);
  if (opts.json) printJson(task);
  else out(`${verb === "run" ? "queued" : "cancelled"} ${taskLine(task)}`);
  return 0;
}

async function health(api, opts) {
  const live = (await api.get("/health")).body;
  const ready = await api.get("/readyz");
  const ok = ready.status === 200;
  if (opts.json) printJson({ health: live, ready: ready.body });
  else {
    out(`${live.service} ${live.version}: ${live.status}, ${ready.body.status ?? `HTTP ${ready.status}`}`);
    const deps = ready.body.deps ?? {};
    out(
      table(Object.entries(deps), [
        { title: "DEPENDENCY", get: ([k]) => k },
        { title: "OK", get: ([, d]) => (d.ok ? "yes" : "NO") },
        { title: "DETAIL", get: ([, d]) => [d.status, d.error].filter(Boolean).join(": ") },
      ]),
    );
  }
  if (!ok) process.stderr.write(`seedcore: not ready [HTTP ${ready.status}]\n`);
  return ok ? 0 : 1;
}

function parseExposition(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/);
    if (!m) continue;
    const labels = {};
    for (const p of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
    samples.push({ name: m[1], labels, value: Number(m[3].replace("+Inf", "Infinity")) });
  }
  return samples;
}

async function metrics(api, opts, positionals) {
  const prefix = positionals[1] ?? "";
  const { body } = await api.get("/metrics", "text/plain");
  const text = String(body);
  if (opts.json) return printJson(parseExposition(text).filter((s) => s.name.startsWith(prefix))), 0;
  const lines = text.split("\n").filter((l) => {
    if (!prefix) return l !== "";
    const name = l.startsWith("# ") ? l.split(" ")[2] : l.split(/[{\s]/)[0];
    return name?.startsWith(prefix);
  });
  if (lines.length === 0) throw new CliError(`no metric starts with '${prefix}'`);
  out(lines.join("\n"));
  return 0;
}

// ---- flow control: schedules, types, keys ----------------------------------------------------

function needArg(positionals, index, what, command) {
  const v = positionals[index];
  if (!v) throw new CliError(`${command} needs ${what}\n\n${USAGE}`, 2);
  return v;
}

function scheduleTable(items) {
  return table(items, [
    { title: "NAME", get: (s) => s.name },
    { title: "CRON", get: (s) => s.cron },
    { title: "TZ", get: (s) => s.timezone },
    { title: "STATE", get: (s) => (s.paused ? "paused" : "active") },
    { title: "NEXT", get: (s) => s.next_run_at ?? "" },
    { title: "LAST", get: (s) => s.last_run_at ?? "" },
    { title: "LAST TASK", get: (s) => (s.last_task_id ? `${s.last_task_id.slice(0, 8)} ${s.last_task_status ?? ""}` : "") },
    { title: "FIRED", get: (s) => s.fired },
    { title: "SKIPPED", get: (s) => s.skipped },
  ]);
}

async function schedules(api, opts, positionals) {
  const sub = positionals[1] ?? "list";
  if (sub === "list") {
    const { body } = await api.get("/schedules");
    if (opts.json) return printJson(body), 0;
    out(body.items.length === 0 ? "no schedules" : scheduleTable(body.items));
    return 0;
  }
  const name = encodeURIComponent(needArg(positionals, 2, "a schedule name", `schedules ${sub}`));
  let result;
  if (sub === "show") result = (await api.get(`/schedules/${name}`)).body;
  else if (sub === "create") {
    const cron = needArg(positionals, 3, 'a cron expression, e.g. "*/5 * * * *"', "schedules create");
    const type = needArg(positionals, 4, "a task type", "schedules create");
    const task = { type, ...flowOptions(opts) };
    if (opts.params !== undefined) {
      try {
        task.params = JSON.parse(opts.params);
      } catch (err) {
        throw new CliError(`--params is not valid JSON: ${err.message}`, 2);
      }
    }
    if (positionals.length > 5) task.description = positionals.slice(5).join(" ");
    const body = { name: positionals[2], cron, task };
    if (opts.tz !== undefined) body.timezone = opts.tz;
    if (opts.missed !== undefined) body.missed = opts.missed;
    if (opts["max-catchup"] !== undefined) body.max_catchup = number(opts["max-catchup"], "max-catchup");
    result = (await api.post("/schedules", body)).body;
  } else if (sub === "pause" || sub === "resume") result = (await api.post(`/schedules/${name}/${sub}`)).body;
  else if (sub === "trigger") {
    const { body: task } = await api.post(`/schedules/${name}/trigger`);
    if (opts.json) printJson(task);
    else out(`triggered ${taskLine(task)}`);
    return 0;
  } else if (sub === "delete") {
    await api.del(`/schedules/${name}`);
    if (opts.json) printJson({ deleted: positionals[2] });
    else out(`deleted schedule ${positionals[2]}`);
    return 0;
  } else throw new CliError(`unknown schedules command '${sub}' (list, show, create, pause, resume, trigger, delete)`, 2);
  if (opts.json) printJson(result);
  else out(scheduleTable([result]));
  return 0;
}

const STATUS_COLUMNS = ["created", "queued", "running", "retry", "completed", "failed", "cancelled"];

async function types(api, opts) {
  const { body } = await api.get("/types");
  if (opts.json) return printJson(body), 0;
  out(
    body.items.length === 0
      ? "no task types yet"
      : table(body.items, [
          { title: "TYPE", get: (t) => t.type },
          { title: "STATE", get: (t) => (t.paused ? "paused" : "active") },
          ...STATUS_COLUMNS.map((s) => ({ title: s.toUpperCase(), get: (t) => t.counts[s] })),
        ]),
  );
  return 0;
}

async function keys(api, opts) {
  const { body } = await api.get("/concurrency-keys");
  if (opts.json) return printJson(body), 0;
  out(
    body.items.length === 0
      ? "no concurrency keys yet"
      : table(body.items, [
          { title: "KEY", get: (k) => k.key },
          { title: "STATE", get: (k) => (k.paused ? "paused" : "active") },
          { title: "LIMIT", get: (k) => k.limit },
          { title: "RUNNING", get: (k) => k.running },
          { title: "WAITING", get: (k) => k.waiting },
        ]),
  );
  return 0;
}

async function setPaused(api, opts, positionals, kind, verb) {
  const what = needArg(positionals, 1, kind === "types" ? "a task type" : "a concurrency key", `${verb}-${kind === "types" ? "type" : "key"}`);
  const { body } = await api.post(`/${kind}/${encodeURIComponent(what)}/${verb}`);
  if (opts.json) printJson(body);
  else out(`${kind === "types" ? "type" : "key"} ${what}: ${body.paused ? "paused" : "active"}`);
  return 0;
}

const COMMANDS = {
  submit,
  list,
  show,
  watch,
  cancel: (api, opts, pos) => action(api, opts, pos, "cancel"),
  run: (api, opts, pos) => action(api, opts, pos, "run"),
  health,
  metrics,
  schedules,
  types,
  keys,
  "pause-type": (api, opts, pos) => setPaused(api, opts, pos, "types", "pause"),
  "resume-type": (api, opts, pos) => setPaused(api, opts, pos, "types", "resume"),
  "pause-key": (api, opts, pos) => setPaused(api, opts, pos, "concurrency-keys", "pause"),
  "resume-key": (api, opts, pos) => setPaused(api, opts, pos, "concurrency-keys", "resume"),
};

async function main(argv) {
  const { values: opts, positionals } = parse(argv);
  const command = positionals[0];
  if (opts.help || command === "help") {
    out(USAGE);
    return 0;
  }
  if (!command) throw new CliError(USAGE, 2);
  const fn = COMMANDS[command];
  if (!fn) throw new CliError(`unknown command '${command}'\n\n${USAGE}`, 2);
  return fn(client(opts), opts, positionals);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code ?? 0;
  },
  (err) => {
    // exitCode, not exit(): let stdout and stderr drain when they are pipes.
    if (err instanceof CliError) {
      process.stderr.write(`seedcore: ${err.message}\n`);
      process.exitCode = err.code;
      return;
    }
    process.stderr.write(`seedcore: unexpected error: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
