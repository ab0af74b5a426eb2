import { requireConfig } from "../config";
import { errorMessage } from "../lib/error-message";
import { SERVICE_NAME, SERVICE_VERSION } from "../version";
import { callbackUrlProblem } from "../webhooks/callback-url";
import { signatureHeader } from "../webhooks/signature";
import type { TaskContext } from "./define-task";
import type { HttpExecutor, ServiceExecutor, TaskExecutor } from "./executor-spec";
import { HandedOffError, PermanentError, RetryAfterError } from "./errors";

export type { HttpExecutor, ServiceExecutor, TaskExecutor } from "./executor-spec";

/** The bytes of a refusing answer's body quoted in the task's error. */
export const ERROR_BODY_BYTES = 512;

/** What a receiver (http) or an entrypoint method (service) gets: the task as it runs this attempt. */
export interface ExecutorTask {
  id: string;
  type: string;
  params: unknown;
  attempt: number;
  /** When this attempt's time is up (ISO-8601); the request is cut then. */
  deadline: string;
  description: string | null;
  domain: string | null;
}

const taskOf = (params: unknown, ctx: TaskContext): ExecutorTask => ({
  id: ctx.task.id,
  type: ctx.task.type,
  params,
  attempt: ctx.attempt,
  deadline: new Date(ctx.deadline).toISOString(),
  description: ctx.task.description,
  domain: ctx.task.domain,
});

/** The `run` of a definition whose work an executor does: the task's context (deadline signal, cancel) applies unchanged. */
export function executorRun(executor: TaskExecutor): (params: unknown, ctx: TaskContext) => Promise<unknown> {
  if (executor.kind === "http") return (params, ctx) => runHttp(executor, params, ctx);
  if (executor.kind === "service") return (params, ctx) => runService(executor, params, ctx);
  return runPull;
}

/**
 * A pull type's run: never reached through the dispatcher (its claim skips pull types); a direct
 * run (POST /organism/handle-task) fails for good, saying where its work is done.
 */
export async function runPull(_params: unknown, ctx: TaskContext): Promise<never> {
  throw new PermanentError(`'${ctx.task.type}' is a pull type: pull workers lease its tasks (POST /workers/lease); it is not run here`);
}

/** Whether http executors may post to loopback hosts: EXECUTOR_ALLOW_LOOPBACK, else WEBHOOK_ALLOW_LOOPBACK. */
export function executorLoopbackAllowed(config: { EXECUTOR_ALLOW_LOOPBACK?: boolean | undefined; WEBHOOK_ALLOW_LOOPBACK: boolean }): boolean {
  return config.EXECUTOR_ALLOW_LOOPBACK ?? config.WEBHOOK_ALLOW_LOOPBACK;
}

/**
 * How long an endpoint that answered 202 holds the task before the reaper takes it back (unless
 * it heartbeats): the attempt's time (the type's timeout_s, else TASK_TIMEOUT_S), at least TASK_LEASE_S.
 */
export function handOffLeaseMs(config: { TASK_LEASE_S: number }, ctx: Pick<TaskContext, "deadline" | "now">): number {
  return Math.max(config.TASK_LEASE_S * 1000, ctx.deadline - ctx.now());
}

/** Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), or null. */
export function retryAfterSeconds(header: string | null, now: number): number | null {
  if (header === null) return null;
  const text = header.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

async function bodyStart(res: Response): Promise<string> {
  try {
    const text = await res.text();
    return text.length > ERROR_BODY_BYTES ? `${text.slice(0, ERROR_BODY_BYTES)} …` : text;
  } catch {
    return "";
  }
}

/**
 * POSTs the task JSON, signed with WEBHOOK_SECRET (the `SeedCore-Signature` scheme of webhooks),
 * with `SeedCore-Task-Id`, `SeedCore-Attempt` and `SeedCore-Deadline`. The answer decides: 2xx
 * with JSON → the result; 429/503 with Retry-After → retry then; other 5xx, no answer → retry
 * with backoff; 3xx (never followed), other 4xx, or a failure with `SeedCore-NonRetryable: true` → failed.
 */
export async function runHttp(executor: HttpExecutor, params: unknown, ctx: TaskContext): Promise<unknown> {
  const config = requireConfig(ctx.env);
  const problem = callbackUrlProblem(executor.url, executorLoopbackAllowed(config));
  if (problem) throw new PermanentError(`http executor: url ${problem}`);
  if (!config.WEBHOOK_SECRET) throw new Error("http executor: not sent: WEBHOOK_SECRET is not set (it signs the request)");
  const body = JSON.stringify(taskOf(params, ctx));
  // A stored task's request carries its lease: the endpoint may answer 202 and finish it through the pull routes.
  const leaseToken = (await ctx.leaseToken?.()) ?? null;
  const leaseExpiresAt = ctx.now() + handOffLeaseMs(config, ctx);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json",
    "user-agent": `${SERVICE_NAME}/${SERVICE_VERSION}`,
    "seedcore-signature": await signatureHeader(config.WEBHOOK_SECRET, body, Math.floor(ctx.now() / 1000)),
    "seedcore-task-id": ctx.task.id,
    "seedcore-attempt": String(ctx.attempt),
    "seedcore-deadline": new Date(ctx.deadline).toISOString(),
    ...(leaseToken === null ? {} : { "seedcore-lease-token": leaseToken, "seedcore-lease-expires": new Date(leaseExpiresAt).toISOString() }),
  };
  let res: Response;
  try {
    res = await fetch(executor.url, { method: "POST", headers, body, redirect: "manual", signal: ctx.signal });
  } catch (err) {
    if (ctx.signal.aborted) throw err; // the deadline or a cancel: the run maps it
    throw new Error(`http executor: ${executor.url} could not be reached: ${errorMessage(err)}`);
  }
  const status = res.status;
  const said = (text: string) => `http executor: ${executor.url} answered ${status}${text ? `: ${text}` : ""}`;
  if (status >= 200 && status < 300) {
    if (status === 202) {
      await res.body?.cancel();
      // The endpoint took the work: the task stays running under the lease its request carried.
      if (leaseToken === null) throw new Error(said("accepted for later completion, but this run is not stored (no lease to finish it with)"));
      throw new HandedOffError(said(`accepted; the endpoint finishes it through the pull routes, lease until ${new Date(leaseExpiresAt).toISOString()}`), leaseExpiresAt);
    }
    const text = await res.text();
    if (text.trim() === "") return null;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new PermanentError(said(`the body is not JSON: ${text.slice(0, ERROR_BODY_BYTES)}`));
    }
  }
  if (res.headers.get("seedcore-nonretryable")?.trim().toLowerCase() === "true") throw new PermanentError(said(`(non-retryable) ${await bodyStart(res)}`.trim()));
  if (status === 429 || status === 503) {
    const after = retryAfterSeconds(res.headers.get("retry-after"), ctx.now());
    const text = await bodyStart(res);
    if (after !== null) throw new RetryAfterError(said(`retry after ${after}s${text ? `: ${text}` : ""}`), after);
    throw new Error(said(text));
  }
  if (status >= 500) throw new Error(said(await bodyStart(res)));
  if (status >= 300 && status < 400) {
    await res.body?.cancel();
    throw new PermanentError(said(`redirects are not followed (location: ${res.headers.get("location") ?? "none"})`));
  }
  throw new PermanentError(said(await bodyStart(res)));
}

/** What an entrypoint method gets besides the task (RPC passes these functions as stubs). */
export interface ExecutorContext {
  heartbeat(details?: unknown): Promise<{ cancel_requested: boolean }>;
  progress(progress: number | { current: number; total?: number; message?: string }): void;
}

/** `permanent: …` → failed; `retry_after=S: …` → retry in S seconds; anything else → retry with backoff. */
export function serviceError(err: unknown): Error {
  const message = errorMessage(err);
  if (/^permanent:/i.test(message)) return new PermanentError(message);
  const retry = /^retry_after=(\d+(?:\.\d+)?)\s*:/i.exec(message);
  if (retry) return new RetryAfterError(message, Number(retry[1]));
  return err instanceof Error ? err : new Error(message);
}

type RpcTarget = Record<string, unknown>;

/** Calls `method` of the bound entrypoint with the task and a context; its return value is the result. */
export async function runService(executor: ServiceExecutor, params: unknown, ctx: TaskContext): Promise<unknown> {
  const method = executor.method ?? "run";
  const target = (ctx.env as unknown as Record<string, unknown>)[executor.binding] as RpcTarget | undefined;
  if (target === undefined || target === null) throw new PermanentError(`service executor: this Worker has no binding '${executor.binding}'`);
  const call = target[method];
  if (typeof call !== "function") throw new PermanentError(`service executor: binding '${executor.binding}' has no method '${method}'`);
  const context: ExecutorContext = {
    heartbeat: (details) => ctx.heartbeat(details),
    progress: (progress) => ctx.progress(progress),
  };
  try {
    return await (target as Record<string, (task: ExecutorTask, context: ExecutorContext) => Promise<unknown>>)[method]!(taskOf(params, ctx), context);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    throw serviceError(err);
  }
}
