// Flow control from the CLI: cron schedules, task types and concurrency keys (pause / resume).
import type { InferResponseType } from "hono/client";
import type { SeedCoreClient } from "../src/client";
import { CliError, flowFields, needArg, number, out, paramsOf, printJson, send, table, taskLine, type Cli, type Command, type Options } from "./common";

/** A schedule as the API answers it (the route's own type). */
type ScheduleRow = InferResponseType<SeedCoreClient["schedules"][":name"]["$get"], 200>;

function scheduleTable(items: ScheduleRow[]): string {
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

const MISSED = ["skip", "once", "all"] as const;

function missedPolicy(value: string | undefined) {
  if (value === undefined) return {};
  const found = MISSED.find((m) => m === value);
  if (!found) throw new CliError(`--missed must be one of ${MISSED.join(", ")}, got '${value}'`, 2);
  return { missed: found };
}

async function createSchedule(cli: Cli, opts: Options, positionals: string[]) {
  const name = needArg(positionals, 2, "a schedule name", "schedules create");
  const cron = needArg(positionals, 3, 'a cron expression, e.g. "*/5 * * * *"', "schedules create");
  const type = needArg(positionals, 4, "a task type", "schedules create");
  const description = positionals.length > 5 ? positionals.slice(5).join(" ") : undefined;
  const maxCatchup = number(opts["max-catchup"], "max-catchup");
  const json = {
    name,
    cron,
    task: { type, params: paramsOf(opts), ...(description !== undefined ? { description } : {}), ...flowFields(opts) },
    ...(opts.tz !== undefined ? { timezone: opts.tz } : {}),
    ...missedPolicy(opts.missed),
    ...(maxCatchup !== undefined ? { max_catchup: maxCatchup } : {}),
  };
  return (await send(cli, cli.api.schedules.$post({ json }))).json();
}

const SCHEDULE_COMMANDS = ["list", "show", "create", "pause", "resume", "trigger", "delete"] as const;

export const schedules: Command = async (cli, opts, positionals) => {
  const sub = positionals[1] ?? "list";
  if (sub === "list") {
    const body = await (await send(cli, cli.api.schedules.$get({ query: {} }))).json();
    if (opts.json) return printJson(body), 0;
    out(body.items.length === 0 ? "no schedules" : scheduleTable(body.items));
    return 0;
  }
  if (!SCHEDULE_COMMANDS.includes(sub as (typeof SCHEDULE_COMMANDS)[number])) {
    throw new CliError(`unknown schedules command '${sub}' (${SCHEDULE_COMMANDS.join(", ")})`, 2);
  }
  if (sub === "create") return printSchedule(opts, await createSchedule(cli, opts, positionals));
  const name = needArg(positionals, 2, "a schedule name", `schedules ${sub}`);
  const one = cli.api.schedules[":name"];
  const param = { name };
  if (sub === "trigger") {
    const task = await (await send(cli, one.trigger.$post({ param }))).json();
    if (opts.json) printJson(task);
    else out(`triggered ${taskLine(task)}`);
    return 0;
  }
  if (sub === "delete") {
    await send(cli, one.$delete({ param }));
    if (opts.json) printJson({ deleted: name });
    else out(`deleted schedule ${name}`);
    return 0;
  }
  const res = sub === "show" ? one.$get({ param }) : sub === "pause" ? one.pause.$post({ param }) : one.resume.$post({ param });
  return printSchedule(opts, await (await send(cli, res)).json());
};

function printSchedule(opts: Options, s: ScheduleRow): number {
  if (opts.json) printJson(s);
  else out(scheduleTable([s]));
  return 0;
}

export const types: Command = async (cli, opts) => {
  const body = await (await send(cli, cli.api.types.$get({ query: {} }))).json();
  if (opts.json) return printJson(body), 0;
  // One column per status, in the order the API lists them.
  const statuses = Object.keys(body.items[0]?.counts ?? {}) as (keyof (typeof body.items)[number]["counts"])[];
  out(
    body.items.length === 0
      ? "no task types yet"
      : table(body.items, [
          { title: "TYPE", get: (t) => t.type },
          { title: "STATE", get: (t) => (t.paused ? "paused" : "active") },
          ...statuses.map((s) => ({ title: s.toUpperCase(), get: (t: (typeof body.items)[number]) => t.counts[s] ?? 0 })),
        ]),
  );
  return 0;
};

export const keys: Command = async (cli, opts) => {
  const body = await (await send(cli, cli.api["concurrency-keys"].$get({ query: {} }))).json();
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
};

/** pause-type / resume-type / pause-key / resume-key. */
export const setPaused =
  (kind: "type" | "key", verb: "pause" | "resume"): Command =>
  async (cli, opts, positionals) => {
    const command = `${verb}-${kind}`;
    const what = needArg(positionals, 1, kind === "type" ? "a task type" : "a concurrency key", command);
    const body =
      kind === "type"
        ? await (await send(cli, cli.api.types[":type"][verb].$post({ param: { type: what } }))).json()
        : await (await send(cli, cli.api["concurrency-keys"][":key"][verb].$post({ param: { key: what } }))).json();
    if (opts.json) printJson(body);
    else out(`${kind} ${what}: ${body.paused ? "paused" : "active"}`);
    return 0;
  };
