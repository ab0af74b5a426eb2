import type { TaskRow } from "../db/schema";
import { toIso } from "../lib/time";

/** A task as the API shows it: snake_case, ISO-8601 UTC times. */
export function taskToJson(row: TaskRow) {
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
    depends_on: row.dependsOn ?? [],
    on_parent_failure: row.onParentFailure,
    waiting_on: row.waitingOn,
    callback_url: row.callbackUrl,
    webhook_state: row.webhookState,
    created_at: toIso(row.createdAt) as string,
    updated_at: toIso(row.updatedAt) as string,
  };
}

export type TaskJson = ReturnType<typeof taskToJson>;
