import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { reapExpiredLeases } from "../../src/store/reap-expired-leases";
import { defineTask } from "../../src/tasks/define-task";
import { registerTasks } from "../../src/tasks/registry";
import { LEASE_POLL_MS } from "../../src/pull-workers";
import { MAX_HEARTBEAT_DETAILS_BYTES, MAX_LEASE_S, MAX_LEASE_TASKS, MAX_LEASE_TYPES, MAX_LEASE_WAIT_S, MAX_RETRY_AFTER_S, MAX_WORKER_ERROR_CHARS, MIN_LEASE_S } from "../../src/schemas/pull-worker";
import { requireConfig } from "../../src/config";
import { handleDeadLetters } from "../../src/dispatch/dead-letters";
import { dispatcherTypes } from "../../src/dispatch/pull-types";
import { followUpDeps } from "../../src/follow-ups";
import { runMaintenancePass } from "../../src/maintenance/maintenance-pass";
import { deliver, DLQ, drain, wakeBatch } from "../helpers/dispatch";
import { recordingQueue } from "../helpers/recording-queue";
import { db, eventsOf, getTask, insertTask, insertTasks, newTask, settleOtherTasks, sql } from "../helpers/tasks";
import { api, fetchWithEnv, postJson } from "../helpers/worker";
import type { LeasedTask } from "../../src/pull-worker";

/**
 * Pull workers (issue 22 item 1, docs/PULL-API.md): the dispatcher never claims a pull
 * type; POST /workers/lease takes its tasks with the same claim, and the fenced routes end them
 * through the dispatcher's outcome path.
 */
const anyParams = z.record(z.string(), z.unknown());
const pull = (type: string, extra: { timeout_s?: number; max_attempts?: number } = {}) => defineTask({ type, params: anyParams, executor: { kind: "pull" }, ...extra });
registerTasks([pull("pl_a"), pull("pl_b", { timeout_s: 30 }), pull("pl_c")]);

/** http executors whose endpoint (the loopback server) answers 202: it finishes the task later through the pull routes. */
const origin = inject("loopbackOrigin");
const accepted = (type: string, tag: string, timeout_s?: number) =>
  defineTask({ type, params: anyParams, executor: { kind: "http", url: `${origin}/exec?status=202&tag=${tag}` }, ...(timeout_s ? { timeout_s } : {}) });
registerTasks([accepted("pl_http_202", "pull-202"), accepted("pl_http_202_long", "pull-202-long", 600)]);
const lastExec = async (tag: string) => (await fetch(`${origin}/exec/last?tag=${tag}`)).json<{ headers: Record<string, string>; body: string } | null>();

/** A leased task as the route answers it (the Node worker's type), its parents' results typed. */
interface Leased extends Omit<LeasedTask, "parents"> {
  parents: Record<string, { status: string; result: unknown }> | null;
}

async function lease(body: Record<string, unknown> = {}): Promise<Leased[]> {
  const res = await postJson("/workers/lease", { wait_s: 0, ...body });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json<{ tasks: Leased[] }>()).tasks;
}

async function leaseOne(body: Record<string, unknown> = {}): Promise<Leased> {
  const [task] = await lease(body);
  expect(task).toBeDefined();
  return task!;
}

const rowOf = (id: string) => env.DB.prepare("SELECT * FROM tasks WHERE id = ?").bind(id).first<Record<string, unknown>>();

beforeEach(settleOtherTasks);

