import { describe, expect, it } from "vitest";
import { serviceSpecSchema, type ServiceSpecs } from "../../src/services/service-spec";
import { drain } from "../helpers/dispatch";
import { loopbackOrigin, loopbackService, namedServiceCalls } from "../helpers/named-services";
import { eventsOf, getTask } from "../helpers/tasks";
import { api } from "../helpers/worker";

/**
 * Named service clients (ctx.services, DESIGN §16) through the real path — claim → coordinator →
 * organ → the task's code → ctx.services.<name> → a real HTTP server (test/loopback-server.mjs).
 * The loopback's port is not known to the config, so the organs get these specs through the
 * tests-only override; SERVICES parsing itself is covered by test/unit/service-client.
 */
const origin = loopbackOrigin;
const hits = async (key: string) => (await (await fetch(`${origin}/svc/hits?key=${key}`)).json<{ n: number }>()).n;
const spec = loopbackService;
const specs: ServiceSpecs = {
  // WEBHOOK_SECRET is a secret the test Worker has (vitest.config.ts): a header taken from a secret.
  plain: spec({ timeout_s: 2, retries: 2, headers: { "x-team": "core", "x-key": "secret:WEBHOOK_SECRET" } }),
  once: spec({ timeout_s: 2, retries: 0 }),
  slow: serviceSpecSchema.parse({ url: origin, timeout_s: 0.5, retries: 1 }),
  fragile: spec({ timeout_s: 2, retries: 0, breaker: { failures: 2, recovery_s: 60 } }),
};

const call = namedServiceCalls("svc_call", specs);
const key = () => crypto.randomUUID();

describe("ctx.services", () => {
  it("calls the service with its headers (literal and from a secret) and returns the JSON", async () => {
    const k = key();
    const task = await call("plain", `/flaky?key=${k}`);
    await drain();
    const row = await getTask(task.id);
    expect(row).toMatchObject({ status: "completed", attempts: 1 });
    expect(row.result).toMatchObject({ key: k, n: 1, headers: { "x-team": "core", "x-key": "test-webhook-secret" } });
  });

  it("retries a 503 after its Retry-After within the attempt, then completes", async () => {
    const k = key();
    const task = await call("plain", `/flaky?key=${k}&fail=1&retry_after=1`);
    const started = Date.now();
    await drain();
    expect(await getTask(task.id)).toMatchObject({ status: "completed", attempts: 1, result: { key: k, n: 2 } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(await hits(k)).toBe(2);
  });

  it("when the Retry-After does not fit the deadline, the task retries at that time (RetryAfterError)", async () => {
    const k = key();
    const task = await call("plain", `/flaky?key=${k}&fail=-1&code=429&retry_after=30`);
    const before = Date.now();
    await drain();
    const row = await getTask(task.id);
    expect(row).toMatchObject({ status: "retry", attempts: 1 });
    expect(row.error).toMatch(/service 'plain' answered 429.*retry after 30s/);
    expect(row.runAfter! - before).toBeGreaterThanOrEqual(30_000);
    expect(await hits(k)).toBe(1);
  });

  it("a call that outlasts the service's timeout is tried again, then fails the attempt retriably", async () => {
    const task = await call("slow", `/slow?ms=3000&tag=svc-timeout:${key()}`);
    await drain();
    const row = await getTask(task.id);
    expect(row).toMatchObject({ status: "retry", attempts: 1 });
    expect(row.error).toMatch(/service 'slow' timed out after 500 ms \(try 2\)/);
  });

  it("an open breaker defers the next task with its attempt given back; /metrics and /organism/status show it", async () => {
    const k = key();
    const [a, b] = [await call("fragile", `/flaky?key=${k}&fail=-1&code=500`), await call("fragile", `/flaky?key=${k}&fail=-1&code=500`)];
    await drain();
    for (const t of [a, b]) expect(await getTask(t.id)).toMatchObject({ status: "retry", attempts: 1 });
    expect(await hits(k)).toBe(2);

    const c = await call("fragile", `/flaky?key=${k}`);
    const before = Date.now();
    await drain();
    const row = await getTask(c.id);
    expect(row).toMatchObject({ status: "retry", attempts: 0 });
    expect(row.error).toMatch(/service 'fragile': circuit open/);
    expect(row.runAfter! - before).toBeGreaterThan(50_000);
    expect(await hits(k)).toBe(2);
    expect((await eventsOf(c.id)).at(-1)?.message).toMatch(/attempt not counted/);

    const metrics = await (await api("/metrics")).text();
    expect(metrics).toMatch(/seedcore_service_breaker_state\{service="fragile"\} 2/);
    expect(metrics).toMatch(/seedcore_service_deferred_total\{service="fragile",reason="breaker"\} 1/);
    expect(metrics).toMatch(/seedcore_service_requests_total\{service="fragile"\} 2/);
    const status = await (await api("/organism/status")).json<{ resilience: { services: Record<string, { breaker: { state: string }; deferred_breaker: number }> } }>();
    expect(status.resilience.services["fragile"]).toMatchObject({ deferred_breaker: 1, breaker: { state: "open" } });
  });
});
