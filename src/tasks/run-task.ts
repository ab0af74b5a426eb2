import { errorMessage } from "../lib/error-message";
import { utf8Bytes } from "../lib/platform-limits";
import type { AnyTaskDefinition, ChildTask, LogLevel, ParentView, TaskContext, TaskProgress } from "./define-task";
import { servicesFor } from "../services/registry";
import type { ServiceSpecs } from "../services/service-spec";
import { DeferredError, HandedOffError, PermanentError, RetryAfterError } from "./errors";

/** One task to run, as the organ gets it (the one shape a task takes on its way to its code). */
export interface TaskWork {
  id: string;
  type: string;
  params: Record<string, unknown>;
  description: string | null;
  domain: string | null;
  /** 1-based number of this attempt. */
  attempt: number;
  /** The claim's fencing token; null for a run nothing is stored of (POST /organism/execute). */
  token: string | null;
  /** When the attempt's time is up (epoch ms). */
  deadline: number;
  parents: Record<string, ParentView> | null;
  /** What the previous attempt last passed to ctx.heartbeat. */
  last_heartbeat: unknown;
}

/** How a run ended, before routing details are added. */
export type RunVerdict =
  | { ok: true; result: unknown }
  /** `retryAfterMs`: a RetryAfterError's time; `timedOut`: the deadline passed and the run's own answer was discarded. */
  /** `notRun`: the code gave up before doing its work (a DeferredError: a service's circuit open or rate used up), so its attempt is given back. */
  /** `handOff`: an http endpoint accepted the work (202) and finishes it through the pull routes; the task stays running under a lease until then (epoch ms). */
  | { ok: false; error: string; retriable: boolean; retryAfterMs?: number; timedOut?: true; cancelled?: true; notRun?: true; handOff?: number };

/** Where a run's context writes: the task row (a claimed task), or nowhere (an unstored run). */
export interface TaskChannel {
  /** false: the claim no longer holds the task (cancelled, re-leased). */
  heartbeat(detailsJson: string | null): Promise<boolean>;
  saveProgress(progressJson: string): Promise<boolean>;
  readSteps(): Promise<Map<string, string>>;
  saveStep(name: string, resultJson: string): Promise<boolean>;
  appendLogs(entriesJson: string): Promise<boolean>;
  submit(child: ChildTask, key: string): Promise<{ id: string; created: boolean }>;
  /** The lease token the pull routes accept for this attempt; null for an unstored run. */
  leaseToken(): Promise<string | null>;
}

export interface RunDeps {
  env: Env;
  channel: TaskChannel;
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  resultMaxBytes: number;
  /** Where the caller finds how to stop this run from outside (cancel, lost lease): runTask sets `stop`. */
  control: RunControl;
  /** Calls `expire` at the deadline unless the returned function is called first (one timer for many runs). */
  watchDeadline(at: number, expire: () => void): () => void;
  /** The SERVICES config: ctx.services (none when unset). */
  services?: ServiceSpecs;
  /** The services' retry jitter, nothing else (default Math.random). */
  random?: () => number;
}

export interface RunControl {
  stop?: (reason: Error) => void;
}

/** Progress is written at most this often; the last value always is. */
export const PROGRESS_INTERVAL_MS = 1000;
const MAX_LOG_MESSAGE_BYTES = 2048;

class Cancelled extends Error {
  override name = "Cancelled";
}
class DeadlineExceeded extends Error {
  override name = "DeadlineExceeded";
}

/** A JSON copy of `value` (undefined → null), or why it cannot be stored. */
function asJson(value: unknown, maxBytes: number, what: string): { ok: true; json: string } | { ok: false; error: string } {
  let json: string;
  try {
    json = JSON.stringify(value === undefined ? null : value);
  } catch (err) {
    return { ok: false, error: `${what} is not JSON: ${errorMessage(err)}` };
  }
  const bytes = utf8Bytes(json);
  if (bytes > maxBytes) return { ok: false, error: `${what} of ${bytes} bytes exceeds RESULT_MAX_BYTES (${maxBytes})` };
  return { ok: true, json };
}

/** The zod issue paths as `params.a.b: message`. */
function paramsProblem(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues.map((i) => `${["params", ...i.path.map(String)].join(".")}: ${i.message}`).join("; ");
}

