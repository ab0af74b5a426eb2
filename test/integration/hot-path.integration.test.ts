import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { TaskEnvelope, TaskOutcome } from "../../src/organism/task-contracts";
import { PASS_CONCURRENCY } from "../../src/dispatch/drain";
import { passLimits } from "../../src/dispatch/pass-limits";
import { createTasks } from "../../src/store/create-tasks";
import { openDb } from "../../src/store/db";
import { batched, drain } from "../helpers/dispatch";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { newTask, settleOtherTasks } from "../helpers/tasks";
import { fetchWithEnv } from "../helpers/worker";
import { requireConfig } from "../../src/config";

/** Submits `n` tasks and drains them, recording every D1 statement. */
async function recordPipeline(n: number): Promise<{ submit: RecordedStatement[]; dispatch: RecordedStatement[] }> {
  await settleOtherTasks();
  const submit: RecordedStatement[] = [];
  const tasks = Array.from({ length: n }, () => newTask({ type: "ping" }));
  await createTasks(openDb(recordingD1(env.DB, submit)), tasks, Date.now());
  const dispatch: RecordedStatement[] = [];
  await drain({
    db: openDb(recordingD1(env.DB, dispatch)),
    runTasks: batched(async (_pass: string, envelopes: TaskEnvelope[]): Promise<TaskOutcome[]> => envelopes.map((e) => ({ id: e.id, ok: true, result: { success: true } }))),
  });
  return { submit, dispatch };
}

/** A chain a → b → c submitted as one batch and drained, every D1 statement recorded. */
async function recordDependencies(): Promise<RecordedStatement[]> {
  const log: RecordedStatement[] = [];
  const [a, b, c] = [newTask({ type: "ping" }), newTask({ type: "ping", status: "created" }), newTask({ type: "ping", status: "created" })];
  b.depends_on = [a.id];
  c.depends_on = [b.id];
  const recorded = openDb(recordingD1(env.DB, log));
  await createTasks(recorded, [a, b, c], Date.now());
  for (let i = 0; i < 3; i++) {
    await drain({
      db: recorded,
      runTasks: batched(async (_pass: string, envelopes: TaskEnvelope[]): Promise<TaskOutcome[]> => envelopes.map((e) => ({ id: e.id, ok: true, result: { success: true } }))),
    });
  }
  return log;
}

describe("work per pass, not per task", () => {
  it("uses the same, small number of D1 statements for a pass of 1 and of a full pass", async () => {
    const full = passLimits(requireConfig(env)).maxTasks;
    const one = await recordPipeline(1);
    const many = await recordPipeline(full - 1);
    expect(many.dispatch.length).toBe(one.dispatch.length);
    expect(many.submit.length).toBe(one.submit.length);
    // claim (events, update, next due time) + outcomes (events, update); no dependency round: no task has dependents
    expect(many.dispatch.length).toBe(5);
    // insert, rollups, idempotency read, and the pause flags the answer shows: one batch, one round trip
    expect(many.submit.length).toBe(4);
  });

  it("a submission is one D1 round trip, its answer's paused / waiting-on-key flags included", async () => {
    const type = `one-trip-${crypto.randomUUID().slice(0, 8)}`;
    const key = `one-trip-${crypto.randomUUID().slice(0, 8)}`;
    const db = openDb(env.DB);
    await createTasks(db, [newTask({ type, concurrency_key: key, status: "created" })], Date.now());
    await env.DB.prepare("UPDATE task_types SET paused = 1 WHERE type = ?").bind(type).run();
    let calls = 0;
    const counting = new Proxy(env.DB, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop);
        if (prop === "batch" || prop === "exec") calls++;
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const result = await createTasks(openDb(counting), [newTask({ type }), newTask({ type: "ping", concurrency_key: key })], Date.now());
    if (!result.ok) throw new Error("not created");
    expect(calls).toBe(1);
    expect(result.tasks.map((t) => t.flow)).toEqual([{ paused: true, waiting_on_key: false }, { paused: false, waiting_on_key: false }]);
    await env.DB.prepare("UPDATE concurrency_keys SET paused = 1 WHERE key = ?").bind(key).run();
    const again = await createTasks(db, [newTask({ type: "ping", concurrency_key: key })], Date.now());
    expect(again.ok && again.tasks[0]?.flow).toEqual({ paused: true, waiting_on_key: false });
  });

  it("a backlog costs one claim and one outcome write per pass of up to the pass size", async () => {
    const full = passLimits(requireConfig(env)).maxTasks;
    const { dispatch } = await recordPipeline(3 * full);
    const claims = dispatch.filter((s) => /UPDATE tasks[\s\S]*'claimed' AS message/.test(s.sql)).length;
    const outcomes = dispatch.filter((s) => /UPDATE tasks SET status = c\.to_status[\s\S]*j\.value->>'status' AS to_status/.test(s.sql)).length;
    expect(outcomes).toBe(3);
    // Each full pass looks again, in parallel up to PASS_CONCURRENCY: at most that many empty claims.
    expect(claims).toBeGreaterThanOrEqual(4);
    expect(claims).toBeLessThanOrEqual(3 + PASS_CONCURRENCY);
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
    statements = [...submit, ...dispatch, ...(await recordDependencies())];
  });

  it("never scans the tasks table and keys id lookups on the primary key", async () => {
    expect(statements.length).toBeGreaterThan(0);
    for (const { sql, params } of statements) {
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
      const plan = results.map((r) => r.detail);
      const onTasks = plan.filter((d) => /\b(tasks|t)\b/.test(d) && !/json_each/.test(d));
      // A scan of a partial index reads only its flagged rows (finished parents with children left).
      const scans = onTasks.filter((d) => /^SCAN (tasks|t)\b/.test(d) && !/USING INDEX tasks_release_idx/.test(d));
      expect(scans, `${sql}\n${plan.join("\n")}`).toEqual([]);
      if (/json_each/.test(sql)) {
        // Id-keyed: tasks is reached by primary key (or the idempotency index), never by a status or
        // time index, and the JSON array is the outer loop (else it is re-parsed for every row).
        for (const d of onTasks) expect(d, `${sql}\n${plan.join("\n")}`).toMatch(/sqlite_autoindex_tasks_1|tasks_idempotency_key_uq|tasks_due_idx|tasks_key_due_idx|tasks_waiting_idx|tasks_release_idx/);
      }
    }
  });
});

describe("metrics cost the same at any size", () => {
  it("/metrics and /stats read only the rollups, never the tasks table", async () => {
    const log: RecordedStatement[] = [];
    for (const path of ["/metrics", "/stats?minutes=60"]) {
      const res = await fetchWithEnv(new Request(`http://localhost${path}`), { DB: recordingD1(env.DB, log) });
      expect(res.status).toBe(200);
    }
    expect(log.length).toBeGreaterThan(0);
    for (const { sql } of log) {
      expect(sql).toMatch(/\brollups\b/);
      expect(sql).not.toMatch(/\btasks\b/);
    }
  });
});
