import { FOLLOW_UP_ROUNDS } from "../follow-ups";
import { D1_JSON_BUDGET_BYTES, RPC_LIMITS, WORKER_MEMORY_BYTES, withMargin } from "../lib/platform-limits";
import { MAX_TASK_INPUT_BYTES } from "../schemas/task";
import { taskDefinitions } from "../tasks/registry";
import { outcomeFlushes } from "./outcome-recorder";

/** How much one pass may claim and spend: what it can run, hold and record afterwards. */
export interface PassLimits {
  maxTasks: number;
  /** Cap on the claimed tasks' params + description (the claim always takes at least one task). */
  maxInputBytes: number;
  /** The largest input one task can have (validation's limit), to tell whether a pass was full. */
  maxTaskInputBytes: number;
  /** Dependency rounds the pass's follow-up may run at once (the maintenance alarm takes the rest). */
  followUpRounds: number;
  /** The most D1 statements the pass can use, whatever its tasks do (passStatementReserve). */
  statementReserve: number;
  /** The most writes its outcomes take (OutcomeRecorder). */
  outcomeFlushes: number;
}

/** Enough to amortise a pass's fixed cost (two D1 round trips, a few RPCs) over many small tasks. */
export const PASS_MAX_TASKS = 500;
/** Params travel in the organ requests: a few MiB, well under the RPC limit. */
export const PASS_MAX_INPUT_BYTES = 4 * 1024 * 1024;
/**
 * A pass holds all its results until it records them, each up to RESULT_MAX_BYTES: they must fit
 * well inside the isolate's memory (organ responses are split to the RPC limit on their own).
 */
export const PASS_RESULT_BUDGET_BYTES = Math.floor(WORKER_MEMORY_BYTES * 0.375);
/** The pass's outermost bound past its last deadline: its hops (decide, organ calls) all end before it. */
export const PASS_GRACE_MS = 1000;
/** A task's organ call may outlast its deadline by this much (the organ itself ends the run at the deadline). */
export const RUN_GRACE_MS = 2000;
/** An outcome besides its result: id, status, times, error and message (retry-policy caps the error at ERROR_MAX_BYTES; the message quotes it once). */
export const OUTCOME_OVERHEAD_BYTES = 16 * 1024;
/**
 * Share of the invocation's D1 queries the dispatcher plans to use. Statements are counted exactly
 * (countStatements); the rest is headroom for any statement the arithmetic below does not model.
 */
export const STATEMENT_BUDGET_SHARE = 0.9;

/** D1 statements of each store call a pass makes. */
export const STATEMENTS = {
  /** claimDueTasks: rollup, update, next run_after. */
  claim: 3,
  /** nextDueTask, before the claim of one task by id. */
  nextDue: 1,
  /** A transition on its own (an outcome write, failUnclaimable): rollup, update. */
  transition: 2,
  /** The dependency round an outcome chunk with dependents carries. */
  dependencyRound: 3,
  /** renewLeases, takePendingWebhooks, a plan write: one JSON array of ids or plans. */
  jsonArray: 1,
} as const;

/** The settings a pass's size and statements follow (config.ts validates them with this module). */
export interface PassBudgetConfig {
  D1_QUERIES_PER_INVOCATION: number;
  RESULT_MAX_BYTES: number;
  DISPATCH_TIMEOUT_S: number;
  TASK_TIMEOUT_S: number;
  HEARTBEAT_S: number;
  MAX_PLAN_STEPS: number;
}

/** D1 statements one invocation of the dispatcher may use. */
export const statementBudget = (config: Pick<PassBudgetConfig, "D1_QUERIES_PER_INVOCATION">): number =>
  Math.floor(config.D1_QUERIES_PER_INVOCATION * STATEMENT_BUDGET_SHARE);

type ReserveConfig = Omit<PassBudgetConfig, "D1_QUERIES_PER_INVOCATION">;

const log2Ceil = (n: number) => Math.ceil(Math.log2(Math.max(1, n)));

/**
 * The longest a pass can run: its slowest task's deadline (TASK_TIMEOUT_S, or a definition's
 * timeout_s) or an escalation's DISPATCH_TIMEOUT_S, and the graces after it.
 */
export function maxPassMs(config: Pick<PassBudgetConfig, "DISPATCH_TIMEOUT_S" | "TASK_TIMEOUT_S">): number {
  const longest = Math.max(config.DISPATCH_TIMEOUT_S, config.TASK_TIMEOUT_S, ...taskDefinitions().map((d) => d.timeout_s ?? 0));
  return longest * 1000 + RUN_GRACE_MS + PASS_GRACE_MS;
}

