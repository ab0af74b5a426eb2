import { z } from "zod";
import { jsonVar } from "./lib/json-var";
import { passBudgetProblem } from "./dispatch/pass-limits";
import { servicesConfigSchema } from "./services/service-spec";
import { taskExecutorsSchema } from "./tasks/executor-spec";
import { workerTokensSchema } from "./lib/worker-tokens";
import { callbackUrlProblem } from "./webhooks/callback-url";

const seconds = (def: number) => z.coerce.number().finite().positive().default(def);
const count = (def: number) => z.coerce.number().int().positive().default(def);
/** A retention in seconds; 0 keeps forever. */
const retention = (def: number) => z.coerce.number().finite().nonnegative().default(def);
/** wrangler [vars] arrive as strings; an empty string means "use the default". */
const blankAsUndefined = (v: unknown) => (v === "" ? undefined : v);

const concurrencyLimits = jsonVar(z.record(z.string().min(1).max(128), z.number().int().min(1).max(1000), { error: "must map key prefixes to limits 1-1000" }));

const taskExecutors = jsonVar(taskExecutorsSchema, "must be a JSON object mapping task types to executors");

const workerTokens = jsonVar(workerTokensSchema, "must be a JSON object mapping tokens to lists of task types");

const configFields = z.object({
  OCPS_DRIFT_THRESHOLD: z.preprocess(blankAsUndefined, z.coerce.number().finite().nonnegative().default(0.5)),
  FAST_PATH_LATENCY_SLO_MS: z.preprocess(blankAsUndefined, seconds(1000)),
  COGNITIVE_TIMEOUT_S: z.preprocess(blankAsUndefined, seconds(8)),
  COGNITIVE_MAX_INFLIGHT: z.preprocess(blankAsUndefined, count(64)),
  /** An OpenAI-compatible base URL (POST {url}/chat/completions): escalation plans come from it; unset: the deterministic planner. */
  COGNITIVE_URL: z.preprocess(blankAsUndefined, z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional()),
  /**
   * The model: named in the chat-completions request to COGNITIVE_URL (unset: gpt-4o-mini), or —
   * without COGNITIVE_URL — the Workers AI model `env.AI.run` is asked (needs an [ai] binding).
   */
  COGNITIVE_MODEL: z.preprocess(blankAsUndefined, z.string().min(1).max(200).optional()),
  /** Secret: sent as `Authorization: Bearer …` to COGNITIVE_URL. */
  COGNITIVE_API_KEY: z.preprocess(blankAsUndefined, z.string().min(1).optional()),
  /** Named service clients for task code (ctx.services.<name>), JSON: {name: {url | binding, timeout_s, retries, breaker, rate, headers}}. */
  SERVICES: z.preprocess(blankAsUndefined, servicesConfigSchema),
  /** Unset: 16, or the most the invocation's D1 budget allows a pass (8 on Workers Free). */
  MAX_PLAN_STEPS: z.preprocess(blankAsUndefined, z.coerce.number().int().positive().optional()),
  MAX_TASK_ATTEMPTS: z.preprocess(blankAsUndefined, count(3)),
  TASK_LEASE_S: z.preprocess(blankAsUndefined, seconds(120)),
  HEARTBEAT_S: z.preprocess(blankAsUndefined, seconds(20)),
  DISPATCH_TIMEOUT_S: z.preprocess(blankAsUndefined, seconds(120)),
  /** Seconds one attempt of a task may run unless its definition says (timeout_s); at most 840 (a consumer invocation lasts 15 min). */
  TASK_TIMEOUT_S: z.preprocess(blankAsUndefined, z.coerce.number().finite().positive().max(840).default(60)),
  REAPER_INTERVAL_S: z.preprocess(blankAsUndefined, seconds(15)),
  RETRY_BASE_S: z.preprocess(blankAsUndefined, seconds(10)),
  RETRY_MAX_S: z.preprocess(blankAsUndefined, seconds(300)),
  SWEEP_AFTER_S: z.preprocess(blankAsUndefined, seconds(60)),
  REAP_BATCH: z.preprocess(blankAsUndefined, count(200)),
  RETAIN_COMPLETED_S: z.preprocess(blankAsUndefined, retention(7 * 86_400)),
  RETAIN_CANCELLED_S: z.preprocess(blankAsUndefined, retention(7 * 86_400)),
  RETAIN_FAILED_S: z.preprocess(blankAsUndefined, retention(30 * 86_400)),
  /** Rows per retention DELETE: one chunk holds D1's write lock, so it stays short. */
  RETENTION_BATCH: z.preprocess(blankAsUndefined, z.coerce.number().int().min(1).max(10_000).default(500)),
  ORGANISM_CONFIG: z.preprocess(blankAsUndefined, z.string().optional()),
  CB_FAILURE_THRESHOLD: z.preprocess(blankAsUndefined, count(5)),
  CB_RECOVERY_S: z.preprocess(blankAsUndefined, seconds(30)),
  ORGANISM_MAX_INFLIGHT_TASKS: z.preprocess(blankAsUndefined, count(4000)),
  /** A handler result larger than this fails its task; at most 1 MiB so one result fits a D1 statement. */
  RESULT_MAX_BYTES: z.preprocess(blankAsUndefined, z.coerce.number().int().min(1024).max(1024 * 1024).default(262_144)),
  RATE_LIMIT_ENABLED: z.preprocess(blankAsUndefined, z.enum(["true", "false"]).default("true").transform((v) => v === "true")),
  /** Must equal `period` of the [[ratelimits]] binding (the binding cannot report it); sent as Retry-After. */
  RATE_LIMIT_PERIOD_S: z.preprocess(blankAsUndefined, z.coerce.number().pipe(z.union([z.literal(10), z.literal(60)])).default(10)),
  API_TOKEN: z.preprocess(blankAsUndefined, z.string().min(1).optional()),
  /**
   * Secret: pull workers' bearer tokens, each with the types it may lease, JSON:
   * `{"tok-abc": ["transcode"], "tok-def": ["*"]}`. A worker token is accepted only on the pull-worker routes.
   */
  WORKER_TOKENS: z.preprocess(blankAsUndefined, workerTokens),
  /** Signs completion webhooks (secret); a task with a callback_url is refused while it is unset. */
  WEBHOOK_SECRET: z.preprocess(blankAsUndefined, z.string().min(1).optional()),
  /** Local development only (`npm run dev` sets it): callback_url may be http(s) to a loopback host. */
  WEBHOOK_ALLOW_LOOPBACK: z.preprocess(blankAsUndefined, z.enum(["true", "false"]).default("false").transform((v) => v === "true")),
  /** http executors may post to loopback hosts (local development); unset: as WEBHOOK_ALLOW_LOOPBACK. */
  EXECUTOR_ALLOW_LOOPBACK: z.preprocess(blankAsUndefined, z.enum(["true", "false"]).optional().transform((v) => (v === undefined ? undefined : v === "true"))),
  /** Task type → executor (`{"kind":"http","url":…}` or `{"kind":"service","binding":…,"method"?:…}`), JSON; a type only here is defined by it. */
  TASK_EXECUTORS: z.preprocess(blankAsUndefined, taskExecutors),
  WEBHOOK_TIMEOUT_S: z.preprocess(blankAsUndefined, seconds(10)),
  /** Delay before the second try; each later one doubles it, up to 10 minutes. */
  WEBHOOK_RETRY_BASE_S: z.preprocess(blankAsUndefined, seconds(10)),
  /** Must equal max_retries of the seedcore-webhooks consumer (the queue cannot report it): the timeline says when the last try failed. */
  WEBHOOK_MAX_RETRIES: z.preprocess(blankAsUndefined, z.coerce.number().int().min(0).max(100).default(5)),
  /** Default concurrency limit per key prefix, e.g. {"tenant:": 5}; the longest matching prefix wins. */
  CONCURRENCY_LIMITS: z.preprocess(blankAsUndefined, concurrencyLimits),
  /** A cron slot later than this is missed (its schedule's `missed` policy applies); a later alarm still fires it. */
  SCHEDULE_GRACE_S: z.preprocess(blankAsUndefined, seconds(60)),
  /**
   * D1 queries one Worker invocation may make: 1000 on Workers Paid, 50 on Free. The dispatcher's
   * passes (their number and size) and the maintenance alarm's budgets follow it.
   */
  D1_QUERIES_PER_INVOCATION: z.preprocess(blankAsUndefined, z.coerce.number().int().min(50).max(100_000).default(1000)),
});

