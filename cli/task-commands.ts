// The task commands: submit, list, show, watch, cancel/run, the bulk forms, health and metrics.
import { CliError, ago, clip, flowFields, needRef, number, out, paramsOf, printJson, send, table, taskLine, type Command } from "./common";

const TERMINAL = new Set(["completed", "failed", "cancelled"]);

/** --after may be given several times; parseArgs keeps the last, so the raw argv is read for all. */
function allAfter(argv: string[]): string[] {
  return argv.flatMap((a, i) => (a === "--after" && argv[i + 1] ? [argv[i + 1] as string] : a.startsWith("--after=") ? [a.slice(8)] : []));
}

export const submit: Command = async (cli, opts, positionals, argv) => {
  const type = positionals[1];
  if (!type) throw new CliError(`submit needs a task type, e.g. seedcore submit general_query "what is 2+2?"`, 2);
  const params = paramsOf(opts);
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
        ...flowFields(opts),
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

/** The status, and why a waiting task is not running: its parents, a pause, its key's limit. */
function statusLabel(t: { status: string; waiting_on: number; paused: boolean; waiting_on_key: boolean }): string {
  if (t.status === "created" && t.waiting_on > 0) return `waiting(${t.waiting_on})`;
  if (t.paused) return `${t.status}(paused)`;
  return t.waiting_on_key ? `${t.status}(key full)` : t.status;
}

export const list: Command = async (cli, opts) => {
  const query = {
    // The server checks the status (an unknown one is its 400); the type only follows the route.
    ...(opts.status ? { status: opts.status as "queued" } : {}),
    ...(opts.type ? { type: opts.type } : {}),
    ...(opts.domain ? { domain: opts.domain } : {}),
    ...(opts["concurrency-key"] ? { concurrency_key: opts["concurrency-key"] } : {}),
    ...(opts.flow ? { flow: opts.flow as "paused" } : {}),
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
      { title: "STATUS", get: statusLabel },
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

export const show: Command = async (cli, opts, positionals) => {
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
    ["progress", progressLine(task.progress)],
    ["params", JSON.stringify(task.params)],
    ["created", task.created_at],
    ["updated", task.updated_at],
    ["run after", task.run_after],
    ["lease expires", task.lease_expires_at],
    ["depends on", task.depends_on.length ? `${task.depends_on.join(", ")} (waiting on ${task.waiting_on})` : null],
    ["callback", task.callback_url ? `${task.callback_url} (${task.webhook_state ?? "not yet"})` : null],
    ["priority", task.priority ? `${task.priority} s head start` : null],
    ["concurrency", task.concurrency_key ? `${task.concurrency_key} (limit ${task.concurrency_limit}${task.waiting_on_key ? ", full" : ""})` : null],
    ["paused", task.paused ? "yes (its type or key is paused)" : null],
  ];
  for (const [k, v] of fields) if (v !== null && v !== undefined && v !== "") out(`${`${k}:`.padEnd(15)}${v}`);
  if (task.error) out(`${"error:".padEnd(15)}${task.error}`);
  if (task.result != null) out(`result:\n${JSON.stringify(task.result, null, 2).replace(/^/gm, "  ")}`);
  if (task.execution != null) out(`${"ran:".padEnd(15)}${executionLine(task.execution)}`);
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
  if (events.logs.length > 0) {
    out("\nlog:");
    for (const l of events.logs) out(`  ${l.at} #${l.attempt} ${l.level.toUpperCase().padEnd(5)} ${l.message}${l.data === null ? "" : ` ${JSON.stringify(l.data)}`}`);
  }
  return 0;
};

/** `3/10 (30%) copying files` from a task's progress. */
export function progressLine(p: { current: number; total: number | null; message: string | null } | null): string | null {
  if (!p) return null;
  const share = p.total ? ` (${Math.round((p.current / p.total) * 100)}%)` : "";
  return `${p.current}${p.total ? `/${p.total}` : ""}${share}${p.message ? ` ${p.message}` : ""}`;
}

/** `fast on utility_organ_1 replica 0, agent …, 12 ms` from a task's execution. */
function executionLine(e: Record<string, unknown>): string {
  const where = e["organ_id"] ? ` on ${String(e["organ_id"])}${e["replica"] === undefined ? "" : ` replica ${String(e["replica"])}`}` : "";
  const agent = e["agent_id"] ? `, agent ${String(e["agent_id"])}` : "";
  const latency = typeof e["latency_ms"] === "number" ? `, ${e["latency_ms"]} ms` : "";
  return `${String(e["path"] ?? "?")}${where}${agent}${latency}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const watch: Command = async (cli, opts, positionals) => {
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
  else if (task.status === "completed") out(`result: ${JSON.stringify(task.result)}`);
  if (task.status === "completed") return 0;
  process.stderr.write(`seedcore: task ${id.slice(0, 8)} ${task.status}${task.error ? `: ${task.error}` : ""}\n`);
  return 1;
};

export const action =
  (verb: "cancel" | "run"): Command =>
  async (cli, opts, positionals) => {
    const ref = needRef(positionals, verb);
    const route = verb === "run" ? cli.api.tasks[":id"].run : cli.api.tasks[":id"].cancel;
    const task = await (await send(cli, route.$post({ param: { id: ref } }))).json();
    if (opts.json) printJson(task);
    else out(`${verb === "run" ? "queued" : "cancelled"} ${taskLine(task)}`);
    return 0;
  };

export const health: Command = async (cli, opts) => {
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

export const metrics: Command = async (cli, opts, positionals) => {
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
export const bulk =
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
      throw new CliError(`${verb} needs ${verb === "cancel" ? "a task id or " : ""}a filter: --status, --type, --domain, --created-before, --created-after or --error-contains`, 2);
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

