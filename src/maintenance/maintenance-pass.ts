import type { Config } from "../config";
import type { TaskMessage } from "../dispatch/message";
import { sendWakeup, type WakeReason } from "../dispatch/wakeups";
import { withMargin } from "../lib/platform-limits";
import { oldestDueTouch } from "../store/claim-due-tasks";
import { dispatcherTypes } from "../dispatch/pull-types";
import type { Db } from "../store/db";
import { FOLD_STATEMENTS, foldMinuteRollups, MINUTE_ROLLUP_RETENTION_MS } from "../store/metrics-queries";
import { reapExpiredLeases } from "../store/reap-expired-leases";
import { FOLLOW_UP_ROUNDS, followUpTerminal, queueWebhookJobs, type FollowUpDeps } from "../follow-ups";
import { runDependentsRound } from "../store/dependents";
import { readScanState, rescueStrandedChunk, saveScanState, SCAN_START } from "../store/stranded-dependents";
import { takeStaleWebhooks } from "../store/webhooks";
import { fireDueSchedules, type ScheduleReport } from "./fire-schedules";
import { pruneExpired, type RetentionReport } from "./retention";

/** The dependency backstop's share of a tick. */
export const DEPENDENTS_BUDGET_MS = 5_000;
/** Chunks of STRANDED_SCAN_CHUNK the stranded-dependents backstop looks at per tick (a million waiting tasks: 100 ticks). */
export const STRANDED_SCAN_CHUNKS_PER_TICK = 10;
/**
 * After a pass over every waiting task, the next starts this much later: D1 bills each row read
 * (a waiting task and each of its parents), and a few thousand waiting tasks would otherwise be
 * read again every tick for a check that finds something only after a bug.
 */
export const STRANDED_SCAN_PERIOD_MS = 5 * 60_000;
/** Webhooks re-sent per tick at most (one statement, a few sends). */
const WEBHOOK_RESEND_BATCH = 500;

export interface MaintenanceDeps {
  db: Db;
  queue: Queue<TaskMessage>;
  config: Config;
  now: () => number;
  /** D1 statements this invocation has run so far (see countStatements). */
  statementsUsed: () => number;
  /** Waiters and webhooks of what the reaper failed, and the backstop jobs below. */
  followUp: FollowUpDeps;
}

export interface MaintenanceReport {
  reaped: number;
  reaped_failed: number;
  /** Reaper chunks of REAP_BATCH this tick ran. */
  reap_chunks: number;
  /** False when the time or statement budget ended the drain with expired leases left (the next tick goes on). */
  reap_drained: boolean;
  /** Why a wake-up was sent, if one was. */
  woke: WakeReason | null;
  /** Dependency rounds the backstop ran (work a terminal batch left, e.g. a parent with many children). */
  dependency_rounds: number;
  /** Dependents found waiting on finished parents and moved on (each one a bug; also a counter in /metrics). */
  dependents_rescued: number;
  /** Webhooks sent again because their first send was lost. */
  webhooks_resent: number;
  retention: RetentionReport;
  /** Cron slots fired and skipped, and when the next is due (the alarm's next time, if sooner than a tick). */
  schedules: ScheduleReport;
}

/** One tick's share of the alarm: the rest of the interval is left for the next tick. */
export const REAP_BUDGET_MS = 10_000;
/** The alarm's statements, of the D1 queries an invocation may make (D1_QUERIES_PER_INVOCATION). */
export const maintenanceStatementBudget = (config: Pick<Config, "D1_QUERIES_PER_INVOCATION">): number => withMargin(config.D1_QUERIES_PER_INVOCATION);
/** A reaper chunk with its dependency round (5) and its follow-up's webhook take (1). */
export const REAP_CHUNK_STATEMENTS = 6;
/** Each dependency round a reaper chunk's follow-up runs (as many as the budget leaves, up to FOLLOW_UP_ROUNDS). */
const ROUND_STATEMENTS = 3;

/**
 * One maintenance tick. First the schedules whose slot has come fire (their own budget), so a
 * long reaper drain never makes a slot late. The reaper drains: expired leases go back to `retry` (or `failed`)
 * in chunks of REAP_BATCH until none is left or the budget is spent, so thousands of leases lost
 * with a dispatcher come back in one tick. Then one wake-up if there is due work nobody took:
 * rescued tasks, or a due task untouched for SWEEP_AFTER_S (its wake-up was lost). Last, past
 * minutes' transition rollups are folded and per-minute rollups older than a day go (the dashboard
 * shows at most an hour), and finished tasks past their
 * retention, within retention's own budget.
 */
