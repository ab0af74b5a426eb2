import type { Config } from "../config";
import type { TaskMessage } from "../dispatch/message";
import { sendWakeup, type WakeReason } from "../dispatch/wakeups";
import { D1_LIMITS, withMargin } from "../lib/platform-limits";
import { oldestDueTouch } from "../store/claim-due-tasks";
import type { Db } from "../store/db";
import { MINUTE_ROLLUP_RETENTION_MS, pruneMinuteRollups } from "../store/metrics-queries";
import { reapExpiredLeases } from "../store/reap-expired-leases";
import { fireDueSchedules, type ScheduleReport } from "./fire-schedules";

export interface MaintenanceDeps {
  db: Db;
  queue: Queue<TaskMessage>;
  config: Config;
  now: () => number;
  /** D1 statements this invocation has run so far (see countStatements). */
  statementsUsed: () => number;
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
  /** Cron slots fired and skipped, and when the next is due (the alarm's next time, if sooner than a tick). */
  schedules: ScheduleReport;
}

/** One tick's share of the alarm: the rest of the interval is left for the next tick. */
export const REAP_BUDGET_MS = 10_000;
const REAP_STATEMENT_BUDGET = withMargin(D1_LIMITS.queriesPerInvocation);

/**
 * One maintenance tick. First the schedules whose slot has come fire (their own budget), so a
 * long reaper drain never makes a slot late. The reaper drains: expired leases go back to `retry` (or `failed`)
 * in chunks of REAP_BATCH until none is left or the budget is spent, so thousands of leases lost
 * with a dispatcher come back in one tick. Then one wake-up if there is due work nobody took:
 * rescued tasks, or a due task untouched for SWEEP_AFTER_S (its wake-up was lost). Last, per-minute
 * rollups older than a day go (the dashboard shows at most an hour).
 */
export async function runMaintenancePass(deps: MaintenanceDeps): Promise<MaintenanceReport> {
  const { db, config } = deps;
  const started = deps.now();
  // A failing scheduler must not stop the reaper: tasks stuck in `running` are worse than a late slot.
  const schedules = await fireDueSchedules(deps).catch((err: unknown): ScheduleReport => {
    console.error("firing schedules failed; the next tick tries again", err);
    return { fired: 0, skipped: 0, nextAt: null };
  });
  const report: MaintenanceReport = { reaped: 0, reaped_failed: 0, reap_chunks: 0, reap_drained: false, woke: null, schedules };
  while (deps.now() - started < REAP_BUDGET_MS && deps.statementsUsed() + 2 <= REAP_STATEMENT_BUDGET) {
    const rows = await reapExpiredLeases(db, deps.now(), config.REAP_BATCH);
    report.reap_chunks++;
    report.reaped += rows.length;
    report.reaped_failed += rows.filter((r) => r.status === "failed").length;
    if (rows.length < config.REAP_BATCH) {
      report.reap_drained = true;
      break;
    }
  }
  if (report.reaped > report.reaped_failed) report.woke = "reaper";
  else {
    const now = deps.now();
    const touched = await oldestDueTouch(db, now);
    if (touched !== null && touched < now - config.SWEEP_AFTER_S * 1000) report.woke = "sweeper";
  }
  if (report.woke) await sendWakeup(deps.queue, report.woke);
  await pruneMinuteRollups(db, deps.now() - MINUTE_ROLLUP_RETENTION_MS);
  return report;
}
