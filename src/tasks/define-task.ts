import type { z } from "zod";
import { taskTypeSchema } from "../schemas/task";
import type { ServiceClient } from "../services/service-client";
import type { ParentView } from "../store/parent-results";
import { executorSchema, type TaskExecutor } from "./executor-spec";
import { executorRun } from "./executors";

/** What a task's code gets besides its params (DESIGN §16). It never sees the task store or the queue. */
export interface TaskContext {
  /** The Worker's bindings and secrets (KV, R2, AI, service bindings, vars). */
  env: Env;
  /** Aborts at the attempt's deadline, when the task is cancelled, or when its lease is lost. */
  signal: AbortSignal;
  /** When this attempt's time is up (epoch ms). */
  deadline: number;
  /** 1-based number of this attempt. */
  attempt: number;
  task: TaskInfo;
  /** What the previous attempt last passed to `heartbeat` (null on a first attempt or when it never did). */
  lastHeartbeat: unknown;
  /** Extends the lease and stores `details` for a later attempt; says whether the task was cancelled. */
  heartbeat(details?: unknown): Promise<{ cancel_requested: boolean }>;
  /** Stored at most about once a second (the last call always wins); shown in the task JSON, dashboard and CLI. */
  progress(progress: number | TaskProgress): void;
  /**
   * Runs `fn` once per task: its result is stored with the task, and any later attempt gets the
   * stored result without running `fn` again. Results are JSON, at most RESULT_MAX_BYTES.
   */
  step<T>(name: string, fn: () => T | Promise<T>): Promise<T>;
  /** Submits a child task, once per parent and `key`: a retried parent gets the same child back. */
  submit(child: ChildTask, key: string): Promise<{ id: string; created: boolean }>;
  /** A capped per-task log, served with the timeline (GET /tasks/{id}/events). */
  log: TaskLog;
  /** Now, as the organ's clock says (tests may fix it). */
  now(): number;
  /** Waits `ms`, or rejects as soon as `signal` aborts. */
  sleep(ms: number): Promise<void>;
  /**
   * The named services of the SERVICES config: `fetch(path, init)` / `json(path, init)` with the
   * service's timeout (never past the deadline), retries, circuit breaker and rate. An open
   * circuit or a used-up rate throws a DeferredError: let it propagate, and the task retries
   * later with its attempt given back.
   */
  services: Record<string, ServiceClient>;
  /**
   * The token the pull routes (POST /tasks/{id}/heartbeat|complete|fail) accept for this attempt:
   * what an http executor's request carries (SeedCore-Lease-Token) so its endpoint may answer 202
   * and finish the task later. Null for a run nothing is stored of.
   */
  leaseToken?(): Promise<string | null>;
}

export interface TaskInfo {
  id: string;
  type: string;
  description: string | null;
  domain: string | null;
  /** A dependent's parents by id: their status, result and error (null when the task has none). */
  parents: Record<string, ParentView> | null;
}

export type { ParentView } from "../store/parent-results";

export interface TaskProgress {
  current: number;
  total?: number;
  message?: string;
}

export interface ChildTask {
  type: string;
  params?: Record<string, unknown>;
  description?: string;
  domain?: string;
  priority?: number;
  max_attempts?: number;
}

export type LogLevel = "info" | "warn" | "error";
export type TaskLog = Record<LogLevel, (message: string, data?: unknown) => void>;

/** A retry policy of a type: RETRY_BASE_S × 2^(attempt−1), capped at RETRY_MAX_S, ±20 %. */
export interface RetryPolicy {
  base_s: number;
  max_s: number;
}

