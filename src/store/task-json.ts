import type { TaskRow } from "../db/schema";
import { toIso } from "../lib/time";

/** Why a waiting task is not being claimed (see flow-state.ts); a held task is paused by its type. */
export interface FlowState {
  paused: boolean;
  waiting_on_key: boolean;
}

/** A task as the API shows it: snake_case, ISO-8601 UTC times. */
export function taskToJson(row: TaskRow, flow: FlowState = { paused: row.held === 1, waiting_on_key: false }) {
  return {
    id: row.id,
    status: row.status,
    type: row.type,
    description: row.description,
    domain: row.domain,
    drift_score: row.driftScore,
    params: row.params,
    result: row.result ?? null,
    error: row.error,
    attempts: row.attempts,
    max_attempts: row.maxAttempts,
    run_after: toIso(row.runAfter),
    locked_by: row.lockedBy,
    locked_at: toIso(row.lockedAt),
    lease_expires_at: toIso(row.leaseExpiresAt),
    last_heartbeat: toIso(row.lastHeartbeat),
    idempotency_key: row.idempotencyKey,
    created_at: toIso(row.createdAt) as string,
    updated_at: toIso(row.updatedAt) as string,
    priority: row.priority,
    concurrency_key: row.concurrencyKey,
    concurrency_limit: row.concurrencyLimit,
    ...flow,
  };
}

export type TaskJson = ReturnType<typeof taskToJson>;
