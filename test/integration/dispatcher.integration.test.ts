import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { followUpDeps } from "../../src/follow-ups";
import { requireConfig } from "../../src/config";
import type { TaskOutcome } from "../../src/organism/task-contracts";
import { dispatchBatch } from "../../src/dispatch/consumer";
import { runMaintenancePass } from "../../src/maintenance/maintenance-pass";
import { claimDueTasks } from "../../src/store/claim-due-tasks";
import { recordingQueue } from "../helpers/recording-queue";
import { batched, deliver, dispatchDeps, DLQ, drain, wakeBatch } from "../helpers/dispatch";
import { openDb } from "../../src/store/db";
import { unpackExecution } from "../../src/store/execution-codec";
import { db, eventsOf, getTask, insertTask, insertTasks, newTask, settleOtherTasks, sql } from "../helpers/tasks";
import { api, fetchWithEnv, postJson } from "../helpers/worker";

const config = requireConfig(env);
const maintenance = (queue: ReturnType<typeof recordingQueue>["queue"], overrides: Partial<typeof config> = {}) =>
  runMaintenancePass({ db: db(), queue, config: { ...config, ...overrides }, now: Date.now, statementsUsed: () => 0, followUp: followUpDeps(env, db()) });
/** Claims whatever is due with a lease that is already over, as a dispatcher that died would leave it. */
const claimAndDie = (maxTasks = 500) =>
  claimDueTasks(db(), { token: "dead-dispatcher", now: Date.now(), leaseMs: -5000, maxTasks, maxInputBytes: 1e9 });

beforeEach(settleOtherTasks);

describe("wake-ups and the claim", () => {
  it("runs a task once however many wake-ups arrive", async () => {
    const task = await insertTask();
    const { result } = await deliver(undefined, [{ kind: "wake" }, { kind: "wake" }]);
    expect(result.explicitAcks).toHaveLength(2);
    await deliver();
    const row = await getTask(task.id);
    expect(row).toMatchObject({ status: "completed", attempts: 1 });
    expect((await eventsOf(task.id)).filter((e) => e.to_status === "running")).toHaveLength(1);
  });

  it("gives every claim a fresh fencing token and a lease, and never claims a task twice", async () => {
    const task = await insertTask();
    const now = Date.now();
    const req = { now, leaseMs: 5000, maxTasks: 10, maxInputBytes: 1e6 };
    const { claimed } = await claimDueTasks(db(), { ...req, token: "token-a" });
    expect(claimed.map((t) => t.id)).toEqual([task.id]);
    expect(await getTask(task.id)).toMatchObject({ status: "running", attempts: 1, lockedBy: "token-a", leaseExpiresAt: now + 5000 });
    expect((await claimDueTasks(db(), { ...req, token: "token-b" })).claimed).toEqual([]);
  });

  it("takes the oldest due tasks first and stops at the count and byte caps", async () => {
    const now = Date.now();
    const older = await insertTask({ params: { n: 1 } });
    const big = await insertTask({ params: { blob: "x".repeat(5000) }, input_bytes: 5013 });
    const newer = await insertTask();
    for (const [task, age] of [[older, 60_000], [big, 30_000], [newer, 10_000]] as const) {
      await sql("UPDATE tasks SET created_at = ? WHERE id = ?", now - age, task.id);
    }
    const first = await claimDueTasks(db(), { token: "a", now, leaseMs: 5000, maxTasks: 1, maxInputBytes: 1e6 });
    expect(first.claimed.map((t) => t.id)).toEqual([older.id]);
    // The byte cap always admits the first task, then stops before the one that would pass it.
    const second = await claimDueTasks(db(), { token: "b", now, leaseMs: 5000, maxTasks: 10, maxInputBytes: 100 });
    expect(second.claimed.map((t) => t.id)).toEqual([big.id]);
    const third = await claimDueTasks(db(), { token: "c", now, leaseMs: 5000, maxTasks: 10, maxInputBytes: 100 });
    expect(third.claimed.map((t) => t.id)).toEqual([newer.id]);
  });

  it("treats a malformed message as a wake-up too, and acks it", async () => {
    const task = await insertTask();
    const { result } = await deliver(undefined, [{ task_ids: ["not-a-uuid"] }, "junk"]);
    expect(result.explicitAcks).toHaveLength(2);
    expect((await getTask(task.id)).status).toBe("completed");
  });

  it("leaves a task that is not due and wakes the dispatcher again when it is", async () => {
    const task = await insertTask({ run_after: Date.now() + 60_000 });
    const { queue, sent } = recordingQueue();
    await drain({ queue });
    expect((await getTask(task.id)).status).toBe("queued");
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body).toEqual({ kind: "wake", reason: "retry" });
    expect(sent[0]!.delaySeconds).toBeGreaterThan(55);
    expect(sent[0]!.delaySeconds).toBeLessThanOrEqual(60);
  });

  it("submitting sends one wake-up per request, delayed when nothing is due yet", async () => {
    const { queue, sent } = recordingQueue();
    const body = (tasks: unknown) => new Request("http://localhost/tasks/batch", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ tasks }) });
    await fetchWithEnv(body([{ type: "ping" }, { type: "ping" }]), { TASK_QUEUE: queue });
    const later = new Date(Date.now() + 120_000).toISOString();
    await fetchWithEnv(body([{ type: "ping", run_after: later }]), { TASK_QUEUE: queue });
    await fetchWithEnv(body([{ type: "ping", run_immediately: false }]), { TASK_QUEUE: queue });
    expect(sent.map((m) => [m.body.reason, (m.delaySeconds ?? 0) > 0])).toEqual([["submit", false], ["submit", true]]);
    expect(sent[1]!.delaySeconds).toBeGreaterThan(115);
  });
});