/**
 * A lease must survive a missed heartbeat or two: with HEARTBEAT_S above a third of TASK_LEASE_S,
 * one slow renewal lets the reaper take a task that is still running, and it runs again.
 */
/** The default MAX_PLAN_STEPS: 16, fewer when a pass with 16 could not fit the D1 budget. */
export const DEFAULT_MAX_PLAN_STEPS = 16;

type ParsedFields = Omit<z.infer<typeof configFields>, "MAX_PLAN_STEPS"> & { MAX_PLAN_STEPS: number };

const configSchema = configFields
  .transform((c): ParsedFields => {
    if (c.MAX_PLAN_STEPS !== undefined) return { ...c, MAX_PLAN_STEPS: c.MAX_PLAN_STEPS };
    let steps = DEFAULT_MAX_PLAN_STEPS;
    while (steps > 1 && passBudgetProblem({ ...c, MAX_PLAN_STEPS: steps }) !== null) steps--;
    return { ...c, MAX_PLAN_STEPS: steps };
  })
  .refine((c) => c.HEARTBEAT_S * 3 <= c.TASK_LEASE_S, {
    path: ["HEARTBEAT_S"],
    error: (issue) => {
      const c = issue.input as ParsedFields;
      return `HEARTBEAT_S (${c.HEARTBEAT_S}) must be at most a third of TASK_LEASE_S (${c.TASK_LEASE_S})`;
    },
  })
  .superRefine((c, ctx) => {
    for (const [type, executor] of Object.entries(c.TASK_EXECUTORS)) {
      if (executor.kind !== "http") continue;
      const problem = callbackUrlProblem(executor.url, c.EXECUTOR_ALLOW_LOOPBACK ?? c.WEBHOOK_ALLOW_LOOPBACK);
      if (problem) ctx.addIssue({ code: "custom", path: ["TASK_EXECUTORS", type, "url"], message: problem });
      else if (!c.WEBHOOK_SECRET) ctx.addIssue({ code: "custom", path: ["TASK_EXECUTORS", type], message: "an http executor needs WEBHOOK_SECRET (it signs the request)" });
    }
  })
  .refine((c) => c.API_TOKEN === undefined || !Object.hasOwn(c.WORKER_TOKENS, c.API_TOKEN), {
    path: ["WORKER_TOKENS"],
    error: "a worker token must differ from API_TOKEN",
  })
  // A dispatcher that cannot afford one pass would claim nothing, ever.
  .refine((c) => passBudgetProblem(c) === null, {
    path: ["D1_QUERIES_PER_INVOCATION"],
    error: (issue) => passBudgetProblem(issue.input as ParsedFields) ?? "",
  });

