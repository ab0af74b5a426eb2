// What every CLI command shares: options, the connection, typed requests, output helpers.
import { parseArgs } from "node:util";
import { createClient, type SeedCoreClient } from "../src/client";

const REQUEST_TIMEOUT_MS = 30_000;

/** An error to print and exit with; code 2 is a usage error (the usage text follows it). */
export class CliError extends Error {
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
  priority: { type: "string" },
  "concurrency-key": { type: "string" },
  "concurrency-limit": { type: "string" },
  flow: { type: "string" },
  tz: { type: "string" },
  missed: { type: "string" },
  "max-catchup": { type: "string" },
} as const;

export type Options = ReturnType<typeof parseOptions>["values"];

export function parseOptions(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
}

export interface Cli {
  base: string;
  api: SeedCoreClient;
  hasToken: boolean;
}

export function connect(opts: Options): Cli {
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
export async function send<R extends { ok: boolean; status: number; statusText: string; text(): Promise<string>; headers: Headers }>(
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

export function table<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => String(c.get(r) ?? "")));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((row) => (row[i] as string).length)));
  const line = (vals: string[]) => vals.map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i] as number))).join("  ").trimEnd();
  return [line(columns.map((c) => c.title)), ...cells.map(line)].join("\n");
}

export const clip = (s: unknown, n: number) => {
  const t = String(s ?? "").replace(/\s+/g, " ");
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
};

export function ago(iso: string | null): string {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export const out = (s: string) => process.stdout.write(`${s}\n`);
export const printJson = (v: unknown) => out(JSON.stringify(v, null, 2));

/** A positional argument a command cannot do without (a usage error, exit 2, when missing). */
export function needArg(positionals: string[], index: number, what: string, command: string): string {
  const v = positionals[index];
  if (!v) throw new CliError(`${command} needs ${what}`, 2);
  return v;
}

export const needRef = (positionals: string[], command: string) => encodeURIComponent(needArg(positionals, 1, "a task id or prefix", command));

export function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new CliError(`--${name} must be a number, got '${value}'`, 2);
  return n;
}

export const taskLine = (t: { id: string; status: string; type: string; attempts: number; max_attempts: number }) =>
  `${t.id}  ${t.status}  ${t.type}  attempts ${t.attempts}/${t.max_attempts}`;

export type Command = (cli: Cli, opts: Options, positionals: string[], argv: string[]) => Promise<number>;

/** --priority, --concurrency-key, --concurrency-limit as task fields (submit and schedules create). */
export function flowFields(opts: Options) {
  return {
    ...(opts.priority !== undefined ? { priority: number(opts.priority, "priority") } : {}),
    ...(opts["concurrency-key"] !== undefined ? { concurrency_key: opts["concurrency-key"] } : {}),
    ...(opts["concurrency-limit"] !== undefined ? { concurrency_limit: number(opts["concurrency-limit"], "concurrency-limit") } : {}),
  };
}

/** --params as a JSON object (a usage error when it does not parse). */
export function paramsOf(opts: Options): Record<string, unknown> {
  if (opts.params === undefined) return {};
  try {
    return JSON.parse(opts.params) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(`--params is not valid JSON: ${(err as Error).message}`, 2);
  }
}
