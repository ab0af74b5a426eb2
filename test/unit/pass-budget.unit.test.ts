import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_PLAN_STEPS, parseConfig, type Config } from "../../src/config";
import { PASS_CONCURRENCY, passFits } from "../../src/dispatch/drain";
import {
  OUTCOME_OVERHEAD_BYTES,
  maxPassMs,
  PASS_GRACE_MS,
  passBudgetProblem,
  passLimits,
  passStatementReserve,
  PASS_MAX_TASKS,
  STATEMENT_BUDGET_SHARE,
  statementBudget,
  RUN_GRACE_MS,
  STATEMENTS,
} from "../../src/dispatch/pass-limits";
import { FIRST_FLUSH_MS, outcomeFlushes } from "../../src/dispatch/outcome-recorder";
import { decideOutcome, ERROR_MAX_BYTES } from "../../src/dispatch/retry-policy";
import { FOLLOW_UP_ROUNDS } from "../../src/follow-ups";
import { chunkJsonArray, D1_JSON_BUDGET_BYTES, D1_LIMITS, utf8Bytes } from "../../src/lib/platform-limits";
import type { OutcomeWrite } from "../../src/store/record-outcomes";

function config(vars: Record<string, string> = {}): Config {
  const parsed = parseConfig(vars);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.config;
}

const paid = config();
const free = config({ D1_QUERIES_PER_INVOCATION: "50" });

describe("D1_QUERIES_PER_INVOCATION", () => {
  it("defaults to Workers Paid's 1,000, takes Free's 50, refuses less than 50 naming the variable", () => {
    expect(paid.D1_QUERIES_PER_INVOCATION).toBe(D1_LIMITS.queriesPerInvocation);
    expect(free.D1_QUERIES_PER_INVOCATION).toBe(50);
    for (const bad of ["49", "0", "many", "50.5"]) {
      const parsed = parseConfig({ D1_QUERIES_PER_INVOCATION: bad });
      expect(parsed.ok, bad).toBe(false);
      if (!parsed.ok) expect(parsed.error).toContain("D1_QUERIES_PER_INVOCATION");
    }
  });

  it("refuses a config whose budget cannot hold a pass of one task, saying what it needs", () => {
    const parsed = parseConfig({ D1_QUERIES_PER_INVOCATION: "50", MAX_PLAN_STEPS: "64" });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(/D1_QUERIES_PER_INVOCATION: 50 queries per invocation leave 45 for the dispatcher, less than the \d+ a pass of one task can use/);
    expect(passBudgetProblem(free)).toBeNull();
  });

  it("MAX_PLAN_STEPS left unset is 16, or the most a pass of one task fits in the budget (Free: fewer)", () => {
    expect(paid.MAX_PLAN_STEPS).toBe(DEFAULT_MAX_PLAN_STEPS);
    expect(free.MAX_PLAN_STEPS).toBeLessThan(DEFAULT_MAX_PLAN_STEPS);
    expect(passBudgetProblem(free)).toBeNull();
    expect(passBudgetProblem({ ...free, MAX_PLAN_STEPS: free.MAX_PLAN_STEPS + 1 })).not.toBeNull();
    expect(config({ D1_QUERIES_PER_INVOCATION: "50", MAX_PLAN_STEPS: "3" }).MAX_PLAN_STEPS).toBe(3);
  });
});