export interface TaskDefinition<P extends z.ZodType = z.ZodType, R = unknown> {
  /** The task type clients submit (a-z, 0-9 and _ . : -). */
  type: string;
  /** Checked at submission (400 naming the field) and parsed again before `run`. */
  params: P;
  run(params: z.output<P>, ctx: TaskContext): R | Promise<R>;
  /** Per attempt; default TASK_TIMEOUT_S. */
  timeout_s?: number;
  /** Default MAX_TASK_ATTEMPTS; a submission's own max_attempts wins. */
  max_attempts?: number;
  /** Default RETRY_BASE_S / RETRY_MAX_S. */
  retry?: RetryPolicy;
  /** The organ that runs it; default: the organ whose task_types list it, else the first organ. */
  organ?: string;
  /** One line for GET /types. */
  description?: string;
  /**
   * `false`: `run` opens no outgoing connection (no `fetch`, no binding call, no `ctx` write, no
   * `ctx.services`), so up to QUIET_CALL_TASKS of its tasks share one organ call instead of 6
   * (dispatch/organ-calls.ts): less CPU per task for pure computation. Default: it may open some.
   */
  opens_connections?: boolean;
  /**
   * Where the work runs when not in this Worker: `{kind: "http", url}` (a signed POST) or
   * `{kind: "service", binding, method?}` (RPC to another Worker). `run` is then the executor.
   */
  executor?: TaskExecutor;
}

/** What `defineTask` takes: a `run`, or an `executor` that does the work. */
export type TaskDefinitionInput<P extends z.ZodType, R> = Omit<TaskDefinition<P, R>, "run" | "executor"> &
  ({ run: TaskDefinition<P, R>["run"]; executor?: undefined } | { executor: TaskExecutor; run?: undefined });

/** A definition of any params type (what the registry holds). */
export type AnyTaskDefinition = TaskDefinition<z.ZodType, unknown>;

/** The most seconds one attempt may run: a queue consumer invocation ends at 15 minutes. */
export const MAX_TIMEOUT_S = 840;

/** Why a definition cannot be used, or null. */
export function definitionProblem(def: AnyTaskDefinition): string | null {
  const type = taskTypeSchema.safeParse(def.type);
  if (!type.success) return `type '${String(def.type)}': ${type.error.issues[0]?.message ?? "invalid"}`;
  if (def.executor !== undefined) {
    const executor = executorSchema.safeParse(def.executor);
    if (!executor.success) return `${def.type}: executor ${executor.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`;
  }
  if (typeof def.run !== "function") return `${def.type}: ${def.executor === undefined ? "run must be a function" : "run must be a function (defineTask builds it from executor)"}`;
  if (def.timeout_s !== undefined && !(def.timeout_s > 0 && def.timeout_s <= MAX_TIMEOUT_S)) return `${def.type}: timeout_s must be in (0, ${MAX_TIMEOUT_S}]`;
  if (def.max_attempts !== undefined && !(Number.isInteger(def.max_attempts) && def.max_attempts >= 1 && def.max_attempts <= 20)) return `${def.type}: max_attempts must be an integer in 1..20`;
  if (def.retry !== undefined && !(def.retry.base_s > 0 && def.retry.max_s >= def.retry.base_s)) return `${def.type}: retry needs 0 < base_s <= max_s`;
  if (def.opens_connections !== undefined && typeof def.opens_connections !== "boolean") return `${def.type}: opens_connections must be true or false`;
  if (def.opens_connections === false && def.executor !== undefined) return `${def.type}: an executor opens connections (opens_connections: false is for run)`;
  return null;
}

/**
 * Defines a task type. The definition is checked here (a bad one throws at start-up, not at the
 * first task); it runs once it is registered (`seedcore({ tasks })` or `registerTasks`).
 */
export function defineTask<const T extends string, P extends z.ZodType, R>(input: TaskDefinitionInput<P, R> & { type: T }): TaskDefinition<P, R> & { type: T } {
  if (input.executor !== undefined && (input as { run?: unknown }).run !== undefined) throw new TypeError(`defineTask: ${input.type}: give run or executor, not both`);
  const def = (input.executor === undefined ? input : { ...input, run: withExecutor(input.executor) }) as TaskDefinition<P, R> & { type: T };
  const problem = definitionProblem(def as unknown as AnyTaskDefinition);
  if (problem) throw new TypeError(`defineTask: ${problem}`);
  return def;
}

/** The run of an executor (checked first, so a bad executor is named rather than failing when built). */
function withExecutor(executor: TaskExecutor): (params: unknown, ctx: TaskContext) => Promise<unknown> {
  const parsed = executorSchema.safeParse(executor);
  return parsed.success ? executorRun(parsed.data) : () => Promise.reject(new Error("invalid executor"));
}
