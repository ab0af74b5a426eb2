import type { Config } from "../config";
import { enqueueTasks } from "../dispatch/enqueue";
import type { TaskMessage } from "../dispatch/message";
import type { Db } from "../store/db";
import { reapExpiredLeases, sweepLostMessages } from "../store/reap-and-sweep";

export interface MaintenanceReport {
  reaped: number;
  reaped_failed: number;
  swept: number;
}

/** One reaper + sweeper tick: rescue expired leases, re-send lost messages. Idempotent. */
export async function runMaintenancePass(db: Db, queue: Queue<TaskMessage>, config: Config, now: number): Promise<MaintenanceReport> {
  const reaped = await reapExpiredLeases(db, now, config.REAP_BATCH);
  const swept = await sweepLostMessages(db, now, config.SWEEP_AFTER_S * 1000, config.REAP_BATCH);
  const resend = [...reaped.filter((r) => r.status === "retry"), ...swept].map((r) => ({ id: r.id, run_after: null }));
  await enqueueTasks(queue, resend, now);
  return {
    reaped: reaped.length,
    reaped_failed: reaped.filter((r) => r.status === "failed").length,
    swept: swept.length,
  };
}
