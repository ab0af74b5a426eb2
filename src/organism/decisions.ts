import type { RoutingTable } from "./routing";

/**
 * What crosses the line between the dispatcher and the coordinator per pass: a decision request
 * without params or results, the decisions, and the pass's outcome counts afterwards.
 */

/** The coordinator decides from these alone: no params, no results. */
export interface DecideTask {
  id: string;
  type: string;
  domain: string | null;
  drift_score: number;
}

/** Control types a task may carry (read-only); the coordinator answers them itself. */
export const READ_ONLY_CONTROL_TYPES = ["get_organism_status", "get_organism_summary", "get_metrics", "get_routing_debug"] as const;
export type ReadOnlyControlType = (typeof READ_ONLY_CONTROL_TYPES)[number];

/** Control types that change the organism: only through their routes, never as queued tasks. */
export const MUTATING_CONTROL_ROUTES: Readonly<Record<string, string>> = {
  initialize_organism: "POST /organism/initialize",
  shutdown_organism: "POST /organism/shutdown",
  execute_on_organ: "POST /organism/execute/{organ_id}",
  execute_on_random_organ: "POST /organism/execute-random",
};

export type Decision =
  /** Run on this replica's best agent. */
  | { kind: "fast"; organ_id: string; replica: number; p_fast: number }
  /** The OCPS valve tripped: plan (with the shared planner) and run the steps in order. */
  | { kind: "escalate"; organ_id: string; p_fast: number; fallback_reason?: string }
  | { kind: "control"; control: ReadOnlyControlType }
  /** Not run: no route (permanent), or shed / organism not ready (retry later, attempt given back). */
  | { kind: "refused"; retriable: boolean; not_run: boolean; error: string };

/** The organism's shape as the dispatcher needs it to place tasks and build plans. */
export interface OrganismView {
  organs: { organ_id: string; replicas: number }[];
  routing: RoutingTable;
}

export interface DecideResult {
  decisions: Decision[];
  organism: OrganismView;
}

export interface OrganCounters {
  tasks: number;
  successes: number;
  failures: number;
}

/** A pass's results, reported back in one small call (p_fast and metrics; frees shed capacity). */
export interface PassReport {
  pass: string;
  successes: number;
  failures: number;
  slo_misses: number;
  fallback_plans: number;
  by_organ: Record<string, OrganCounters>;
}
