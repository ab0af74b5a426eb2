import type { RoleProbs } from "./agent-scoring";
import type { OrganSpec, OrganType } from "./organism-config";
import type { RunVerdict, TaskWork } from "../tasks/run-task";

/** Shapes that cross the dispatcher → Organ RPC line: a task to run goes in as TaskWork. */

/** What replica `replica` of an organ is told at initialisation. */
export interface OrganInitSpec extends OrganSpec {
  replica: number;
  /** Increases with every initialisation, so replicas can tell an older layout from a newer one. */
  epoch: number;
}

/** One task's run on one replica: how it ended, and where (the task's `execution`). */
export interface RunReport {
  task_id: string;
  verdict: RunVerdict;
  organ_id: string;
  replica: number;
  agent_id: string | null;
  latency_ms: number;
  /**
   * The organ never ran it (this replica is not initialized: not yet, or retired by a replica
   * change after the task was routed to it), so the task's attempt is given back.
   */
  not_run?: true;
}

/** What a group call answers: the reports ready so far, and the group's key while tasks still run. */
export interface GroupReply {
  reports: RunReport[];
  next: string | null;
}

export type { TaskWork };

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
