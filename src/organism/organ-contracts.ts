import type { RoleProbs } from "./agent-scoring";
import type { OrganSpec, OrganType } from "./organism-config";
import type { HandlerTask } from "../../durable-objects/handlers/types";

/** Shapes that cross the dispatcher → Organ RPC line. */
export type OrganTask = HandlerTask;

/** What replica `replica` of an organ is told at initialisation. */
export interface OrganInitSpec extends OrganSpec {
  replica: number;
  /** Increases with every initialisation, so replicas can tell an older layout from a newer one. */
  epoch: number;
}

export interface OrganTaskResult {
  task_id: string;
  success: boolean;
  organ_id: string;
  replica: number;
  agent_id: string | null;
  result?: Record<string, unknown>;
  error?: string;
  /** false: permanent failure (no handler, invalid params, result too large). */
  retry: boolean;
  /**
   * The organ never ran it (this replica is not initialized: not yet, or retired by a replica
   * change after the task was routed to it), so the task's attempt is given back.
   */
  not_run?: true;
  latency_ms: number;
}

/** Sizes the organ enforces on one call. */
export interface OrganCallLimits {
  /** A larger handler result fails its task permanently. */
  resultMaxBytes: number;
  /** Results past this many bytes stay in the organ, to be fetched with `collect(key)`. */
  responseBudgetBytes: number;
}

export interface OrganBatchResult {
  results: OrganTaskResult[];
  /** Results that did not fit the response: `collect` them under this key (in memory; lost if the object restarts). */
  held: string | null;
}

export interface AgentSummary {
  agent_id: string;
  role_probs: RoleProbs;
  capability: number;
  mem_util: number;
  score: number;
  tasks_processed: number;
  successes: number;
  failures: number;
  avg_quality: number | null;
  quality_scores: number[];
  last_task_at: string | null;
}

export interface OrganSummary {
  organ_id: string;
  organ_type: OrganType;
  replica: number;
  initialized: boolean;
  task_types: string[];
  agent_count: number;
  tasks_processed: number;
  agents: AgentSummary[];
}
