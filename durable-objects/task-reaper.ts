import { DurableObject } from "cloudflare:workers";
import { requireConfig } from "../src/config";
import { runMaintenancePass, type MaintenanceReport } from "../src/maintenance/maintenance-pass";
import { countStatements } from "../src/store/count-statements";
import { openDb } from "../src/store/db";
import { followUpDeps } from "../src/follow-ups";

/**
 * Drives the reaper, sweeper and cron schedules from a Durable Object alarm, set to the next tick
 * or the earliest next slot, whichever comes first: alarms fire under `wrangler dev`
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

  /** Brings the alarm forward to `at` (a schedule's next slot) if it is set later; never pushes it back. */
  async wakeBy(at: number): Promise<void> {
    const existing = await this.ctx.storage.getAlarm();
    if (existing === null || existing > at) await this.ctx.storage.setAlarm(at);
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
    let nextSlot: number | null = null;
    try {
      const report = await this.runNow();
      nextSlot = report.schedules.nextAt;
      if (report.reaped > 0 || report.woke || report.schedules.fired > 0) console.log("maintenance pass", JSON.stringify(report));
    } finally {
      // Re-arm even when the pass failed: a stopped reaper is how tasks get stuck forever.
      const tick = Date.now() + this.intervalMs();
      await this.ctx.storage.setAlarm(nextSlot === null ? tick : Math.min(tick, nextSlot));
    }
  }

  private intervalMs(): number {
    return requireConfig(this.env).REAPER_INTERVAL_S * 1000;
  }
}
