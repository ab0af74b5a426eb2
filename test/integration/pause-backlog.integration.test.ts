import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { claimDueTasks } from "../../src/store/claim-due-tasks";
import { openDb } from "../../src/store/db";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { insertTasks, newTask } from "../helpers/tasks";
import { fetchWithEnv } from "../helpers/worker";

const WAITING = 200_000;
const TYPE = "backlog";

/** 200,000 queued tasks of one type in one statement: every fourth with one of 50 keys (limit 5). */
async function seed(now: number): Promise<void> {
  await env.DB.prepare(`
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
    INSERT INTO tasks (id, status, type, params, events, created_at, updated_at, concurrency_key, concurrency_limit, lane)
    SELECT printf('%08x-0000-4000-8000-%012x', i, i), 'queued', ?3, '{}', '[]', ?2 - 86400000 + i * 400, ?2,
           CASE WHEN i % 4 = 0 THEN 'backlog-key-' || (i % 50) END, CASE WHEN i % 4 = 0 THEN 5 END, i % 4 = 0
    FROM n`).bind(WAITING, now, TYPE).run();
  // What their submission would have counted (the counts per type are the net of these rows).
  await env.DB.prepare("INSERT INTO rollups (metric, bucket, label, n, total) VALUES ('transition', -1, ?, ?, 0)").bind(`api||queued|${TYPE}`, WAITING).run();
}

/** A pause or resume through the Worker, with D1's own count of the rows each statement read and wrote. */
async function flip(action: "pause" | "resume") {
  const log: RecordedStatement[] = [];
  const started = performance.now();
  const res = await fetchWithEnv(new Request(`http://localhost/types/${TYPE}/${action}`, { method: "POST" }), { DB: recordingD1(env.DB, log) });
  const ms = performance.now() - started;
  return { res, ms, written: log.reduce((n, s) => n + (s.rowsWritten ?? Number.NaN), 0), log };
}

const queuedOf = async (type: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM tasks WHERE type = ? AND status = 'queued'").bind(type).first<{ n: number }>())?.n ?? 0;

describe("pause and resume of a type with 200,000 waiting tasks", () => {
  const now = Date.now();
  beforeAll(() => seed(now), 120_000);

  it("pausing writes the type's row only, whatever its backlog, and answers at once", async () => {
    const { res, ms, written, log } = await flip("pause");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ type: TYPE, paused: true, counts: { queued: WAITING } });
    expect(log.length).toBeGreaterThan(0);
    expect(written).toBeLessThanOrEqual(2);
    expect(ms).toBeLessThan(1000);
  });

  it("a healthy type's tasks (with and without keys, some sharing the backlog's keys) are claimed while the backlog waits, reading none of it", async () => {
    const healthy = await insertTasks([
      ...Array.from({ length: 10 }, () => newTask({ type: "ping" })),
      ...Array.from({ length: 10 }, (_, i) => newTask({ type: "ping", concurrency_key: `backlog-key-${i * 4}`, concurrency_limit: 5 })),
    ]);
    const log: RecordedStatement[] = [];
    const { claimed } = await claimDueTasks(openDb(recordingD1(env.DB, log)), { token: "paused", now: Date.now(), leaseMs: 60_000, maxTasks: 96, maxInputBytes: 4e6 });
    expect(claimed.map((t) => t.id).sort()).toEqual(healthy.map((c) => c.row.id).sort());
    const read = log.reduce((n, s) => n + (s.rowsRead ?? Number.NaN), 0);
    expect(read).toBeLessThan(5_000); // the backlog is 200,000 rows
    expect(await queuedOf(TYPE)).toBe(WAITING);
  });

  it("resuming writes the type's row only, and the backlog is claimable at once", async () => {
    const { res, ms, written } = await flip("resume");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ type: TYPE, paused: false });
    expect(written).toBeLessThanOrEqual(2);
    expect(ms).toBeLessThan(1000);
    const { claimed } = await claimDueTasks(openDb(env.DB), { token: "resumed", now: Date.now(), leaseMs: 60_000, maxTasks: 96, maxInputBytes: 4e6 });
    expect(claimed.length).toBe(96);
    expect(claimed.every((t) => t.type === TYPE)).toBe(true);
  });
});
