import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { rerunTask } from "../../src/store/cancel-or-rerun";
import { claimDueTasks } from "../../src/store/claim-due-tasks";
import { openDb } from "../../src/store/db";
import { reapExpiredLeases } from "../../src/store/reap-expired-leases";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { db, insertTasks, newTask, settleOtherTasks, sql } from "../helpers/tasks";

/**
 * Migration 0015: a plain queued task (no run_after, head start or key) has no tasks_due_idx entry
 * (one row written less); the claim takes it from its lane of tasks_type_status_idx, oldest first.
 */
const laneOf = async (id: string) => (await env.DB.prepare("SELECT status, lane FROM tasks WHERE id = ?").bind(id).first<{ status: string; lane: number }>())!;

/** Entries of the partial due index of one type, read through the index itself. */
const dueEntries = async (type: string) =>
  (await env.DB.prepare(
    `SELECT count(*) AS n FROM tasks INDEXED BY tasks_due_idx
     WHERE type = ? AND status IN ('queued', 'retry') AND concurrency_key IS NULL AND (status = 'retry' OR lane = 1)`,
  ).bind(type).first<{ n: number }>())!.n;

const claim = (token: string, maxTasks = 96, now = Date.now(), log?: RecordedStatement[]) =>
  claimDueTasks(log ? openDb(recordingD1(env.DB, log)) : db(), { token, now, leaseMs: 60_000, maxTasks, maxInputBytes: 4e6 });

describe("the claim's lanes (migration 0015)", () => {
  beforeEach(settleOtherTasks);

  it("stores lane 0 for a plain queued task and 1 for a delayed, head-started or keyed one, and 0 once claimed", async () => {
    const [plain, delayed, ahead, keyed, created] = await insertTasks([
      newTask({ type: "lanes" }),
      newTask({ type: "lanes", run_after: Date.now() + 3_600_000 }),
      newTask({ type: "lanes", priority: 60 }),
      newTask({ type: "lanes", concurrency_key: "lanes-k", concurrency_limit: 5 }),
      newTask({ type: "lanes", status: "created" }),
    ]);
    expect(await laneOf(plain!.row.id)).toEqual({ status: "queued", lane: 0 });
    for (const t of [delayed, ahead, keyed]) expect(await laneOf(t!.row.id)).toEqual({ status: "queued", lane: 1 });
    expect(await laneOf(created!.row.id)).toEqual({ status: "created", lane: 0 });
    // Only the delayed and the head-started task are in the due index (a keyed one is in the keyed index).
    expect(await dueEntries("lanes")).toBe(2);
    const { claimed } = await claim("lanes");
    expect(claimed.map((t) => t.id).sort()).toEqual([plain!.row.id, ahead!.row.id, keyed!.row.id].sort());
    for (const t of claimed) expect(await laneOf(t.id)).toEqual({ status: "running", lane: 0 });
    expect(await dueEntries("lanes")).toBe(1);
  });

  it("claims plain tasks oldest first, behind a later task's head start, and no delayed task before it is due", async () => {
    const now = Date.now();
    const early = await insertTasks(Array.from({ length: 3 }, () => newTask({ type: "order" })), now - 3000);
    const delayed = await insertTasks([newTask({ type: "order", run_after: now + 3_600_000 })], now - 2500);
    const late = [];
    for (const at of [now - 2000, now - 1900, now - 1800]) late.push(...(await insertTasks([newTask({ type: "order" })], at)));
    const ahead = await insertTasks([newTask({ type: "order", priority: 10 })], now - 1000);
    const { claimed } = await claim("order", 5, now);
    // The head start (10 s) puts the last task first; then the plain ones by creation; the delayed one waits.
    const byKey = claimed.sort((a, b) => a.sort_key - b.sort_key).map((t) => t.id);
    expect(byKey[0]).toBe(ahead[0]!.row.id);
    expect(byKey.slice(1).sort()).toEqual([...early, late[0]!].map((c) => c.row.id).sort());
    const rest = await claim("order-2", 96, now);
    expect(rest.claimed.map((t) => t.id).sort()).toEqual(late.slice(1).map((c) => c.row.id).sort());
    expect(rest.claimed.map((t) => t.id)).not.toContain(delayed[0]!.row.id);
  });

  it("30,000 delayed tasks created before them cost the plain tasks' claim nothing: a few rows read, not the backlog", async () => {
    const now = Date.now();
    await env.DB.prepare(`
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000)
      INSERT INTO tasks (id, status, type, params, events, created_at, updated_at, run_after, lane)
      SELECT printf('1a4e0000-0000-4000-8000-%012x', i), 'queued', 'backlogged', '{}', '[]', ?1 - 3600000 + i, ?1, ?1 + 86400000, 1 FROM n`).bind(now).run();
    const plain = await insertTasks(Array.from({ length: 10 }, () => newTask({ type: "backlogged" })), now);
    const log: RecordedStatement[] = [];
    const { claimed } = await claim("backlog", 96, now + 1, log);
    expect(claimed.map((t) => t.id).sort()).toEqual(plain.map((c) => c.row.id).sort());
    const read = log.reduce((n, s) => n + (s.rowsRead ?? Number.NaN), 0);
    expect(read).toBeLessThan(500);
    await sql("DELETE FROM tasks WHERE type = 'backlogged'");
  });

  it("a rerun clears run_after into lane 0; the reaper's retry is due through the due index", async () => {
    const [delayed] = await insertTasks([newTask({ type: "rerun-lane", run_after: Date.now() + 3_600_000, max_attempts: 5 })]);
    const id = delayed!.row.id;
    await sql("UPDATE tasks SET status = 'cancelled', lane = 0, run_after = NULL WHERE id = ?", id);
    expect((await rerunTask(db(), id, Date.now()))?.status).toBe("queued");
    expect(await laneOf(id)).toEqual({ status: "queued", lane: 0 });
    const { claimed } = await claim("rerun-lane");
    expect(claimed.map((t) => t.id)).toEqual([id]);
    const { reaped } = await reapExpiredLeases(db(), Date.now() + 120_000, 10);
    expect(reaped.map((t) => t.id)).toEqual([id]);
    expect(await laneOf(id)).toEqual({ status: "retry", lane: 0 });
    expect(await dueEntries("rerun-lane")).toBe(1);
  });

  it("refuses any write whose lane disagrees with the task, so none is claimed early or lost to a list", async () => {
    const [plain] = await insertTasks([newTask({ type: "guarded" })]);
    const id = plain!.row.id;
    await expect(sql("UPDATE tasks SET run_after = ? WHERE id = ?", Date.now() + 60_000, id)).rejects.toThrow(/tasks\.lane disagrees/);
    await expect(sql("UPDATE tasks SET lane = 1, status = 'completed' WHERE id = ?", id)).rejects.toThrow(/tasks\.lane disagrees/);
    await expect(
      sql("INSERT INTO tasks (id, status, type, created_at, updated_at, priority) VALUES (?, 'queued', 'guarded', 1, 1, 5)", crypto.randomUUID()),
    ).rejects.toThrow(/tasks\.lane disagrees/);
    expect(await laneOf(id)).toEqual({ status: "queued", lane: 0 });
  });
});