describe("outcomes", () => {
  it("keeps a task cancelled while it runs and discards the late result", async () => {
    const task = await insertTask({ type: "sleep", params: { ms: 1500 } });
    const running = drain();
    await vi.waitUntil(async () => (await getTask(task.id)).status === "running", { timeout: 5000, interval: 20 });
    const cancel = await api(`/tasks/${task.id}/cancel`, { method: "POST" });
    expect(cancel.status).toBe(200);
    await running;
    const row = await getTask(task.id);
    expect(row.status).toBe("cancelled");
    expect(row.result).toBeNull();
    expect((await eventsOf(task.id)).map((e) => e.to_status)).toEqual(["queued", "running", "cancelled"]);
  });

  it("retries a flaky task with backoff and a delayed wake-up (no id re-sent), then completes it", async () => {
    const task = await insertTask({ type: "flaky", params: { fail_times: 1 } });
    const { queue, sent } = recordingQueue();
    const before = Date.now();
    await drain({ queue });
    const retried = await getTask(task.id);
    expect(retried).toMatchObject({ status: "retry", attempts: 1 });
    // attempt 1 → RETRY_BASE_S (10 s) at random 0.5
    expect(retried.runAfter! - before).toBeGreaterThanOrEqual(10_000);
    expect(sent).toEqual([{ body: { kind: "wake", reason: "retry" }, delaySeconds: 10 }]);

    await sql("UPDATE tasks SET run_after = ? WHERE id = ?", Date.now() - 1, task.id);
    await drain({ queue });
    expect(await getTask(task.id)).toMatchObject({ status: "completed", attempts: 2 });
  });

  it("fails with the last error when attempts are exhausted", async () => {
    const task = await insertTask({ type: "flaky", params: { fail_times: 5 }, max_attempts: 2 });
    await drain();
    await sql("UPDATE tasks SET run_after = ? WHERE id = ?", Date.now() - 1, task.id);
    await drain();
    const row = await getTask(task.id);
    expect(row.status).toBe("failed");
    expect(row.attempts).toBe(2);
    expect(row.error).toMatch(/attempts exhausted \(2\/2\)/);
    expect(row.error).toMatch(/flaky/i);
  });

  it("fails an unknown task type permanently on the first attempt", async () => {
    const task = await insertTask({ type: "no_such_type" });
    await drain();
    const row = await getTask(task.id);
    expect(row).toMatchObject({ status: "failed", attempts: 1 });
    expect(row.error).toContain("no route for task type 'no_such_type'");
  });

  it("counts a task that runs past its deadline (TASK_TIMEOUT_S) as an attempt, its late result discarded", async () => {
    const task = await insertTask({ type: "sleep", params: { ms: 3000 } });
    const started = Date.now();
    await drain({ config: { TASK_TIMEOUT_S: 0.2 } });
    // The organ ends the run at the deadline: the pass does not wait for the task's own end.
    expect(Date.now() - started).toBeLessThan(2500);
    const row = await getTask(task.id);
    expect(row).toMatchObject({ status: "retry", attempts: 1, result: null });
    expect(row.error).toMatch(/timed out/);
    expect(unpackExecution(row.execution!)).toMatchObject({ path: "fast", timed_out: true });
  });

  it("treats a coordinator that throws (object reset) as a retriable failure", async () => {
    const task = await insertTask();
    const runTasks = batched(async (): Promise<TaskOutcome[]> => {
      throw new Error("Durable Object reset because its code was updated");
    });
    await drain({ runTasks });
    expect(await getTask(task.id)).toMatchObject({ status: "retry", attempts: 1 });
  });

  it("renews the lease while the coordinator works", async () => {
    const task = await insertTask({ type: "sleep", params: { ms: 1500 } });
    const run = drain({ config: { HEARTBEAT_S: 0.2 } });
    await vi.waitUntil(
      async () => {
        const row = await getTask(task.id);
        return row.status === "running" && row.lastHeartbeat! > row.lockedAt! && row.leaseExpiresAt! > row.lockedAt! + config.TASK_LEASE_S * 1000;
      },
      { timeout: 5000, interval: 20 },
    );
    await run;
    expect((await getTask(task.id)).status).toBe("completed");
  });

  it("retries the wake-ups when the drain itself fails (D1 down)", async () => {
    const down = () => {
      throw new Error("D1 is down");
    };
    const broken = { prepare: down, batch: down } as unknown as D1Database;
    const batch = wakeBatch();
    const retry = vi.spyOn(batch.messages[0]!, "retry");
    await dispatchBatch(batch, dispatchDeps({ db: openDb(broken) }));
    expect(retry).toHaveBeenCalledWith({ delaySeconds: 5 });
  });
});

