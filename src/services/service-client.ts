import { CircuitBreaker } from "../lib/circuit-breaker";
import { errorMessage } from "../lib/error-message";
import { retryDelayMs } from "../lib/retry";
import { DeferredError, PermanentError, RetryAfterError } from "../tasks/errors";
import type { ServiceSpec } from "./service-spec";

/**
 * Named service clients (DESIGN §16): `ctx.services.<name>.fetch(path, init)` and `.json(path,
 * init)`. Pure apart from what is injected (the transport, the clock, the random source).
 *
 * - each try has the service's timeout, never past the task's deadline, and ends with its signal;
 * - 429/502/503/504, timeouts and refused connections are tried again (`retries` times) after a
 *   jittered backoff, or after `Retry-After` when the answer has one, while the deadline allows;
 *   when it does not, a `Retry-After` becomes a RetryAfterError (the task retries then);
 * - an open circuit or a used-up rate throws a DeferredError before anything is sent: the task
 *   retries later with its attempt given back.
 */

/** The statuses worth another try. */
export const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);
/** Backoff between tries without a Retry-After: random in [d/2, d], d = 250 ms × 2^(n−1), ≤ 5 s. */
export const SERVICE_BACKOFF = { baseDelayMs: 250, maxDelayMs: 5000 };

/** A token bucket: `capacity` calls at once, refilled at `capacity` per period. Pure (time is passed in). */
export class RateLimiter {
  private tokens: number;
  private last: number;
  private readonly perMs: number;
  constructor(
    readonly capacity: number,
    periodMs: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
    this.perMs = capacity / periodMs;
  }

  static of(rate: ServiceSpec["rate"], now: number): RateLimiter | null {
    if (!rate) return null;
    return rate.per_second !== undefined ? new RateLimiter(rate.per_second, 1000, now) : new RateLimiter(rate.per_minute as number, 60_000, now);
  }

  /** Takes one call's token: 0 when granted, else the ms until one is free. */
  take(now: number): number {
    this.tokens = Math.min(this.capacity, this.tokens + Math.max(0, now - this.last) * this.perMs);
    this.last = Math.max(this.last, now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) / this.perMs);
  }
}

/** A Retry-After header (delta seconds or an HTTP date) in ms from `now`, or null. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

export type TryFailure = { kind: "status"; status: number; retryAfterMs: number | null } | { kind: "timeout" } | { kind: "network"; error: string };

export type RetryDecision =
  | { kind: "retry"; delayMs: number }
  /** No more tries here; the answer named a time (Retry-After): the task should retry then. */
  | { kind: "retry_task_at"; retryAfterMs: number }
  | { kind: "give_up" };

/**
 * After try number `tryNo` (1-based) failed retryably: wait and try again, hand the time to the
 * task, or give up. The wait is the answer's Retry-After, else the jittered backoff; it must end
 * before the deadline with time left for the next try.
 */
export function retryDecision(failure: TryFailure, tryNo: number, retries: number, now: number, deadline: number, random: number): RetryDecision {
  const retryAfterMs = failure.kind === "status" ? failure.retryAfterMs : null;
  const delayMs = retryAfterMs ?? retryDelayMs(tryNo, SERVICE_BACKOFF, random);
  if (tryNo <= retries && now + delayMs < deadline) return { kind: "retry", delayMs };
  return retryAfterMs !== null ? { kind: "retry_task_at", retryAfterMs } : { kind: "give_up" };
}

/**
 * The headers of a spec with `secret:NAME` values taken from the secrets. A missing secret is a
 * deployment mistake no retry mends: a PermanentError naming it.
 */
export function resolveHeaders(service: string, headers: Record<string, string>, secrets: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!value.startsWith("secret:")) {
      out[name] = value;
      continue;
    }
    const secretName = value.slice("secret:".length);
    const secret = secrets[secretName];
    if (typeof secret !== "string" || secret === "") throw new PermanentError(`service '${service}': header ${name} needs the secret ${secretName}, which is not set`);
    out[name] = secret;
  }
  return out;
}

/** The URL of `path` under a base URL: base "https://a/v1/" or "https://a/v1" + "x" or "/x" → "https://a/v1/x". */
export function joinUrl(base: string, path: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(path)) throw new PermanentError(`a service path must be relative to the service's URL, got '${path}'`);
  return `${base.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`;
}

/** What a named service client keeps per isolate: its breaker, its rate and its counts. */
export interface ServiceState {
  breaker: CircuitBreaker;
  limiter: RateLimiter | null;
  counts: ServiceCounts;
}

export interface ServiceCounts {
  /** Tries sent (each retry is one more). */
  requests: number;
  /** Tries that answered with a status that is not a failure (2xx-4xx but 429). */
  ok: number;
  /** Tries that failed: 429, 5xx, timeouts, refused connections. */
  failed: number;
  retries: number;
  timeouts: number;
  /** Calls refused before sending: circuit open. */
  deferred_breaker: number;
  /** Calls refused before sending: rate used up. */
  deferred_rate: number;
}

export const emptyCounts = (): ServiceCounts => ({ requests: 0, ok: 0, failed: 0, retries: 0, timeouts: 0, deferred_breaker: 0, deferred_rate: 0 });

/** JSON bodies: a plain object or array is sent as JSON; anything else as fetch takes it. */
export type JsonInit = Omit<RequestInit, "body"> & { body?: unknown };

