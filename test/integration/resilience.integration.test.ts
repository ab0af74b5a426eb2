import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { OrganismManager } from "../../durable-objects/organism-manager";
import { createApp } from "../../src/app";
import { breakerFor, COORDINATOR_BREAKER, resetBreakers } from "../../src/clients/breakers";
import { coordinatorClient, organismStub, type CoordinatorStub } from "../../src/clients/organism-client";
import { runtime } from "../../src/dispatch/runtime";
import { requireConfig } from "../../src/config";
import type { TaskOutcome } from "../../src/organism/task-contracts";
import { dispatchBatch } from "../../src/dispatch/consumer";
import { CircuitBreaker } from "../../src/lib/circuit-breaker";
import { rateLimit, rateLimitKey, rateLimitStats, type Limiter } from "../../src/lib/rate-limit";
import { createRouter } from "../../src/lib/router";
import { windowLimiter } from "../helpers/limiter";
import { recordingQueue } from "../helpers/recording-queue";
import { batched, deliver, dispatchDeps, drain, TASK_QUEUE, wakeBatch } from "../helpers/dispatch";
import { eventsOf, getTask, insertTask, settleOtherTasks, sql } from "../helpers/tasks";
import { api } from "../helpers/worker";
import { freshCoordinator, objectStub, task } from "./organism-helpers";

/** A wake-up batch whose acks and retries are counted. */
function counted() {
  const batch = wakeBatch(TASK_QUEUE, [{ kind: "wake" }, { kind: "wake" }]);
  const acks = batch.messages.map((m) => vi.spyOn(m, "ack"));
  const retries = batch.messages.map((m) => vi.spyOn(m, "retry"));
  return { batch, acked: () => acks.filter((s) => s.mock.calls.length > 0).length, retried: () => retries.filter((s) => s.mock.calls.length > 0).length };
}

const config = () => ({ ...requireConfig(env), CB_FAILURE_THRESHOLD: 2, CB_RECOVERY_S: 30 });

describe("dispatcher under an open coordinator breaker", () => {
  beforeEach(settleOtherTasks);

  it("keeps queued tasks' attempts while the coordinator is down and completes them once it recovers", async () => {
    const clock = { t: 0 };
    const breaker = new CircuitBreaker(COORDINATOR_BREAKER, { failureThreshold: 2, recoveryMs: 30_000, now: () => clock.t });
    let down = true;
    const failing = { decide: async () => { throw new Error("coordinator down"); } } as unknown as CoordinatorStub;
    const client = coordinatorClient(env, config(), { now: () => clock.t, random: () => 0.5, sleep: async () => {}, breaker, stub: () => (down ? failing : organismStub(env)) });
    const { queue, sent } = recordingQueue();
    const deps = dispatchDeps({ queue, config: config(), admit: runtime(env, config(), client).admit });

    // The failed decisions that open the breaker cost nothing either: no task ran.
    const early = [];
    for (let i = 0; i < 2; i++) {
      early.push(await insertTask());
      await dispatchBatch(counted().batch, deps); // the earlier one now waits for its retry time
    }
    for (const t of early) expect(await getTask(t.id)).toMatchObject({ status: "retry", attempts: 0, error: expect.stringContaining("coordinator unavailable") });
    expect(breaker.snapshot()).toMatchObject({ state: "open", circuit_opens: 1, failed_calls: 2 });

    // While open: nothing is claimed, the wake-ups are acked (not retried) and one comes back later.
    const waiting = [await insertTask(), await insertTask()];
    sent.length = 0;
    const first = counted();
    await dispatchBatch(first.batch, deps);
    expect(first.acked()).toBe(2);
    expect(first.retried()).toBe(0);
    expect(sent).toEqual([{ body: { kind: "wake", reason: "breaker" }, delaySeconds: 33 }]); // 30 s × (1 + 0.2 × 0.5)
    clock.t += 10_000;
    sent.length = 0;
    await dispatchBatch(counted().batch, deps);
    expect(sent[0]!.delaySeconds).toBe(22);
    for (const t of waiting) expect(await getTask(t.id)).toMatchObject({ status: "queued", attempts: 0 });

    // Recovered: the next pass is the half-open probe; it closes the circuit.
    clock.t += 20_000;
    down = false;
    await dispatchBatch(counted().batch, deps);
    for (const t of waiting) {
      expect(await getTask(t.id)).toMatchObject({ status: "completed", attempts: 1 });
      expect((await eventsOf(t.id)).map((e) => e.to_status)).toEqual(["queued", "running", "completed"]);
    }
    expect(breaker.snapshot()).toMatchObject({ state: "closed", failure_count: 0 });

    // The early tasks finish through their normal retry.
    for (const t of early) await sql("UPDATE tasks SET run_after = ? WHERE id = ?", Date.now() - 1, t.id);
    await dispatchBatch(counted().batch, deps);
    for (const t of early) expect(await getTask(t.id)).toMatchObject({ status: "completed", attempts: 1 });
  });

  it("is wired into the Worker's queue handler (the isolate's shared breaker)", async () => {
    resetBreakers();
    const shared = breakerFor(COORDINATOR_BREAKER, requireConfig(env));
    for (let i = 0; i < requireConfig(env).CB_FAILURE_THRESHOLD; i++) shared.acquire()!.fail();
    try {
      const t = await insertTask();
      const { result } = await deliver();
      expect(result.explicitAcks).toHaveLength(1);
      expect(result.retryMessages).toHaveLength(0);
      expect(await getTask(t.id)).toMatchObject({ status: "queued", attempts: 0 });
      resetBreakers();
      await deliver();
      expect(await getTask(t.id)).toMatchObject({ status: "completed", attempts: 1 });
    } finally {
      resetBreakers();
    }
  });
});

