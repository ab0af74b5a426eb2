// seedcore: the CLI of the SeedCore Edge HTTP API, built on the typed client (src/client.ts), so
// every request and answer has the routes' own types. Bundled to dist/seedcore.mjs by
// `npm run build:cli` (run by `npm install`); bin/seedcore.mjs starts it. Node >= 18.
// SEEDCORE_URL (default http://localhost:8787) and SEEDCORE_TOKEN (Authorization: Bearer).
import { CliError, connect, out, parseOptions, type Command } from "./common";
import { keys, schedules, setPaused, types } from "./flow-commands";
import { action, bulk, health, list, metrics, show, submit, watch } from "./task-commands";

const USAGE = `usage: seedcore <command> [options]

commands:
  submit <type> [description]   create a task   (-p/--params JSON, --domain D, --drift X,
                                 --created: store without running, --key K: idempotency key,
                                 --after ID (repeatable): depends on these tasks,
                                 --callback URL: webhook when it finishes,
                                 --priority S: seconds of head start in the queue,
                                 --concurrency-key K, --concurrency-limit N,
                                 --wait: follow it until it finishes)
  list                          recent tasks     (--status S, --type T, --domain D, --limit N, --cursor C,
                                 --concurrency-key K, --flow paused|waiting_on_key)
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
  schedules list|show|create|pause|resume|trigger|delete [name]
                                cron schedules; create <name> <cron> <type> [description]
                                 (--tz ZONE, --missed skip|once|all, --max-catchup N, -p JSON,
                                 --priority, --concurrency-key, --concurrency-limit as for submit)
  types                         task types: counts by status, paused or not
  pause-type|resume-type <type> hold / release a type's waiting tasks
  keys                          concurrency keys: limit, waiting, running, paused
  pause-key|resume-key <key>    hold / release a concurrency key's tasks
  health                        /health and /readyz (exit 1 when not ready)
  metrics [prefix]              Prometheus metrics, optionally only names starting with prefix

options:
  --json          machine-readable output
  --url URL       API base (default $SEEDCORE_URL or http://localhost:8787)
  --token T       bearer token (default $SEEDCORE_TOKEN)
  -h, --help      this help

exit codes: 0 ok; 1 error (HTTP error, unreachable server, watched task failed or cancelled); 2 usage`;

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
  schedules,
  types,
  keys,
  "pause-type": setPaused("type", "pause"),
  "resume-type": setPaused("type", "resume"),
  "pause-key": setPaused("key", "pause"),
  "resume-key": setPaused("key", "resume"),
  health,
  metrics,
};

async function main(argv: string[]): Promise<number> {
  const { values: opts, positionals } = parseOptions(argv);
  const command = positionals[0];
  if (opts.help || command === "help") {
    out(USAGE);
    return 0;
  }
  if (!command) throw new CliError("no command given", 2);
  const fn = COMMANDS[command];
  if (!fn) throw new CliError(`unknown command '${command}'`, 2);
  return fn(connect(opts), opts, positionals, argv);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // exitCode, not exit(): let stdout and stderr drain when they are pipes.
    if (err instanceof CliError) {
      process.stderr.write(`seedcore: ${err.message}\n${err.code === 2 ? `\n${USAGE}\n` : ""}`);
      process.exitCode = err.code;
      return;
    }
    process.stderr.write(`seedcore: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
