import { CircuitOpenError, type BreakerPermit, type CircuitBreaker } from "../lib/circuit-breaker";
import { withRetry, type AttemptInfo, type RetryOptions } from "../lib/retry";
import { withTimeout } from "../lib/timeout";

export interface GuardOptions {
  /** Bound on each try; a timeout is not retried (the callee may still be running it). */
  timeoutMs: number;
  /** Named in timeout errors. */
  what: string;
  retry: RetryOptions;
}

/**
 * Runs `fn` on an admitted permit: transient errors are retried with backoff, every try under the
 * timeout, and the final result settles the permit (one breaker observation per logical call).
 * `fn` gets the try number, so a client can take a fresh stub on every try (a reset object's old
 * stub stays broken).
 */
export async function runUnderPermit<T>(permit: BreakerPermit, fn: (info: AttemptInfo) => Promise<T>, opts: GuardOptions): Promise<T> {
  try {
    const value = await withRetry((info) => withTimeout(fn(info), opts.timeoutMs, opts.what), opts.retry);
    permit.succeed();
    return value;
  } catch (err) {
    permit.fail();
    throw err;
  }
}

/** A guarded call, or a CircuitOpenError at once when the breaker refuses it. */
export function guardedCall<T>(breaker: CircuitBreaker, fn: (info: AttemptInfo) => Promise<T>, opts: GuardOptions): Promise<T> {
  const permit = breaker.acquire();
  if (!permit) return Promise.reject(new CircuitOpenError(breaker.name, breaker.retryAfterMs()));
  return runUnderPermit(permit, fn, opts);
}