export type Config = z.infer<typeof configSchema>;

export type ConfigResult = { ok: true; config: Config } | { ok: false; error: string };

type EnvVars = Partial<Record<keyof z.input<typeof configFields>, unknown>>;

/** An isolate reuses one env object across requests: parse it once, not on every request. */
const parsedByEnv = new WeakMap<EnvVars, ConfigResult>();

/** The one place env vars are read; everything else receives a typed Config. */
export function parseConfig(env: EnvVars): ConfigResult {
  const cached = parsedByEnv.get(env);
  if (cached) return cached;
  const result = parseEnv(env);
  parsedByEnv.set(env, result);
  return result;
}

/** Secrets whose keys are secret too: an issue names the variable, never the key (a worker token). */
const SECRET_KEYED = new Set<PropertyKey>(["WORKER_TOKENS"]);

function redactedPath(path: readonly PropertyKey[]): PropertyKey[] {
  return path.length > 0 && SECRET_KEYED.has(path[0] as PropertyKey) ? [path[0] as PropertyKey] : [...path];
}

function parseEnv(env: EnvVars): ConfigResult {
  const parsed = configSchema.safeParse(env);
  if (parsed.success) return { ok: true, config: parsed.data };
  const error = parsed.error.issues.map((i) => `${redactedPath(i.path).join(".")}: ${i.message}`).join("; ");
  return { ok: false, error: `invalid configuration: ${error}` };
}

/** Config for code paths that must not run on a broken config (dispatch, reaper). */
export function requireConfig(env: EnvVars): Config {
  const result = parseConfig(env);
  if (!result.ok) throw new Error(result.error);
  return result.config;
}
