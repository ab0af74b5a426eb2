import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { requireConfig } from "../../src/config";
import { parseMetrics, sampleValue } from "../../src/lib/prometheus";
import { pruneExpired } from "../../src/maintenance/retention";
import { claimDueTasks } from "../../src/store/claim-due-tasks";
import { reapExpiredLeases } from "../../src/store/reap-expired-leases";
import { deliver, DLQ } from "../helpers/dispatch";
import { db, getTask, insertTasks, newTask, sql } from "../helpers/tasks";
import { api, postJson } from "../helpers/worker";

/**
 * The rollups are kept by the transitions themselves, so this file never writes a status by hand
 * (only run_after, leases and finish times, which no counter reads): after a mixed workload, every
 * gauge and transition counter must equal a recount of the tables.
 */

type Tally = Map<string, number>;
const add = (into: Tally, label: string, n: number) => into.set(label, (into.get(label) ?? 0) + n);

/** Transitions recounted from the timelines of the tasks `where` selects. */
async function timelineTally(where = "1 = 1", ...binds: unknown[]): Promise<Tally> {
  const { results } = await env.DB.prepare(
    `SELECT e.actor || '|' || coalesce(e.from_status, '') || '|' || e.to_status AS label, count(*) AS n
     FROM tasks JOIN task_timeline AS e ON e.task_id = tasks.id WHERE ${where} GROUP BY 1`,
  )
    .bind(...binds)
    .all<{ label: string; n: number }>();
  return new Map(results.map((r) => [r.label, r.n]));
}

async function bulk(action: string, body: unknown): Promise<number> {
  const res = await postJson(`/tasks/bulk/${action}`, body);
  expect(res.status).toBe(200);
  const r = await res.json<{ affected: number; next: string | null }>();
  expect(r.next).toBeNull();
  return r.affected;
}

const DAY = 86_400_000;

