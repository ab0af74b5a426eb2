import type { TaskRow } from "../db/schema";
import { toIso } from "../lib/time";
import { unpackExecution } from "./execution-codec";
import { lastClaimedAt } from "./timeline-codec";
import type { PlanView } from "./task-plans";

/** Why a waiting task is not being claimed: its type's or key's flags (see flow-state.ts). */
export interface FlowState {
  paused: boolean;
  waiting_on_key: boolean;
}

/** The flow state of a task that does not wait (running or terminal): nothing holds it. */
export const NOT_WAITING: FlowState = { paused: false, waiting_on_key: false };

/**
 * A task as the API shows it: snake_case, ISO-8601 UTC times. A task that may be waiting needs
 * its flow state from flowStates (task-operations.ts `describe`), so `paused` agrees with its flags;
 * an escalated one its plan from readPlanViews.
 */
export function taskToJson(row: TaskRow, flow: FlowState, plan: PlanView | null = null) {
  // Stored NULL once an outcome is written, or until a heartbeat: both read as the claim's time.
  const lockedAt = row.lockedAt ?? lastClaimedAt(row);
  return {
    id: row.id,
    status: row.status,
    type: row.type,
    description: row.description,
    domain: row.domain,
    drift_score: row.driftScore,
    params: row.params,
    result: row.result ?? null,
    execution: row.execution ? unpackExecution(row.execution) : null,
    progress: row.progress ? { ...row.progress, at: toIso(row.progress.at) } : null,
    error: row.error,
    attempts: row.attempts,
    max_attempts: row.maxAttempts,
    run_after: toIso(row.runAfter),
    locked_by: row.lockedBy,
    locked_at: toIso(lockedAt),
    lease_expires_at: toIso(row.leaseExpiresAt),
    last_heartbeat: toIso(row.lastHeartbeat ?? lockedAt),
    idempotency_key: row.idempotencyKey,
    depends_on: row.dependsOn ?? [],
    on_parent_failure: row.onParentFailure,
    waiting_on: row.waitingOn,
    callback_url: row.callbackUrl,
    webhook_state: row.webhookState,
    created_at: toIso(row.createdAt) as string,
    updated_at: toIso(row.updatedAt) as string,
    plan: plan ? { ...plan, steps: plan.steps.map((s) => ({ ...s, finished_at: toIso(s.finished_at) })) } : null,
    priority: row.priority,
    concurrency_key: row.concurrencyKey,
    concurrency_limit: row.concurrencyLimit,
    ...flow,
  };
}

export type TaskJson = ReturnType<typeof taskToJson>;