describe("load shedding in the coordinator", () => {
  it("a shed task goes back to retry without spending an attempt, however often it is shed", async () => {
    const t = await insertTask({ max_attempts: 1 });
    const overloaded = batched(async (_pass: string, tasks: { id: string }[]): Promise<TaskOutcome[]> =>
      tasks.map((x) => ({ id: x.id, ok: false, retriable: true, notRun: true, error: "overloaded: coordinator has 2 tasks in flight" })));
    for (let shed = 0; shed < 3; shed++) {
      await sql("UPDATE tasks SET run_after = ?, lane = status = 'queued' WHERE id = ?", Date.now() - 1, t.id);
      await drain({ runTasks: overloaded });
      expect(await getTask(t.id)).toMatchObject({ status: "retry", attempts: 0, error: expect.stringMatching(/overloaded/) });
    }
    await sql("UPDATE tasks SET run_after = ?, lane = status = 'queued' WHERE id = ?", Date.now() - 1, t.id);
    await deliver();
    expect(await getTask(t.id)).toMatchObject({ status: "completed", attempts: 1 });
  });
});

async function fetchWith(limiter: RateLimit | Limiter, path: string, ip: string, init: RequestInit = {}) {
  const ctx = createExecutionContext();
  const res = await createApp().fetch(new Request(`http://localhost${path}`, { ...init, headers: { "cf-connecting-ip": ip, ...init.headers } }), { ...env, API_RATE_LIMITER: limiter }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

describe("API rate limiting", () => {
  const missing = `/tasks/${crypto.randomUUID()}`;

  it("answers a burst over the limit with 429, Retry-After and the JSON error shape (real binding)", async () => {
    const ip = `203.0.113.${Math.floor(Math.random() * 250)}`;
    const before = rateLimitStats().limited_total;
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 5; i++) {
      const res = await fetchWith(env.TEST_TIGHT_LIMITER, missing, ip);
      statuses.push(res.status);
      if (res.status === 429) limited = res;
    }
    expect(statuses).toEqual([404, 404, 404, 429, 429]);
    expect(limited!.headers.get("retry-after")).toBe("10");
    expect(await limited!.json()).toEqual({ error: { code: "rate_limited", message: "rate limit exceeded; retry after 10s", details: { retry_after_s: 10 } } });
    expect(rateLimitStats().limited_total - before).toBe(2);
    // Health probes are exempt; another client has its own bucket.
    expect((await fetchWith(env.TEST_TIGHT_LIMITER, "/health", ip)).status).toBe(200);
    expect((await fetchWith(env.TEST_TIGHT_LIMITER, missing, `${ip}1`)).status).toBe(404);
  });

  it("lets the client through again once the window has passed", async () => {
    const clock = { t: 0 };
    const limiter = windowLimiter(2, 10_000, () => clock.t);
    const statuses = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await fetchWith(limiter, missing, "198.51.100.7")).status);
      return out;
    };
    expect(await statuses(3)).toEqual([404, 404, 429]);
    clock.t += 10_000;
    expect(await statuses(1)).toEqual([404]);
  });

  it("is off with RATE_LIMIT_ENABLED=false and lets requests through when the limiter fails", async () => {
    const app = createRouter();
    app.use("*", async (c, next) => {
      c.set("config", { ...requireConfig(env), RATE_LIMIT_ENABLED: c.req.header("x-off") !== "1" ? true : false });
      await next();
    });
    const broken: Limiter = { limit: async () => { throw new Error("limiter down"); } };
    const deny: Limiter = { limit: async () => ({ success: false }) };
    app.use("/broken/*", rateLimit(() => broken));
    app.use("/deny/*", rateLimit(() => deny));
    app.get("*", (c) => c.text("ok"));
    expect((await app.request("/broken/x", {}, env)).status).toBe(200);
    expect((await app.request("/deny/x", { headers: { "x-off": "1" } }, env)).status).toBe(200);
  });

  it("keys by a hashed bearer token, else by client address", async () => {
    const byToken = await rateLimitKey("Bearer s3cret", "203.0.113.9");
    expect(byToken).toMatch(/^token:[0-9a-f]{32}$/);
    expect(byToken).not.toContain("s3cret");
    expect(await rateLimitKey("Bearer s3cret", "198.51.100.1")).toBe(byToken);
    expect(await rateLimitKey(undefined, "203.0.113.9")).toBe("ip:203.0.113.9");
    expect(await rateLimitKey(undefined, undefined)).toBe("ip:unknown");
  });
});

