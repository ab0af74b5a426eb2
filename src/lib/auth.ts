import type { MiddlewareHandler } from "hono";
import { AppError } from "../errors";
import { authFailKey, blockedForS, recordAuthFailure, refuseIfThrottled } from "./auth-throttle";
import type { Limiter } from "./rate-limit";
import type { AppEnv } from "./router";
import { EVERY_TYPE_SCOPE, workerScopeOf } from "./worker-tokens";

/** Probes stay open so a load balancer or uptime check needs no secret (DESIGN §9). */
const PUBLIC_PATHS = ["/health", "/readyz", "/coordinator/health", "/organism/health"];
/** The dashboard page is a shell with no data that asks for the token itself, so a browser can open it. */
const PAGE_PATHS = ["/", "/api/v1", "/api/v1/"];
const PUBLIC = new Set([...PUBLIC_PATHS, ...PUBLIC_PATHS.map((p) => `/api/v1${p}`), ...PAGE_PATHS]);

export function isPublicPath(pathname: string): boolean {
  return PUBLIC.has(pathname);
}

/** The pull-worker routes, the only ones a worker token opens (also under /api/v1). */
const WORKER_ROUTE = /^(?:\/api\/v1)?\/(?:workers\/lease|tasks\/[^/]+\/(?:heartbeat|complete|fail|release))\/?$/;

export function isWorkerRoute(method: string, pathname: string): boolean {
  return method.toUpperCase() === "POST" && WORKER_ROUTE.test(pathname);
}

/** localhost, 127.0.0.0/8 and [::1]: the hosts a local `wrangler dev` is reached by. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  if (host === "localhost" || host === "[::1]") return true;
  const octets = host.split(".");
  return octets.length === 4 && octets[0] === "127" && octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255);
}

const encoder = new TextEncoder();
export const sha256 = (s: string) => crypto.subtle.digest("SHA-256", encoder.encode(s));

/** The configured token's digest, computed once per isolate (per token value). */
let expectedDigest: { token: string; digest: Promise<ArrayBuffer> } | undefined;

/** Constant-time: both sides are hashed to 32 bytes first, so neither length nor content leaks. */
export async function tokensMatch(given: string, expected: string): Promise<boolean> {
  if (expectedDigest?.token !== expected) expectedDigest = { token: expected, digest: sha256(expected) };
  const [a, b] = await Promise.all([sha256(given), expectedDigest.digest]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), else null. */
export function bearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer[ ]+(\S+)\s*$/i);
  return match?.[1] ?? null;
}

export interface AuthOptions {
  /** The failed-authentication limiter (none: no throttling); tests pass their own. */
  authFailLimiter?: (env: Env) => Limiter | undefined;
  now?: () => number;
}

/**
 * With API_TOKEN set, every non-public route needs `Authorization: Bearer <token>`, and an
 * address that failed too often is refused (429) before its token is looked at.
 * Without it, only loopback hosts are served: local dev needs no setup, while a deployed
 * Worker that was never given a token refuses everyone and says why.
 */
export function auth({ authFailLimiter = (env) => env.AUTH_FAIL_LIMITER, now = Date.now }: AuthOptions = {}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const url = new URL(c.req.url);
    if (isPublicPath(url.pathname)) return next();
    const config = c.get("config");
    // Fail closed: a broken config may hide the token, so nothing non-public is served.
    if (!config) throw new AppError("unavailable", "configuration is invalid; see GET /readyz for the reason");
    const authorization = c.req.header("authorization");
    const given = bearerToken(authorization);
    const workerRoute = isWorkerRoute(c.req.method, url.pathname);
    const key = authFailKey(c.req.header("cf-connecting-ip"));
    const hasWorkerTokens = Object.keys(config.WORKER_TOKENS).length > 0;
    if (config.API_TOKEN !== undefined || hasWorkerTokens) refuseIfThrottled(c, blockedForS(key, now()));
    // A worker token opens the pull-worker routes only, scoped to its types; anywhere else it is no credential.
    const workerScope = given !== null && hasWorkerTokens ? await workerScopeOf(config.WORKER_TOKENS, given) : null;
    if (workerScope) {
      if (!workerRoute) {
        c.header("WWW-Authenticate", 'Bearer realm="seedcore"');
        throw new AppError("unauthorized", "a worker token is accepted only on POST /workers/lease and POST /tasks/{id}/heartbeat|complete|fail|release");
      }
      c.set("workerScope", workerScope);
      return next();
    }
    if (config.API_TOKEN === undefined) {
      if (isLoopbackHost(url.hostname)) {
        if (workerRoute) c.set("workerScope", EVERY_TYPE_SCOPE);
        return next();
      }
      if (!workerRoute || authorization === undefined) {
        throw new AppError(
          "unauthorized",
          "API_TOKEN is not set, so only localhost is served; set it with `wrangler secret put API_TOKEN`",
        );
      }
    } else if (given !== null && (await tokensMatch(given, config.API_TOKEN))) {
      if (workerRoute) c.set("workerScope", EVERY_TYPE_SCOPE);
      return next();
    }
    // Only a presented credential is a guess; a request without one (the dashboard before its
    // token is entered) is told 401 without counting against its address.
    const limiter = authFailLimiter(c.env);
    if (limiter && authorization !== undefined) refuseIfThrottled(c, await recordAuthFailure(limiter, key, now()));
    c.header("WWW-Authenticate", 'Bearer realm="seedcore"');
    throw new AppError("unauthorized", workerRoute ? "missing or invalid bearer token (Authorization: Bearer <worker token or API_TOKEN>)" : "missing or invalid bearer token (Authorization: Bearer <API_TOKEN>)");
  };
}
