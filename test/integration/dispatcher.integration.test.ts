import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { requireConfig } from "../../src/config";
import type { TaskOutcome } from "../../src/contracts";
import { dispatchBatch } from "../../src/dispatch/consumer";
import { claimTasks } from "../../src/store/claim-tasks";
import { reaperStub } from "../../durable-objects/task-reaper";
import { recordingQueue } from "../helpers/recording-queue";
import { dispatchDeps, messageBatch } from "../helpers/dispatch";
import { db, eventsOf, getTask, insertTask, sql } from "../helpers/tasks";
import { api, deliver, DLQ, postJson, TASK_QUEUE } from "../helpers/worker";

describe("claim", () => {
  it("runs a task delivered twice exactly once", async () => {
    const task = await insertTask();
    const { result } = await deliver(TASK_QUEUE, [task.id], [task.id]);
    expect(result.explicitAcks).toHaveLength(2);
    await deliver(TASK_QUEUE, [task.id]);
    const row = await getTask(task.id);
    expect(row.status).toBe("completed");
    expect(row.attempts).toBe(1);
    expect((await eventsOf(task.id)).filter((e) => e.to_status === "running")).toHaveLength(1);
  });

  it("gives every claim a fresh fencing token and a lease", async () => {
    const task = await insertTask();
    const now = Date.now();
    const [claimed] = await claimTasks(db(), [task.id], "token-a", now, 5000);
    expect(claimed).toMatchObject({ status: "running", attempts: 1, lockedBy: "token-a", leaseExpiresAt: now + 5000 });
    expect(await claimTasks(db(), [task.id], "token-b", now, 5000)).toEqual([]);
  });

  it("acks a malformed message alone and still runs the rest of the batch", async () => {
    const task = await insertTask();
    const { result } = await deliver(TASK_QUEUE, ["not-a-uuid"], [task.id]);
    expect(result.explicitAcks).toHaveLength(2);
    expect((await getTask(task.id)).status).toBe("completed");
  });

  it("re-sends a task whose run_after is in the future with the remaining delay", async () => {
    const task = await insertTask({ run_after: Date.now() + 60_000 });
    const { queue, sent } = recordingQueue();
    await dispatchBatch(messageBatch([task.id]), dispatchDeps({ queue }));
    expect((await getTask(task.id)).status).toBe("queued");
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body.task_ids).toEqual([task.id]);
    expect(sent[0]!.delaySeconds).toBeGreaterThan(55);
    expect(sent[0]!.delaySeconds).toBeLessThanOrEqual(60);
  });
});

describe("outcomes", () => {
  it("keeps a task cancelled while it runs and discards the late result", async () => {
    const task = await insertTask({ type: "sleep", params: { ms: 1500 } });
    const running = deliver(TASK_QUEUE, [task.id]);
    await vi.waitUntil(async () => (await getTask(task.id)).status === "running", { timeout: 5000, interval: 20 });
    const cancel = await api(`/tasks/${task.id}/cancel`, { method: "POST" });
    expect(cancel.status).toBe(200);
    await running;
    const row = await getTask(task.id);
    expect(row.status).toBe("cancelled");
    expect(row.result).toBeNull();
    expect((await eventsOf(task.id)).map((e) => e.to_status)).toEqual(["queued", "running", "cancelled"]);
  });

  it("retries a flaky task with backoff, re-sending it with that delay, then completes it", async () => {
    const task = await insertTask({ type: "flaky", params: { fail_times: 1 } });
    const { queue, sent } = recordingQueue();
    const before = Date.now();
    await dispatchBatch(messageBatch([task.id]), dispatchDeps({ queue }));
    const retried = await getTask(task.id);
    expect(retried).toMatchObject({ status: "retry", attempts: 1 });
    // attempt 1 → RETRY_BASE_S (10 s) at random 0.5
    expect(retried.runAfter! - before).toBeGreaterThanOrEqual(10_000);
    expect(sent[0]).toMatchObject({ body: { task_ids: [task.id] }, delaySeconds: 10 });

    await sql("UPDATE tasks SET run_after = ? WHERE id = ?", Date.now() - 1, task.id);
    await dispatchBatch(messageBatch([task.id]), dispatchDeps({ queue }));
    expect(await getTask(task.id)).toMatchObject({ status: "completed", attempts: 2 });
  });

  it("fails with the last error when attempts are exhausted", async () => {
    const task = await insertTask({ type: "flaky", params: { fail_times: 5 }, max_attempts: 2 });
    await dispatchBatch(messageBatch([task.id]), dispatchDeps());
    await sql("UPDATE tasks SET run_after = ? WHERE id = ?", Date.now() - 1, task.id);
    await dispatchBatch(messageBatch([task.id]), dispatchDeps());
    const row = await getTask(task.id);
    expect(row.status).toBe("failed");
    expect(row.attempts).toBe(2);
    expect(row.error).toMatch(/attempts exhausted \(2\/2\)/);
    expect(row.error).toMatch(/flaky/i);
  });

  it("fails an unknown task type permanently on the first attempt", async () => {
    const task = await insertTask({ type: "no_such_type" });
    await dispatchBatch(messageBatch([task.id]), dispatchDeps());
    const row = await getTask(task.id);
    expect(row).toMatchObject({ status: "failed", attempts: 1 });
    expect(row.error).toContain("no route for task type 'no_such_type'");
  });

  it("counts a coordinator timeout as an attempt", async () => {
    const task = await insertTask({ type: "sleep", params: { ms: 3000 } });
    await dispatchBatch(messageBatch([task.id]), dispatchDeps({ config: { DISPATCH_TIMEOUT_S: 0.2 } }));
    const row = await getTask(task.id);
    expect(row).toMatchObject({ status: "retry", attempts: 1 });
    expect(row.error).toMatch(/timed out/);
  });

  it("treats a coordinator that throws (object reset) as a retriable failure", async () => {
    const task = await insertTask();
    const runTasks = async (): Promise<TaskOutcome[]> => {
      throw new Error("Durable Object reset because its code was updated");
    };
    await dispatchBatch(messageBatch([task.id]), dispatchDeps({ runTasks }));
    expect(await getTask(task.id)).toMatchObject({ status: "retry", attempts: 1 });
  });

  it("renews the lease while the coordinator works", async () => {
    const task = await insertTask({ type: "sleep", params: { ms: 1500 } });
    const run = dispatchBatch(messageBatch([task.id]), dispatchDeps({ config: { HEARTBEAT_S: 0.2 } }));
    await vi.waitUntil(
      async () => {
        const row = await getTask(task.id);
        const leaseMs = requireConfig(env).TASK_LEASE_S * 1000;
        return row.status === "running" && row.lastHeartbeat! > row.lockedAt! && row.leaseExpiresAt! > row.lockedAt! + leaseMs;
      },
      { timeout: 5000, interval: 20 },
    );
    await run;
    expect((await getTask(task.id)).status).toBe("completed");
  });
});