export interface ServiceClient {
  /** The answer of the last try (any status the client does not retry, or a retried one it gave up on). */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** The answer's JSON; a 4xx (not 429) is a PermanentError, any other non-2xx an error the task retries. */
  json<T = unknown>(path: string, init?: JsonInit): Promise<T>;
}

export interface CallContext {
  /** The task's signal: every try ends with it. */
  signal: AbortSignal;
  /** The task's deadline (epoch ms). */
  deadline: number;
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  random(): number;
}

export type Transport = (request: Request) => Promise<Response>;

class TryTimeout extends Error {
  override name = "TimeoutError";
}

/** A client of one service with its (per-isolate) state. `base`: the URL the paths are under. */
export function createServiceClient(name: string, spec: ServiceSpec, base: string, headers: () => Record<string, string>, transport: Transport, state: ServiceState, call: CallContext): ServiceClient {
  const { counts, breaker, limiter } = state;

  async function send(path: string, init: RequestInit = {}): Promise<Response> {
    const url = joinUrl(base, path);
    const extra = headers();
    for (let tryNo = 1; ; tryNo++) {
      call.signal.throwIfAborted();
      const permit = breaker.acquire();
      if (!permit) {
        counts.deferred_breaker++;
        throw new DeferredError(`service '${name}': circuit open, not called`, Math.max(1000, breaker.retryAfterMs()));
      }
      const wait = limiter ? limiter.take(call.now()) : 0;
      if (wait > 0) {
        permit.release();
        counts.deferred_rate++;
        throw new DeferredError(`service '${name}': rate used up, not called`, Math.max(1000, wait));
      }
      const left = call.deadline - call.now();
      if (left <= 0) {
        permit.release();
        throw new Error(`service '${name}': the task's deadline has passed`);
      }
      const timeoutMs = Math.min(spec.timeout_s * 1000, left);
      const controller = new AbortController();
      const onAbort = () => controller.abort(call.signal.reason);
      call.signal.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(() => controller.abort(new TryTimeout(`service '${name}' did not answer within ${timeoutMs} ms`)), timeoutMs);
      const requestHeaders = new Headers(init.headers);
      for (const [k, v] of Object.entries(extra)) requestHeaders.set(k, v);
      counts.requests++;
      let failure: TryFailure;
      let response: Response | null = null;
      try {
        response = await transport(new Request(url, { ...init, headers: requestHeaders, signal: controller.signal }));
        if (response.status !== 429 && response.status < 500) {
          counts.ok++;
          permit.succeed();
          return response;
        }
        failure = { kind: "status", status: response.status, retryAfterMs: parseRetryAfter(response.headers.get("retry-after"), call.now()) };
      } catch (err) {
        if (call.signal.aborted) {
          permit.release();
          throw call.signal.reason;
        }
        if (err instanceof PermanentError) {
          permit.release();
          throw err;
        }
        if (controller.signal.reason instanceof TryTimeout) {
          counts.timeouts++;
          failure = { kind: "timeout" };
        } else failure = { kind: "network", error: errorMessage(err) };
      } finally {
        clearTimeout(timer);
        call.signal.removeEventListener("abort", onAbort);
      }
      counts.failed++;
      permit.fail();
      const retryable = failure.kind !== "status" || RETRY_STATUSES.has(failure.status);
      const decision = retryable ? retryDecision(failure, tryNo, spec.retries, call.now(), call.deadline, call.random()) : ({ kind: "give_up" } as const);
      const what = failure.kind === "status" ? `answered ${failure.status}` : failure.kind === "timeout" ? `timed out after ${timeoutMs} ms` : `could not be reached: ${failure.error}`;
      if (decision.kind === "retry") {
        await response?.body?.cancel().catch(() => undefined);
        counts.retries++;
        await call.sleep(decision.delayMs, call.signal);
        continue;
      }
      if (decision.kind === "retry_task_at") {
        await response?.body?.cancel().catch(() => undefined);
        throw new RetryAfterError(`service '${name}' ${what} (try ${tryNo}); retry after ${Math.ceil(decision.retryAfterMs / 1000)}s`, Math.ceil(decision.retryAfterMs / 1000));
      }
      if (response) return response;
      throw new Error(`service '${name}' ${what} (try ${tryNo})`);
    }
  }

  return {
    fetch: send,
    async json<T>(path: string, init: JsonInit = {}): Promise<T> {
      const { body, ...rest } = init;
      const headers = new Headers(rest.headers);
      let sent: BodyInit | null | undefined = body as BodyInit | null | undefined;
      if (body !== null && typeof body === "object" && (Array.isArray(body) || Object.getPrototypeOf(body) === Object.prototype)) {
        sent = JSON.stringify(body);
        if (!headers.has("content-type")) headers.set("content-type", "application/json");
      }
      if (!headers.has("accept")) headers.set("accept", "application/json");
      const res = await send(path, { ...rest, headers, ...(sent === undefined ? {} : { body: sent }) });
      if (!res.ok) {
        const text = (await res.text().catch(() => "")).slice(0, 200);
        const message = `service '${name}' answered ${res.status}${text ? `: ${text}` : ""}`;
        if (res.status >= 400 && res.status < 500 && res.status !== 429) throw new PermanentError(message);
        throw new Error(message);
      }
      try {
        return (await res.json()) as T;
      } catch (err) {
        throw new Error(`service '${name}' answered ${res.status} with a body that is not JSON: ${errorMessage(err)}`);
      }
    },
  };
}