/**
 * Runs one task's code with its context: params parsed by the definition's schema, a signal that
 * aborts at the deadline or on cancel, the thrown error mapped to the outcome (PermanentError →
 * failed, RetryAfterError → retry then, anything else → retry with backoff). A result arriving
 * after the deadline is discarded.
 */
export async function runTask(def: AnyTaskDefinition | undefined, work: TaskWork, deps: RunDeps): Promise<RunVerdict> {
  if (!def) return { ok: false, retriable: false, error: `unknown task type '${work.type}' (no definition)` };
  const parsed = def.params.safeParse(work.params);
  if (!parsed.success) return { ok: false, retriable: false, error: `invalid params: ${paramsProblem(parsed.error.issues)}` };

  // The signal exists only once the code asks for it: most short tasks never do.
  let controller: AbortController | undefined;
  let stopped: Error | undefined;
  let rejectAborted: (reason: Error) => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => (rejectAborted = reject));
  aborted.catch(() => undefined);
  const stop = (reason: Error) => {
    if (stopped) return;
    stopped = reason;
    controller?.abort(reason);
    rejectAborted(reason);
  };
  const signalOf = () => {
    if (!controller) {
      controller = new AbortController();
      if (stopped) controller.abort(stopped);
    }
    return controller.signal;
  };
  deps.control.stop = (reason) => stop(new Cancelled(`task ${work.id}: ${reason.message}`));
  const unwatch = deps.watchDeadline(work.deadline, () => stop(new DeadlineExceeded(`deadline passed`)));
  const writer = contextWriter(work, deps, stop);
  let services: TaskContext["services"] | undefined;
  const ctx: TaskContext = {
    env: deps.env,
    get signal() {
      return signalOf();
    },
    deadline: work.deadline,
    attempt: work.attempt,
    task: { id: work.id, type: work.type, description: work.description, domain: work.domain, parents: work.parents },
    lastHeartbeat: work.last_heartbeat ?? null,
    heartbeat: writer.heartbeat,
    progress: writer.progress,
    step: writer.step,
    submit: (child, key) => deps.channel.submit(child, key),
    leaseToken: () => deps.channel.leaseToken(),
    log: writer.log,
    now: deps.now,
    sleep: (ms) => deps.sleep(ms, signalOf()),
    // Made on first use: most tasks call no service.
    get services() {
      services ??= servicesFor(deps.services ?? {}, deps.env, { signal: signalOf(), deadline: work.deadline, now: deps.now, sleep: deps.sleep, random: deps.random ?? Math.random /* retry jitter only */ });
      return services;
    },
  };
  try {
    const value = await Promise.race([Promise.resolve().then(() => def.run(parsed.data, ctx)), aborted]);
    if (stopped) return verdictOfAbort(stopped, def, work);
    const json = asJson(value, deps.resultMaxBytes, "result");
    if (!json.ok) return { ok: false, retriable: false, error: json.error };
    return { ok: true, result: JSON.parse(json.json) as unknown };
  } catch (err) {
    if (stopped) return verdictOfAbort(stopped, def, work);
    if (err instanceof PermanentError) return { ok: false, retriable: false, error: errorMessage(err) };
    if (err instanceof HandedOffError) return { ok: false, retriable: true, handOff: err.leaseExpiresAt, error: errorMessage(err) };
    if (err instanceof DeferredError) return { ok: false, retriable: true, notRun: true, retryAfterMs: err.retryAfterMs, error: errorMessage(err) };
    if (err instanceof RetryAfterError) return { ok: false, retriable: true, retryAfterMs: Math.round(err.retryAfterS * 1000), error: errorMessage(err) };
    return { ok: false, retriable: true, error: errorMessage(err) };
  } finally {
    unwatch();
    deps.control.stop = undefined;
    await writer.flush();
  }
}

function verdictOfAbort(reason: unknown, def: AnyTaskDefinition, work: TaskWork): RunVerdict {
  if (reason instanceof DeadlineExceeded) {
    return { ok: false, retriable: true, timedOut: true, error: `timed out: attempt ${work.attempt} of '${def.type}' passed its deadline (timeout_s); its late result is discarded` };
  }
  return { ok: false, retriable: false, cancelled: true, error: errorMessage(reason) };
}