describe("a pass's statement reserve", () => {
  const perChunk = Math.floor(D1_JSON_BUDGET_BYTES / (paid.RESULT_MAX_BYTES + OUTCOME_OVERHEAD_BYTES));

  it("adds up the claim and its split, heartbeats, plan writes, outcome chunks with rounds over every group commit, the outcome split, a webhook take per commit and the follow-up rounds once", () => {
    const n = 192;
    const passMs = Math.max(paid.DISPATCH_TIMEOUT_S, paid.TASK_TIMEOUT_S) * 1000 + RUN_GRACE_MS + PASS_GRACE_MS;
    expect(maxPassMs(paid)).toBe(passMs);
    const flushes = outcomeFlushes(n, passMs);
    const claimSplit = Math.ceil(Math.log2(n)) * STATEMENTS.claim + STATEMENTS.nextDue + STATEMENTS.claim + STATEMENTS.transition;
    const heartbeats = Math.ceil(passMs / (paid.HEARTBEAT_S * 1000));
    const plans = 2 + 2 * paid.MAX_PLAN_STEPS;
    // Each commit may leave one chunk short of full.
    const outcomes = (Math.ceil(n / perChunk) + flushes - 1) * (STATEMENTS.transition + STATEMENTS.dependencyRound);
    const outcomeSplit = 2 * (Math.ceil(Math.log2(perChunk)) + 1) * STATEMENTS.transition;
    const followUp = flushes * STATEMENTS.jsonArray + FOLLOW_UP_ROUNDS * STATEMENTS.dependencyRound;
    expect(passStatementReserve(paid, n, FOLLOW_UP_ROUNDS)).toBe(STATEMENTS.claim + claimSplit + heartbeats + plans + outcomes + outcomeSplit + followUp);
  });

  it("counts the group commits a pass's outcomes can take: doubling boundaries over its longest run, never more than its tasks", () => {
    const passMs = maxPassMs(paid);
    // Writes at 10, 20, 40, … ms after the pass started until its end, plus the last.
    const expected = Math.floor(Math.log2(passMs / FIRST_FLUSH_MS)) + 2;
    expect(outcomeFlushes(1000, passMs)).toBe(expected);
    expect(outcomeFlushes(3, passMs)).toBe(3);
    expect(outcomeFlushes(1, passMs)).toBe(1);
    expect(outcomeFlushes(1000, 0)).toBe(1);
    // A longer TASK_TIMEOUT_S means more commits, and a bigger reserve.
    const slow = { ...paid, TASK_TIMEOUT_S: 600 };
    expect(outcomeFlushes(1000, maxPassMs(slow))).toBeGreaterThan(expected);
    expect(passStatementReserve(slow, 192, FOLLOW_UP_ROUNDS)).toBeGreaterThan(passStatementReserve(paid, 192, FOLLOW_UP_ROUNDS));
    expect(passLimits(paid).outcomeFlushes).toBe(outcomeFlushes(passLimits(paid).maxTasks, passMs));
    expect(passLimits(free).outcomeFlushes).toBe(1);
  });

  it("counts the chunks recordOutcomes makes while an outcome's error and message stay within OUTCOME_OVERHEAD_BYTES", () => {
    const outcome = (overhead: number): OutcomeWrite => {
      const text = "e".repeat(overhead / 2 - 100);
      return { id: crypto.randomUUID(), status: "completed", result: "r".repeat(paid.RESULT_MAX_BYTES - 2), error: text, run_after: null, message: text };
    };
    const at = Array.from({ length: 3 * perChunk }, () => outcome(OUTCOME_OVERHEAD_BYTES));
    expect(utf8Bytes(JSON.stringify(at[0]))).toBeLessThanOrEqual(paid.RESULT_MAX_BYTES + OUTCOME_OVERHEAD_BYTES);
    expect(chunkJsonArray(at, D1_JSON_BUDGET_BYTES)).toHaveLength(3);
    // Past it (an error far longer than a message), the reserve would undercount the chunks.
    const past = Array.from({ length: 3 * perChunk }, () => outcome(4 * OUTCOME_OVERHEAD_BYTES));
    expect(chunkJsonArray(past, D1_JSON_BUDGET_BYTES).length).toBeGreaterThan(3);
  });

  it("fits the worst outcome decideOutcome writes (the longest error, quoted in its message) within OUTCOME_OVERHEAD_BYTES", () => {
    const error = "\u{1F600}".repeat(1_000_000);
    for (const retriable of [true, false]) {
      const write = decideOutcome({ id: crypto.randomUUID(), attempts: 3, max_attempts: 3 }, { id: "t", ok: false, retriable, error }, paid, Date.now(), 0.5, { base_s: paid.RETRY_BASE_S, max_s: paid.RETRY_MAX_S });
      expect(utf8Bytes(JSON.stringify({ ...write, result: null }))).toBeLessThanOrEqual(OUTCOME_OVERHEAD_BYTES);
      expect(utf8Bytes(write.error ?? "")).toBeGreaterThan(ERROR_MAX_BYTES / 2);
    }
  });

  it("grows by one chunk's write and round at each multiple of the results a chunk holds, not before", () => {
    // Past the pass sizes whose commits are capped by their task count (outcomeFlushes), so only the chunks change.
    const k = Math.ceil((outcomeFlushes(PASS_MAX_TASKS, maxPassMs(paid)) + 1) / perChunk) + 1;
    const at = passStatementReserve(paid, k * perChunk, 0);
    expect(passStatementReserve(paid, k * perChunk - 1, 0)).toBe(at);
    expect(passStatementReserve(paid, k * perChunk + 1, 0) - at).toBe(STATEMENTS.transition + STATEMENTS.dependencyRound);
  });

  it("a small pass has no more commits than tasks: a second task may add a commit, with its chunk and follow-up", () => {
    const claimHalving = STATEMENTS.claim;
    const commit = STATEMENTS.transition + STATEMENTS.dependencyRound + STATEMENTS.jsonArray;
    const splitLevel = 2 * STATEMENTS.transition; // a chunk of two can fail and be halved once
    expect(passStatementReserve(paid, 2, 0) - passStatementReserve(paid, 1, 0)).toBe(claimHalving + commit + splitLevel);
  });

  it("counts one more heartbeat once the longest run plus the graces passes a multiple of HEARTBEAT_S", () => {
    const timed = { ...paid, DISPATCH_TIMEOUT_S: 1, TASK_TIMEOUT_S: 120 - (RUN_GRACE_MS + PASS_GRACE_MS) / 1000 }; // a pass lasts at most 120 s
    expect(maxPassMs(timed)).toBe(120_000);
    const at = passStatementReserve({ ...timed, HEARTBEAT_S: 20 }, 1, 0); // 6 heartbeats
    expect(passStatementReserve({ ...timed, HEARTBEAT_S: 19.9 }, 1, 0)).toBe(at + 1);
    expect(passStatementReserve({ ...timed, HEARTBEAT_S: 24 }, 1, 0)).toBe(at - 1);
  });

  it("counts each plan step and each follow-up round", () => {
    expect(passStatementReserve({ ...paid, MAX_PLAN_STEPS: 17 }, 1, 0) - passStatementReserve(paid, 1, 0)).toBe(2);
    expect(passStatementReserve(paid, 1, 1) - passStatementReserve(paid, 1, 0)).toBe(STATEMENTS.dependencyRound);
  });
});

