/**
 * A pull worker (DESIGN §16, the HTTP contract of docs/PULL-API.md): leases tasks of
 * `{kind: "pull"}` types from a SeedCore server, runs them with your handlers, keeps their leases
 * alive with heartbeats, and reports each outcome. Plain `fetch` and timers only: it runs in
 * Node ≥ 20, Deno, Bun, or a Worker (`import { runPullWorker } from "seedcore-edge/pull-worker"`).
 *
 * Outcomes: a handler's return value completes the task (its result); a thrown `PermanentError`
 * (or any error with `retryable: false`) fails it for good; a `RetryAfterError(msg, s)` retries it
 * `s` seconds later; anything else retries with the server's backoff. A handler should watch
 * `ctx.signal`: it aborts when the task is cancelled, when its lease is lost (nothing more is
 * reported for it), or when a graceful stop runs out of time (the task is released).
 */
import { PermanentError, RetryAfterError } from "./tasks/errors";

export { PermanentError, RetryAfterError };

/** A task as POST /workers/lease hands it out. */
export interface LeasedTask {
  id: string;
  type: string;
  params: Record<string, unknown>;
  description: string | null;
  domain: string | null;
  attempt: number;
  max_attempts: number;
  lease_token: string;
  /** Epoch ms. */
  lease_expires_at: number;
  /** Epoch ms, or null when only the lease (kept alive by heartbeats) bounds the attempt. */
  deadline: number | null;
  /** Details of the last heartbeat of an earlier attempt (resume from there), or null. */
  last_heartbeat: unknown;
  /** Results of the task's dependencies. */
  parents: Record<string, unknown> | null;
}

export interface PullTaskContext {
  /** Aborts on cancel, on a lost lease, or when a graceful stop's grace runs out. `signal.reason` says which. */
  signal: AbortSignal;
  /** The task as leased (same object as the handler's first argument). */
  task: LeasedTask;
  attempt: number;
  /**
   * Extends the lease now and stores `details` (≤ 8 KiB JSON; the next attempt sees them as
   * `last_heartbeat`, so put progress or a resume point there). Answers whether cancel was asked.
   * The worker also heartbeats by itself every `heartbeat_s`, re-sending the last details.
   * Throws `LeaseLostError` when the server no longer gives this worker the task.
   */
  heartbeat(details?: unknown): Promise<{ cancel_requested: boolean }>;
}

export type PullHandler = (task: LeasedTask, ctx: PullTaskContext) => unknown;

export interface PullWorkerOptions {
  /** The server's base URL, e.g. `https://seedcore.example.com`. */
  url: string;
  /** A WORKER_TOKENS token (or API_TOKEN); omit for a tokenless loopback dev server. */
  token?: string;
  /** One handler per task type this worker runs. */
  handlers: Record<string, PullHandler>;
  /** Types to lease (default: the handlers' types); each needs a handler. */
  types?: string[];
  /** Tasks run at once (default 1). */
  concurrency?: number;
  /** Lease length asked for, 5..900 s (default 60). */
  lease_s?: number;
  /** Seconds between automatic heartbeats of a held task (default lease_s / 3). */
  heartbeat_s?: number;
  /** Long-poll of one lease call when nothing is due, 0..20 s (default 5). */
  wait_s?: number;
  /** On stop: seconds running handlers get to finish before their tasks are released (default 30). */
  grace_s?: number;
  /** Aborting it stops the worker gracefully (as `stop()`). */
  signal?: AbortSignal;
  /** SIGTERM / SIGINT stop the worker gracefully (Node, Bun, Deno's `process`); a second one ends the grace at once. */
  stopOnSignals?: boolean;
  /** Told about errors the worker handles itself (a transient server error it retries, a lost lease, a failed release…). */
  onError?: (err: unknown, info: { op: string; task_id?: string }) => void;
  /** A `fetch` to use instead of the global one (tests, a proxy agent). */
  fetch?: typeof fetch;
  /** Backoff for transient server errors: first delay and cap in ms (default 250 and 10,000). */
  retry_base_ms?: number;
  retry_max_ms?: number;
}

export interface PullWorkerHandle {
  /** Stops leasing, lets running handlers finish within `grace_s`, releases the rest; resolves when all is settled. */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped; rejects with a `PullWorkerError` when the server refused it for good (401, 403, 400). */
  done: Promise<void>;
  /** Tasks held right now. */
  readonly running: number;
}

/** The server answered an error that retrying cannot fix (bad token, type outside the token's scope, bad request). */
export class PullWorkerError extends Error {
  override name = "PullWorkerError";
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** The server no longer gives this worker the task (409): it was re-leased after expiry, or is no longer running. */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

/** Why a handler's signal aborted: `signal.reason` is one of these (an Error with this `name`). */
export type AbortReasonName = "TaskCancelled" | "LeaseLostError" | "WorkerStopping";

const reason = (name: AbortReasonName, message: string): Error => Object.assign(new Error(message), { name });

class HttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
    readonly retryAfterMs: number | null,
  ) {
    super(message);
  }
}