export async function runMaintenancePass(deps: MaintenanceDeps): Promise<MaintenanceReport> {
  const { db, config } = deps;
  const started = deps.now();
  // A failing scheduler must not stop the reaper: tasks stuck in `running` are worse than a late slot.
  const schedules = await fireDueSchedules(deps).catch((err: unknown): ScheduleReport => {
    console.error("firing schedules failed; the next tick tries again", err);
    return { fired: 0, skipped: 0, nextAt: null };
  });
  const report: Omit<MaintenanceReport, "retention"> = {
    reaped: 0,
    reaped_failed: 0,
    reap_chunks: 0,
    reap_drained: false,
    woke: null,
    dependency_rounds: 0,
    dependents_rescued: 0,
    webhooks_resent: 0,
    schedules,
  };
  let released = 0;
  const budget = maintenanceStatementBudget(config);
  while (deps.now() - started < REAP_BUDGET_MS && deps.statementsUsed() + REAP_CHUNK_STATEMENTS <= budget) {
    const { reaped: rows, dependents } = await reapExpiredLeases(db, deps.now(), config.REAP_BATCH);
    const rounds = Math.min(FOLLOW_UP_ROUNDS, Math.floor((budget - deps.statementsUsed() - 1) / ROUND_STATEMENTS));
    released += await followUpTerminal(rows, dependents, "reaper", deps.followUp, Math.max(0, rounds));
    report.reap_chunks++;
    report.reaped += rows.length;
    report.reaped_failed += rows.filter((r) => r.status === "failed").length;
    if (rows.length < config.REAP_BATCH) {
      report.reap_drained = true;
      break;
    }
  }
  released += await rescueStrandedDependents(deps, report);
  released += await finishDependents(deps, report);
  report.webhooks_resent = await resendLostWebhooks(deps);
  if (report.reaped > report.reaped_failed || released > 0) report.woke = "reaper";
  else {
    const now = deps.now();
    const touched = await oldestDueTouch(db, now, dispatcherTypes(config));
    if (touched !== null && touched < now - config.SWEEP_AFTER_S * 1000) report.woke = "sweeper";
  }
  if (report.woke) await sendWakeup(deps.queue, report.woke);
  // Skipped when the budget is spent: readers add up unfolded rows too, and the next tick folds them.
  if (deps.statementsUsed() + FOLD_STATEMENTS <= budget) await foldMinuteRollups(db, deps.now(), deps.now() - MINUTE_ROLLUP_RETENTION_MS);
  return { ...report, retention: await pruneExpired(deps) };
}

/**
 * Dependency rounds until no finished task has unexamined children, or the budget is spent: what
 * terminal batches left (a parent with more children than a round takes, failures cascading down
 * a chain, a transition made without a round). Returns how many dependents it queued.
 */
async function finishDependents(deps: MaintenanceDeps, report: Omit<MaintenanceReport, "retention">): Promise<number> {
  const started = deps.now();
  let released = 0;
  for (;;) {
    if (deps.now() - started >= DEPENDENTS_BUDGET_MS || deps.statementsUsed() + 3 > maintenanceStatementBudget(deps.config)) return released;
    const round = await runDependentsRound(deps.db, "reaper", deps.now());
    report.dependency_rounds++;
    released += await followUpTerminal([], { changed: round.changed, more: false }, "reaper", deps.followUp);
    if (!round.more) return released;
  }
}

/**
 * The invariant behind the rounds: no task waits on parents that have all finished. Looks at up to
 * STRANDED_SCAN_CHUNKS_PER_TICK chunks of `created` tasks from where the last tick stopped; once it
 * reaches the end, the next pass starts from the beginning STRANDED_SCAN_PERIOD_MS later. Moves
 * the stranded ones as a round would. Runs before finishDependents, which then takes the children
 * of any it failed. Returns how many it queued.
 */
async function rescueStrandedDependents(deps: MaintenanceDeps, report: Omit<MaintenanceReport, "retention">): Promise<number> {
  const state = await readScanState(deps.db);
  if (deps.now() < state.notBefore) return 0;
  let cursor = state.cursor;
  let notBefore = 0;
  let released = 0;
  // A chunk: its scan, a batch of three when it finds any, a webhook take; then the cursor's save.
  for (let chunk = 0; chunk < STRANDED_SCAN_CHUNKS_PER_TICK && deps.statementsUsed() + 6 <= maintenanceStatementBudget(deps.config); chunk++) {
    const { rescued, next } = await rescueStrandedChunk(deps.db, cursor, deps.now());
    report.dependents_rescued += rescued.length;
    released += rescued.filter((t) => t.status === "queued").length;
    await followUpTerminal(rescued, { changed: [], more: false }, "reaper", deps.followUp);
    if (next === null) {
      cursor = SCAN_START;
      notBefore = deps.now() + STRANDED_SCAN_PERIOD_MS;
      break;
    }
    cursor = next;
  }
  await saveScanState(deps.db, { cursor, notBefore });
  return released;
}

/** Webhooks whose send after the commit was lost (or whose queue message was): taken and sent again. */
async function resendLostWebhooks(deps: MaintenanceDeps): Promise<number> {
  const ids = await takeStaleWebhooks(deps.db, deps.now(), WEBHOOK_RESEND_BATCH);
  await queueWebhookJobs(ids, deps.followUp);
  return ids.length;
}
