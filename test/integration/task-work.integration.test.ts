import { inject } from "vitest";
import { beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { defineTask } from "../../src/tasks/define-task";
import { PermanentError, RetryAfterError } from "../../src/tasks/errors";
import { registerTasks } from "../../src/tasks/registry";
import { drain } from "../helpers/dispatch";
import { recordingQueue } from "../helpers/recording-queue";
import { requireConfig } from "../../src/config";
import { getTask, insertTask, settleOtherTasks, sql, until } from "../helpers/tasks";
import { api } from "../helpers/worker";
import { env } from "cloudflare:workers";

/**
 * Task code with its context (DESIGN §16), through the real path: claim → coordinator → one organ
 * call per task → the task's code → outcome written when it ends. The definitions are this file's
 * own, registered in the isolate the Worker and its Durable Objects run in.
 */
const origin = inject("loopbackOrigin");
const loopback = async (tag: string) => (await fetch(`${origin}/stats?tag=${encodeURIComponent(tag)}`)).json<{ inflight: number; peak: number; served: number; closed: string[] }>();

/**
 * Gates a test opens to let a task's code go on. The organ runs in this isolate, but a promise
 * made in one Durable Object's context cannot be settled from another's: the code polls.
 */
const opened = new Set<string>();
const gate = async (id: string, sleep: (ms: number) => Promise<void>) => {
  while (!opened.has(id)) await sleep(20);
};
const open = (id: string) => opened.add(id);
/** Effects a task's code had, counted here (a step's side effect). */
const effects = new Map<string, number>();
const effect = (key: string) => effects.set(key, (effects.get(key) ?? 0) + 1);

const empty = z.object({});
registerTasks([
  defineTask({
    type: "tw_context",
    params: z.object({ n: z.number().int() }),
    run: (p, ctx) => ({ doubled: p.n * 2, attempt: ctx.attempt, has_db: typeof ctx.env.DB, deadline_ahead: ctx.deadline > Date.now(), id: ctx.task.id }),
  }),
  defineTask({
    type: "tw_progress",
    params: empty,
    async run(_p, ctx) {
      ctx.progress({ current: 1, total: 3, message: "first third" });
      await gate(ctx.task.id, ctx.sleep);
      ctx.progress(3);
      return "done";
    },
  }),
  defineTask({
    type: "tw_steps",
    params: empty,
    async run(_p, ctx) {
      const a = await ctx.step("charge", () => (effect(`${ctx.task.id}:charge`), { charged: 42 }));
      if (ctx.attempt === 1) throw new Error("crash between step 1 and step 2");
      const b = await ctx.step("email", () => (effect(`${ctx.task.id}:email`), "sent"));
      const c = await ctx.step("log", () => (effect(`${ctx.task.id}:log`), null));
      return { a, b, c };
    },
  }),
  defineTask({
    type: "tw_hang",
    params: z.object({ tag: z.string() }),
    timeout_s: 1,
    async run(p, ctx) {
      await fetch(`${origin}/hang?tag=${encodeURIComponent(p.tag)}`, { signal: ctx.signal });
      return "answered";
    },
  }),
  defineTask({
    type: "tw_late",
    params: empty,
    timeout_s: 1,
    async run() {
      await new Promise((resolve) => setTimeout(resolve, 1500)); // ignores its signal
      return { late: true };
    },
  }),
  defineTask({
    type: "tw_heartbeat",
    params: empty,
    async run(_p, ctx) {
      if (ctx.attempt === 1) {
        const answer = await ctx.heartbeat({ cursor: 5 });
        throw new Error(`retry me (cancel_requested: ${answer.cancel_requested})`);
      }
      return { resumed_from: ctx.lastHeartbeat };
    },
  }),
  defineTask({
    type: "tw_parent",
    params: empty,
    async run(_p, ctx) {
      const child = await ctx.submit({ type: "tw_context", params: { n: 21 } }, "the-child");
      if (ctx.attempt === 1) throw new Error("parent fails after submitting");
      return child;
    },
  }),
  defineTask({
    type: "tw_log",
    params: empty,
    run(_p, ctx) {
      ctx.log.info("starting", { a: 1 });
      ctx.log.warn("careful");
      return "logged";
    },
  }),
  defineTask({ type: "tw_permanent", params: empty, run: () => { throw new PermanentError("bad card"); } }),
  defineTask({ type: "tw_retry_after", params: empty, run: () => { throw new RetryAfterError("rate limited", 30); } }),
  defineTask({ type: "tw_fast", params: empty, run: () => "pong" }),
  defineTask({ type: "tw_slow", params: empty, async run(_p, ctx) { await ctx.sleep(5000); return "slow"; } }),
  defineTask({
    type: "tw_io",
    params: z.object({ tag: z.string(), ms: z.number() }),
    async run(p, ctx) {
      const res = await fetch(`${origin}/slow?ms=${p.ms}&tag=${encodeURIComponent(p.tag)}`, { signal: ctx.signal });
      return res.json();
    },
  }),
]);

beforeEach(settleOtherTasks);

const taskJson = async (id: string) => (await api(`/tasks/${id}`)).json<Record<string, unknown>>();
/** Makes a retrying task due now (its backoff is the retry policy's business, tested elsewhere). */
const dueNow = (id: string) => sql("UPDATE tasks SET run_after = NULL WHERE id = ?", id);

describe("a task's code and its context", () => {
  it("gets its parsed params, bindings and attempt; returns its result, with how it ran in `execution`", async () => {
    const task = await insertTask({ type: "tw_context", params: { n: 21 } });
    await drain();
    const json = await taskJson(task.id);
    expect(json).toMatchObject({ status: "completed", result: { doubled: 42, attempt: 1, has_db: "object", deadline_ahead: true, id: task.id } });
    expect(json["execution"]).toMatchObject({ path: "fast", organ_id: "utility_organ_1", agent_id: expect.any(String) });
  });

  it("shows progress while the task runs, and its last progress after", async () => {
    const task = await insertTask({ type: "tw_progress" });
    const drained = drain();
    const running = await until(() => taskJson(task.id), (j) => j["progress"] !== null);
    expect(running).toMatchObject({ status: "running", progress: { current: 1, total: 3, message: "first third" } });
    open(task.id);
    await drained;
    expect(await taskJson(task.id)).toMatchObject({ status: "completed", progress: { current: 3, total: null } });
  });

  it("runs a finished step once: a later attempt gets its stored result", async () => {
    const task = await insertTask({ type: "tw_steps" });
    await drain();
    expect((await getTask(task.id)).status).toBe("retry");
    await dueNow(task.id);
    await drain();
    const done = await getTask(task.id);
    expect(done).toMatchObject({ status: "completed", attempts: 2, result: { a: { charged: 42 }, b: "sent", c: null } });
    expect([effects.get(`${task.id}:charge`), effects.get(`${task.id}:email`), effects.get(`${task.id}:log`)]).toEqual([1, 1, 1]);
    const steps = await env.DB.prepare("SELECT name FROM task_steps WHERE task_id = ? ORDER BY name").bind(task.id).all<{ name: string }>();
    expect(steps.results.map((r) => r.name)).toEqual(["charge", "email", "log"]);
  });

  it("aborts the signal at the deadline: the outside call is cut and the attempt fails retriably as a timeout", async () => {
    const tag = `deadline:${crypto.randomUUID()}`;
    const task = await insertTask({ type: "tw_hang", params: { tag } });
    await drain();
    const row = await getTask(task.id);
    expect(row.status).toBe("retry");
    expect(row.error).toMatch(/timed out/);
    expect((await until(() => loopback(tag), (s) => s.closed.length > 0)).closed).toEqual([tag]);
  });

  it("discards a result that arrives after the deadline", async () => {
    const task = await insertTask({ type: "tw_late" });
    await drain();
    await new Promise((r) => setTimeout(r, 1000)); // the code returns meanwhile
    const row = await getTask(task.id);
    expect(row).toMatchObject({ status: "retry", result: null });
    expect(row.error).toMatch(/timed out/);
  });

  it("aborts the signal of a running task that is cancelled", async () => {
    const tag = `cancel:${crypto.randomUUID()}`;
    const task = await insertTask({ type: "tw_hang", params: { tag } });
    const drained = drain({ config: { HEARTBEAT_S: 0.2 } });
    await until(() => loopback(tag), (s) => s.inflight > 0);
    expect((await api(`/tasks/${task.id}/cancel`, { method: "POST" })).status).toBe(200);
    expect((await until(() => loopback(tag), (s) => s.closed.length > 0, 800)).closed).toEqual([tag]);
    await drained;
    expect((await getTask(task.id)).status).toBe("cancelled");
  });

  it("heartbeat extends the lease and hands its details to the next attempt", async () => {
    const task = await insertTask({ type: "tw_heartbeat" });
    await drain();
    const first = await getTask(task.id);
    expect(first.status).toBe("retry");
    expect(first.error).toContain("cancel_requested: false");
    await dueNow(task.id);
    await drain();
    expect(await getTask(task.id)).toMatchObject({ status: "completed", result: { resumed_from: { cursor: 5 } } });
  });

  it("submit from a retried parent yields one child", async () => {
    const parent = await insertTask({ type: "tw_parent" });
    await drain();
    await dueNow(parent.id);
    await drain();
    const done = await getTask(parent.id);
    expect(done.status).toBe("completed");
    const children = await env.DB.prepare("SELECT id, type FROM tasks WHERE idempotency_key = ?").bind(`${parent.id}:the-child`).all<{ id: string; type: string }>();
    expect(children.results).toEqual([{ id: (done.result as { id: string }).id, type: "tw_context" }]);
    expect(done.result).toMatchObject({ created: false });
  });

  it("keeps the code's log lines, served with the timeline", async () => {
    const task = await insertTask({ type: "tw_log" });
    await drain();
    const events = await (await api(`/tasks/${task.id}/events`)).json<{ logs: unknown[] }>();
    expect(events.logs).toMatchObject([
      { attempt: 1, level: "info", message: "starting", data: { a: 1 } },
      { attempt: 1, level: "warn", message: "careful", data: null },
    ]);
  });

  it("PermanentError fails the task without retry; RetryAfterError retries at its time", async () => {
    const [permanent, later] = [await insertTask({ type: "tw_permanent" }), await insertTask({ type: "tw_retry_after" })];
    const before = Date.now();
    await drain();
    expect(await getTask(permanent.id)).toMatchObject({ status: "failed", attempts: 1, error: "bad card" });
    const retry = await getTask(later.id);
    expect(retry).toMatchObject({ status: "retry", error: "rate limited" });
    expect(retry.runAfter! - before).toBeGreaterThanOrEqual(30_000);
    expect(retry.runAfter! - Date.now()).toBeLessThanOrEqual(30_000);
  });

  it("params that no longer fit the schema fail permanently, naming the field", async () => {
    const task = await insertTask({ type: "tw_context", params: { n: "x" } });
    await drain();
    const row = await getTask(task.id);
    expect(row.status).toBe("failed");
    expect(row.error).toMatch(/^invalid params: params\.n: /);
  });
});

describe("no head-of-line blocking", () => {
  it("records every fast task's outcome while a slow task of the same pass still runs", async () => {
    const slow = await insertTask({ type: "tw_slow" });
    const fast = await Promise.all(Array.from({ length: 100 }, () => insertTask({ type: "tw_fast" })));
    const drained = drain();
    // A finished row keeps no locked_at: the claim's time is its timeline entry into running.
    const runMs = `SELECT t.updated_at - max(tl.at) AS ms FROM tasks AS t JOIN task_timeline AS tl ON tl.task_id = t.id AND tl.to_status = 'running'
                   WHERE t.type = 'tw_fast' AND t.status = 'completed' GROUP BY t.id`;
    const done = await until(
      () => env.DB.prepare(`SELECT count(*) AS n, max(ms) AS slowest FROM (${runMs})`).first<{ n: number; slowest: number }>(),
      (r) => r?.n === 100,
    );
    console.log("fast tasks' claim-to-completed ms:", await env.DB.prepare(`SELECT min(ms) AS lo, max(ms) AS hi, avg(ms) AS mean FROM (${runMs})`).first());
    expect(done?.n).toBe(100);
    expect((await getTask(slow.id)).status).toBe("running");
    // The figure: every fast task is completed within 1 s of its claim.
    expect(done?.slowest).toBeLessThan(1000);
    await drained;
    expect((await getTask(slow.id)).status).toBe("completed");
    expect(new Set(fast.map((t) => t.id)).size).toBe(100);
  }, 20_000);
});

describe("a long task holds its pass, not the dispatch", () => {
  it("hands the due work left over to a fresh wake-up while the long pass still runs", async () => {
    const long = await insertTask({ type: "tw_progress", priority: 60 });
    await insertTask({ type: "tw_fast" });
    const { queue, sent } = recordingQueue();
    // The Free plan's budget: one task a pass, and no room for a second pass beside it.
    const drained = drain({ queue, config: { D1_QUERIES_PER_INVOCATION: 50, MAX_PLAN_STEPS: requireConfig({ D1_QUERIES_PER_INVOCATION: "50" }).MAX_PLAN_STEPS } });
    await until(async () => sent.length, (n) => n > 0);
    expect(sent.map((m) => m.body)).toEqual([{ kind: "wake", reason: "pass" }]);
    expect((await getTask(long.id)).status).toBe("running");
    open(long.id);
    await drained;
    expect(sent).toHaveLength(1);
    expect((await getTask(long.id)).status).toBe("completed");
  }, 15_000);
});

describe("I/O-bound work fans out", () => {
  it("runs tasks waiting on the network at once: 30 in one pass, 30 open at once, each task one connection (≤ 6 tasks per organ request: decide-then-run)", async () => {
    const run = crypto.randomUUID();
    const tasks = await Promise.all(Array.from({ length: 30 }, (_, i) => insertTask({ type: "tw_io", params: { tag: `${run}:${i}`, ms: 1000 } })));
    await drain();
    const rows = await Promise.all(tasks.map((t) => getTask(t.id)));
    expect(rows.every((r) => r.status === "completed")).toBe(true);
    // All 30 were open at once (one pass, no queue behind one request) …
    expect((await loopback(run)).peak).toBe(30);
    // … and each task held one connection at a time: an organ request (≤ ORGAN_CALL_TASKS tasks) holds at most 6.
    for (let i = 0; i < 30; i++) expect((await loopback(`${run}:${i}`)).peak).toBe(1);
  });
});