const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);
const isTransient = (err: unknown) => !(err instanceof HttpError) || TRANSIENT_STATUS.has(err.status);
const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Starts a pull worker; see PullWorkerOptions. */
export function runPullWorker(options: PullWorkerOptions): PullWorkerHandle {
  const base = options.url.replace(/\/+$/, "");
  const handlers = options.handlers;
  const types = options.types ?? Object.keys(handlers);
  if (types.length === 0) throw new TypeError("runPullWorker: no task types (give handlers, or types with handlers)");
  for (const t of types) if (typeof handlers[t] !== "function") throw new TypeError(`runPullWorker: no handler for type '${t}'`);
  const concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
  const leaseS = clamp(options.lease_s ?? 60, 5, 900);
  const heartbeatMs = Math.max(100, (options.heartbeat_s ?? leaseS / 3) * 1000);
  const waitS = clamp(options.wait_s ?? 5, 0, 20);
  const graceMs = Math.max(0, (options.grace_s ?? 30) * 1000);
  const retryBase = options.retry_base_ms ?? 250;
  const retryMax = options.retry_max_ms ?? 10_000;
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const report = (err: unknown, op: string, taskId?: string) => {
    try {
      options.onError?.(err, taskId === undefined ? { op } : { op, task_id: taskId });
    } catch {
      // a throwing onError must not break the loop
    }
  };

  /** Aborted when stop begins: wakes the lease loop's waits (never an in-flight lease call). */
  const stopping = new AbortController();
  /** Aborted when the grace is over (or a second signal): running tasks are released. */
  const graceOver = new AbortController();
  // One listener for all held tasks (not one each: an AbortSignal warns past 10 listeners in Node).
  graceOver.signal.addEventListener("abort", () => {
    for (const h of [...held.values()]) h.onGraceOver();
  });
  const held = new Map<string, Held>();
  let slotFreed: (() => void) | null = null;

  interface Held {
    task: LeasedTask;
    abort: AbortController;
    details: unknown;
    lost: boolean;
    cancelled: boolean;
    released: boolean;
    leaseExpiresAt: number;
    timer: ReturnType<typeof setTimeout> | undefined;
    finished: Promise<void>;
    /** Called when the stop's grace is over while the task is held. */
    onGraceOver: () => void;
  }

  async function call(path: string, body: unknown, timeoutMs: number): Promise<unknown> {
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const res = await doFetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      // a proxy's HTML error page: keep the text for the message
    }
    if (res.ok) return json;
    const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    const ra = res.headers.get("retry-after");
    const retryAfterMs = ra !== null && /^\d+(\.\d+)?$/.test(ra.trim()) ? Number(ra) * 1000 : null;
    throw new HttpError(`POST ${path} answered ${res.status}: ${error?.message ?? text.slice(0, 300)}`, res.status, error?.code, retryAfterMs);
  }

  /**
   * `call` again on network errors, timeouts, 429 and 5xx with exponential backoff (with jitter,
   * honouring Retry-After), until `giveUpAt` (epoch ms) or `abort`; other answers throw at once.
   */
  async function callRetrying(op: string, path: string, body: unknown, opts: { timeoutMs?: number; giveUpAt?: number; abort?: AbortSignal; taskId?: string } = {}) {
    for (let n = 0; ; n++) {
      try {
        return await call(path, body, opts.timeoutMs ?? 30_000);
      } catch (err) {
        if (!isTransient(err)) throw err;
        report(err, op, opts.taskId);
        const backoff = Math.min(retryMax, retryBase * 2 ** n) * (0.5 + Math.random() / 2); // jitter
        const delay = err instanceof HttpError && err.retryAfterMs !== null ? Math.max(err.retryAfterMs, backoff) : backoff;
        if ((opts.giveUpAt !== undefined && Date.now() + delay > opts.giveUpAt) || opts.abort?.aborted) throw err;
        await sleep(delay, opts.abort);
        if (opts.abort?.aborted) throw err;
      }
    }
  }

  async function heartbeatNow(h: Held, details: unknown): Promise<{ cancel_requested: boolean }> {
    const body = { lease_token: h.task.lease_token, lease_s: leaseS, ...(details === undefined ? {} : { details }) };
    try {
      // Retried only while the lease still runs: after that the server has it back anyway.
      const res = (await callRetrying("heartbeat", `/tasks/${encodeURIComponent(h.task.id)}/heartbeat`, body, { giveUpAt: h.leaseExpiresAt, taskId: h.task.id })) as { lease_expires_at?: number; cancel_requested?: boolean };
      if (typeof res?.lease_expires_at === "number") h.leaseExpiresAt = res.lease_expires_at;
      if (res?.cancel_requested && !h.cancelled) {
        h.cancelled = true;
        h.abort.abort(reason("TaskCancelled", `task ${h.task.id}: cancel requested`));
      }
      return { cancel_requested: Boolean(res?.cancel_requested) };
    } catch (err) {
      if (err instanceof HttpError && err.status === 409) {
        markLost(h, err);
        throw new LeaseLostError(`task ${h.task.id}: lease lost (${err.message})`);
      }
      if (err instanceof HttpError) {
        // Refused details (too large, not JSON) must not poison the automatic heartbeats that re-send them.
        if (err.status === 400 && details !== undefined) h.details = undefined;
        throw new PullWorkerError(err.message, err.status, err.code);
      }
      throw err;
    }
  }

  function markLost(h: Held, cause: unknown) {
    if (h.lost) return;
    h.lost = true;
    const lost = new LeaseLostError(`task ${h.task.id}: lease lost: ${errorText(cause)}`);
    report(lost, "lease_lost", h.task.id);
    h.abort.abort(reason("LeaseLostError", lost.message));
  }

  function scheduleHeartbeat(h: Held) {
    h.timer = setTimeout(async () => {
      if (h.lost || h.released) return;
      try {
        await heartbeatNow(h, h.details);
      } catch (err) {
        if (!(err instanceof LeaseLostError)) report(err, "heartbeat", h.task.id);
        // A heartbeat that failed only transiently is tried again at the next tick.
      }
      if (!h.lost && !h.released && held.has(h.task.id)) scheduleHeartbeat(h);
    }, heartbeatMs);
  }

  async function release(task: LeasedTask) {
    try {
      await callRetrying("release", `/tasks/${encodeURIComponent(task.id)}/release`, { lease_token: task.lease_token }, { giveUpAt: Math.max(Date.now() + 5_000, task.lease_expires_at), taskId: task.id });
    } catch (err) {
      // 409: not ours any more; else the lease expires and the reaper takes it back.
      report(err, "release", task.id);
    }
  }

  async function finish(h: Held, outcome: { ok: true; result: unknown } | { ok: false; error: unknown }) {
    const id = encodeURIComponent(h.task.id);
    const until = { giveUpAt: Math.max(h.leaseExpiresAt, Date.now() + 5_000), taskId: h.task.id };
    try {
      if (outcome.ok) {
        try {
          await callRetrying("complete", `/tasks/${id}/complete`, { lease_token: h.task.lease_token, result: outcome.result ?? null }, until);
          return;
        } catch (err) {
          if (!(err instanceof HttpError && err.status === 413)) throw err;
          outcome = { ok: false, error: new PermanentError(`result refused: ${err.message}`) };
        }
      }
      const e = outcome.error;
      // By class, or by shape (an error class from another copy of the package, or a plain object).
      const shape = (typeof e === "object" && e !== null ? e : {}) as { name?: unknown; retryable?: unknown; retryAfterS?: unknown };
      const retryable = !(h.cancelled || e instanceof PermanentError || shape.name === "PermanentError" || shape.retryable === false);
      const body: Record<string, unknown> = { lease_token: h.task.lease_token, error: (h.cancelled ? `cancelled: ${errorText(e)}` : errorText(e) || String(e)).slice(0, 2000), retryable };
      if (retryable && typeof shape.retryAfterS === "number" && Number.isFinite(shape.retryAfterS)) body.retry_after_s = clamp(Math.ceil(shape.retryAfterS), 0, 86_400);
      await callRetrying("fail", `/tasks/${id}/fail`, body, until);
    } catch (err) {
      // After a cancel the server has already ended the task (cancelled): its 409 is expected.
      if (err instanceof HttpError && err.status === 409) return h.cancelled ? undefined : markLost(h, err);
      report(err, outcome.ok ? "complete" : "fail", h.task.id);
    }
  }

  function start(task: LeasedTask) {
    const h: Held = {
      task,
      abort: new AbortController(),
      details: undefined,
      lost: false,
      cancelled: false,
      released: false,
      leaseExpiresAt: task.lease_expires_at,
      timer: undefined,
      finished: Promise.resolve(),
      onGraceOver: () => undefined,
    };
    held.set(task.id, h);
    const ctx: PullTaskContext = {
      signal: h.abort.signal,
      task,
      attempt: task.attempt,
      heartbeat: (details) => {
        if (details !== undefined) h.details = details;
        if (h.lost) return Promise.reject(new LeaseLostError(`task ${task.id}: lease lost`));
        return heartbeatNow(h, h.details);
      },
    };
    // The grace is over before the handler is: give the task back now; its outcome is ignored.
    let giveBack: (v: "released") => void = () => undefined;
    const released = new Promise<"released">((resolve) => (giveBack = resolve));
    h.onGraceOver = () => {
      // A lost task's handler is not waited for either (it was aborted already); it is not released.
      if (!h.lost && !h.released) {
        h.released = true;
        h.abort.abort(reason("WorkerStopping", `task ${task.id}: worker stopping, grace over; released`));
      }
      giveBack("released");
    };
    if (graceOver.signal.aborted) h.onGraceOver();
    scheduleHeartbeat(h);
    h.finished = (async () => {
      let outcome: { ok: true; result: unknown } | { ok: false; error: unknown };
      const run = (async () => {
        try {
          outcome = { ok: true, result: await handlers[task.type]!(task, ctx) };
        } catch (error) {
          outcome = { ok: false, error };
        }
      })();
      const first = await Promise.race([run.then(() => "ran" as const), released]);
      if (h.timer !== undefined) clearTimeout(h.timer);
      if (h.lost) {
        // nothing more is sent for a task that is no longer ours
      } else if (first === "released" || h.released) {
        h.released = true;
        await release(task);
      } else {
        await finish(h, outcome!);
      }
      held.delete(task.id);
      slotFreed?.();
    })();
  }

  async function loop() {
    let failures = 0;
    while (!stopping.signal.aborted) {
      const free = concurrency - held.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            stopping.signal.removeEventListener("abort", wake);
            slotFreed = null;
            resolve();
          };
          slotFreed = wake;
          stopping.signal.addEventListener("abort", wake, { once: true });
        });
        continue;
      }
      let leased: LeasedTask[];
      try {
        // Not aborted by stop: the server may already have claimed tasks for this call, and they
        // are released below rather than left to expire. A stop therefore waits for it (≤ wait_s).
        const res = (await call("/workers/lease", { types, max: Math.min(free, 100), lease_s: leaseS, wait_s: waitS }, (waitS + 30) * 1000)) as { tasks?: LeasedTask[] };
        leased = res?.tasks ?? [];
        failures = 0;
      } catch (err) {
        if (!isTransient(err)) {
          const e = err as HttpError;
          throw new PullWorkerError(e.message, e.status, e.code);
        }
        report(err, "lease");
        const jitter = 0.5 + Math.random() / 2; // spreads the workers' retries apart
        const backoff = Math.min(retryMax, retryBase * 2 ** failures++) * jitter;
        await sleep(err instanceof HttpError && err.retryAfterMs !== null ? Math.max(err.retryAfterMs, backoff) : backoff, stopping.signal);
        continue;
      }
      for (const task of leased) {
        if (stopping.signal.aborted || typeof handlers[task.type] !== "function") {
          if (!stopping.signal.aborted) report(new Error(`no handler for leased type '${task.type}'`), "lease", task.id);
          pendingReleases.push(release(task));
          continue;
        }
        start(task);
      }
    }
  }
  const pendingReleases: Promise<void>[] = [];

  let stopPromise: Promise<void> | null = null;
  let loopDone: Promise<void>;
  let fatal: unknown = null;

  const removeSignalHandlers = installSignals();

  function stop(): Promise<void> {
    if (stopPromise) return stopPromise;
    stopping.abort();
    const graceTimer = setTimeout(() => graceOver.abort(), graceMs);
    stopPromise = (async () => {
      await loopDone.catch(() => undefined);
      while (held.size > 0) await Promise.all([...held.values()].map((h) => h.finished));
      await Promise.all(pendingReleases);
      clearTimeout(graceTimer);
      removeSignalHandlers();
    })();
    return stopPromise;
  }

  function installSignals(): () => void {
    const proc = (globalThis as { process?: { on?: (s: string, f: () => void) => void; off?: (s: string, f: () => void) => void } }).process;
    if (!options.stopOnSignals || typeof proc?.on !== "function") return () => undefined;
    const onSignal = () => {
      if (stopping.signal.aborted) graceOver.abort();
      else void stop();
    };
    proc.on("SIGTERM", onSignal);
    proc.on("SIGINT", onSignal);
    return () => {
      proc.off?.("SIGTERM", onSignal);
      proc.off?.("SIGINT", onSignal);
    };
  }

  if (options.signal) {
    if (options.signal.aborted) queueMicrotask(() => void stop());
    else options.signal.addEventListener("abort", () => void stop(), { once: true });
  }

  loopDone = loop().catch((err) => {
    fatal = err;
    report(err, "lease");
  });
  const done = loopDone.then(async () => {
    await stop();
    if (fatal) throw fatal;
  });
  done.catch(() => undefined); // the caller may not await `done`; stop() stays usable

  return {
    stop,
    done,
    get running() {
      return held.size;
    },
  };
}
