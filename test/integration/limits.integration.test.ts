import { followUpDeps } from "../../src/follow-ups";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { requireConfig } from "../../src/config";
import { dispatchBatch } from "../../src/dispatch/consumer";
import { passLimits, statementBudget } from "../../src/dispatch/pass-limits";
import { runMaintenancePass } from "../../src/maintenance/maintenance-pass";
import { D1_LIMITS, QUEUE_LIMITS } from "../../src/lib/platform-limits";
import { claimDueTasks } from "../../src/store/claim-due-tasks";
import { openDb } from "../../src/store/db";
import { dispatchDeps, wakeBatch, type DepsOverrides } from "../helpers/dispatch";
import { d1Violations, expectWithinLimits, limitQueue, queueViolations, type RecordedSend } from "../helpers/limits";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { insertTasks, newTask, settleOtherTasks, sql } from "../helpers/tasks";
import type { NewTask } from "../../src/store/create-tasks";

const config = requireConfig(env);

/** A world whose every D1 statement and queue send is recorded and checked against production's limits. */
function world(start = Date.now()) {
  const log: RecordedStatement[] = [];
  const { queue, sends } = limitQueue();
  const clock = { t: start };
  return { log, sends, queue, clock, db: openDb(recordingD1(env.DB, log)) };
}
type World = ReturnType<typeof world>;

/**
 * Delivers wake-ups the way the queue would: at once, or after their delay on the world's clock,
 * until none is left. Returns how many drains ran.
 */
async function runUntilIdle(w: World, overrides: DepsOverrides = {}, maxDrains = 500): Promise<number> {
  let pending: { at: number }[] = [{ at: w.clock.t }];
  let drains = 0;
  while (pending.length > 0) {
    if (++drains > maxDrains) throw new Error(`still waking after ${maxDrains} drains`);
    pending.sort((a, b) => a.at - b.at);
    const next = pending.shift()!;
    w.clock.t = Math.max(w.clock.t, next.at);
    const sent = w.sends.length;
    const first = w.log.length;
    await dispatchBatch(
      wakeBatch(),
      dispatchDeps({ db: w.db, queue: w.queue, now: () => w.clock.t, statementsUsed: () => w.log.length - first, ...overrides }),
    );
    for (const s of w.sends.slice(sent)) for (const m of s.messages) pending.push({ at: w.clock.t + (m.delaySeconds ?? 0) * 1000 });
    // Duplicates of the same wake-up time only cost an empty claim; keep the simulation short.
    pending = pending.filter((p, i, all) => all.findIndex((q) => q.at === p.at) === i);
  }
  return drains;
}

/** Per task of `domain`: its status and how many times the dispatcher claimed it. */
async function tally(domain: string) {
  const { results } = await env.DB.prepare(
    `SELECT t.status, (SELECT count(*) FROM task_timeline AS e WHERE e.task_id = t.id AND e.to_status = 'running' AND e.actor = 'dispatcher') AS claims
     FROM tasks t WHERE t.domain = ?`,
  )
    .bind(domain)
    .all<{ status: string; claims: number }>();
  const byStatus: Record<string, number> = {};
  for (const r of results) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  return { byStatus, claimedOtherThanOnce: results.filter((r) => r.claims !== 1).length, total: results.length };
}

const many = (n: number, domain: string, overrides: (i: number) => Partial<NewTask> = () => ({})) =>
  Array.from({ length: n }, (_, i) => newTask({ type: "ping", domain, ...overrides(i) }));

beforeEach(settleOtherTasks);

describe("the limits checks themselves", () => {
  it("flag what production would refuse", () => {
    const big = "x".repeat(D1_LIMITS.valueBytes + 1);
    expect(d1Violations([{ sql: "SELECT ?", params: [big] }])).toHaveLength(1);
    expect(d1Violations([{ sql: "SELECT 1", params: Array(101).fill(1) }])).toHaveLength(1);
    const message = { body: { kind: "wake" as const, reason: "x".repeat(3000) } };
    const tooMany: RecordedSend = { messages: Array(101).fill(message) };
    const tooBig: RecordedSend = { messages: Array(100).fill(message) };
    expect(queueViolations([tooMany, tooBig]).length).toBeGreaterThanOrEqual(2);
    expect(queueViolations([{ messages: [{ body: { kind: "wake" }, delaySeconds: QUEUE_LIMITS.delaySeconds + 1 }] }])).toHaveLength(1);
  });
});

