import { z } from "zod";

const encoder = new TextEncoder();
const sha256 = (s: string) => crypto.subtle.digest("SHA-256", encoder.encode(s));

/** In WORKER_TOKENS, a token whose types are ["*"] may lease every pull type. */
export const EVERY_PULL_TYPE = "*";

/**
 * WORKER_TOKENS (a secret): a JSON object mapping each pull worker's bearer token to the types it
 * may lease, e.g. `{"tok-abc": ["transcode", "embed"], "tok-def": ["*"]}`. A token is one bearer
 * word (no whitespace), so `Authorization: Bearer <token>` can carry it.
 */
export const workerTokensSchema = z.record(
  z.string().min(1).max(512).regex(/^\S+$/, "a token must not contain whitespace"),
  // The task type's own rule (schemas/task.ts, not imported: config.ts loads this before it).
  z.array(z.union([z.literal(EVERY_PULL_TYPE), z.string().min(1).max(64).regex(/^[a-z0-9_.:-]+$/, "type may hold only a-z, 0-9 and _ . : -")])).min(1, "must list at least one type (or \"*\")"),
  { error: "must map tokens to lists of task types" },
);
export type WorkerTokens = Record<string, string[]>;

/**
 * What a request on a pull-worker route may act on: every pull type (API_TOKEN, or a tokenless
 * loopback request in local development, or a worker token with "*"), or the listed types.
 */
export type WorkerScope = { every: true } | { every: false; types: ReadonlySet<string> };

export const EVERY_TYPE_SCOPE: WorkerScope = { every: true };

/** The scope a token's list of types grants. */
export function scopeOfTypes(types: readonly string[]): WorkerScope {
  return types.includes(EVERY_PULL_TYPE) ? EVERY_TYPE_SCOPE : { every: false, types: new Set(types) };
}

export function scopeAllows(scope: WorkerScope, type: string): boolean {
  return scope.every || scope.types.has(type);
}

/** The tokens' digests, computed once per parsed config. */
const digestsOf = new WeakMap<WorkerTokens, Promise<{ digest: ArrayBuffer; types: string[] }[]>>();

/**
 * The scope of a presented bearer token, or null when it is no worker token. Constant-time per
 * token: each side is hashed to 32 bytes first, and every configured token is compared.
 */
export async function workerScopeOf(tokens: WorkerTokens, given: string): Promise<WorkerScope | null> {
  let digests = digestsOf.get(tokens);
  if (!digests) {
    digests = Promise.all(Object.entries(tokens).map(async ([token, types]) => ({ digest: await sha256(token), types })));
    digestsOf.set(tokens, digests);
  }
  const mine = await sha256(given);
  let found: string[] | null = null;
  for (const { digest, types } of await digests) if (crypto.subtle.timingSafeEqual(mine, digest)) found = types;
  return found === null ? null : scopeOfTypes(found);
}

export type LeaseTypes = { ok: true; types: string[] } | { ok: false; status: 400 | 403; message: string; type: string };

/**
 * The types a lease takes: the listed ones, or (none listed) every pull type the scope allows. A
 * listed type that is not a pull type is a 400; one outside the scope a 403.
 */
export function leaseTypes(scope: WorkerScope, requested: readonly string[] | undefined, pull: readonly string[]): LeaseTypes {
  if (requested === undefined) return { ok: true, types: pull.filter((t) => scopeAllows(scope, t)) };
  const known = new Set(pull);
  for (const type of requested) {
    if (!known.has(type)) return { ok: false, status: 400, type, message: `'${type}' is not a pull type (executor {"kind": "pull"})` };
  }
  for (const type of requested) {
    if (!scopeAllows(scope, type)) return { ok: false, status: 403, type, message: `this worker token may not lease '${type}'` };
  }
  return { ok: true, types: [...new Set(requested)] };
}
