import { AppError } from "../errors";
import { errorMessage } from "./error-message";
import type { Limiter } from "./rate-limit";

/**
 * Throttles failed authentication per client address (DESIGN §9). Each failure is counted by the
 * AUTH_FAIL_LIMITER binding; once it says no, the address is blocked here for one period, and
 * its requests are refused before any token is compared, so guessing is throttled too (a right
 * guess inside the block is refused like a wrong one).
 * Per isolate, like the breakers: another isolate learns of an address from the binding itself.
 */

/** Must equal `period` of the AUTH_FAIL_LIMITER binding in wrangler.toml (the binding cannot report it). */
export const AUTH_FAIL_PERIOD_S = 60;
/** An attacker rotating addresses must not grow an isolate's memory without bound. */
const MAX_BLOCKED = 10_000;

/** Blocked limiter keys → when the block ends (epoch ms); in insertion order, oldest first. */
const blocked = new Map<string, number>();
const counters = { failures: 0, limited: 0, errors: 0 };

export interface AuthFailStats {
  /** Failed authentications counted against the limiter. */
  failures_total: number;
  /** Requests answered 429 because their address failed too often. */
  limited_total: number;
  /** Limiter calls that failed (the failure was answered 401 as usual). */
  limiter_errors_total: number;
}

export function authFailStats(): AuthFailStats {
  return { failures_total: counters.failures, limited_total: counters.limited, limiter_errors_total: counters.errors };
}

/** The limiter key of a client address (`CF-Connecting-IP`; absent only off Cloudflare, e.g. in tests). */
export const authFailKey = (clientIp: string | undefined) => `authfail:${clientIp ?? "unknown"}`;

/** Seconds until `key` may authenticate again; 0 when it is not blocked. */
export function blockedForS(key: string, now: number): number {
  const until = blocked.get(key);
  if (until === undefined) return 0;
  if (until > now) return Math.ceil((until - now) / 1000);
  blocked.delete(key);
  return 0;
}

/**
 * Counts one failed authentication of `key`; when the limiter says it is over its limit, blocks
 * the key for a period and returns the seconds to wait (else 0). A failing limiter blocks nothing.
 */
export async function recordAuthFailure(limiter: Limiter, key: string, now: number): Promise<number> {
  counters.failures++;
  try {
    if ((await limiter.limit({ key })).success) return 0;
  } catch (err) {
    counters.errors++;
    console.warn(`auth-failure limiter failed; not throttling: ${errorMessage(err)}`);
    return 0;
  }
  block(key, now);
  return AUTH_FAIL_PERIOD_S;
}

/** Answers 429 `rate_limited` with Retry-After when `retryAfterS` > 0 (from the two functions above). */
export function refuseIfThrottled(c: { header(name: string, value: string): void }, retryAfterS: number): void {
  if (retryAfterS === 0) return;
  counters.limited++;
  c.header("Retry-After", String(retryAfterS));
  throw new AppError("rate_limited", `too many failed authentication attempts from this address; retry after ${retryAfterS}s`, { retry_after_s: retryAfterS });
}

function block(key: string, now: number): void {
  blocked.delete(key);
  if (blocked.size >= MAX_BLOCKED) {
    for (const [k, until] of blocked) if (until <= now) blocked.delete(k);
    // Still full: drop the oldest block, the one closest to its end.
    const oldest = blocked.keys().next();
    if (blocked.size >= MAX_BLOCKED && !oldest.done) blocked.delete(oldest.value);
  }
  blocked.set(key, now + AUTH_FAIL_PERIOD_S * 1000);
}
