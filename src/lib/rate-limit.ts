import type { MiddlewareHandler } from "hono";
import { AppError } from "../errors";
import { bearerToken, isPublicPath, sha256 } from "./auth";
import type { AppEnv } from "./router";

/** What the middleware needs from the Workers Rate Limiting binding (tests pass their own). */
export interface Limiter {
  limit(options: { key: string }): Promise<{ success: boolean }>;
}

/** Per-isolate counters for GET /organism/status (not persisted, not global). */
const counters = { checked: 0, limited: 0, errors: 0 };

export interface RateLimitStats {
  /** Requests checked against the limiter. */
  checked_total: number;
  /** Requests answered 429. */
  limited_total: number;
  /** Limiter calls that failed (the request was let through). */
  limiter_errors_total: number;
}

export function rateLimitStats(): RateLimitStats {
  return { checked_total: counters.checked, limited_total: counters.limited, limiter_errors_total: counters.errors };
}

/**
 * The bucket a request counts against: its bearer token (hashed, so the secret never becomes a
 * key) or else its client address. Runs after auth, so with API_TOKEN set only a valid token
 * makes a token bucket.
 */
export async function rateLimitKey(authorization: string | undefined, clientIp: string | undefined): Promise<string> {
  const token = bearerToken(authorization);
  if (token) {
    const digest = new Uint8Array(await sha256(token));
    return `token:${[...digest.slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  }
  return `ip:${clientIp ?? "unknown"}`;
}

/**
 * API rate limit through the `[[ratelimits]]` binding: over the limit → 429 `rate_limited` with
 * `Retry-After` (the binding's window, RATE_LIMIT_PERIOD_S). Health probes are exempt; a missing
 * binding or a failing limiter lets the request through (availability over strictness).
 */
export function rateLimit(pick: (env: Env) => Limiter | undefined = (env) => env.API_RATE_LIMITER): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const config = c.get("config");
    const limiter = pick(c.env);
    if (!config?.RATE_LIMIT_ENABLED || !limiter || isPublicPath(new URL(c.req.url).pathname)) return next();
    const key = await rateLimitKey(c.req.header("authorization"), c.req.header("cf-connecting-ip"));
    counters.checked++;
    let allowed = true;
    try {
      allowed = (await limiter.limit({ key })).success;
    } catch (err) {
      counters.errors++;
      console.warn("rate limiter failed; letting the request through", err);
    }
    if (allowed) return next();
    counters.limited++;
    const retryAfter = config.RATE_LIMIT_PERIOD_S;
    c.header("Retry-After", String(retryAfter));
    throw new AppError("rate_limited", `rate limit exceeded; retry after ${retryAfter}s`, { retry_after_s: retryAfter });
  };
}
