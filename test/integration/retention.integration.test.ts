import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { requireConfig, type Config } from "../../src/config";
import { reaperStub } from "../../src/maintenance/reaper-stub";
import { parseMetrics, sampleValue } from "../../src/lib/prometheus";
import { pruneExpired, RETENTION_BUDGET_MS, RETENTION_STATEMENT_BUDGET } from "../../src/maintenance/retention";
import { openDb } from "../../src/store/db";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { rowsCountingD1 } from "../helpers/rows-written-d1";
import { db, insertTasks, newTask, sql } from "../helpers/tasks";
import { api } from "../helpers/worker";

const config = requireConfig(env);
const DAY = 86_400_000;
const STATUSES = ["created", "queued", "running", "retry", "completed", "failed", "cancelled"] as const;
type Status = (typeof STATUSES)[number];

/**
 * `n` tasks in `domain` that reached `status` `ago` ms before `now`. The status is written by hand:
 * this file checks what retention deletes, not the gauges (recount.integration.test.ts does).
 */
async function tasksIn(domain: string, status: Status, ago: number, n: number, now: number, createdAgo = ago + 1000): Promise<string[]> {
  const created = await insertTasks(Array.from({ length: n }, () => newTask({ domain, status: "created" })), now - createdAgo);
  await sql("UPDATE tasks SET status = ?, updated_at = ? WHERE domain = ?", status, now - ago, domain);
  return created.map((c) => c.row.id);
}

async function left(domainPrefix: string): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare("SELECT domain, count(*) AS n FROM tasks WHERE domain >= ? AND domain < ? GROUP BY domain")
    .bind(domainPrefix, `${domainPrefix}~`)
    .all<{ domain: string; n: number }>();
  return Object.fromEntries(results.map((r) => [r.domain.slice(domainPrefix.length), r.n]));
}

async function transitionCount(label: string): Promise<number> {
  // Every type's row of that transition (the label ends with the type).
  const row = await env.DB.prepare("SELECT sum(n) AS n FROM rollups WHERE metric = 'transition' AND label LIKE ? || '|%'").bind(label).first<{ n: number | null }>();
  return row?.n ?? 0;
}

const deps = (overrides: Partial<Config>, now: () => number, d1: D1Database = env.DB, statementsUsed = () => 0) => ({
  db: openDb(d1),
  config: { ...config, ...overrides },
  now,
  statementsUsed,
});