describe("POST /workers/lease", () => {
  it("takes due pull tasks in priority order, never a task of another type", async () => {
    const [oldCreated] = await insertTasks([newTask({ type: "pl_a", params: { n: 1 } })], Date.now() - 5000);
    const old = oldCreated!.row;
    const urgent = await insertTask({ type: "pl_b", params: { n: 2 }, priority: 60 });
    const other = await insertTask({ type: "test_task" });
    const before = Date.now();
    const tasks = await lease({ max: 10, lease_s: 30 });
    expect(tasks.map((t) => t.id)).toEqual([urgent.id, old.id]);
    const [b, a] = tasks as [Leased, Leased];
    expect(b).toMatchObject({ type: "pl_b", params: { n: 2 }, attempt: 1, max_attempts: 3, last_heartbeat: null, parents: null });
    expect(b.lease_expires_at).toBeGreaterThanOrEqual(before + 30_000);
    expect(b.lease_expires_at).toBeLessThanOrEqual(Date.now() + 30_000);
    // pl_b's definition has timeout_s 30: a deadline; pl_a has none: the lease is the only bound.
    expect(b.deadline! - b.lease_expires_at).toBeLessThan(1000);
    expect(a.deadline).toBeNull();
    expect(b.lease_token).not.toBe(a.lease_token);
    expect(await getTask(urgent.id)).toMatchObject({ status: "running", attempts: 1 });
    expect(await getTask(other.id)).toMatchObject({ status: "queued", attempts: 0 });
    expect(await lease({ max: 10 })).toEqual([]);
  });

  it("takes only the listed types, and only pull types", async () => {
    const a = await insertTask({ type: "pl_a" });
    const c = await insertTask({ type: "pl_c" });
    expect((await lease({ types: ["pl_c"], max: 10 })).map((t) => t.id)).toEqual([c.id]);
    const res = await postJson("/workers/lease", { types: ["pl_a", "test_task"] });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "validation_failed", message: expect.stringMatching(/test_task.*not a pull type/) } });
    expect(await getTask(a.id)).toMatchObject({ status: "queued" });
  });

  it(`max: ${MAX_LEASE_TASKS} leases that many, ${MAX_LEASE_TASKS + 1} is a 400`, async () => {
    await insertTasks(Array.from({ length: MAX_LEASE_TASKS + 1 }, () => newTask({ type: "pl_c" })));
    expect(await lease({ max: MAX_LEASE_TASKS })).toHaveLength(MAX_LEASE_TASKS);
    const res = await postJson("/workers/lease", { max: MAX_LEASE_TASKS + 1 });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "validation_failed", message: expect.stringMatching(/^max:/) } });
    expect(await lease({ max: MAX_LEASE_TASKS })).toHaveLength(1);
  });

  it("bounds lease_s, wait_s, types and max, and refuses unknown fields", async () => {
    const refused = [
      { lease_s: MIN_LEASE_S - 1 },
      { lease_s: MAX_LEASE_S + 1 },
      { wait_s: MAX_LEASE_WAIT_S + 1 },
      { wait_s: -1 },
      { max: 0 },
      { types: [] },
      { types: Array.from({ length: MAX_LEASE_TYPES + 1 }, (_, i) => `t${i}`) },
      { worker: "w1" },
    ];
    for (const body of refused) {
      const res = await postJson("/workers/lease", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: "validation_failed" } });
    }
    const bad = await api("/workers/lease", { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: expect.any(String) } });
    // At the limits: accepted (a task is due, so the wait ends at once).
    await insertTask({ type: "pl_a" });
    expect(await lease({ lease_s: MAX_LEASE_S, wait_s: MAX_LEASE_WAIT_S })).toHaveLength(1);
    await insertTask({ type: "pl_a" });
    expect(await lease({ lease_s: MIN_LEASE_S })).toHaveLength(1);
    // 50 types listed: each must be a pull type, so a list of 50 known ones (repeated) passes the bound.
    expect(await lease({ types: Array.from({ length: MAX_LEASE_TYPES }, () => "pl_a") })).toEqual([]);
  });

  it(`waits wait_s when nothing is due (looking every ${LEASE_POLL_MS} ms), then answers []`, async () => {
    const started = Date.now();
    expect(await lease({ wait_s: 1 })).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeLessThan(1000 + 2 * LEASE_POLL_MS + 500);
  });

  it("returns a task submitted during the wait, well before the wait ends", async () => {
    const started = Date.now();
    const waiting = lease({ wait_s: 10 });
    await new Promise((r) => setTimeout(r, 600));
    const task = await insertTask({ type: "pl_a" });
    const tasks = await waiting;
    expect(tasks.map((t) => t.id)).toEqual([task.id]);
    expect(Date.now() - started).toBeLessThan(600 + 2 * LEASE_POLL_MS + 1500);
  });

  it("respects concurrency keys: one running per key at limit 1", async () => {
    const [k1] = await insertTasks([newTask({ type: "pl_a", concurrency_key: "pull-key" })], Date.now() - 1000);
    const [k2] = await insertTasks([newTask({ type: "pl_a", concurrency_key: "pull-key" })]);
    const first = await lease({ max: 10 });
    expect(first.map((t) => t.id)).toEqual([k1!.row.id]);
    expect(await lease({ max: 10 })).toEqual([]);
    expect((await postJson(`/tasks/${k1!.row.id}/complete`, { lease_token: first[0]!.lease_token, result: 1 })).status).toBe(200);
    expect((await lease({ max: 10 })).map((t) => t.id)).toEqual([k2!.row.id]);
  });

  it("a paused pull type is not leased", async () => {
    const task = await insertTask({ type: "pl_c" });
    expect((await api("/types/pl_c/pause", { method: "POST" })).status).toBe(200);
    expect(await lease({ types: ["pl_c"] })).toEqual([]);
    expect((await api("/types/pl_c/resume", { method: "POST" })).status).toBe(200);
    expect((await lease({ types: ["pl_c"] })).map((t) => t.id)).toEqual([task.id]);
  });

  it("a type TASK_EXECUTORS makes pull is leased, and accepted at submit with any params", async () => {
    const vars = { TASK_EXECUTORS: JSON.stringify({ pl_cfg: { kind: "pull" } }) };
    const post = (path: string, body: unknown) =>
      fetchWithEnv(new Request(`http://localhost${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }), vars);
    const created = await post("/tasks", { type: "pl_cfg", params: { any: [1] } });
    expect(created.status).toBe(201);
    const { id } = await created.json<{ id: string }>();
    const res = await post("/workers/lease", { wait_s: 0 });
    const { tasks } = await res.json<{ tasks: Leased[] }>();
    expect(tasks.map((t) => [t.id, t.type])).toEqual([[id, "pl_cfg"]]);
  });
});

describe("the dispatcher and pull types", () => {
  it("never claims a pull task: a wake-up leaves it queued and sends no follow-up wake-up", async () => {
    const task = await insertTask({ type: "pl_a" });
    const delayed = await insertTask({ type: "pl_b", run_after: Date.now() + 60_000 });
    const { result } = await deliver();
    expect(result.explicitAcks.length).toBe(1);
    expect(await getTask(task.id)).toMatchObject({ status: "queued", attempts: 0 });
    const { queue, sent } = recordingQueue();
    await drain({ queue });
    expect(await getTask(task.id)).toMatchObject({ status: "queued", attempts: 0 });
    // A pull backlog (due now, or delayed) is no dispatcher work: no "pass" or "retry" wake-up follows.
    expect(sent).toEqual([]);
    expect(await getTask(delayed.id)).toMatchObject({ status: "queued" });
  });

  it("the sweeper sends no wake-up for an old pull backlog (no dispatcher work), and the DLQ consumer none either", async () => {
    const task = await insertTask({ type: "pl_a" });
    const config = requireConfig(env);
    await sql("UPDATE tasks SET updated_at = ? WHERE id = ?", Date.now() - (config.SWEEP_AFTER_S + 5) * 1000, task.id);
    const { queue, sent } = recordingQueue();
    const report = await runMaintenancePass({ db: db(), queue, config, now: Date.now, statementsUsed: () => 0, followUp: followUpDeps(env, db()) });
    expect(report.woke).toBeNull();
    await handleDeadLetters(wakeBatch(DLQ), db(), queue, Date.now(), dispatcherTypes(config));
    expect(sent).toEqual([]);
    // A due task of another type, as old, does wake it.
    const ping = await insertTask({ type: "ping" });
    await sql("UPDATE tasks SET updated_at = ? WHERE id = ?", Date.now() - (config.SWEEP_AFTER_S + 5) * 1000, ping.id);
    expect((await runMaintenancePass({ db: db(), queue, config, now: Date.now, statementsUsed: () => 0, followUp: followUpDeps(env, db()) })).woke).toBe("sweeper");
  });

  it("still claims other types next to a pull backlog", async () => {
    await insertTasks(Array.from({ length: 5 }, () => newTask({ type: "pl_a" })));
    const ping = await insertTask({ type: "ping" });
    await drain();
    expect(await getTask(ping.id)).toMatchObject({ status: "completed" });
  });
});

describe("heartbeat", () => {
  it("extends the lease, keeps details for the next attempt, answers cancel_requested after a cancel", async () => {
    const task = await insertTask({ type: "pl_a" });
    const leased = await leaseOne({ lease_s: 10 });
    const before = Date.now();
    const res = await postJson(`/tasks/${task.id}/heartbeat`, { lease_token: leased.lease_token, lease_s: 300, details: { offset: 42 } });
    expect(res.status).toBe(200);
    const hb = await res.json<{ id: string; lease_expires_at: number; cancel_requested: boolean }>();
    expect(hb).toMatchObject({ id: task.id, cancel_requested: false });
    expect(hb.lease_expires_at).toBeGreaterThanOrEqual(before + 300_000);
    expect((await getTask(task.id)).leaseExpiresAt).toBe(hb.lease_expires_at);
    expect((await rowOf(task.id))?.["heartbeat_details"]).toBe(JSON.stringify({ offset: 42 }));
    // Without lease_s: the lease's current length (300 s) again.
    const again = await (await postJson(`/tasks/${task.id}/heartbeat`, { lease_token: leased.lease_token })).json<{ lease_expires_at: number }>();
    expect(again.lease_expires_at - Date.now()).toBeGreaterThan(295_000);
    // The next attempt sees the details.
    expect((await postJson(`/tasks/${task.id}/fail`, { lease_token: leased.lease_token, error: "boom", retry_after_s: 0 })).status).toBe(200);
    const second = await leaseOne();
    expect(second).toMatchObject({ id: task.id, attempt: 2, last_heartbeat: { offset: 42 } });
    // Cancelled while leased: the heartbeat says so.
    expect((await api(`/tasks/${task.id}/cancel`, { method: "POST" })).status).toBe(200);
    const cancelled = await postJson(`/tasks/${task.id}/heartbeat`, { lease_token: second.lease_token });
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ id: task.id, cancel_requested: true });
    // …and its late result is refused.
    expect((await postJson(`/tasks/${task.id}/complete`, { lease_token: second.lease_token, result: 1 })).status).toBe(409);
    expect(await getTask(task.id)).toMatchObject({ status: "cancelled", result: null });
  });

  it(`details up to ${MAX_HEARTBEAT_DETAILS_BYTES} bytes of JSON; more is a 400`, async () => {
    await insertTask({ type: "pl_a" });
    const leased = await leaseOne();
    const at = "x".repeat(MAX_HEARTBEAT_DETAILS_BYTES - 2); // a JSON string: its quotes count
    expect((await postJson(`/tasks/${leased.id}/heartbeat`, { lease_token: leased.lease_token, details: at })).status).toBe(200);
    const over = await postJson(`/tasks/${leased.id}/heartbeat`, { lease_token: leased.lease_token, details: `${at}x` });
    expect(over.status).toBe(400);
    expect(await over.json()).toMatchObject({ error: { code: "validation_failed", message: expect.stringMatching(/^details:/) } });
    for (const lease_s of [MIN_LEASE_S - 1, MAX_LEASE_S + 1]) {
      expect((await postJson(`/tasks/${leased.id}/heartbeat`, { lease_token: leased.lease_token, lease_s })).status).toBe(400);
    }
    for (const lease_s of [MIN_LEASE_S, MAX_LEASE_S]) {
      const res = await postJson(`/tasks/${leased.id}/heartbeat`, { lease_token: leased.lease_token, lease_s });
      expect((await res.json<{ lease_expires_at: number }>()).lease_expires_at - Date.now()).toBeGreaterThan(lease_s * 1000 - 1000);
    }
    // A lease token is at most 200 characters: longer is a 400, at the limit a stale token (409).
    expect((await postJson(`/tasks/${leased.id}/heartbeat`, { lease_token: "t".repeat(201) })).status).toBe(400);
    expect((await postJson(`/tasks/${leased.id}/heartbeat`, { lease_token: "t".repeat(200) })).status).toBe(409);
    expect((await postJson(`/tasks/${leased.id}/heartbeat`, {})).status).toBe(400);
  });
});

describe("complete, fail, release", () => {
  it("complete: completed with the result, one attempt", async () => {
    const task = await insertTask({ type: "pl_a" });
    const leased = await leaseOne();
    const res = await postJson(`/tasks/${task.id}/complete`, { lease_token: leased.lease_token, result: { frames: 3 } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: task.id, status: "completed" });
    expect(await getTask(task.id)).toMatchObject({ status: "completed", attempts: 1, result: { frames: 3 }, lockedBy: null, leaseExpiresAt: null });
    expect((await eventsOf(task.id)).map((e) => e.to_status)).toEqual(["queued", "running", "completed"]);
  });

  it("fail: retry at retry_after_s while attempts remain, failed when not retryable or exhausted", async () => {
    const [r, p, x] = await insertTasks([newTask({ type: "pl_a" }), newTask({ type: "pl_b" }), newTask({ type: "pl_c", max_attempts: 1 })]);
    const byId = new Map((await lease({ max: 3 })).map((t) => [t.id, t]));
    const before = Date.now();
    const retry = await postJson(`/tasks/${r!.row.id}/fail`, { lease_token: byId.get(r!.row.id)!.lease_token, error: "busy", retry_after_s: 120 });
    expect(await retry.json()).toEqual({ id: r!.row.id, status: "retry" });
    const rr = await getTask(r!.row.id);
    expect(rr).toMatchObject({ status: "retry", attempts: 1, error: "busy" });
    expect(rr.runAfter! - before).toBeGreaterThanOrEqual(120_000);
    expect(rr.runAfter! - Date.now()).toBeLessThanOrEqual(120_000);
    const perm = await postJson(`/tasks/${p!.row.id}/fail`, { lease_token: byId.get(p!.row.id)!.lease_token, error: "bad input", retryable: false });
    expect(await perm.json()).toEqual({ id: p!.row.id, status: "failed" });
    expect(await getTask(p!.row.id)).toMatchObject({ status: "failed", error: "bad input" });
    const spent = await postJson(`/tasks/${x!.row.id}/fail`, { lease_token: byId.get(x!.row.id)!.lease_token, error: "again" });
    expect(await spent.json()).toEqual({ id: x!.row.id, status: "failed" });
    expect((await getTask(x!.row.id)).error).toMatch(/attempts exhausted \(1\/1\): again/);
  });

  it("fail without retry_after_s: the type's backoff", async () => {
    const task = await insertTask({ type: "pl_a" });
    const leased = await leaseOne();
    const before = Date.now();
    expect((await postJson(`/tasks/${task.id}/fail`, { lease_token: leased.lease_token, error: "flaky" })).status).toBe(200);
    const row = await getTask(task.id);
    // RETRY_BASE_S 10 ± 20 %.
    expect(row.runAfter! - before).toBeGreaterThanOrEqual(8000 - 50);
    expect(row.runAfter! - Date.now()).toBeLessThanOrEqual(12_000);
  });

  it(`fail: error up to ${MAX_WORKER_ERROR_CHARS} characters, retry_after_s up to ${MAX_RETRY_AFTER_S}`, async () => {
    await insertTask({ type: "pl_a" });
    const leased = await leaseOne();
    for (const body of [{ error: "e".repeat(MAX_WORKER_ERROR_CHARS + 1) }, { error: "" }, { error: "x", retry_after_s: MAX_RETRY_AFTER_S + 1 }, { error: "x", retryable: "yes" }]) {
      const res = await postJson(`/tasks/${leased.id}/fail`, { lease_token: leased.lease_token, ...body });
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
    expect(await getTask(leased.id)).toMatchObject({ status: "running" });
    const ok = await postJson(`/tasks/${leased.id}/fail`, { lease_token: leased.lease_token, error: "e".repeat(MAX_WORKER_ERROR_CHARS), retry_after_s: MAX_RETRY_AFTER_S });
    expect(await ok.json()).toMatchObject({ status: "retry" });
  });

  it("release: back to queued, due now, its attempt given back; leased again as attempt 1", async () => {
    const task = await insertTask({ type: "pl_a" });
    const leased = await leaseOne();
    const res = await postJson(`/tasks/${task.id}/release`, { lease_token: leased.lease_token });
    expect(await res.json()).toEqual({ id: task.id, status: "queued" });
    expect(await getTask(task.id)).toMatchObject({ status: "queued", attempts: 0, runAfter: null, lockedBy: null });
    expect(await leaseOne()).toMatchObject({ id: task.id, attempt: 1 });
  });

  it(`complete: a result over RESULT_MAX_BYTES is a 413 and the task is unchanged; at the limit it is stored`, async () => {
    const max = 2048;
    const post = (path: string, body: unknown) =>
      fetchWithEnv(new Request(`http://localhost${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }), { RESULT_MAX_BYTES: String(max) });
    await insertTask({ type: "pl_a" });
    const leased = await leaseOne();
    const before = await rowOf(leased.id);
    const over = await post(`/tasks/${leased.id}/complete`, { lease_token: leased.lease_token, result: "x".repeat(max - 1) });
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ error: { code: "payload_too_large", message: expect.stringMatching(/RESULT_MAX_BYTES/) } });
    expect(await rowOf(leased.id)).toEqual(before);
    const at = await post(`/tasks/${leased.id}/complete`, { lease_token: leased.lease_token, result: "x".repeat(max - 2) });
    expect(await at.json()).toMatchObject({ status: "completed" });
    expect((await getTask(leased.id)).result).toHaveLength(max - 2);
  });

  it("a stale or unknown lease token is a 409 and changes nothing", async () => {
    const task = await insertTask({ type: "pl_a" });
    const leased = await leaseOne();
    const before = await rowOf(task.id);
    for (const [route, body] of [
      ["heartbeat", { lease_s: 60 }],
      ["complete", { result: 1 }],
      ["fail", { error: "x" }],
      ["release", {}],
    ] as const) {
      const res = await postJson(`/tasks/${task.id}/${route}`, { lease_token: `${leased.lease_token.slice(0, -2)}xx`, ...body });
      expect(res.status, route).toBe(409);
      expect(await res.json()).toMatchObject({ error: { code: "conflict", message: expect.stringMatching(/lease lost/) } });
    }
    expect(await rowOf(task.id)).toEqual(before);
    // Finished: its own token is stale too.
    expect((await postJson(`/tasks/${task.id}/complete`, { lease_token: leased.lease_token, result: 1 })).status).toBe(200);
    const done = await rowOf(task.id);
    expect((await postJson(`/tasks/${task.id}/complete`, { lease_token: leased.lease_token, result: 2 })).status).toBe(409);
    expect((await postJson(`/tasks/${task.id}/fail`, { lease_token: leased.lease_token, error: "late" })).status).toBe(409);
    expect(await rowOf(task.id)).toEqual(done);
    // An unknown task is a 404; a task id must be a full id.
    expect((await postJson(`/tasks/${crypto.randomUUID()}/complete`, { lease_token: "t", result: 1 })).status).toBe(404);
    expect((await postJson(`/tasks/${task.id.slice(0, 8)}/complete`, { lease_token: "t", result: 1 })).status).toBe(400);
  });

  it("an expired lease goes back through the reaper, is leased again and completes once", async () => {
    const task = await insertTask({ type: "pl_a" });
    const first = await leaseOne({ lease_s: MIN_LEASE_S });
    // The worker went silent: its lease ran out.
    await sql("UPDATE tasks SET lease_expires_at = ? WHERE id = ?", Date.now() - 1, task.id);
    const { reaped } = await reapExpiredLeases(db(), Date.now(), 100);
    expect(reaped.map((r) => [r.id, r.status])).toEqual([[task.id, "retry"]]);
    const second = await leaseOne();
    expect(second).toMatchObject({ id: task.id, attempt: 2 });
    expect((await postJson(`/tasks/${task.id}/complete`, { lease_token: first.lease_token, result: "late" })).status).toBe(409);
    expect((await postJson(`/tasks/${task.id}/complete`, { lease_token: second.lease_token, result: "on time" })).status).toBe(200);
    expect((await postJson(`/tasks/${task.id}/complete`, { lease_token: second.lease_token, result: "twice" })).status).toBe(409);
    expect(await getTask(task.id)).toMatchObject({ status: "completed", attempts: 2, result: "on time" });
    const events = await eventsOf(task.id);
    expect(events.filter((e) => e.to_status === "completed")).toHaveLength(1);
    expect(events.map((e) => `${e.actor}:${e.to_status}`)).toEqual(["api:queued", "dispatcher:running", "reaper:retry", "dispatcher:running", "dispatcher:completed"]);
  });

  it("a completed pull task releases its dependents, which see its result", async () => {
    const res = await postJson("/tasks/batch", { tasks: [{ type: "pl_a", ref: "parent" }, { type: "pl_c", depends_on: ["parent"] }] });
    expect(res.status).toBe(201);
    const { items } = await res.json<{ items: { id: string; status: string }[] }>();
    const [parent, child] = items as [{ id: string }, { id: string; status: string }];
    expect(child.status).toBe("created");
    const leased = await lease({ max: 10 });
    expect(leased.map((t) => t.id)).toEqual([parent.id]);
    expect((await postJson(`/tasks/${parent.id}/complete`, { lease_token: leased[0]!.lease_token, result: { ok: 1 } })).status).toBe(200);
    expect(await getTask(child.id)).toMatchObject({ status: "queued" });
    const next = await leaseOne();
    expect(next.id).toBe(child.id);
    expect(next.parents?.[parent.id]).toMatchObject({ status: "completed", result: { ok: 1 } });
  });
});