describe("reaper and sweeper", () => {
  it("moves an expired lease to retry, then the task completes on redelivery", async () => {
    const task = await insertTask();
    await claimTasks(db(), [task.id], "dead-dispatcher", Date.now() - 10_000, 1000);
    const report = await reaperStub(env).runNow();
    expect(report.reaped).toBeGreaterThanOrEqual(1);
    const reaped = await getTask(task.id);
    expect(reaped).toMatchObject({ status: "retry", attempts: 1, lockedBy: null });
    expect(reaped.error).toMatch(/lease expired/);
    // The reaper re-sent it on the real local queue: the consumer finishes it.
    await vi.waitUntil(async () => (await getTask(task.id)).status === "completed", { timeout: 10_000, interval: 50 });
    expect((await getTask(task.id)).attempts).toBe(2);
    expect((await eventsOf(task.id)).map((e) => `${e.to_status}/${e.actor}`)).toEqual([
      "queued/api",
      "running/dispatcher",
      "retry/reaper",
      "running/dispatcher",
      "completed/dispatcher",
    ]);
  });

  it("fails an expired lease whose attempts are used up", async () => {
    const task = await insertTask({ max_attempts: 1 });
    await claimTasks(db(), [task.id], "dead-dispatcher", Date.now() - 10_000, 1000);
    await reaperStub(env).runNow();
    const row = await getTask(task.id);
    expect(row.status).toBe("failed");
    expect(row.attempts).toBe(1);
  });

  it("re-sends a queued task whose message was lost", async () => {
    const task = await insertTask();
    const stale = Date.now() - (requireConfig(env).SWEEP_AFTER_S + 5) * 1000;
    await sql("UPDATE tasks SET updated_at = ? WHERE id = ?", stale, task.id);
    const report = await reaperStub(env).runNow();
    expect(report.swept).toBeGreaterThanOrEqual(1);
    await vi.waitUntil(async () => (await getTask(task.id)).status === "completed", { timeout: 10_000, interval: 50 });
  });

  it("leaves a fresh queued task alone (its message is still on the way)", async () => {
    const task = await insertTask({ run_after: Date.now() + 3_600_000 });
    await reaperStub(env).runNow();
    expect((await getTask(task.id)).updatedAt).toBe(task.updatedAt);
  });
});

describe("dead letters", () => {
  it("marks a non-terminal task failed and leaves a finished one alone", async () => {
    const open = await insertTask();
    const done = await insertTask();
    await deliver(TASK_QUEUE, [done.id]);
    const { result } = await deliver(DLQ, [open.id, done.id]);
    expect(result.explicitAcks.length + (result.ackAll ? 1 : 0)).toBeGreaterThan(0);
    expect(await getTask(open.id)).toMatchObject({ status: "failed", error: expect.stringMatching(/dead-lettered/) });
    expect((await getTask(done.id)).status).toBe("completed");
    expect((await eventsOf(open.id)).at(-1)).toMatchObject({ to_status: "failed", actor: "dlq" });
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
    await vi.waitUntil(async () => (await getTask(id)).status === "completed", { timeout: 10_000, interval: 50 });
  });

  it("refuses to run a running or completed task", async () => {
    const task = await insertTask();
    await deliver(TASK_QUEUE, [task.id]);
    const res = await api(`/tasks/${task.id}/run`, { method: "POST" });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: { code: "invalid_state" } });
  });
});