describe("retention", () => {
  it("deletes exactly the finished tasks past their status's retention, in chunks of RETENTION_BATCH, through tasks_type_status_idx", async () => {
    const now = Date.now();
    const p = `ret-${crypto.randomUUID().slice(0, 8)}-`;
    await tasksIn(`${p}completed-old`, "completed", 8 * DAY, 230, now);
    await tasksIn(`${p}completed-new`, "completed", 6 * DAY, 4, now);
    // Created long before the cutoff, finished after it: kept (retention counts from the finish).
    await tasksIn(`${p}completed-late`, "completed", 6 * DAY, 6, now, 30 * DAY);
    await tasksIn(`${p}failed-8d`, "failed", 8 * DAY, 5, now);
    await tasksIn(`${p}failed-31d`, "failed", 31 * DAY, 7, now);
    await tasksIn(`${p}cancelled-old`, "cancelled", 8 * DAY, 3, now);
    for (const s of ["created", "queued", "running", "retry"] as const) await tasksIn(`${p}${s}-ancient`, s, 3650 * DAY, 2, now);
    const before = { completed: await transitionCount("retention|completed|deleted"), failed: await transitionCount("retention|failed|deleted") };

    const log: RecordedStatement[] = [];
    const report = await pruneExpired(deps({ RETENTION_BATCH: 50 }, () => now, recordingD1(env.DB, log)));

    expect(report).toEqual({ pruned: { completed: 230, failed: 7, cancelled: 3 }, chunks: expect.any(Number), drained: true });
    expect(await left(p)).toEqual({
      "completed-new": 4,
      "completed-late": 6,
      "failed-8d": 5,
      "created-ancient": 2,
      "queued-ancient": 2,
      "running-ancient": 2,
      "retry-ancient": 2,
    });
    const deletes = log.filter((s) => /^\s*DELETE FROM tasks/.test(s.sql));
    expect(deletes.map((s) => s.rows)).toEqual(expect.arrayContaining([50, 50, 50, 50, 30, 7, 3]));
    expect(Math.max(...deletes.map((s) => s.rows ?? Infinity))).toBeLessThanOrEqual(50);
    expect(deletes.reduce((n, s) => n + (s.rows ?? 0), 0)).toBe(240);
    // Counted as transitions out of the status, so the gauges follow.
    expect(await transitionCount("retention|completed|deleted")).toBe(before.completed + 230);
    expect(await transitionCount("retention|failed|deleted")).toBe(before.failed + 7);

    for (const { sql: text, params } of log) {
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${text}`).bind(...params).all<{ detail: string }>();
      const plan = results.map((r) => r.detail).join("\n");
      expect(plan, text).not.toMatch(/SCAN tasks\b/);
      // One range per type: created before the cutoff, and past the previous chunk's end after the first.
      if (/updated_at </.test(text)) expect(plan, text).toMatch(/USING INDEX tasks_type_status_idx \(type=\? AND status=\? AND lane=\? AND (created_at>\? AND )?created_at<\?\)/);
    }
  });

  it("reads past tasks created long ago but finished lately once a tick, not once per chunk", async () => {
    const now = Date.now();
    const type = `ret_walk_${crypto.randomUUID().slice(0, 8)}`;
    const domain = `walk-${crypto.randomUUID().slice(0, 8)}`;
    // 2,000 created 30 days ago, finished yesterday (kept), ahead of 500 finished 10 days ago.
    const kept = await insertTasks(Array.from({ length: 2000 }, () => newTask({ type, domain, status: "created" })), now - 30 * DAY);
    const old = await insertTasks(Array.from({ length: 500 }, () => newTask({ type, domain, status: "created" })), now - 20 * DAY);
    const ids = (rows: typeof kept) => JSON.stringify(rows.map((r) => r.row.id));
    await sql("UPDATE tasks SET status = 'completed', updated_at = ? WHERE id IN (SELECT value FROM json_each(?))", now - DAY, ids(kept));
    await sql("UPDATE tasks SET status = 'completed', updated_at = ? WHERE id IN (SELECT value FROM json_each(?))", now - 10 * DAY, ids(old));
    const counting = rowsCountingD1();
    const report = await pruneExpired(deps({ RETENTION_BATCH: 50, RETAIN_FAILED_S: 0, RETAIN_CANCELLED_S: 0 }, () => now, counting.d1));
    expect(report.pruned.completed).toBeGreaterThanOrEqual(500);
    expect(await left(domain)).toEqual({ "": 2000 });
    console.log(`retention past a 2,000-row prefix, 11 chunks: ${counting.totals.read} rows read`);
    // Eleven chunks: reading the 2,000 kept ones in each would be ≥ 40,000 rows.
    expect(counting.totals.read).toBeLessThan(30_000);
  });

  it("never deletes a task that has not finished, however old; a retention of 0 keeps forever", async () => {
    const now = Date.now();
    const p = `keep-${crypto.randomUUID().slice(0, 8)}-`;
    for (const s of STATUSES) await tasksIn(`${p}${s}`, s, 20 * 365 * DAY, 3, now);
    const report = await pruneExpired(deps({ RETAIN_COMPLETED_S: 1, RETAIN_CANCELLED_S: 1, RETAIN_FAILED_S: 0 }, () => now));
    expect(report.pruned.failed).toBe(0);
    expect(await left(p)).toEqual({ created: 3, queued: 3, running: 3, retry: 3, failed: 3 });
  });

  it("stops at its time budget and goes on at the next tick", async () => {
    const now = Date.now();
    const p = `budget-${crypto.randomUUID().slice(0, 8)}-`;
    await tasksIn(`${p}completed`, "completed", 8 * DAY, 60, now);
    // Every chunk takes 40 % of the budget on this clock: the fourth is not started.
    let t = now;
    const slow = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "batch") {
          return (statements: D1PreparedStatement[]) => {
            t += 0.4 * RETENTION_BUDGET_MS;
            return target.batch(statements);
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const only = { RETENTION_BATCH: 10, RETAIN_FAILED_S: 0, RETAIN_CANCELLED_S: 0 };
    expect(await pruneExpired(deps(only, () => t, slow))).toEqual({ pruned: { completed: 30, failed: 0, cancelled: 0 }, chunks: 3, drained: false });
    expect(await pruneExpired(deps(only, () => now))).toMatchObject({ pruned: { completed: 30 }, drained: true });
  });

  it("stops at its own statement budget, and before the invocation's", async () => {
    const now = Date.now();
    const p = `stmts-${crypto.randomUUID().slice(0, 8)}-`;
    await tasksIn(`${p}completed`, "completed", 8 * DAY, RETENTION_STATEMENT_BUDGET / 2 + 40, now);
    const log: RecordedStatement[] = [];
    const one = (used: () => number) => deps({ RETENTION_BATCH: 1, RETAIN_FAILED_S: 0, RETAIN_CANCELLED_S: 0 }, () => now, recordingD1(env.DB, log), used);
    // Two statements a chunk: its own budget allows RETENTION_STATEMENT_BUDGET / 2 chunks.
    expect(await pruneExpired(one(() => log.length))).toMatchObject({ drained: false, chunks: RETENTION_STATEMENT_BUDGET / 2 });
    // An invocation that has used 700 statements may use 50 more (750 = 75 % of D1's 1,000): 25 chunks of the 40 left.
    log.length = 0;
    expect(await pruneExpired(one(() => 700 + log.length))).toMatchObject({ drained: false, chunks: 25 });
  });

  it("runs in the maintenance alarm and is counted in /metrics as seedcore_tasks_pruned_total", async () => {
    const now = Date.now();
    const p = `alarm-${crypto.randomUUID().slice(0, 8)}-`;
    const ids = await tasksIn(`${p}completed`, "completed", 7 * DAY + 60_000, 3, now);
    const pruned = async () => sampleValue(parseMetrics(await (await api("/metrics")).text()), "seedcore_tasks_pruned_total") ?? NaN;
    const before = await pruned();
    const report = await reaperStub(env).runNow();
    const { completed, failed, cancelled } = report.retention.pruned;
    expect(completed).toBeGreaterThanOrEqual(3);
    expect(await pruned()).toBe(before + completed + failed + cancelled);
    for (const id of ids) expect(await db().query.tasks.findFirst({ where: (t, { eq }) => eq(t.id, id) })).toBeUndefined();
    expect((await api(`/tasks/${ids[0]}/events`)).status).toBe(404);
  });
});