describe("http executor 202: the endpoint finishes the task through the pull routes", () => {
  it("leaves the task running under the lease its request carried; /complete with that token completes it once", async () => {
    const task = await insertTask({ type: "pl_http_202" });
    const before = Date.now();
    await drain();
    const running = await getTask(task.id);
    expect(running).toMatchObject({ status: "running", attempts: 1, error: null });
    const sent = await lastExec("pull-202");
    const token = sent!.headers["seedcore-lease-token"]!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The lease: TASK_LEASE_S (120 s) here, the attempt's time (TASK_TIMEOUT_S 60 s) being shorter.
    const expires = Date.parse(sent!.headers["seedcore-lease-expires"]!);
    expect(expires - before).toBeGreaterThanOrEqual(120_000);
    expect(running.leaseExpiresAt).toBeGreaterThanOrEqual(expires);
    expect(running.leaseExpiresAt! - Date.now()).toBeLessThanOrEqual(120_000);
    expect((await eventsOf(task.id)).at(-1)).toMatchObject({ from_status: "running", to_status: "running", message: expect.stringMatching(/answered 202: accepted/) });
    // The endpoint heartbeats, then completes.
    const hb = await postJson(`/tasks/${task.id}/heartbeat`, { lease_token: token, details: { step: 1 } });
    expect(await hb.json()).toMatchObject({ cancel_requested: false });
    // A later pass does not touch it.
    await drain();
    expect(await getTask(task.id)).toMatchObject({ status: "running", attempts: 1 });
    const done = await postJson(`/tasks/${task.id}/complete`, { lease_token: token, result: { done: true } });
    expect(await done.json()).toEqual({ id: task.id, status: "completed" });
    expect(await getTask(task.id)).toMatchObject({ status: "completed", attempts: 1, result: { done: true } });
    expect((await postJson(`/tasks/${task.id}/complete`, { lease_token: token, result: 2 })).status).toBe(409);
  });

  it("a type with a long timeout_s gets a lease as long; /fail retries it, and an unfinished one goes back through the reaper", async () => {
    const task = await insertTask({ type: "pl_http_202_long" });
    const before = Date.now();
    await drain();
    const sent = await lastExec("pull-202-long");
    expect(Date.parse(sent!.headers["seedcore-lease-expires"]!) - before).toBeGreaterThanOrEqual(599_000);
    expect((await getTask(task.id)).leaseExpiresAt! - before).toBeGreaterThanOrEqual(599_000);
    const failed = await postJson(`/tasks/${task.id}/fail`, { lease_token: sent!.headers["seedcore-lease-token"], error: "endpoint gave up", retry_after_s: 0 });
    expect(await failed.json()).toEqual({ id: task.id, status: "retry" });
    // Run again: a new request, a new lease token; this time the endpoint goes silent.
    await drain();
    const again = await lastExec("pull-202-long");
    expect(again!.headers["seedcore-lease-token"]).not.toBe(sent!.headers["seedcore-lease-token"]);
    expect(await getTask(task.id)).toMatchObject({ status: "running", attempts: 2 });
    await sql("UPDATE tasks SET lease_expires_at = ? WHERE id = ?", Date.now() - 1, task.id);
    const { reaped } = await reapExpiredLeases(db(), Date.now(), 100);
    expect(reaped.map((r) => [r.id, r.status])).toEqual([[task.id, "retry"]]);
    expect((await postJson(`/tasks/${task.id}/complete`, { lease_token: again!.headers["seedcore-lease-token"], result: 1 })).status).toBe(409);
  });

  it("its lease token is the task's own: another task's token of the same pass does not open it", async () => {
    const [a, b] = await insertTasks([newTask({ type: "pl_http_202" }), newTask({ type: "pl_http_202" })]);
    await drain();
    const [ra, rb] = [await rowOf(a!.row.id), await rowOf(b!.row.id)];
    expect(ra?.["locked_by"]).toBe(rb?.["locked_by"]); // one pass, one claim token
    const tokenOfLast = (await lastExec("pull-202"))!.headers["seedcore-lease-token"]!;
    const lastId = JSON.parse((await lastExec("pull-202"))!.body).id as string;
    const otherId = lastId === a!.row.id ? b!.row.id : a!.row.id;
    expect((await postJson(`/tasks/${otherId}/complete`, { lease_token: tokenOfLast, result: 1 })).status).toBe(409);
    expect((await postJson(`/tasks/${lastId}/complete`, { lease_token: tokenOfLast, result: 1 })).status).toBe(200);
  });
});