/** The context's writes: progress throttled, log lines buffered, steps loaded once and stored as they finish. */
function contextWriter(work: TaskWork, deps: RunDeps, stop: (reason: Error) => void) {
  const { channel } = deps;
  let steps: Promise<Map<string, string>> | undefined;
  let pendingProgress: string | null = null;
  let lastProgressAt = -Infinity;
  let progressTimer: ReturnType<typeof setTimeout> | null = null;
  let logs: unknown[] = [];
  let writing: Promise<unknown> = Promise.resolve();

  const lost = () => stop(new Cancelled(`task ${work.id} is no longer held by this run (cancelled, or its lease was lost)`));
  /** Writes one after another, never throwing: progress and logs are best effort. */
  const enqueue = (write: () => Promise<boolean>) => {
    writing = writing.then(write).then(
      (held) => held || lost(),
      (err: unknown) => console.warn(`task ${work.id}: context write failed`, err),
    );
    return writing;
  };
  const writeProgress = () => {
    progressTimer = null;
    if (pendingProgress === null) return;
    const json = pendingProgress;
    pendingProgress = null;
    lastProgressAt = deps.now();
    void enqueue(() => channel.saveProgress(json));
  };
  const writeLogs = () => {
    if (logs.length === 0) return;
    const json = JSON.stringify(logs);
    logs = [];
    void enqueue(() => channel.appendLogs(json));
  };
  const flushSoon = () => {
    if (progressTimer !== null) return;
    progressTimer = setTimeout(() => {
      writeProgress();
      writeLogs();
    }, Math.max(0, lastProgressAt + PROGRESS_INTERVAL_MS - deps.now()));
  };
  const logAt = (level: LogLevel) => (message: string, data?: unknown) => {
    const text = String(message);
    logs.push([deps.now(), work.attempt, level, utf8Bytes(text) > MAX_LOG_MESSAGE_BYTES ? `${text.slice(0, MAX_LOG_MESSAGE_BYTES)} …` : text, data === undefined ? null : jsonOrNote(data)]);
    flushSoon();
  };

  return {
    async heartbeat(details?: unknown): Promise<{ cancel_requested: boolean }> {
      const json = details === undefined ? null : asJson(details, deps.resultMaxBytes, "heartbeat details");
      if (json && !json.ok) throw new PermanentError(json.error);
      let held: boolean;
      try {
        held = await channel.heartbeat(json ? json.json : null);
      } catch (err) {
        console.warn(`task ${work.id}: heartbeat failed`, err);
        return { cancel_requested: false };
      }
      if (!held) lost();
      return { cancel_requested: !held };
    },
    progress(progress: number | TaskProgress): void {
      const value = typeof progress === "number" ? { current: progress } : progress;
      if (typeof value.current !== "number" || !Number.isFinite(value.current)) throw new TypeError("progress needs a finite number (or {current, total, message})");
      const message = value.message === undefined ? undefined : String(value.message).slice(0, 500);
      pendingProgress = JSON.stringify({ current: value.current, total: value.total ?? null, message: message ?? null, at: deps.now() });
      flushSoon();
    },
    async step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
      if (typeof name !== "string" || name === "" || name.length > 200) throw new PermanentError("a step needs a name of 1-200 characters");
      steps ??= channel.readSteps();
      const done = (await steps).get(name);
      if (done !== undefined) return JSON.parse(done) as T;
      const value = await fn();
      const json = asJson(value, deps.resultMaxBytes, `step '${name}' result`);
      if (!json.ok) throw new PermanentError(json.error);
      if (!(await channel.saveStep(name, json.json))) {
        lost();
        throw new Cancelled(`step '${name}' finished but the task is no longer held; its result was not stored`);
      }
      (await steps).set(name, json.json);
      return JSON.parse(json.json) as T;
    },
    log: { info: logAt("info"), warn: logAt("warn"), error: logAt("error") } as TaskContext["log"],
    /** Writes what is pending (progress, logs) and waits for every write. */
    async flush(): Promise<void> {
      if (progressTimer !== null) clearTimeout(progressTimer);
      progressTimer = null;
      writeProgress();
      writeLogs();
      await writing;
    },
  };
}

function jsonOrNote(data: unknown): unknown {
  const json = asJson(data, 4096, "log data");
  return json.ok ? (JSON.parse(json.json) as unknown) : json.error;
}
