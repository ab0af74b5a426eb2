import { sql } from "drizzle-orm";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";

export interface OutcomeWrite {
  id: string;
  status: "completed" | "failed" | "retry";
  result: unknown;
  error: string | null;
  run_after: number | null;
  /** Shown in the task's event timeline. */
  message: string;
  /** The task was not run (shed): undo the claim's attempts + 1. */
  refund_attempt?: boolean;
}

export interface WrittenOutcome {
  id: string;
  status: OutcomeWrite["status"];
  run_after: number | null;
}

/**
 * Writes the outcomes of one claim, only where `status='running' AND locked_by=<token>` still
 * holds: a task cancelled or re-leased meanwhile keeps its state and the late result is dropped.
 * Returns the rows actually written.
 */
export async function recordOutcomes(db: Db, token: string, writes: OutcomeWrite[], now: number): Promise<WrittenOutcome[]> {
  if (writes.length === 0) return [];
  const payload = JSON.stringify(writes);
  const [, written] = await sqlBatch<[unknown, WrittenOutcome]>(db, [
    sql`
      INSERT INTO task_events (task_id, at, from_status, to_status, attempt, actor, message)
      SELECT t.id, ${now}, t.status, j.value->>'status', t.attempts, 'dispatcher', j.value->>'message'
      FROM json_each(${payload}) AS j CROSS JOIN tasks AS t ON t.id = j.value->>'id'
      WHERE +t.status = 'running' AND t.locked_by = ${token}`,
    sql`
      UPDATE tasks SET status = j.value->>'status', attempts = attempts - coalesce(j.value->>'refund_attempt', 0),
             result = CASE WHEN j.value->>'result' IS NULL THEN NULL ELSE json(j.value->'result') END,
             error = j.value->>'error', run_after = j.value->>'run_after',
             locked_by = NULL, locked_at = NULL, lease_expires_at = NULL, updated_at = ${now}
      FROM json_each(${payload}) AS j
      WHERE tasks.id = j.value->>'id' AND +tasks.status = 'running' AND tasks.locked_by = ${token}
      RETURNING tasks.id AS id, tasks.status AS status, tasks.run_after AS run_after`,
  ]);
  return written;
}
