import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { requireConfig } from "../../src/config";
import { dispatchBatch } from "../../src/dispatch/consumer";
import type { RunTasks } from "../../src/dispatch/pass";
import { FIRST_FLUSH_MS } from "../../src/dispatch/outcome-recorder";
import { passLimits, statementBudget } from "../../src/dispatch/pass-limits";
import { D1_LIMITS } from "../../src/lib/platform-limits";
import { openDb } from "../../src/store/db";
import { dispatchDeps, wakeBatch } from "../helpers/dispatch";
import { expectWithinLimits, limitQueue } from "../helpers/limits";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { insertTasks, newTask, settleOtherTasks, sql } from "../helpers/tasks";
import { followUpDeps } from "../../src/follow-ups";
import { maintenanceStatementBudget, REAP_CHUNK_STATEMENTS, runMaintenancePass } from "../../src/maintenance/maintenance-pass";

beforeEach(settleOtherTasks);

const config = requireConfig(env);

/**
 * Every task returns a result of RESULT_MAX_BYTES, the largest a task may store, and the outcomes
 * arrive as spread out as a pass allows: one per group commit (at each of its boundaries, on the
 * test's fake clock) until the last commit, which takes the rest. So every commit writes a chunk
 * of its own with its dependency round. Passes run side by side (a full claim starts the next),
 * and the fake clock is shared: so only the first pass spreads its outcomes (its commits are the
 * worst case, and the others' deadlines stay ahead of the clock), and the passes take turns.
 */
const bigResults = (flushes: number): RunTasks => {
  let turn = Promise.resolve();
  let first = true;
  return async (_pass, tasks, _plans, sink) => {
    const spread = first;
    first = false;
    let done!: () => void;
    const mine = turn.then(() => undefined);
    turn = mine.then(() => new Promise<void>((resolve) => (done = resolve)));
    await mine;
    try {
      // Boundaries at 10, 20, 40, … ms: each outcome goes out just after the last one's boundary.
      let at = 0;
      for (const [i, t] of tasks.entries()) {
        sink.outcome({ id: t.id, ok: true, result: { blob: "r".repeat(config.RESULT_MAX_BYTES - 16) } });
        if (spread && i < flushes - 1) {
          const boundary = FIRST_FLUSH_MS * 2 ** i;
          await vi.advanceTimersByTimeAsync(boundary - at);
          at = boundary;
        }
      }
    } finally {
      done();
    }
  };
};

/** `n` queued parents, each with a child waiting on it: every outcome chunk carries a dependency round. */
async function parentsWithChildren(domain: string, n: number): Promise<void> {
  const parents = Array.from({ length: n }, () => newTask({ type: "test_task", domain }));
  await insertTasks(parents);
  await insertTasks(parents.map((p) => newTask({ type: "test_task", domain: `${domain}-child`, status: "created", depends_on: [p.id] })));
}

/**
 * One drain invocation over a recording D1, its statements counted from zero as countStatements
 * does. The clock stands still, so only the statement budget ends it (writing 48 MiB of results
 * locally takes longer than the drain's time budget).
 */
async function oneDrain(overrides: Partial<typeof config> = {}) {
  const log: RecordedStatement[] = [];
  const { queue, sends } = limitQueue();
  const now = Date.now();
  const { outcomeFlushes } = passLimits({ ...config, ...overrides });
  // The group commits' waits and the heartbeats run on a fake clock: a worst-case pass takes minutes of it.
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
  try {
    await dispatchBatch(
      wakeBatch(),
      dispatchDeps({ db: openDb(recordingD1(env.DB, log)), queue, runTasks: bigResults(outcomeFlushes), now: () => now, statementsUsed: () => log.length, config: overrides }),
    );
  } finally {
    vi.useRealTimers();
  }
  // A round's last statement moves the parents' cursors (dependents.ts advanceCursors).
  const rounds = log.filter((s) => /INDEXED BY tasks_release_idx/.test(s.sql) && /UPDATE tasks SET release_cursor/.test(s.sql)).length;
  const claims = log.filter((s) => /'claimed' AS message/.test(s.sql) && /^\s*UPDATE/.test(s.sql));
  // recordOutcomes' write (its SET gives a not-run task's attempt back).
  const outcomeWrites = log.filter((s) => /refund_attempt/.test(s.sql)).length;
  return { log, sends, rounds, passes: claims.filter((s) => (s.rows ?? 0) > 0).length, outcomeWrites, claimed: claims.reduce((n, s) => n + (s.rows ?? 0), 0) };
}

async function completed(domain: string): Promise<number> {
  return (await env.DB.prepare("SELECT count(*) AS n FROM tasks WHERE domain = ? AND status = 'completed'").bind(domain).first<number>("n")) ?? 0;
}

