import { env } from "cloudflare:workers";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { beforeAll, describe, expect, it } from "vitest";
import type { TaskEnvelope, TaskOutcome } from "../../src/contracts";
import { dispatchBatch } from "../../src/dispatch/consumer";
import { createTasks } from "../../src/store/create-tasks";
import { openDb } from "../../src/store/db";
import { queueWaitQuery, runTimeQuery } from "../../src/store/metrics-queries";
import { dispatchDeps, messageBatch } from "../helpers/dispatch";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { newTask } from "../helpers/tasks";

/** Submits `n` tasks and dispatches them as one consumer batch, recording every D1 statement. */
async function recordPipeline(n: number): Promise<{ submit: RecordedStatement[]; dispatch: RecordedStatement[] }> {
  const submit: RecordedStatement[] = [];
  const tasks = Array.from({ length: n }, () => newTask({ type: "ping" }));
  await createTasks(openDb(recordingD1(env.DB, submit)), tasks, Date.now());
  const dispatch: RecordedStatement[] = [];
  await dispatchBatch(
    messageBatch(tasks.map((t) => t.id)),
    dispatchDeps({
      db: openDb(recordingD1(env.DB, dispatch)),
      runTasks: async (envelopes: TaskEnvelope[]): Promise<TaskOutcome[]> => envelopes.map((e) => ({ id: e.id, ok: true, result: { success: true } })),
    }),
  );
  return { submit, dispatch };
}

describe("work per batch, not per task", () => {
  it("uses the same, small number of D1 statements for a batch of 1 and of 100", async () => {
    const one = await recordPipeline(1);
    const hundred = await recordPipeline(100);
    expect(hundred.dispatch.length).toBe(one.dispatch.length);
    expect(hundred.submit.length).toBe(one.submit.length);
    expect(hundred.dispatch.length).toBeLessThanOrEqual(6);
  });
});

describe("query plans of hot statements", () => {
  let statements: RecordedStatement[] = [];

  beforeAll(async () => {
    // Enough finished rows that a scan of the status index would be the wrong choice.
    const finished = Array.from({ length: 500 }, () => newTask({ type: "ping", status: "created" }));
    await createTasks(openDb(env.DB), finished, Date.now());
    await env.DB.prepare("UPDATE tasks SET status = 'completed' WHERE status = 'created'").run();
    const { submit, dispatch } = await recordPipeline(20);
    statements = [...submit, ...dispatch];
  });

  it("never scans the tasks table and keys id lookups on the primary key", async () => {
    expect(statements.length).toBeGreaterThan(0);
    for (const { sql, params } of statements) {
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
      const plan = results.map((r) => r.detail);
      const onTasks = plan.filter((d) => /\b(tasks|t)\b/.test(d) && !/json_each/.test(d));
      expect(onTasks.filter((d) => /^SCAN (tasks|t)\b/.test(d)), `${sql}\n${plan.join("\n")}`).toEqual([]);
      if (/json_each/.test(sql)) {
        // Id-keyed: tasks is reached by primary key (or the idempotency index), never by a status or
        // time index, and the JSON array is the outer loop (else it is re-parsed for every row).
        for (const d of onTasks) expect(d, `${sql}\n${plan.join("\n")}`).toMatch(/sqlite_autoindex_tasks_1|tasks_idempotency_key_uq/);
      }
    }
  });
});

describe("query plans of the windowed metrics", () => {
  it("read the newest events by primary-key range, never a whole-table walk of task_events", async () => {
    const dialect = new SQLiteAsyncDialect();
    for (const query of [queueWaitQuery(10_000, [5, 50]), runTimeQuery(10_000, [5, 50])]) {
      const { sql, params } = dialect.sqlToQuery(query);
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
      const plan = results.map((r) => r.detail);
      const onEvents = plan.filter((d) => /\btask_events\b/.test(d));
      expect(onEvents.filter((d) => /^SCAN task_events\b/.test(d)), `${sql}\n${plan.join("\n")}`).toEqual([]);
      expect(onEvents.some((d) => /SEARCH task_events USING INTEGER PRIMARY KEY \(rowid>\?\)/.test(d)), plan.join("\n")).toBe(true);
    }
  });
});
