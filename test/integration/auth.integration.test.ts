import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { AUTH_FAIL_PERIOD_S, authFailStats } from "../../src/lib/auth-throttle";
import type { Limiter } from "../../src/lib/rate-limit";
import { windowLimiter } from "../helpers/limiter";
import { fetchWithEnv } from "../helpers/worker";

const TOKEN = "s3cret-token";

/** A client address of its own, so one test's failed tokens never throttle another's. */
const freshIp = () => `2001:db8:${crypto.randomUUID().slice(0, 4)}:${crypto.randomUUID().slice(0, 4)}::1`;

async function call(url: string, opts: { env?: Partial<Env>; token?: string; method?: string; body?: unknown; ip?: string } = {}) {
  const headers: Record<string, string> = { "cf-connecting-ip": opts.ip ?? freshIp() };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const request = new Request(url, { method: opts.method ?? "GET", headers, body: opts.body === undefined ? null : JSON.stringify(opts.body) });
  return fetchWithEnv(request, opts.env ?? {});
}

const withToken = { API_TOKEN: TOKEN };

/** One route of each group (tasks, batch, list, organism, docs, unknown) in both mounts. */
const GUARDED: { path: string; method?: string; body?: unknown }[] = [
  { path: "/tasks", method: "POST", body: { type: "test_task", run_immediately: false } },
  { path: "/tasks/batch", method: "POST", body: { tasks: [{ type: "test_task", run_immediately: false }] } },
  { path: "/tasks" },
  { path: "/tasks/00000000-0000-4000-8000-000000000000/status" },
  { path: "/organism/organism-summary" },
  { path: "/openapi.json" },
  { path: "/docs" },
  { path: "/no-such-route" },
];
/** Probes, plus the dashboard shell at `/`: it holds no data and asks the browser for the token. */
const PUBLIC = ["/health", "/readyz", "/coordinator/health", "/organism/health", "/"];

describe("with API_TOKEN set", () => {
  for (const prefix of ["", "/api/v1"]) {
    for (const route of GUARDED) {
      const url = `https://edge.example.com${prefix}${route.path}`;
      it(`${route.method ?? "GET"} ${prefix}${route.path}: 401 without or with a wrong token, served with the right one`, async () => {
        for (const token of [undefined, "wrong", `${TOKEN}x`, ""]) {
          const res = await call(url, { ...route, env: withToken, ...(token === undefined ? {} : { token }) });
          expect(res.status).toBe(401);
          expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
          expect(await res.json()).toMatchObject({ error: { code: "unauthorized", message: expect.any(String) } });
        }
        const ok = await call(url, { ...route, env: withToken, token: TOKEN });
        expect(ok.status).not.toBe(401);
        expect(ok.status).toBeLessThan(500);
      });
    }
    for (const path of PUBLIC) {
      it(`GET ${prefix}${path} needs no token`, async () => {
        const res = await call(`https://edge.example.com${prefix}${path}`, { env: withToken });
        expect(res.status).not.toBe(401);
        expect(res.status === 200 || (path === "/readyz" && res.status === 503), `status ${res.status}`).toBe(true);
      });
    }
  }

  it("accepts the scheme case-insensitively but not a token in another header", async () => {
    const lower = await fetchWithEnv(new Request("https://edge.example.com/tasks", { headers: { authorization: `bearer ${TOKEN}` } }), withToken);
    expect(lower.status).toBe(200);
    const basic = await fetchWithEnv(new Request("https://edge.example.com/tasks", { headers: { authorization: `Basic ${btoa(`x:${TOKEN}`)}` } }), withToken);
    expect(basic.status).toBe(401);
  });
});

describe("without API_TOKEN", () => {
  it("refuses a non-loopback host with 401 saying API_TOKEN must be set", async () => {
    for (const url of ["https://edge.example.com/tasks", "http://10.0.0.1/api/v1/tasks", "http://localhost.evil.com/tasks", "http://128.0.0.1/tasks"]) {
      const res = await call(url);
      expect(res.status).toBe(401);
      const body = await res.json<{ error: { code: string; message: string } }>();
      expect(body.error.code).toBe("unauthorized");
      expect(body.error.message).toContain("wrangler secret put API_TOKEN");
    }
  });

  it("serves loopback hosts", async () => {
    for (const url of ["http://localhost:8787/tasks", "http://127.0.0.1/tasks", "http://127.10.0.3:8787/tasks", "http://[::1]:8787/tasks"]) {
      expect((await call(url)).status).toBe(200);
    }
  });

  it("still answers the health routes on any host", async () => {
    expect((await call("https://edge.example.com/health")).status).toBe(200);
  });
});

