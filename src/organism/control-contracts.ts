import type { AgentSummary } from "./organ-contracts";
import type { OrganSpec, OrganType } from "./organism-config";
import type { StepTask } from "./planner";

/** What the coordinator's typed control methods answer (behind the /organism/* routes). */

export interface CoordinatorStatusView {
  status: "initializing" | "healthy" | "unhealthy" | "shutdown";
  organism_initialized: boolean;
  organs: OrganSpec[];
  error?: string;
}

/** Why a control call failed, so routes pick an HTTP status without parsing messages. */
export type ControlErrorCode = "invalid_params" | "unknown_organ" | "unavailable";

export type ControlResult<T> = { ok: true; value: T } | { ok: false; code: ControlErrorCode; error: string };

export interface ReplicaSummary {
  replica: number;
  agent_count: number;
  tasks_processed: number;
}

/** One organ across its replicas. */
export interface OrganAggregate {
  organ_id: string;
  organ_type: OrganType;
  task_types: string[];
  replicas: ReplicaSummary[];
  agent_count: number;
  tasks_processed: number;
  agents: AgentSummary[];
}

export interface OrganismSummary {
  organism_initialized: true;
  organs: Record<string, OrganAggregate>;
  metrics: Record<string, unknown>;
}

/** One task run on a chosen organ (execute_on_organ / execute_on_random_organ). */
export interface ExecuteResult {
  success: boolean;
  organ_id: string;
  replica: number;
  agent_id: string | null;
  latency_ms: number;
  result: unknown;
  error?: string;
  retriable: boolean;
}

export type ControlTask = StepTask;

export interface RoutingDebugQuery {
  task_type: string;
  domain?: string | null;
  drift_score?: number;
}