describe("worker tokens", () => {
  const API_TOKEN = "operator-token";
  const vars = { API_TOKEN, WORKER_TOKENS: JSON.stringify({ "tok-a": ["pl_a"], "tok-all": ["*"] }) };
  const call = (path: string, token: string | undefined, body?: unknown, method = body === undefined ? "GET" : "POST") =>
    fetchWithEnv(
      new Request(`https://edge.example.com${path}`, {
        method,
        headers: { "content-type": "application/json", "cf-connecting-ip": `2001:db8::${crypto.randomUUID().slice(0, 4)}`, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
      vars,
    );

  it("opens only the pull-worker routes: GET and POST /tasks answer 401", async () => {
    for (const token of ["tok-a", "tok-all"]) {
      const list = await call("/tasks", token);
      expect(list.status).toBe(401);
      expect(await list.json()).toMatchObject({ error: { code: "unauthorized", message: expect.stringMatching(/worker token is accepted only on/) } });
      expect((await call("/tasks", token, { type: "pl_a" })).status).toBe(401);
      expect((await call(`/api/v1/tasks`, token, { type: "pl_a" })).status).toBe(401);
    }
    expect((await call("/tasks", API_TOKEN)).status).toBe(200);
  });

  it("leases within its scope: its types by default, a listed type outside it is a 403", async () => {
    const a = await insertTask({ type: "pl_a" });
    const c = await insertTask({ type: "pl_c" });
    const forbidden = await call("/workers/lease", "tok-a", { types: ["pl_c"], wait_s: 0 });
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ error: { code: "forbidden" } });
    const res = await call("/api/v1/workers/lease", "tok-a", { max: 10, wait_s: 0 });
    expect(res.status).toBe(200);
    const { tasks } = await res.json<{ tasks: Leased[] }>();
    expect(tasks.map((t) => t.id)).toEqual([a.id]);
    // No token, a wrong one: 401.
    expect((await call("/workers/lease", undefined, { wait_s: 0 })).status).toBe(401);
    expect((await call("/workers/lease", "tok-b", { wait_s: 0 })).status).toBe(401);
    // A task outside the scope cannot be finished with this token (403), even with its lease token; "*" and API_TOKEN can.
    const other = (await (await call("/workers/lease", "tok-all", { wait_s: 0, types: ["pl_c"] })).json<{ tasks: Leased[] }>()).tasks[0]!;
    expect(other.id).toBe(c.id);
    const out = await call(`/tasks/${c.id}/complete`, "tok-a", { lease_token: other.lease_token, result: 1 });
    expect(out.status).toBe(403);
    expect(await getTask(c.id)).toMatchObject({ status: "running" });
    expect((await call(`/tasks/${c.id}/heartbeat`, API_TOKEN, { lease_token: other.lease_token })).status).toBe(200);
    expect((await call(`/tasks/${c.id}/complete`, "tok-all", { lease_token: other.lease_token, result: 1 })).status).toBe(200);
    expect((await call(`/tasks/${a.id}/complete`, "tok-a", { lease_token: tasks[0]!.lease_token, result: 2 })).status).toBe(200);
  });

  it("a bad WORKER_TOKENS makes /readyz 503 naming it, without the token", async () => {
    for (const bad of ["{not json", JSON.stringify({ "secret tok": ["pl_a"] }), JSON.stringify({ "secret-tok": [] }), JSON.stringify({ "secret-tok": ["Bad Type"] }), JSON.stringify({ [API_TOKEN]: ["*"] })]) {
      const res = await fetchWithEnv(new Request("http://localhost/readyz"), { API_TOKEN, WORKER_TOKENS: bad });
      expect(res.status).toBe(503);
      const body = await res.json<{ deps: Record<string, { ok: boolean; error?: string }> }>();
      expect(body.deps["config"]?.error).toMatch(/WORKER_TOKENS/);
      expect(body.deps["config"]?.error).not.toMatch(/secret|operator-token/);
    }
  });
});

describe("GET /openapi.json", () => {
  it("documents the pull-worker routes", async () => {
    const doc = await (await api("/openapi.json")).json<{ paths: Record<string, Record<string, { requestBody?: unknown }>> }>();
    for (const path of ["/workers/lease", "/tasks/{id}/heartbeat", "/tasks/{id}/complete", "/tasks/{id}/fail", "/tasks/{id}/release"]) {
      expect(doc.paths[path]?.post?.requestBody, path).toBeDefined();
    }
  });
});
