import { sql } from "drizzle-orm";
import type { StoredExecution } from "./execution-codec";
import type { StoredTimelineEntry } from "./timeline-codec";
import type { ParentFailurePolicy, StoredProgress, TaskRow, TaskStatus, WebhookState } from "../db/schema";

/** A `tasks` row as raw SQL (`RETURNING *`, `db.all`) hands it back: snake_case, JSON as text. */
export interface RawTaskRow {
  id: string;
  status: TaskStatus;
  attempts: number;
  max_attempts: number;
  type: string;
  description: string | null;
  domain: string | null;
  drift_score: number;
  params: string;
  result: string | null;
  error: string | null;
  run_after: number | null;
  locked_by: string | null;
  locked_at: number | null;
  lease_expires_at: number | null;
  last_heartbeat: number | null;
  idempotency_key: string | null;
  created_at: number;
  updated_at: number;
  priority: number;
  input_bytes: number;
  request_hash: string | null;
  lane: number;
  sort_key: number | null;
  events: string;
  depends_on: string | null;
  on_parent_failure: ParentFailurePolicy | null;
  waiting_on: number;
  has_dependents: number;
  release_cursor: string | null;
  callback_url: string | null;
  webhook_state: WebhookState | null;
  webhook_due_at: number | null;
  watched: number;
  concurrency_key: string | null;
  concurrency_limit: number | null;
  progress: string | null;
  heartbeat_details: string | null;
  execution: string | null;
}

/** Every column of a task row, qualified: for RETURNING in an UPDATE … FROM, which allows no `tasks.*`. */
const COLUMNS = [
  "id", "status", "attempts", "max_attempts", "type", "description", "domain", "drift_score", "params", "result", "error",
  "run_after", "locked_by", "locked_at", "lease_expires_at", "last_heartbeat", "idempotency_key", "created_at", "updated_at",
  "priority", "input_bytes", "request_hash", "lane", "sort_key", "events", "depends_on", "on_parent_failure", "waiting_on",
  "has_dependents", "release_cursor", "callback_url", "webhook_state", "webhook_due_at", "watched", "concurrency_key", "concurrency_limit",
  "progress", "heartbeat_details", "execution",
] as const satisfies readonly (keyof RawTaskRow)[];
export const RETURNING_TASK = sql.raw(`RETURNING ${COLUMNS.map((c) => `tasks.${c} AS ${c}`).join(", ")}`);

function parseJson(text: string | null): unknown {
  return text == null ? null : JSON.parse(text);
}

export function fromRawRow(r: RawTaskRow): TaskRow {
  return {
    id: r.id,
    status: r.status,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    type: r.type,
    description: r.description,
    domain: r.domain,
    driftScore: r.drift_score,
    params: (parseJson(r.params) ?? {}) as Record<string, unknown>,
    result: parseJson(r.result),
    error: r.error,
    runAfter: r.run_after,
    lockedBy: r.locked_by,
    lockedAt: r.locked_at,
    leaseExpiresAt: r.lease_expires_at,
    lastHeartbeat: r.last_heartbeat,
    idempotencyKey: r.idempotency_key,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    priority: r.priority,
    inputBytes: r.input_bytes,
    requestHash: r.request_hash,
    lane: r.lane,
    sortKey: r.sort_key,
    events: JSON.parse(r.events) as StoredTimelineEntry[],
    dependsOn: parseJson(r.depends_on) as string[] | null,
    onParentFailure: r.on_parent_failure,
    waitingOn: r.waiting_on,
    hasDependents: r.has_dependents,
    releaseCursor: r.release_cursor,
    callbackUrl: r.callback_url,
    webhookState: r.webhook_state,
    webhookDueAt: r.webhook_due_at,
    watched: r.watched,
    concurrencyKey: r.concurrency_key,
    concurrencyLimit: r.concurrency_limit,
    progress: parseJson(r.progress) as StoredProgress | null,
    heartbeatDetails: parseJson(r.heartbeat_details),
    execution: parseJson(r.execution) as StoredExecution | null,
  };
}