describe("the per-invocation D1 statement budget holds in the worst case", { timeout: 120_000 }, () => {
  it("Workers Paid: four full passes' worth of 256 KiB results with dependents stay within 1,000 statements in one invocation", async () => {
    const full = passLimits(config).maxTasks;
    expect(full).toBe(192);
    await parentsWithChildren("worst-paid", 4 * full);
    const { log, sends, rounds, claimed, passes, outcomeWrites } = await oneDrain();
    expect(log.length).toBeLessThanOrEqual(statementBudget(config));
    // The first pass spent all its group commits (the outcomes arrived spread out), each a chunk write of its own.
    expect(passes).toBeGreaterThan(0);
    expect(outcomeWrites).toBeGreaterThanOrEqual(passLimits(config).outcomeFlushes + passes - 1);
    expect(log.length).toBeLessThanOrEqual(D1_LIMITS.queriesPerInvocation);
    // It ran full passes whose chunks carried dependency rounds, and handed the rest to a new wake-up.
    expect(claimed).toBeGreaterThanOrEqual(full);
    expect(await completed("worst-paid")).toBe(claimed);
    expect(rounds).toBeGreaterThan(0);
    expect(sends.some((s) => s.messages.some((m) => m.body.kind === "wake" && m.body.reason === "pass"))).toBe(true);
    expectWithinLimits(log, sends);
  });

  it("Free (D1_QUERIES_PER_INVOCATION=50): one pass of one task, within 50 statements, then a wake-up for the rest", async () => {
    await parentsWithChildren("worst-free", 8);
    // MAX_PLAN_STEPS as Free's config gets it when left unset (what fits 50 queries).
    const free = requireConfig({ D1_QUERIES_PER_INVOCATION: "50" });
    const { log, sends, claimed } = await oneDrain({ D1_QUERIES_PER_INVOCATION: 50, MAX_PLAN_STEPS: free.MAX_PLAN_STEPS });
    expect(log.length).toBeLessThanOrEqual(50);
    expect(claimed).toBe(1);
    expect(await completed("worst-free")).toBe(1);
    expect(sends.at(-1)?.messages).toEqual([{ body: { kind: "wake", reason: "pass" } }]);
  });

  it("with no task that has dependents, an outcome write carries no dependency round", async () => {
    await insertTasks(Array.from({ length: 20 }, () => newTask({ type: "test_task", domain: "no-deps" })));
    const { rounds, claimed } = await oneDrain();
    expect(claimed).toBe(20);
    expect(rounds).toBe(0);
  });
});

describe("the maintenance alarm's budget follows D1_QUERIES_PER_INVOCATION", () => {
  /** `n` tasks whose dispatcher died: running, lease over. */
  async function lostLeases(domain: string, n: number): Promise<void> {
    await insertTasks(Array.from({ length: n }, () => newTask({ type: "ping", domain })));
    await sql("UPDATE tasks SET status = 'running', attempts = 1, locked_by = 'dead', lease_expires_at = ? WHERE domain = ?", Date.now() - 1, domain);
  }

  /** One tick; `used` says how many statements the invocation has run (by default, the ones recorded). */
  async function tick(overrides: Partial<typeof config>, used?: () => number) {
    const log: RecordedStatement[] = [];
    const db = openDb(recordingD1(env.DB, log));
    const report = await runMaintenancePass({
      db, queue: limitQueue().queue, config: { ...config, ...overrides }, now: Date.now, statementsUsed: used ?? (() => log.length), followUp: followUpDeps(env, db),
    });
    return { report, statements: log.length };
  }

  it("Free: a tick over more expired leases than its budget can reap stays within 50 statements, and reaps what fits", async () => {
    await lostLeases("lost-free", 8 * config.REAP_BATCH);
    const { report, statements } = await tick({ D1_QUERIES_PER_INVOCATION: 50 });
    expect(statements).toBeLessThanOrEqual(50);
    expect(report.reap_chunks).toBeGreaterThan(0);
    expect(report).toMatchObject({ reaped: report.reap_chunks * config.REAP_BATCH, reap_drained: false });
  });

  it("a reaper chunk starts only while REAP_CHUNK_STATEMENTS more fit the budget", async () => {
    await lostLeases("lost-edge", 10);
    const budget = maintenanceStatementBudget(config);
    expect((await tick({}, () => budget - REAP_CHUNK_STATEMENTS + 1)).report.reap_chunks).toBe(0);
    expect((await tick({}, () => budget - REAP_CHUNK_STATEMENTS)).report).toMatchObject({ reap_chunks: 1, reaped: 10 });
  });
});
