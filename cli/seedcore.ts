// seedcore: the CLI of the SeedCore Edge HTTP API, built on the typed client (src/client.ts), so
// every request and answer has the routes' own types. Bundled to dist/seedcore.mjs by
// `npm run build:cli` (run by `npm install`); bin/seedcore.mjs starts it. Node >= 18.
// SEEDCORE_URL (default http://localhost:8787) and SEEDCORE_TOKEN (Authorization: Bearer).
import { parseArgs } from "node:util";
import { createClient, type SeedCoreClient } from "../src/client";

const USAGE = `usage: seedcore <command> [options]

commands:
  submit <type> [description]   create a task   (-p/--params JSON, --domain D, --drift X,
                                 --created: store without running, --key K: idempotency key,
                                 --after ID (repeatable): depends on these tasks,
                                 --callback URL: webhook when it finishes,
                                 --wait: follow it until it finishes)
  list                          recent tasks     (--status S, --type T, --domain D, --limit N, --cursor C)
  show <id|prefix>              a task, its result or error, its parents and its timeline
  watch <id|prefix>             follow a task until it is completed, failed or cancelled
                                 (--interval MS, default 500; --timeout S, default none)
  cancel <id|prefix>            cancel a created, queued, retry or running task
  run <id|prefix>               queue a created, failed, retry or cancelled task now
  retry [filter]                queue failed or cancelled tasks matching the filter again
  cancel [filter]               cancel unfinished tasks matching the filter
  purge [filter]                delete finished tasks matching the filter
                                 filter (at least one): --status S, --type T, --domain D,
                                 --created-before ISO, --created-after ISO, --error-contains X;
                                 --limit N (at most 1000 per call, default 100), --cursor C,
                                 --all: repeat until every match is done
  health                        /health and /readyz (exit 1 when not ready)
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
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

const OPTIONS = {
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
  after: { type: "string" },
  callback: { type: "string" },
  wait: { type: "boolean", default: false },
  status: { type: "string" },
  type: { type: "string" },
  limit: { type: "string" },
  cursor: { type: "string" },
  interval: { type: "string" },
  timeout: { type: "string" },
  "created-before": { type: "string" },
  "created-after": { type: "string" },
  "error-contains": { type: "string" },
  all: { type: "boolean", default: false },
} as const;

type Options = ReturnType<typeof parse>["values"];

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
}

/** --after may be given several times; parseArgs keeps the last, so the raw argv is read for all. */
function allAfter(argv: string[]): string[] {
  return argv.flatMap((a, i) => (a === "--after" && argv[i + 1] ? [argv[i + 1] as string] : a.startsWith("--after=") ? [a.slice(8)] : []));
}

interface Cli {
  base: string;
  api: SeedCoreClient;
  hasToken: boolean;
}

function connect(opts: Options): Cli {
  const base = (opts.url ?? process.env["SEEDCORE_URL"] ?? "http://localhost:8787").replace(/\/+$/, "");
  const token = opts.token ?? process.env["SEEDCORE_TOKEN"] ?? "";
  const timed: typeof fetch = (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { base, api: createClient(base, { token, fetch: timed }), hasToken: token !== "" };
}

interface ErrorBody {
  error?: { message?: string; details?: { candidates?: unknown[] } };
}

/**
 * Sends one typed request: an unreachable server or an error status becomes a CliError with the
 * server's message; otherwise the answer, narrowed to its success statuses.
 */
async function send<R extends { ok: boolean; status: number; statusText: string; text(): Promise<string>; headers: Headers }>(
  cli: Cli,
  request: Promise<R>,
  allowError = false,
): Promise<Extract<R, { ok: true }> | R> {
  let res: R;
  try {
    res = await request;
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const cause = e.cause?.code ?? e.cause?.message ?? e.message;
    throw new CliError(`cannot reach ${cli.base} (${cause}); is the server running? set SEEDCORE_URL to point elsewhere`);
  }
  if (res.ok || allowError) return res;
  const text = await res.text();
  let parsed: ErrorBody | null = null;
  if ((res.headers.get("content-type") ?? "").includes("json")) {
    try {
      parsed = JSON.parse(text) as ErrorBody;
    } catch {
      /* keep the text */
    }
  }
  const message = parsed?.error?.message ?? (text.slice(0, 200) || res.statusText);
  let hint = res.status === 401 ? (cli.hasToken ? " (check SEEDCORE_TOKEN)" : " (set SEEDCORE_TOKEN)") : "";
  const candidates = parsed?.error?.details?.candidates;
  if (Array.isArray(candidates) && candidates.length) {
    const ids = candidates.map((c) => (typeof c === "string" ? c : (c as { id?: string })?.id)).filter(Boolean);
    hint = `: matches ${ids.join(", ")}; give more characters`;
  }
  throw new CliError(`${message}${hint} [HTTP ${res.status}]`);
}

// ---- output helpers --------------------------------------------------------------------------

interface Column<T> {
  title: string;
  get: (row: T) => unknown;
}

function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => String(c.get(r) ?? "")));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((row) => (row[i] as string).length)));
  const line = (vals: string[]) => vals.map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i] as number))).join("  ").trimEnd();
  return [line(columns.map((c) => c.title)), ...cells.map(line)].join("\n");
}

const clip = (s: unknown, n: number) => {
  const t = String(s ?? "").replace(/\s+/g, " ");
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
};

function ago(iso: string | null): string {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

const out = (s: string) => process.stdout.write(`${s}\n`);
const printJson = (v: unknown) => out(JSON.stringify(v, null, 2));

function needRef(positionals: string[], command: string): string {
  const ref = positionals[1];
  if (!ref) throw new CliError(`${command} needs a task id or prefix\n\n${USAGE}`, 2);
  return encodeURIComponent(ref);
}

function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new CliError(`--${name} must be a number, got '${value}'`, 2);
  return n;
}

const taskLine = (t: { id: string; status: string; type: string; attempts: number; max_attempts: number }) =>
  `${t.id}  ${t.status}  ${t.type}  attempts ${t.attempts}/${t.max_attempts}`;

// ---- commands --------------------------------------------------------------------------------

type Command = (cli: Cli, opts: Options, positionals: string[], argv: string[]) => Promise<number>;

const submit: Command = async (cli, opts, positionals, argv) => {
  const type = positionals[1];
  if (!type) throw new CliError(`submit needs a task type, e.g. seedcore submit general_query "what is 2+2?"\n\n${USAGE}`, 2);
  let params: Record<string, unknown> = {};
  if (opts.params !== undefined) {
    try {
      params = JSON.parse(opts.params) as Record<string, unknown>;
    } catch (err) {
      throw new CliError(`--params is not valid JSON: ${(err as Error).message}`, 2);
    }
  }
  const description = opts.description ?? (positionals.length > 2 ? positionals.slice(2).join(" ") : undefined);
  const after = allAfter(argv);
  const res = await send(
    cli,
    cli.api.tasks.$post({
      json: {
        type,
        params,
        run_immediately: !opts.created,
        ...(description !== undefined ? { description } : {}),
        ...(opts.domain !== undefined ? { domain: opts.domain } : {}),
        ...(opts.drift !== undefined ? { drift_score: number(opts.drift, "drift") } : {}),
        ...(opts.key !== undefined ? { idempotency_key: opts.key } : {}),
        ...(after.length > 0 ? { depends_on: after } : {}),
        ...(opts.callback !== undefined ? { callback_url: opts.callback } : {}),
      },
      query: {},
      header: {},
    }),
  );
  const task = await res.json();
  if (opts.wait) {
    if (!opts.json) out(`submitted ${task.id} (${task.status})`);
    return watch(cli, opts, ["watch", task.id], argv);
  }
  if (opts.json) printJson(task);
  else out(`${res.status === 200 ? "existing task (same idempotency key)" : "submitted"} ${taskLine(task)}`);
  return 0;
};

const list: Command = async (cli, opts) => {
  const query = {
    // The server checks the status (an unknown one is its 400); the type only follows the route.
    ...(opts.status ? { status: opts.status as "queued" } : {}),
    ...(opts.type ? { type: opts.type } : {}),
    ...(opts.domain ? { domain: opts.domain } : {}),
    ...(opts.limit ? { limit: opts.limit } : {}),
    ...(opts.cursor ? { cursor: opts.cursor } : {}),
  };
  const body = await (await send(cli, cli.api.tasks.$get({ query }))).json();
  if (opts.json) return printJson(body), 0;
  if (body.items.length === 0) {
    out("no tasks");
    return 0;
  }
  out(
    table(body.items, [
      { title: "ID", get: (t) => t.id.slice(0, 8) },
      { title: "STATUS", get: (t) => (t.status === "created" && t.waiting_on > 0 ? `waiting(${t.waiting_on})` : t.status) },
      { title: "TYPE", get: (t) => t.type },
      { title: "ATTEMPTS", get: (t) => `${t.attempts}/${t.max_attempts}` },
      { title: "CREATED", get: (t) => ago(t.created_at) },
      { title: "UPDATED", get: (t) => ago(t.updated_at) },
      { title: "DESCRIPTION / ERROR", get: (t) => clip(t.error ? `error: ${t.error}` : t.description, 60) },
    ]),
  );
  if (body.next_cursor) out(`more: seedcore list --cursor ${body.next_cursor}`);
  return 0;
};

const show: Command = async (cli, opts, positionals) => {
  const ref = needRef(positionals, "show");
  const task = await (await send(cli, cli.api.tasks[":id"].$get({ param: { id: ref }, query: {} }))).json();
  const events = await (await send(cli, cli.api.tasks[":id"].events.$get({ param: { id: task.id } }))).json();
  if (opts.json) return printJson({ ...task, events: events.items }), 0;
  const fields: [string, unknown][] = [
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
    ["depends on", task.depends_on.length ? `${task.depends_on.join(", ")} (waiting on ${task.waiting_on})` : null],
    ["callback", task.callback_url ? `${task.callback_url} (${task.webhook_state ?? "not yet"})` : null],
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
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const watch: Command = async (cli, opts, positionals) => {
  const ref = needRef(positionals, "watch");
  const interval = number(opts.interval, "interval") ?? 500;
  const timeoutS = number(opts.timeout, "timeout");
  const deadline = timeoutS === undefined ? Infinity : Date.now() + timeoutS * 1000;
  const first = await (await send(cli, cli.api.tasks[":id"].$get({ param: { id: ref }, query: {} }))).json();
  const id = first.id;
  let last = "";
  let status: { status: string; attempts: number; max_attempts: number; error: string | null } = first;
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
    status = await (await send(cli, cli.api.tasks[":id"].status.$get({ param: { id } }))).json();
  }
  const task = await (await send(cli, cli.api.tasks[":id"].$get({ param: { id }, query: {} }))).json();
  if (opts.json) printJson(task);
  else if (task.status === "completed") out(`result: ${JSON.stringify((task.result as { result?: unknown } | null)?.result ?? task.result)}`);
  if (task.status === "completed") return 0;
  process.stderr.write(`seedcore: task ${id.slice(0, 8)} ${task.status}${task.error ? `: ${task.error}` : ""}\n`);
  return 1;
};

const action =
  (verb: "cancel" | "run"): Command =>
  async (cli, opts, positionals) => {
    const ref = needRef(positionals, verb);
    const route = verb === "run" ? cli.api.tasks[":id"].run : cli.api.tasks[":id"].cancel;
    const task = await (await send(cli, route.$post({ param: { id: ref } }))).json();
    if (opts.json) printJson(task);
    else out(`${verb === "run" ? "queued" : "cancelled"} ${taskLine(task)}`);
    return 0;
  };

const health: Command = async (cli, opts) => {
  const live = await (await send(cli, cli.api.health.$get())).json();
  // 503 is an answer here (not ready, with the reason), not an error.
  const res = await send(cli, cli.api.readyz.$get(), true);
  const ready = await res.json();
  const ok = res.status === 200;
  if (opts.json) printJson({ health: live, ready });
  else {
    out(`${live.service} ${live.version}: ${live.status}, ${ready.status ?? `HTTP ${res.status}`}`);
    out(
      table(Object.entries(ready.deps ?? {}), [
        { title: "DEPENDENCY", get: ([k]) => k },
        { title: "OK", get: ([, d]) => (d.ok ? "yes" : "NO") },
        { title: "DETAIL", get: ([, d]) => [d.status, d.error].filter(Boolean).join(": ") },
      ]),
    );
  }
  if (!ok) process.stderr.write(`seedcore: not ready [HTTP ${res.status}]\n`);
  return ok ? 0 : 1;
};

function parseExposition(text: string) {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const p of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[p[1] as string] = p[2] as string;
    samples.push({ name: m[1] as string, labels, value: Number((m[3] as string).replace("+Inf", "Infinity")) });
  }
  return samples;
}

const metrics: Command = async (cli, opts, positionals) => {
  const prefix = positionals[1] ?? "";
  const text = await (await send(cli, cli.api.metrics.$get())).text();
  if (opts.json) return printJson(parseExposition(text).filter((s) => s.name.startsWith(prefix))), 0;
  const lines = text.split("\n").filter((l) => {
    if (!prefix) return l !== "";
    const name = l.startsWith("# ") ? l.split(" ")[2] : l.split(/[{\s]/)[0];
    return name?.startsWith(prefix);
  });
  if (lines.length === 0) throw new CliError(`no metric starts with '${prefix}'`);
  out(lines.join("\n"));
  return 0;
};

const BULK_DONE = { retry: "retried", cancel: "cancelled", purge: "purged" } as const;

/** retry / cancel / purge over a filter: one call, or with --all every call until `next` is null. */
const bulk =
  (verb: keyof typeof BULK_DONE): Command =>
  async (cli, opts) => {
    const filter = {
      ...(opts.status ? { status: opts.status as "failed" } : {}),
      ...(opts.type ? { type: opts.type } : {}),
      ...(opts.domain ? { domain: opts.domain } : {}),
      ...(opts["created-before"] ? { created_before: opts["created-before"] } : {}),
      ...(opts["created-after"] ? { created_after: opts["created-after"] } : {}),
      ...(opts["error-contains"] ? { error_contains: opts["error-contains"] } : {}),
    };
    if (Object.keys(filter).length === 0) {
      throw new CliError(`${verb} needs ${verb === "cancel" ? "a task id or " : ""}a filter: --status, --type, --domain, --created-before, --created-after or --error-contains\n\n${USAGE}`, 2);
    }
    const limit = number(opts.limit, "limit");
    let cursor = opts.cursor;
    let affected = 0;
    let calls = 0;
    for (;;) {
      const json = { ...filter, ...(limit === undefined ? {} : { limit }), ...(cursor ? { cursor } : {}) };
      const step = await (await send(cli, cli.api.tasks.bulk[verb].$post({ json }))).json();
      affected += step.affected;
      calls++;
      cursor = step.next ?? undefined;
      if (!opts.all || !cursor) break;
    }
    if (opts.json) printJson(opts.all ? { affected, calls } : { affected, next: cursor ?? null });
    else {
      out(`${BULK_DONE[verb]} ${affected} task${affected === 1 ? "" : "s"}${opts.all ? ` in ${calls} call${calls === 1 ? "" : "s"}` : ""}`);
      if (cursor) out(`more may match: repeat with --cursor ${cursor}, or use --all`);
    }
    return 0;
  };

const COMMANDS: Record<string, Command> = {
  submit,
  list,
  show,
  watch,
  // With an id, the one task; without, the bulk form over a filter.
  cancel: (cli, opts, positionals, argv) => (positionals[1] ? action("cancel") : bulk("cancel"))(cli, opts, positionals, argv),
  run: action("run"),
  retry: bulk("retry"),
  purge: bulk("purge"),
  health,
  metrics,
};

async function main(argv: string[]): Promise<number> {
  const { values: opts, positionals } = parse(argv);
  const command = positionals[0];
  if (opts.help || command === "help") {
    out(USAGE);
    return 0;
  }
  if (!command) throw new CliError(USAGE, 2);
  const fn = COMMANDS[command];
  if (!fn) throw new CliError(`unknown command '${command}'\n\n${USAGE}`, 2);
  return fn(connect(opts), opts, positionals, argv);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // exitCode, not exit(): let stdout and stderr drain when they are pipes.
    if (err instanceof CliError) {
      process.stderr.write(`seedcore: ${err.message}\n`);
      process.exitCode = err.code;
      return;
    }
    process.stderr.write(`seedcore: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