describe("worst cases stay within production limits and end with every task terminal, claimed once", { timeout: 60_000 }, () => {
  it("a backlog of 10,000 minimal tasks", async () => {
    const w = world();
    await insertTasks(many(10_000, "backlog"), w.clock.t);
    await runUntilIdle(w);
    expect(await tally("backlog")).toEqual({ byStatus: { completed: 10_000 }, claimedOtherThanOnce: 0, total: 10_000 });
    expectWithinLimits(w.log, w.sends);
  });

  it("100 tasks whose results echo 64 KiB params", async () => {
    const w = world();
    const blob = "y".repeat(64 * 1024 - 20);
    await insertTasks(many(100, "echo64k", () => ({ type: "test_task", params: { blob }, input_bytes: blob.length + 11 })), w.clock.t);
    await runUntilIdle(w);
    expect(await tally("echo64k")).toEqual({ byStatus: { completed: 100 }, claimedOtherThanOnce: 0, total: 100 });
    expectWithinLimits(w.log, w.sends);
    // Several chunks were needed: a single JSON value of all results would pass 2,000,000 bytes.
    const outcomeWrites = w.log.filter((s) => /UPDATE tasks SET status = c\.to_status[\s\S]*json_each/.test(s.sql));
    expect(outcomeWrites.length).toBeGreaterThan(3);
  });

  it("150 tasks with distinct future run_after: each due one woken on time, by one message per send", async () => {
    const w = world();
    await insertTasks(many(150, "delayed", (i) => ({ run_after: w.clock.t + (i + 1) * 1000 })), w.clock.t);
    const drains = await runUntilIdle(w);
    expect(await tally("delayed")).toEqual({ byStatus: { completed: 150 }, claimedOtherThanOnce: 0, total: 150 });
    expect(drains).toBeGreaterThanOrEqual(150);
    expect(w.sends.every((s) => s.messages.length === 1)).toBe(true);
    expectWithinLimits(w.log, w.sends);
  });

  it("the coordinator's breaker open with 10,000 due tasks: nothing claimed, one delayed wake-up, then all run", async () => {
    const w = world();
    await insertTasks(many(10_000, "breaker"), w.clock.t);
    await dispatchBatch(
      wakeBatch(),
      dispatchDeps({ db: w.db, queue: w.queue, now: () => w.clock.t, admit: () => ({ admitted: false, retryAfterMs: 30_000 }) }),
    );
    expect((await tally("breaker")).byStatus).toEqual({ queued: 10_000 });
    expect(w.sends).toEqual([{ messages: [{ body: { kind: "wake", reason: "breaker" }, delaySeconds: 33 }] }]);
    w.clock.t += 33_000;
    await runUntilIdle(w);
    expect(await tally("breaker")).toEqual({ byStatus: { completed: 10_000 }, claimedOtherThanOnce: 0, total: 10_000 });
    expectWithinLimits(w.log, w.sends);
  });

  it("5,000 expired leases: rescued in one tick, then each claimed once more", async () => {
    const w = world();
    await insertTasks(many(5000, "lost"), w.clock.t);
    // A dispatcher took them all and died: running, lease over, no claim event of ours.
    await sql("UPDATE tasks SET status = 'running', attempts = 1, locked_by = 'dead', lease_expires_at = ? WHERE domain = 'lost'", w.clock.t - 1);
    const first = w.log.length;
    const report = await runMaintenancePass({
      db: w.db, queue: w.queue, config, now: () => w.clock.t, statementsUsed: () => w.log.length - first, followUp: followUpDeps(env, w.db),
    });
    expect(report).toMatchObject({ reaped: 5000, reap_drained: true, woke: "reaper" });
    await runUntilIdle(w);
    expect(await tally("lost")).toEqual({ byStatus: { completed: 5000 }, claimedOtherThanOnce: 0, total: 5000 });
    expectWithinLimits(w.log, w.sends);
  });

  it("a drain stops before D1's per-invocation query limit and hands over with a wake-up", async () => {
    const w = world();
    await insertTasks(many(2000, "budget"), w.clock.t);
    const first = w.log.length;
    // As if the invocation had already spent all but one pass's reserve.
    const spent = statementBudget(config) - passLimits(config).statementReserve;
    const used = () => w.log.length - first + spent;
    await dispatchBatch(wakeBatch(), dispatchDeps({ db: w.db, queue: w.queue, now: () => w.clock.t, statementsUsed: used }));
    expect(used()).toBeLessThanOrEqual(statementBudget(config));
    expect((await tally("budget")).byStatus).toEqual({ completed: passLimits(config).maxTasks, queued: 2000 - passLimits(config).maxTasks });
    expect(w.sends.at(-1)?.messages).toEqual([{ body: { kind: "wake", reason: "pass" } }]);
    await runUntilIdle(w);
    expect((await tally("budget")).byStatus).toEqual({ completed: 2000 });
  });
});

