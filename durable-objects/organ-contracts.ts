import type { RoleProbs } from "./agents";
import type { OrganSpec, OrganType } from "./organism-config";
import type { HandlerTask } from "./handlers/types";

/** Shapes that cross the OrganismManager → Organ RPC line. */
export type OrganTask = HandlerTask;
export type OrganInitSpec = OrganSpec;

export interface OrganTaskResult {
  task_id: string;
  success: boolean;
  organ_id: string;
  agent_id: string | null;
  result?: Record<string, unknown>;
  error?: string;
  /** false: permanent failure (no handler, invalid params). */
  retry: boolean;
  latency_ms: number;
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
  initialized: boolean;
  task_types: string[];
  agent_count: number;
  tasks_processed: number;
  agents: AgentSummary[];
}
