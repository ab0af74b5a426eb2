import type { Config } from "../config";
import { withMargin } from "../lib/platform-limits";
import type { Db } from "../store/db";
import { pruneExpiredTasks, type FinishedStatus, type PruneCursor } from "../store/prune-expired-tasks";

export interface RetentionDeps {
  db: Db;
  config: Config;
  now: () => number;
  /** D1 statements this invocation has run so far (the reaper's included). */
  statementsUsed: () => number;
}

export interface RetentionReport {
  /** Tasks deleted this tick, by the status they had. */
  pruned: Record<FinishedStatus, number>;
  chunks: number;
  /** False when the budget ended the tick with expired tasks left (the next tick goes on). */
  drained: boolean;
}

/**
 * Retention's share of one alarm tick. Deleting is never urgent, and locally it shares one thread
 * with everything else, so it gets a small slice of the interval: at RETENTION_BATCH rows a chunk,
 * a tick deletes tens of thousands of rows, far more than a busy deployment finishes per interval.
 */
export const RETENTION_BUDGET_MS = 2_000;
/** At most this many statements per tick (two per chunk), and never past the invocation's budget. */
export const RETENTION_STATEMENT_BUDGET = 200;

function retentionsOf(config: Config): [FinishedStatus, number][] {
  const all: [FinishedStatus, number][] = [
    ["completed", config.RETAIN_COMPLETED_S],
    ["failed", config.RETAIN_FAILED_S],
    ["cancelled", config.RETAIN_CANCELLED_S],
  ];
  return all.filter(([, seconds]) => seconds > 0);
}

/**
 * Deletes finished tasks past their status's retention, chunk by chunk and status by status in
 * turn (so a large backlog of one status does not starve the others), until none is left or the
 * tick's time or statement budget is spent.
 */
export async function pruneExpired(deps: RetentionDeps): Promise<RetentionReport> {
  const started = deps.now();
  const statementsAtStart = deps.statementsUsed();
  const report: RetentionReport = { pruned: { completed: 0, failed: 0, cancelled: 0 }, chunks: 0, drained: false };
  const withinBudget = () => {
    const used = deps.statementsUsed();
    return deps.now() - started < RETENTION_BUDGET_MS && used - statementsAtStart + 2 <= RETENTION_STATEMENT_BUDGET && used + 2 <= withMargin(deps.config.D1_QUERIES_PER_INVOCATION);
  };
  let pending = retentionsOf(deps.config);
  // Where each status's walk stopped this tick: the next chunk goes on from there.
  const cursors = new Map<FinishedStatus, PruneCursor>();
  while (pending.length > 0) {
    const left: typeof pending = [];
    for (const [status, seconds] of pending) {
      if (!withinBudget()) return report;
      const now = deps.now();
      const { deleted, last } = await pruneExpiredTasks(deps.db, status, now - seconds * 1000, deps.config.RETENTION_BATCH, now, cursors.get(status));
      report.chunks++;
      report.pruned[status] += deleted;
      if (last) cursors.set(status, last);
      if (deleted === deps.config.RETENTION_BATCH) left.push([status, seconds]);
    }
    pending = left;
  }
  report.drained = true;
  return report;
}
