import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { claimDueTasks } from "../../src/store/claim-due-tasks";
import { openDb } from "../../src/store/db";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { insertTasks, newTask } from "../helpers/tasks";
import { postJson } from "../helpers/worker";

const QUEUED = 200_000;
const KEYS = 100;

/**
 * 200,000 queued tasks in one statement: a third without a key, the rest spread over 100 keys
 * (one key holds half of them), every thousandth with an hour's head start, created over the last day.
 */
async function seed(now: number): Promise<void> {
  await env.DB.prepare(`
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
    INSERT INTO tasks (id, status, type, params, events, created_at, updated_at, priority, concurrency_key, concurrency_limit, lane)
    SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'queued', 'ping', '{}', '[]', ?2 - 86400000 + i * 400, ?2,
           CASE WHEN i % 1000 = 0 THEN 3600 ELSE 0 END,
           CASE WHEN i % 3 = 0 THEN NULL WHEN i % 2 = 0 THEN 'big' ELSE 'key-' || (i % ?3) END,
           CASE WHEN i % 3 = 0 THEN NULL ELSE 5 END,
           i % 3 <> 0 OR i % 1000 = 0
    FROM n`).bind(QUEUED, now, KEYS).run();
}

describe("the claim at 200,000 queued tasks with priorities and concurrency keys", () => {
  const now = Date.now();
  const log: RecordedStatement[] = [];
  let claimedCount = 0;
  let claimMs = 0;

  beforeAll(async () => {
    await seed(now);
    const started = performance.now();
    const { claimed } = await claimDueTasks(openDb(recordingD1(env.DB, log)), { token: "plan", now, leaseMs: 60_000, maxTasks: 96, maxInputBytes: 4e6 });
    claimMs = performance.now() - started;
    claimedCount = claimed.length;
  }, 120_000);

  it("claims a full pass, every key within its limit", async () => {
    expect(claimedCount).toBe(96);
    const { results } = await env.DB.prepare(
      "SELECT concurrency_key AS key, count(*) AS n FROM tasks WHERE status = 'running' AND concurrency_key IS NOT NULL GROUP BY concurrency_key",
    ).all<{ key: string; n: number }>();
    expect(results.length).toBeGreaterThan(1); // the key with 100,000 tasks did not take the pass
    for (const r of results) expect(r.n).toBeLessThanOrEqual(5);
    expect(claimMs).toBeLessThan(1000);
  });

  it("reads index ranges only: the plain tasks' range, the due index, each key's range, rows by primary key; no scan of tasks", async () => {
    const claim = log.find((s) => /UPDATE tasks SET status = c\.to_status/.test(s.sql));
    expect(claim).toBeDefined();
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${claim!.sql}`).bind(...claim!.params).all<{ detail: string }>();
    const plan = results.map((r) => r.detail);
    const text = plan.join("\n");
    expect(plan.filter((d) => /^SCAN (tasks|t)\b/.test(d)), text).toEqual([]);
    expect(text).toMatch(/SEARCH tasks USING INDEX tasks_due_idx \(type=\? AND sort_key<\?\)/);
    expect(text).toMatch(PLAIN_RANGE);
    expect(text).toMatch(/SEARCH tasks USING INDEX tasks_key_due_idx \(concurrency_key=\? AND type=\? AND sort_key<\?\)/);
    expect(text).toMatch(/\b(concurrency_keys|ck) USING INDEX concurrency_keys_turn_idx/);
    for (const d of plan.filter((d) => /\btasks\b|\bt\b/.test(d) && /^SEARCH/.test(d))) {
      expect(d, text).toMatch(/tasks_due_idx|tasks_key_due_idx|sqlite_autoindex_tasks_1|tasks_type_status_idx|INTEGER PRIMARY KEY/);
    }
  });

  it("no statement of the claim scans tasks or walks the list index beyond the plain tasks' range", async () => {
    expect(log.length).toBe(3);
    await expectNoScan(log);
  });
});

/** The plain tasks' range (lane 0 of `queued`, migration 0015) is the only use of the list index a claim may make. */
const PLAIN_RANGE = /INDEX tasks_type_status_idx \(type=\? AND status=\? AND lane=\? AND created_at<\?\)/;

async function expectNoScan(log: RecordedStatement[]): Promise<void> {
  for (const { sql, params } of log) {
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
    const text = results.map((r) => r.detail).join("\n");
    expect(text, sql).not.toMatch(/^SCAN tasks\b/m);
    for (const d of results.map((r) => r.detail).filter((d) => d.includes("tasks_type_status_idx"))) expect(d, text).toMatch(PLAIN_RANGE);
  }
}

describe("the claim with those tasks' type paused (a paused backlog of 200,000)", () => {
  const log: RecordedStatement[] = [];
  let healthy: string[] = [];
  let claimed: string[] = [];
  let claimMs = 0;

  beforeAll(async () => {
    expect((await postJson("/types/ping/pause", {})).status).toBe(200);
    // Another type's tasks, with and without keys; the keys are the backlog's own.
    healthy = (await insertTasks([
      ...Array.from({ length: 5 }, () => newTask({ type: "echo" })),
      ...Array.from({ length: 5 }, (_, i) => newTask({ type: "echo", concurrency_key: `key-${i * 2 + 1}`, concurrency_limit: 5 })),
    ])).map((c) => c.row.id);
    const started = performance.now();
    const result = await claimDueTasks(openDb(recordingD1(env.DB, log)), { token: "paused-plan", now: Date.now(), leaseMs: 60_000, maxTasks: 96, maxInputBytes: 4e6 });
    claimMs = performance.now() - started;
    claimed = result.claimed.map((t) => t.id);
  }, 120_000);

  it("takes the other type's tasks only, reading none of the backlog", async () => {
    expect(claimed.sort()).toEqual(healthy.sort());
    const read = log.reduce((n, s) => n + (s.rowsRead ?? Number.NaN), 0);
    expect(read).toBeLessThan(5_000);
    expect(claimMs).toBeLessThan(1000);
  });

  it("reads index ranges only, no scan of tasks", async () => {
    await expectNoScan(log);
  });
});

describe("the claim with those tasks a pull type's backlog (the dispatcher skips it, a lease takes only it)", () => {
  const dispatcherLog: RecordedStatement[] = [];
  const leaseLog: RecordedStatement[] = [];
  let others: string[] = [];
  let dispatched: string[] = [];
  let leased: { id: string; type: string }[] = [];

  beforeAll(async () => {
    expect((await postJson("/types/ping/resume", {})).status).toBe(200);
    others = (await insertTasks(Array.from({ length: 5 }, () => newTask({ type: "echo" })))).map((c) => c.row.id);
    const now = Date.now();
    const dispatcher = await claimDueTasks(openDb(recordingD1(env.DB, dispatcherLog)), { token: "not-pull", now, leaseMs: 60_000, maxTasks: 96, maxInputBytes: 4e6, types: { except: ["ping"] } });
    dispatched = dispatcher.claimed.map((t) => t.id);
    const lease = await claimDueTasks(openDb(recordingD1(env.DB, leaseLog)), { token: "pull", now, leaseMs: 60_000, maxTasks: 96, maxInputBytes: 4e6, types: { only: ["ping"] } });
    leased = lease.claimed.map((t) => ({ id: t.id, type: t.type }));
  }, 120_000);

  it("the dispatcher's claim takes the other type's tasks only, reading none of the backlog", async () => {
    expect(dispatched.sort()).toEqual(others.sort());
    const read = dispatcherLog.reduce((n, s) => n + (s.rowsRead ?? Number.NaN), 0);
    expect(read).toBeLessThan(5_000);
    await expectNoScan(dispatcherLog);
  });

  it("a lease of the pull type takes a full pass of it by index ranges, no scan", async () => {
    expect(leased).toHaveLength(96);
    expect(new Set(leased.map((t) => t.type))).toEqual(new Set(["ping"]));
    await expectNoScan(leaseLog);
    const claim = leaseLog.find((s) => /UPDATE tasks SET status = c\.to_status/.test(s.sql));
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${claim!.sql}`).bind(...claim!.params).all<{ detail: string }>();
    expect(results.map((r) => r.detail).join("\n")).toMatch(/SEARCH tasks USING INDEX tasks_due_idx \(type=\? AND sort_key<\?\)/);
  });
});