describe("GET /organism/status", () => {
  it("shows breaker states, load shedding and 429 counts", async () => {
    const res = await api("/organism/status");
    expect(res.status).toBe(200);
    const body = await res.json<{ status: string; resilience: Record<string, unknown> }>();
    expect(body.resilience).toMatchObject({
      breakers: expect.any(Object),
      coordinator_load: { max_inflight_tasks: requireConfig(env).ORGANISM_MAX_INFLIGHT_TASKS, inflight_tasks: expect.any(Number), shed_total: expect.any(Number) },
      organ_breakers: expect.any(Object),
      rate_limit: { limited_total: expect.any(Number), checked_total: expect.any(Number) },
    });
  });
});

describe("organism routes under an open coordinator breaker", () => {
  it("answer 503 with Retry-After at once, while /organism/status still shows the open breaker", async () => {
    resetBreakers();
    const shared = breakerFor(COORDINATOR_BREAKER, requireConfig(env));
    for (let i = 0; i < requireConfig(env).CB_FAILURE_THRESHOLD; i++) shared.acquire()!.fail();
    try {
      const res = await api("/organism/handle-task", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ task_type: "ping" }) });
      expect(res.status).toBe(503);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await res.json()).toMatchObject({ error: { code: "unavailable", details: { retry_after_s: expect.any(Number) } } });
      const status = await (await api("/organism/status")).json<{ resilience: { breakers: Record<string, { state: string; circuit_opens: number; rejected_calls: number }> } }>();
      expect(status.resilience.breakers[COORDINATOR_BREAKER]).toMatchObject({ state: "open", circuit_opens: 1, rejected_calls: 1 });
      resetBreakers();
      const ok = await api("/organism/handle-task", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ task_type: "ping" }) });
      expect(ok.status).toBe(200);
    } finally {
      resetBreakers();
    }
  });
});
