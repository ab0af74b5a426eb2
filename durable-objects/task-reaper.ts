import { DurableObject } from "cloudflare:workers";
import { requireConfig } from "../src/config";
import { runMaintenancePass, type MaintenanceReport } from "../src/maintenance/maintenance-pass";
import { countStatements } from "../src/store/count-statements";
import { openDb } from "../src/store/db";
import { followUpDeps } from "../src/follow-ups";

/**
 * Drives the reaper and sweeper from a Durable Object alarm: alarms fire under `wrangler dev`
 * and survive restarts, crons do not fire locally. One instance (`idFromName("reaper")`).
 */
export class TaskReaper extends DurableObject<Env> {
  /** Arms the alarm if none is set; called by the Worker once per isolate and by the cron. */
  async ensureScheduled(): Promise<number> {
    const existing = await this.ctx.storage.getAlarm();
    if (existing !== null) return existing;
    const at = Date.now() + this.intervalMs();
    await this.ctx.storage.setAlarm(at);
    return at;
  }

  /** One pass now (tests and the cron backstop); the alarm keeps its own schedule. */
  async runNow(): Promise<MaintenanceReport> {
    const counted = countStatements(this.env.DB);
    const db = openDb(counted.d1);
    return runMaintenancePass({
      db,
      queue: this.env.TASK_QUEUE,
      config: requireConfig(this.env),
      now: Date.now,
      statementsUsed: counted.count,
      followUp: followUpDeps(this.env, db),
    });
  }

  override async alarm(): Promise<void> {
    try {
      const report = await this.runNow();
      if (report.reaped > 0 || report.woke) console.log("maintenance pass", JSON.stringify(report));
    } finally {
      // Re-arm even when the pass failed: a stopped reaper is how tasks get stuck forever.
      await this.ctx.storage.setAlarm(Date.now() + this.intervalMs());
    }
  }

  private intervalMs(): number {
    return requireConfig(this.env).REAPER_INTERVAL_S * 1000;
  }
}
