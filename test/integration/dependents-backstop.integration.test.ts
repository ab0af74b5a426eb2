import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { requireConfig } from "../../src/config";
import { followUpDeps } from "../../src/follow-ups";
import { runMaintenancePass, STRANDED_SCAN_CHUNKS_PER_TICK, STRANDED_SCAN_PERIOD_MS } from "../../src/maintenance/maintenance-pass";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import { STRANDED_SCAN_CHUNK } from "../../src/store/stranded-dependents";
import { tasksInOrder } from "../../src/store/tasks-in-order";
import { recordingQueue } from "../helpers/recording-queue";
import { db, eventsOf, getTask, insertTasks, newTask, settleOtherTasks, sql } from "../helpers/tasks";
import { api } from "../helpers/worker";

beforeEach(async () => {
  await settleOtherTasks();
  await sql("DELETE FROM maintenance_cursors");
});

const config = requireConfig(env);
const maintenance = (at?: number) =>
  runMaintenancePass({ db: db(), queue: recordingQueue().queue, config, now: at === undefined ? Date.now : () => at, statementsUsed: () => 0, followUp: followUpDeps(env, db()) });

async function counter(name: string): Promise<number> {
  const text = await (await api("/metrics")).text();
  const match = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  if (!match) throw new Error(`${name} missing from /metrics`);
  return Number(match[1]);
}
const rescuedTotal = () => counter("seedcore_dependents_rescued_total");

/** A waiting child of `parent`, then the parent finished by hand (no flag, no round): stranded. */
async function strandedChild(parentStatus: "completed" | "failed", policy: "fail" | "cancel" | "run", createdAt = Date.now()) {
  const [parent] = await insertTasks([newTask({ status: "created" })], createdAt);
  const [child] = await insertTasks([newTask({ type: "ping", status: "created", depends_on: [parent!.row.id], on_parent_failure: policy })], createdAt);
  await sql("UPDATE tasks SET status = ?, result = ?, error = ? WHERE id = ?", parentStatus, parentStatus === "completed" ? '{"v":1}' : null, parentStatus === "failed" ? "boom" : null, parent!.row.id);
  return { parent: parent!.row.id, child: child!.row.id };
}

describe("the maintenance alarm's backstop: no task waits on parents that have all finished", () => {
  it("releases, fails or cancels stranded dependents as a round would, counts each in /metrics, and leaves the rest", async () => {
    const before = await rescuedTotal();
    const reapedBefore = await counter("seedcore_tasks_reaped_total");
    const released = await strandedChild("completed", "fail");
    const failed = await strandedChild("failed", "fail");
    const cancelled = await strandedChild("failed", "cancel");
    const runs = await strandedChild("failed", "run");
    // A finished parent still flagged is a round's to take (not a stranding, not counted).
    const flagged = await strandedChild("completed", "fail");
    await sql("UPDATE tasks SET release_cursor = '' WHERE id = ?", flagged.parent);
    const [unfinished] = await insertTasks([newTask({ status: "created" })]);
    const [waiting] = await insertTasks([newTask({ type: "ping", status: "created", depends_on: [unfinished!.row.id] })]);

    const t = Date.now();
    const report = await maintenance(t);
    expect(report).toMatchObject({ dependents_rescued: 4, woke: "reaper" });
    expect(await rescuedTotal()).toBe(before + 4);
    // The alarm moved them, but no lease was reaped.
    expect(await counter("seedcore_tasks_reaped_total")).toBe(reapedBefore);
    expect(await getTask(released.child)).toMatchObject({ status: "queued", waitingOn: 0 });
    expect((await eventsOf(released.child)).at(-1)).toMatchObject({ from_status: "created", to_status: "queued", actor: "reaper", message: "parents finished" });
    expect(await getTask(failed.child)).toMatchObject({ status: "failed", error: `parent ${failed.parent} failed: boom` });
    expect(await getTask(cancelled.child)).toMatchObject({ status: "cancelled", error: `parent ${cancelled.parent} failed: boom` });
    expect(await getTask(runs.child)).toMatchObject({ status: "queued" });
    expect(await getTask(flagged.child)).toMatchObject({ status: "queued" });
    expect(await getTask(waiting!.row.id)).toMatchObject({ status: "created", waitingOn: 1 });

    // Nothing is moved twice (the next pass, when it comes, finds none).
    expect(await maintenance(t + STRANDED_SCAN_PERIOD_MS)).toMatchObject({ dependents_rescued: 0 });
    expect(await rescuedTotal()).toBe(before + 4);
  });

  it(`looks at ${STRANDED_SCAN_CHUNKS_PER_TICK} chunks of ${STRANDED_SCAN_CHUNK} waiting tasks per tick, and goes on from there the next tick`, { timeout: 120_000 }, async () => {
    const perTick = STRANDED_SCAN_CHUNKS_PER_TICK * STRANDED_SCAN_CHUNK;
    const t0 = Date.now();
    await insertTasks(Array.from({ length: perTick - 1 }, () => newTask({ status: "created" })), t0);
    // The last task the first tick reaches, and the first it does not.
    const atLimit = await strandedChild("completed", "fail", t0 + 1);
    const pastLimit = await strandedChild("completed", "fail", t0 + 2);

    expect(await maintenance()).toMatchObject({ dependents_rescued: 1 });
    expect((await getTask(atLimit.child)).status).toBe("queued");
    expect((await getTask(pastLimit.child)).status).toBe("created");
    expect(await maintenance()).toMatchObject({ dependents_rescued: 1 });
    expect((await getTask(pastLimit.child)).status).toBe("queued");
  });

  it(`after a pass over every waiting task, the next pass starts ${STRANDED_SCAN_PERIOD_MS} ms later`, async () => {
    const t = Date.now();
    const first = await strandedChild("completed", "fail");
    expect(await maintenance(t)).toMatchObject({ dependents_rescued: 1 });
    expect((await getTask(first.child)).status).toBe("queued");
    const second = await strandedChild("completed", "fail");
    expect(await maintenance(t + STRANDED_SCAN_PERIOD_MS - 1)).toMatchObject({ dependents_rescued: 0 });
    expect((await getTask(second.child)).status).toBe("created");
    expect(await maintenance(t + STRANDED_SCAN_PERIOD_MS)).toMatchObject({ dependents_rescued: 1 });
    expect((await getTask(second.child)).status).toBe("queued");
  });

  it("walks a range of tasks_type_status_idx per type, cut at the chunk (no scan of every task)", async () => {
    const walk = new SQLiteSyncDialect().sqlToQuery(tasksInOrder({ statuses: ["created"], direction: "oldest", after: { at: 0, rowid: 0 }, limit: STRANDED_SCAN_CHUNK }));
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${walk.sql}`)
      .bind(...walk.params)
      .all<{ detail: string }>();
    const plan = results.map((r) => r.detail).join("\n");
    expect(plan).toMatch(/SEARCH tasks USING (COVERING )?INDEX tasks_type_status_idx \(type=\? AND status=\? AND lane=\? AND created_at>\?\)/);
    expect(plan).not.toMatch(/^SCAN (tasks|t)\b/m);
  });
});
