import { passLimits, statementBudget } from "./pass-limits";
import { runPass, type PassDeps } from "./pass";

/** Passes one invocation runs side by side: a long task in one pass does not hold up the others. */
export const PASS_CONCURRENCY = 4;
/**
 * An invocation stops starting passes after this long and hands over to a fresh wake-up: a
 * handover costs one message, while a long invocation nears the consumer's CPU limit (30 s by
 * default) and, locally, invocations of ~8 s under a flood of submissions were seen to restart
 * the runtime ("Your worker restarted mid-request"), losing the batch in flight.
 */
export const DRAIN_BUDGET_MS = 3_000;

export interface DrainDeps extends PassDeps {
  /** D1 statements this invocation has run so far (see countStatements). */
  statementsUsed: () => number;
  /**
   * Called once, as soon as the drain stops starting passes with due work left while passes are
   * still in flight (a long task keeps its pass open): another invocation takes over at once.
   */
  handOver?: () => Promise<void>;
}

export interface DrainReport {
  passes: number;
  claimed: number;
  /** A pass ended full when the budget ran out: due work is left for the next wake-up. */
  leftDueWork: boolean;
  /** handOver was called (a wake-up for the due work left is already out). */
  handedOver: boolean;
  /** When the earliest waiting task becomes due, as the last passes saw it. */
  nextDueAt: number | null;
  /** The breaker refused a pass: stay away this long. */
  refusedForMs: number | null;
}

/**
 * May one more pass start? Only if the statements used so far, plus the most each pass in flight
 * and the new one can use (their reserve), stay within the invocation's budget: the passes in
 * flight together can never pass it, whatever their tasks do.
 */
export function passFits(used: number, inFlight: number, reserve: number, budget: number): boolean {
  return used + reserve * (inFlight + 1) <= budget;
}

/**
 * Runs passes until due work runs out or the invocation's budget (time, D1 statements) is spent.
 * It starts with one pass and adds one, up to PASS_CONCURRENCY and as the statement budget allows,
 * each time a pass comes back full, so an idle system pays one claim per wake-up and a backlog
 * drains with several passes in flight.
 */
export async function drainDueWork(deps: DrainDeps): Promise<DrainReport> {
  const limits = passLimits(deps.config);
  const budget = statementBudget(deps.config);
  const started = deps.now();
  const report: DrainReport = { passes: 0, claimed: 0, leftDueWork: false, handedOver: false, nextDueAt: null, refusedForMs: null };
  let handingOver: Promise<void> | undefined;
  const workers: Promise<void>[] = [];
  let active = 0;
  let inFlight = 0;
  let stop = false;
  let failure: unknown;

  const worker = async () => {
    try {
      for (;;) {
        if (stop) return;
        if (deps.now() - started >= DRAIN_BUDGET_MS || !passFits(deps.statementsUsed(), inFlight, limits.statementReserve, budget)) {
          report.leftDueWork = true;
          if (inFlight > 0 && deps.handOver && !handingOver) {
            report.handedOver = true;
            handingOver = deps.handOver().catch((err: unknown) => console.warn("hand-over wake-up failed", err));
          }
          return;
        }
        inFlight++;
        // A full claim starts the next pass at once: a long task must not hold the drain.
        const result = await runPass(deps, limits, spawn).finally(() => inFlight--);
        report.passes++;
        if (result.kind === "refused") {
          stop = true;
          report.refusedForMs = result.retryAfterMs;
          return;
        }
        report.claimed += result.claimed;
        if (result.nextDueAt !== null) report.nextDueAt = Math.min(report.nextDueAt ?? Infinity, result.nextDueAt);
        if (!result.full) return;
        spawn();
      }
    } catch (err) {
      stop = true;
      failure ??= err;
    } finally {
      active--;
    }
  };
  const spawn = () => {
    if (active >= PASS_CONCURRENCY || stop) return;
    active++;
    workers.push(worker());
  };

  spawn();
  // Workers are only added by running workers, so once the last one in the list is done, all are.
  for (let i = 0; i < workers.length; i++) await workers[i];
  await handingOver;
  if (failure !== undefined) throw failure;
  return report;
}