describe("rollups equal a full recount", () => {
  it("after completions, retries, reaps, cancels, dead letters, prunes and bulk operations", { timeout: 60_000 }, async () => {
    const now = Date.now();
    // A dispatcher claims four tasks and dies; the reaper puts them back.
    await insertTasks(Array.from({ length: 4 }, () => newTask({ type: "ping" })), now - 1000);
    const lost = await claimDueTasks(db(), { token: "dead-dispatcher", now, leaseMs: 60_000, maxTasks: 4, maxInputBytes: 1e6 });
    expect(lost.claimed).toHaveLength(4);
    await sql("UPDATE tasks SET lease_expires_at = 1 WHERE locked_by = 'dead-dispatcher'");
    expect((await reapExpiredLeases(db(), Date.now(), 200)).reaped).toHaveLength(4);

    const done = await insertTasks(Array.from({ length: 8 }, () => newTask({ type: "test_task" })));
    const flaky = await insertTasks(Array.from({ length: 2 }, () => newTask({ type: "flaky", params: { fail_times: 1 } })));
    await insertTasks(Array.from({ length: 3 }, () => newTask({ type: "nope.recount" })));
    await insertTasks(Array.from({ length: 3 }, () => newTask({ type: "test_task", domain: "held", status: "created" })));
    await deliver();
    for (const f of flaky) expect((await getTask(f.row.id)).status).toBe("retry");
    await sql("UPDATE tasks SET run_after = NULL WHERE type = 'flaky'");
    await deliver();

    // Cancels: one by id, the rest in bulk; then the cancelled ones run again.
    const [held] = (await api("/tasks?domain=held&limit=1").then((r) => r.json<{ items: { id: string }[] }>())).items;
    expect((await api(`/tasks/${held!.id}/cancel`, { method: "POST" })).status).toBe(200);
    expect(await bulk("cancel", { domain: "held" })).toBe(2);
    expect(await bulk("retry", { domain: "held", status: "cancelled" })).toBe(3);
    await insertTasks(Array.from({ length: 2 }, () => newTask({ type: "ping", domain: "late" })));
    expect(await bulk("cancel", { domain: "late", status: "queued" })).toBe(2);

    // A wake-up that died: a counter, not a transition.
    await deliver(DLQ);

    // Failed tasks retried in bulk fail again.
    expect(await bulk("retry", { type: "nope.recount" })).toBe(3);
    await deliver();

    // Retention: three completed tasks finished eight days ago. Their timelines go with them.
    const old = done.slice(0, 3).map((t) => t.row.id);
    await sql(`UPDATE tasks SET created_at = ?, updated_at = ? WHERE id IN (${old.map(() => "?").join(", ")})`, now - 8 * DAY - 1000, now - 8 * DAY, ...old);
    const gone = await timelineTally(`tasks.id IN (${old.map(() => "?").join(", ")})`, ...old);
    const report = await pruneExpired({ db: db(), config: requireConfig(env), now: Date.now, statementsUsed: () => 0 });
    expect(report.pruned).toEqual({ completed: 3, failed: 0, cancelled: 0 });

    // Purge: the three failed ones.
    for (const [label, n] of await timelineTally("tasks.type = 'nope.recount'")) add(gone, label, n);
    expect(await bulk("purge", { type: "nope.recount", status: "failed" })).toBe(3);

    // One task left running.
    await insertTasks([newTask({ type: "ping" })]);
    expect((await claimDueTasks(db(), { token: "live", now: Date.now(), leaseMs: 60_000, maxTasks: 10, maxInputBytes: 1e6 })).claimed).toHaveLength(1);

    const m = parseMetrics(await (await api("/metrics")).text());
    const { results: byStatus } = await env.DB.prepare("SELECT status, count(*) AS n FROM tasks GROUP BY status").all<{ status: string; n: number }>();
    const counted = Object.fromEntries(byStatus.map((r) => [r.status, r.n]));
    expect(counted).toEqual({ completed: 5 + 2 + 4 + 3, cancelled: 2, running: 1 });
    for (const status of ["created", "queued", "running", "completed", "failed", "retry", "cancelled"]) {
      expect(sampleValue(m, "seedcore_tasks", { status }), status).toBe(counted[status] ?? 0);
    }

    // Counts per type (GET /types) are the net of the type's transition rows: equal to a recount.
    const { results: byType } = await env.DB.prepare("SELECT type, status, count(*) AS n FROM tasks GROUP BY type, status").all<{ type: string; status: string; n: number }>();
    const page = await (await api("/types?limit=100")).json<{ items: { type: string; counts: Record<string, number> }[] }>();
    for (const type of ["ping", "test_task", "flaky", "nope.recount"]) {
      const item = page.items.find((t) => t.type === type);
      expect(item, type).toBeDefined();
      for (const status of ["created", "queued", "running", "completed", "failed", "retry", "cancelled"]) {
        expect(item!.counts[status], `${type} ${status}`).toBe(byType.find((r) => r.type === type && r.status === status)?.n ?? 0);
      }
    }

    const expected = await timelineTally();
    for (const [label, n] of gone) add(expected, label, n);
    add(expected, "retention|completed|deleted", 3);
    add(expected, "api|failed|deleted", 3);
    const served = new Map(
      m.samples.filter((s) => s.name === "seedcore_task_transitions_total").map((s) => [`${s.labels.actor}|${s.labels.from}|${s.labels.to}`, s.value]),
    );
    expect(Object.fromEntries([...served].sort())).toEqual(Object.fromEntries([...expected].sort()));
    expect(sampleValue(m, "seedcore_tasks_pruned_total")).toBe(3);
    expect(sampleValue(m, "seedcore_tasks_purged_total")).toBe(3);
    expect(sampleValue(m, "seedcore_tasks_submitted_total")).toBe(4 + 8 + 2 + 3 + 3 + 2 + 1);
    expect(sampleValue(m, "seedcore_wakeups_dead_lettered_total")).toBe(1);
  });
});