describe("pass limits follow the plan", () => {
  it("Workers Paid: the memory cap of 192 tasks at 256 KiB results, every follow-up round, and two worst-case passes fit side by side", () => {
    const limits = passLimits(paid);
    expect(statementBudget(paid)).toBe(Math.floor(1000 * STATEMENT_BUDGET_SHARE));
    expect(limits).toMatchObject({ maxTasks: 192, followUpRounds: FOLLOW_UP_ROUNDS });
    expect(limits.statementReserve).toBe(passStatementReserve(paid, 192, FOLLOW_UP_ROUNDS));
    expect(passFits(0, 1, limits.statementReserve, statementBudget(paid))).toBe(true);
    expect(passFits(0, 2, limits.statementReserve, statementBudget(paid))).toBe(false);
  });

  it("Free: a pass of one task without follow-up rounds, within 50 queries; two tasks would not fit", () => {
    const limits = passLimits(free);
    expect(limits).toMatchObject({ maxTasks: 1, followUpRounds: 0 });
    expect(limits.statementReserve).toBeLessThanOrEqual(statementBudget(free));
    expect(statementBudget(free)).toBeLessThanOrEqual(50);
    expect(passStatementReserve(free, 2, 0)).toBeGreaterThan(statementBudget(free));
    expect(passFits(0, 0, limits.statementReserve, statementBudget(free))).toBe(true);
    expect(passFits(0, 1, limits.statementReserve, statementBudget(free))).toBe(false);
  });

  it("takes the largest pass that fits: its reserve is within the budget and one more task's is not", () => {
    for (const q of ["50", "120", "300", "1000", "5000"]) {
      const c = config({ D1_QUERIES_PER_INVOCATION: q, RESULT_MAX_BYTES: "4096" });
      const { maxTasks, followUpRounds, statementReserve } = passLimits(c);
      expect(statementReserve, q).toBeLessThanOrEqual(statementBudget(c));
      if (maxTasks < PASS_MAX_TASKS) expect(passStatementReserve(c, maxTasks + 1, followUpRounds), q).toBeGreaterThan(statementBudget(c));
    }
  });

  it("small results: up to PASS_MAX_TASKS a pass, and three passes fit at 1,000 queries", () => {
    const c = config({ RESULT_MAX_BYTES: "4096" });
    const limits = passLimits(c);
    expect(limits.maxTasks).toBe(PASS_MAX_TASKS);
    expect(passFits(0, 2, limits.statementReserve, statementBudget(c))).toBe(true);
    expect(passFits(0, PASS_CONCURRENCY - 1, limits.statementReserve, statementBudget(c))).toBe(false);
  });
});

describe("passFits", () => {
  it("admits a pass while the statements used and every pass in flight's reserve stay within the budget", () => {
    expect(passFits(100, 2, 200, 700)).toBe(true); // 100 + 3 × 200 = 700
    expect(passFits(101, 2, 200, 700)).toBe(false);
    expect(passFits(0, 0, 701, 700)).toBe(false);
  });
});