describe("reaper and sweeper", () => {
  it("moves an expired lease to retry and wakes the dispatcher, which completes the task", async () => {
    const task = await insertTask();
    await claimAndDie();
    const { queue, sent } = recordingQueue();
    const report = await maintenance(queue);
    expect(report).toMatchObject({ reaped: 1, reaped_failed: 0, reap_drained: true, woke: "reaper" });
    expect(sent).toEqual([{ body: { kind: "wake", reason: "reaper" } }]);
    const reaped = await getTask(task.id);
    expect(reaped).toMatchObject({ status: "retry", attempts: 1, lockedBy: null });
    expect(reaped.error).toMatch(/lease expired/);
    await drain();
    expect(await getTask(task.id)).toMatchObject({ status: "completed", attempts: 2 });
    expect((await eventsOf(task.id)).map((e) => `${e.to_status}/${e.actor}`)).toEqual([
      "queued/api",
      "running/dispatcher",
      "retry/reaper",
      "running/dispatcher",
      "completed/dispatcher",
    ]);
  });

  it("drains every expired lease in one tick, in chunks of REAP_BATCH", async () => {
    await insertTasks(Array.from({ length: 450 }, () => newTask()));
    await claimAndDie();
    const report = await maintenance(recordingQueue().queue, { REAP_BATCH: 100 });
    expect(report).toMatchObject({ reaped: 450, reap_chunks: 5, reap_drained: true });
  });

  it("fails an expired lease whose attempts are used up", async () => {
    const task = await insertTask({ max_attempts: 1 });
    await claimAndDie();
    const { queue, sent } = recordingQueue();
    expect(await maintenance(queue)).toMatchObject({ reaped: 1, reaped_failed: 1, woke: null });
    expect(sent).toEqual([]);
    expect(await getTask(task.id)).toMatchObject({ status: "failed", attempts: 1 });
  });

  it("wakes the dispatcher for a due task whose wake-up was lost", async () => {
    const task = await insertTask();
    await sql("UPDATE tasks SET updated_at = ? WHERE id = ?", Date.now() - (config.SWEEP_AFTER_S + 5) * 1000, task.id);
    const { queue, sent } = recordingQueue();
    expect((await maintenance(queue)).woke).toBe("sweeper");
    expect(sent).toEqual([{ body: { kind: "wake", reason: "sweeper" } }]);
  });

  it("stays quiet while due work is fresh (its wake-up is on the way) or not due", async () => {
    await insertTask();
    await insertTask({ run_after: Date.now() + 3_600_000 });
    const { queue, sent } = recordingQueue();
    expect((await maintenance(queue)).woke).toBeNull();
    expect(sent).toEqual([]);
  });
});

describe("dead letters", () => {
  it("never fails a task: it counts the dead wake-up and sends a fresh one while work is due", async () => {
    const open = await insertTask();
    const { result } = await deliver(DLQ, [{ kind: "wake" }]);
    expect(result.ackAll).toBe(true);
    expect((await getTask(open.id)).status).toBe("queued");
    const counter = await env.DB.prepare("SELECT n FROM rollups WHERE metric = 'counter' AND label = 'wakeups_dead_lettered'").first<{ n: number }>();
    expect(counter?.n).toBeGreaterThanOrEqual(1);
  });
});

describe("cancel and run routes", () => {
  it("cancels a created task and runs it again", async () => {
    const res = await postJson("/tasks", { type: "test_task", run_immediately: false });
    const { id } = await res.json<{ id: string }>();
    expect((await getTask(id)).status).toBe("created");
    expect((await api(`/tasks/${id}/cancel`, { method: "POST" })).status).toBe(200);
    expect((await api(`/tasks/${id}/cancel`, { method: "POST" })).status).toBe(409);
    const run = await api(`/tasks/${id}/run`, { method: "POST" });
    expect(run.status).toBe(200);
    expect(await run.json()).toMatchObject({ status: "queued", attempts: 0 });
    await drain();
    expect((await getTask(id)).status).toBe("completed");
  });

  it("refuses to run a running or completed task", async () => {
    const task = await insertTask();
    await drain();
    const res = await api(`/tasks/${task.id}/run`, { method: "POST" });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: "invalid_state" } });
  });
});
