import { addOrganCounters } from "../organism/coordinator-metrics";
import type { PassReport } from "../organism/decisions";
import type { TaskOutcome } from "../organism/task-contracts";

/** What a pass reports back to the coordinator, counted as its tasks finish. */
export class PassTally {
  private readonly report: PassReport;

  constructor(pass: string) {
    this.report = { pass, successes: 0, failures: 0, slo_misses: 0, fallback_plans: 0, by_organ: {} };
  }

  /** One organ execution (a fast-path task or one plan step). */
  organRun(organId: string, success: boolean, latencyMs: number | null, sloMs: number): void {
    addOrganCounters(this.report.by_organ, organId, { tasks: 1, successes: success ? 1 : 0, failures: success ? 0 : 1 });
    if (latencyMs !== null && latencyMs > sloMs) this.report.slo_misses++;
  }

  /** One task's overall outcome (not-run tasks are not outcomes: they come back). */
  outcome(o: TaskOutcome): void {
    if (!o.ok && o.notRun) return;
    if (o.ok) this.report.successes++;
    else this.report.failures++;
  }

  fallbackPlan(): void {
    this.report.fallback_plans++;
  }

  done(): PassReport {
    return this.report;
  }
}