/**
 * The most D1 statements a pass of `maxTasks` can use: its claim, and the claim's split (halved
 * down to one task, then one task found and claimed by id, and failed); a heartbeat per
 * HEARTBEAT_S; the stored plans' read, the new plans' write and two writes per step round; its outcomes, written in up
 * to outcomeFlushes group commits, in chunks of results of RESULT_MAX_BYTES, each with a
 * dependency round; the split of a chunk whose write fails (down to the one outcome, failed
 * without its result); after each commit its webhook take; then the follow-up's rounds, once. Assumes one JSON array per heartbeat, plan round and webhook take (ids and plan
 * progress of one pass fit D1_JSON_BUDGET_BYTES unless step results are near RESULT_MAX_BYTES).
 */
export function passStatementReserve(config: ReserveConfig, maxTasks: number, followUpRounds: number): number {
  const claimSplit = log2Ceil(maxTasks) * STATEMENTS.claim + STATEMENTS.nextDue + STATEMENTS.claim + STATEMENTS.transition;
  const passMs = maxPassMs(config);
  const heartbeats = Math.ceil(passMs / (config.HEARTBEAT_S * 1000)) * STATEMENTS.jsonArray;
  // Plans: one read of the stored ones, one write of the new ones, two per step round (the step's row, its timeline entry and progress).
  const planWrites = (2 + 2 * config.MAX_PLAN_STEPS) * STATEMENTS.jsonArray;
  const perChunk = Math.max(1, Math.floor(D1_JSON_BUDGET_BYTES / (config.RESULT_MAX_BYTES + OUTCOME_OVERHEAD_BYTES)));
  const flushes = outcomeFlushes(maxTasks, passMs);
  // Each commit may end one chunk short of full: at most one chunk more per commit than the tasks fill.
  const outcomes = (Math.ceil(maxTasks / perChunk) + flushes - 1) * (STATEMENTS.transition + STATEMENTS.dependencyRound);
  // A failing chunk of n: at each of log2(n) + 1 sizes one failed write and one written half (no round).
  const outcomeSplit = 2 * (log2Ceil(Math.min(maxTasks, perChunk)) + 1) * STATEMENTS.transition;
  // Every commit takes its webhooks; the follow-up's rounds run once, after the last.
  const followUp = flushes * STATEMENTS.jsonArray + followUpRounds * STATEMENTS.dependencyRound;
  return STATEMENTS.claim + claimSplit + heartbeats + planWrites + outcomes + outcomeSplit + followUp;
}

/**
 * The pass size: as many tasks as memory allows (192 at the default RESULT_MAX_BYTES of 256 KiB,
 * more when results are capped lower), fewer when a pass would not fit the invocation's statement
 * budget. Follow-up rounds give way first, then tasks; at the Free plan's 50 queries a pass is
 * one task. A config where not even that fits is refused (passBudgetProblem, config.ts).
 */
export function passLimits(config: PassBudgetConfig): PassLimits {
  const budget = statementBudget(config);
  const memoryCap = Math.max(1, Math.min(PASS_MAX_TASKS, Math.floor(PASS_RESULT_BUDGET_BYTES / config.RESULT_MAX_BYTES)));
  const base = { maxInputBytes: Math.min(PASS_MAX_INPUT_BYTES, withMargin(RPC_LIMITS.messageBytes)), maxTaskInputBytes: MAX_TASK_INPUT_BYTES };
  for (let rounds = FOLLOW_UP_ROUNDS; rounds >= 0; rounds--) {
    // The reserve grows with the pass size: the largest size that fits, by bisection.
    let lo = 0;
    let hi = memoryCap;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (passStatementReserve(config, mid, rounds) <= budget) lo = mid;
      else hi = mid - 1;
    }
    if (lo > 0) return { ...base, maxTasks: lo, followUpRounds: rounds, statementReserve: passStatementReserve(config, lo, rounds), outcomeFlushes: outcomeFlushes(lo, maxPassMs(config)) };
  }
  return { ...base, maxTasks: 1, followUpRounds: 0, statementReserve: passStatementReserve(config, 1, 0), outcomeFlushes: 1 };
}

/** Why this config leaves no room for one pass, if it does not. */
export function passBudgetProblem(config: PassBudgetConfig): string | null {
  const need = passStatementReserve(config, 1, 0);
  const budget = statementBudget(config);
  if (need <= budget) return null;
  return `${config.D1_QUERIES_PER_INVOCATION} queries per invocation leave ${budget} for the dispatcher, less than the ${need} a pass of one task can use (lower MAX_PLAN_STEPS, or DISPATCH_TIMEOUT_S and TASK_TIMEOUT_S against HEARTBEAT_S)`;
}
