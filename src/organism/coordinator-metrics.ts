import type { OrganCounters, PassReport } from "./decisions";
import { pFast, type OcpsState } from "./ocps";

/**
 * Coordinator counters: routing ones counted at decision time, outcome ones from each pass's
 * report. Kept in memory, persisted once per call (not once per task).
 */
export interface CoordinatorMetrics {
  tasks_total: number;
  fast_path: number;
  escalations: number;
  fallback_plans: number;
  control: number;
  unrouted: number;
  shed: number;
  successes: number;
  failures: number;
  slo_misses: number;
  by_organ: Record<string, OrganCounters>;
}

export const emptyMetrics = (): CoordinatorMetrics => ({
  tasks_total: 0, fast_path: 0, escalations: 0, fallback_plans: 0, control: 0, unrouted: 0, shed: 0,
  successes: 0, failures: 0, slo_misses: 0, by_organ: {},
});

/** Adds `from` into `into` (organ counters, e.g. one organ run or a pass's totals). */
export function addOrganCounters(into: Record<string, OrganCounters>, organId: string, from: OrganCounters): void {
  const c = (into[organId] ??= { tasks: 0, successes: 0, failures: 0 });
  c.tasks += from.tasks;
  c.successes += from.successes;
  c.failures += from.failures;
}

export function applyReport(m: CoordinatorMetrics, r: PassReport): void {
  m.tasks_total += r.successes + r.failures;
  m.successes += r.successes;
  m.failures += r.failures;
  m.slo_misses += r.slo_misses;
  m.fallback_plans += r.fallback_plans;
  for (const [organId, counters] of Object.entries(r.by_organ)) addOrganCounters(m.by_organ, organId, counters);
}

export function metricsSnapshot(m: CoordinatorMetrics, ocps: OcpsState, threshold: number): Record<string, unknown> {
  return {
    ...m,
    by_organ: structuredClone(m.by_organ),
    p_fast: pFast(ocps),
    ocps: { S: ocps.S, threshold, fast: ocps.fast, total: ocps.total, escalations: ocps.escalations },
  };
}
