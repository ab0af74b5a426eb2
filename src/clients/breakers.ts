import type { Config } from "../config";
import { CircuitBreaker, type BreakerSnapshot } from "../lib/circuit-breaker";
import { isRetryable, type RetryOptions } from "../lib/retry";

/**
 * Circuit breakers live in module scope, so their state is **per isolate**: every Worker isolate
 * (and the coordinator's own isolate, for its organ breakers) learns about an outage by itself.
 * That is enough to stop one isolate hammering a dead object; it is not a global switch, and a
 * fresh isolate starts closed. Nothing here is persisted.
 */
const breakers = new Map<string, CircuitBreaker>();

export const COORDINATOR_BREAKER = "coordinator";
export const organBreakerName = (organId: string) => `organ:${organId}`;

/** The breaker guarding `target`, created on first use with the config of that moment. */
export function breakerFor(
  target: string,
  config: Pick<Config, "CB_FAILURE_THRESHOLD" | "CB_RECOVERY_S">,
  now: () => number = Date.now,
): CircuitBreaker {
  let breaker = breakers.get(target);
  if (!breaker) {
    breaker = new CircuitBreaker(target, { failureThreshold: config.CB_FAILURE_THRESHOLD, recoveryMs: config.CB_RECOVERY_S * 1000, now });
    breakers.set(target, breaker);
  }
  return breaker;
}

/**
 * Every breaker this isolate has made, by target (`coordinator`, `organ:<id>`). For
 * `GET /organism/status`; `prefix` narrows it (the coordinator reports `organ:`).
 */
export function breakerSnapshot(prefix = ""): Record<string, BreakerSnapshot> {
  const out: Record<string, BreakerSnapshot> = {};
  for (const [name, breaker] of breakers) if (name.startsWith(prefix)) out[name] = breaker.snapshot();
  return out;
}

/** Tests only: forget every breaker so the next call starts closed. */
export function resetBreakers(): void {
  breakers.clear();
}

/**
 * One retry budget per hop, every timeout shorter than the one around it: a pass has
 * DISPATCH_TIMEOUT_S (its lease renewed meanwhile); an organ call gets what is left of it, its
 * handlers less still; the coordinator's calls carry no work, so theirs are short. Only errors
 * that say a retry is safe and useful are retried at once (`isRetryable`: not `overloaded`).
 */
export const COORDINATOR_CALL_TIMEOUT_MS = 10_000;
export const REPORT_TIMEOUT_MS = 2_000;
export const COORDINATOR_RETRY: Omit<RetryOptions, "random" | "sleep"> = { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000, retryable: isRetryable };
export const ORGAN_RETRY: Omit<RetryOptions, "random" | "sleep"> = { maxAttempts: 2, baseDelayMs: 100, maxDelayMs: 500, retryable: isRetryable };

/** Time and chance for the guarded clients; tests inject their own. `random` only jitters backoff. */
export interface ClientClock {
  now: () => number;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
}

export const REAL_CLIENT_CLOCK: ClientClock = {
  now: Date.now,
  random: Math.random, // backoff jitter only
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};
