/**
 * Retries of transient failures only, with exponential backoff and jitter. Pure: the sleep and
 * the random source are injected, so tests never wait.
 */

export interface RetryOptions {
  /** Total tries, the first included (1 = no retry). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** ∈ [0, 1); full jitter keeps a burst of callers from retrying in lockstep. */
  random: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Which errors are worth another try; defaults to `isTransient`. */
  retryable?: (err: unknown) => boolean;
}

/** What each try knows about the one before (a client uses it to take a fresh stub). */
export interface AttemptInfo {
  attempt: number;
  previousError: unknown;
}

const flag = (err: unknown, key: string): boolean =>
  typeof err === "object" && err !== null && (err as Record<string, unknown>)[key] === true;

/**
 * Durable Object errors the runtime marks as safe to try again: `retryable` (a transient
 * internal error), `overloaded` (the object's queue is full), `durableObjectReset` (the object
 * restarted; the old stub is broken, so the caller must get a new one). Anything else — a
 * timeout that may still be running, a bug, a bad argument — is permanent here.
 */
export function isTransient(err: unknown): boolean {
  return isRetryable(err) || isOverloaded(err);
}

/**
 * Worth an immediate retry: a transient internal error, or an object that restarted (through a
 * fresh stub). Not `overloaded`: retrying at once is what makes an overload worse, so an
 * overloaded hop becomes the task's own retry, with backoff.
 */
export function isRetryable(err: unknown): boolean {
  return flag(err, "retryable") || flag(err, "durableObjectReset");
}

/** The object's queue is full: the call was refused, nothing ran. */
export function isOverloaded(err: unknown): boolean {
  return flag(err, "overloaded");
}

/** Delay before retry number `retry` (1-based): random in [d/2, d], d = min(base × 2^(retry−1), max). */
export function retryDelayMs(retry: number, opts: Pick<RetryOptions, "baseDelayMs" | "maxDelayMs">, random: number): number {
  const ceiling = Math.min(opts.baseDelayMs * 2 ** Math.max(0, retry - 1), opts.maxDelayMs);
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

export async function withRetry<T>(fn: (info: AttemptInfo) => Promise<T>, opts: RetryOptions): Promise<T> {
  const retryable = opts.retryable ?? isTransient;
  let previousError: unknown = undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn({ attempt, previousError });
    } catch (err) {
      if (attempt >= opts.maxAttempts || !retryable(err)) throw err;
      previousError = err;
      await opts.sleep(retryDelayMs(attempt, opts, opts.random()));
    }
  }
}
