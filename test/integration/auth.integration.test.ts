import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fetchWithEnv } from "../helpers/worker";

const TOKEN = "s3cret-token";

async function call(url: string, opts: { env?: Partial<Env>; token?: string; method?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
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