describe("with a broken config", () => {
  it("fails closed on guarded routes and keeps /health up", async () => {
    const broken = { ...withToken, MAX_TASK_ATTEMPTS: "lots" } as unknown as Partial<Env>;
    const res = await call("https://edge.example.com/tasks", { env: broken, token: TOKEN });
    expect(res.status).toBe(503);
    expect((await call("https://edge.example.com/health", { env: broken })).status).toBe(200);
  });
});

describe("failed authentication is throttled per address, before the token is checked", () => {
  const url = "https://edge.example.com/tasks";

  it("wrong tokens get 401s, then 429s; then even the right token from that address is refused (real binding, 10 a minute)", async () => {
    const ip = freshIp();
    const before = authFailStats();
    for (let i = 0; i < 10; i++) expect((await call(url, { env: withToken, token: `guess-${i}`, ip })).status).toBe(401);
    const limited = await call(url, { env: withToken, token: "guess-10", ip });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe(String(AUTH_FAIL_PERIOD_S));
    expect(await limited.json()).toEqual({
      error: { code: "rate_limited", message: `too many failed authentication attempts from this address; retry after ${AUTH_FAIL_PERIOD_S}s`, details: { retry_after_s: AUTH_FAIL_PERIOD_S } },
    });
    for (const token of [TOKEN, undefined]) expect((await call(url, { env: withToken, ip, ...(token ? { token } : {}) })).status).toBe(429);
    expect(authFailStats().limited_total - before.limited_total).toBe(3);
    expect(authFailStats().failures_total - before.failures_total).toBe(11);
    // Probes stay open; another address is unaffected.
    expect((await call("https://edge.example.com/health", { env: withToken, ip })).status).toBe(200);
    const other = freshIp();
    expect((await call(url, { env: withToken, token: TOKEN, ip: other })).status).toBe(200);
    expect((await call(url, { env: withToken, token: "wrong", ip: other })).status).toBe(401);
  });

  /** The app with an injected limiter and clock, so the window can pass without waiting. */
  async function viaApp(limiter: Limiter, clock: { t: number }, ip: string, token?: string) {
    const app = createApp({ auth: { authFailLimiter: () => limiter, now: () => clock.t } });
    const headers: Record<string, string> = { "cf-connecting-ip": ip, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) };
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(url, { headers }), { ...env, ...withToken }, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  }

  it("refuses the right token until the block ends, then serves it", async () => {
    const clock = { t: 1_000_000 };
    const limiter = windowLimiter(3, AUTH_FAIL_PERIOD_S * 1000, () => clock.t);
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await viaApp(limiter, clock, ip, "wrong")).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    clock.t += 30_000;
    const waiting = await viaApp(limiter, clock, ip, TOKEN);
    expect(waiting.status).toBe(429);
    expect(waiting.headers.get("retry-after")).toBe("30");
    expect((await viaApp(limiter, clock, freshIp(), TOKEN)).status).toBe(200);
    clock.t += 30_000;
    expect((await viaApp(limiter, clock, ip, TOKEN)).status).toBe(200);
  });

  it("does not count requests without credentials, and lets failures through as 401 when the limiter fails", async () => {
    const clock = { t: 0 };
    const deny: Limiter = { limit: async () => ({ success: false }) };
    const ip = freshIp();
    for (let i = 0; i < 3; i++) expect((await viaApp(deny, clock, ip)).status).toBe(401);
    expect((await viaApp(deny, clock, ip, TOKEN)).status).toBe(200);

    const errorsBefore = authFailStats().limiter_errors_total;
    const broken: Limiter = { limit: async () => { throw new Error("limiter down"); } };
    for (let i = 0; i < 3; i++) expect((await viaApp(broken, clock, ip, "wrong")).status).toBe(401);
    expect(authFailStats().limiter_errors_total - errorsBefore).toBe(3);
    expect((await viaApp(broken, clock, ip, TOKEN)).status).toBe(200);
  });
});
