import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { requireConfig } from "../../src/config";
import { dispatchBatch } from "../../src/dispatch/consumer";
import type { RunTasks } from "../../src/dispatch/pass";
import { passLimits, statementBudget } from "../../src/dispatch/pass-limits";
import { D1_LIMITS } from "../../src/lib/platform-limits";
import { openDb } from "../../src/store/db";
import { dispatchDeps, wakeBatch } from "../helpers/dispatch";
import { expectWithinLimits, limitQueue } from "../helpers/limits";
import { recordingD1, type RecordedStatement } from "../helpers/recording-d1";
import { insertTasks, newTask, settleOtherTasks } from "../helpers/tasks";

beforeEach(settleOtherTasks);

const config = requireConfig(env);

/** Every task returns a result of RESULT_MAX_BYTES, the largest a task may store. */
const bigResults: RunTasks = async (_pass, tasks) =>
  tasks.map((t) => ({ id: t.id, ok: true, result: { blob: "r".repeat(config.RESULT_MAX_BYTES - 16) } }));

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
  await dispatchBatch(
    wakeBatch(),
    dispatchDeps({ db: openDb(recordingD1(env.DB, log)), queue, runTasks: bigResults, now: () => now, statementsUsed: () => log.length, config: overrides }),
  );
  const rounds = log.filter((s) => /INDEXED BY tasks_release_idx/.test(s.sql) && /^\s*UPDATE tasks SET release_cursor/.test(s.sql)).length;
  const claims = log.filter((s) => /'claimed' AS message/.test(s.sql) && /^\s*UPDATE/.test(s.sql));
  return { log, sends, rounds, claimed: claims.reduce((n, s) => n + (s.rows ?? 0), 0) };
}

async function completed(domain: string): Promise<number> {
  return (await env.DB.prepare("SELECT count(*) AS n FROM tasks WHERE domain = ? AND status = 'completed'").bind(domain).first<number>("n")) ?? 0;
}

describe("the per-invocation D1 statement budget holds in the worst case", { timeout: 120_000 }, () => {
  it("Workers Paid: four full passes' worth of 256 KiB results with dependents stay within 1,000 statements in one invocation", async () => {
    const full = passLimits(config).maxTasks;
    expect(full).toBe(192);
    await parentsWithChildren("worst-paid", 4 * full);
    const { log, sends, rounds, claimed } = await oneDrain();
    expect(log.length).toBeLessThanOrEqual(statementBudget(config));
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
    const { log, sends, claimed } = await oneDrain({ D1_QUERIES_PER_INVOCATION: 50 });
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
