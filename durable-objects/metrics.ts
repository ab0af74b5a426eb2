import { pFast, type OcpsState } from "./ocps";

/** Coordinator counters: kept in memory, persisted once per batch (not once per task). */
export interface OrganCounters {
  tasks: number;
  successes: number;
  failures: number;
}

export interface CoordinatorMetrics {
  tasks_total: number;
  fast_path: number;
  escalations: number;
  fallback_plans: number;
  control: number;
  unrouted: number;
  successes: number;
  failures: number;
  slo_misses: number;
  by_organ: Record<string, OrganCounters>;
}

export const emptyMetrics = (): CoordinatorMetrics => ({
  tasks_total: 0, fast_path: 0, escalations: 0, fallback_plans: 0, control: 0, unrouted: 0,
  successes: 0, failures: 0, slo_misses: 0, by_organ: {},
});

/** Counts one organ execution (a fast-path task or one escalation step). */
export function countOrganRun(m: CoordinatorMetrics, organId: string, success: boolean): void {
  const c = (m.by_organ[organId] ??= { tasks: 0, successes: 0, failures: 0 });
  c.tasks++;
  if (success) c.successes++;
  else c.failures++;
}

/** Counts one finished task by its overall outcome. */
export function countOutcome(m: CoordinatorMetrics, success: boolean): void {
  m.tasks_total++;
  if (success) m.successes++;
  else m.failures++;
}

export function metricsSnapshot(m: CoordinatorMetrics, ocps: OcpsState, threshold: number): Record<string, unknown> {
  return {
    ...m,
    by_organ: structuredClone(m.by_organ),
    p_fast: pFast(ocps),
    ocps: { S: ocps.S, threshold, fast: ocps.fast, total: ocps.total, escalations: ocps.escalations },
  };
}