describe("concurrent passes on one database", () => {
  it("never claim a task twice", async () => {
    const now = Date.now();
    await insertTasks(many(1000, "race"), now);
    const claims = await Promise.all(
      Array.from({ length: 8 }, (_, i) => claimDueTasks(openDb(env.DB), { token: `racer-${i}`, now: now + 1, leaseMs: 60_000, maxTasks: 96, maxInputBytes: 1e6 })),
    );
    const ids = claims.flatMap((c) => c.claimed.map((t) => t.id));
    expect(ids.length).toBe(8 * 96);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe("outcome writes", () => {
  /** A D1 whose batches fail while `failing` says so of one of their bound parameters. */
  function failingBatches(failing: (param: string) => boolean): D1Database {
    const bound = new WeakMap<D1PreparedStatement, unknown[]>();
    return new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare") {
          return (query: string) => {
            const stmt = target.prepare(query);
            return new Proxy(stmt, {
              get(s, k) {
                if (k === "bind") {
                  return (...params: unknown[]) => {
                    const real = s.bind(...params);
                    bound.set(real, params);
                    return real;
                  };
                }
                const value: unknown = Reflect.get(s, k);
                return typeof value === "function" ? value.bind(s) : value;
              },
            });
          };
        }
        if (prop === "batch") {
          return async (statements: D1PreparedStatement[]) => {
            const params = statements.flatMap((s) => bound.get(s) ?? []);
            if (params.some((p) => typeof p === "string" && failing(p))) throw new Error("D1_ERROR: injected failure");
            return target.batch(statements);
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  it("a failed write is retried in smaller chunks; an outcome that cannot be written fails its task alone, and it is not run again", async () => {
    const tasks = many(20, "unwritable", (i) => ({ type: "test_task", params: { i, poison: i === 7 } }));
    await insertTasks(tasks);
    const poison = tasks[7]!.id;
    // Any outcome write carrying the poison task's result fails (its failure is written without the result).
    const d1 = failingBatches((p) => p.includes(poison) && p.includes('"poison":true'));
    await dispatchBatch(wakeBatch(), dispatchDeps({ db: openDb(d1) }));
    expect((await tally("unwritable")).byStatus).toEqual({ completed: 19, failed: 1 });
    const row = await env.DB.prepare("SELECT status, attempts, error, result, locked_by FROM tasks WHERE id = ?").bind(poison).first();
    expect(row).toMatchObject({ status: "failed", attempts: 1, result: null, locked_by: null, error: "outcome could not be recorded: D1_ERROR: injected failure" });
    // Nothing is left due: another wake-up claims nothing.
    await dispatchBatch(wakeBatch(), dispatchDeps({ db: openDb(d1) }));
    expect(await tally("unwritable")).toEqual({ byStatus: { completed: 19, failed: 1 }, claimedOtherThanOnce: 0, total: 20 });
  });

  it("a result over RESULT_MAX_BYTES fails only its own task, permanently", async () => {
    const tasks = many(5, "oversize", (i) => ({ type: "test_task", params: { blob: "z".repeat(i === 2 ? 3000 : 10) } }));
    await insertTasks(tasks);
    await dispatchBatch(wakeBatch(), dispatchDeps({ config: { RESULT_MAX_BYTES: 2048 } }));
    expect((await tally("oversize")).byStatus).toEqual({ completed: 4, failed: 1 });
    const row = await env.DB.prepare("SELECT error, attempts FROM tasks WHERE id = ?").bind(tasks[2]!.id).first<{ error: string; attempts: number }>();
    expect(row?.error).toMatch(/^result of \d+ bytes exceeds RESULT_MAX_BYTES \(2048\)$/);
    expect(row?.attempts).toBe(1);
  });
});
