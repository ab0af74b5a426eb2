import { sql } from "drizzle-orm";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";

/** DLQ: every non-terminal task among `ids` becomes `failed` ("dead-lettered"), with an event. */
export async function markDeadLettered(db: Db, ids: string[], now: number): Promise<number> {
  const where = sql`id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))
    AND +status NOT IN ('completed', 'failed', 'cancelled')`;
  const [, updated] = await sqlBatch<[unknown, { id: string }]>(db, [
    sql`
      INSERT INTO task_events (task_id, at, from_status, to_status, attempt, actor, message)
      SELECT id, ${now}, status, 'failed', attempts, 'dlq', 'dead-lettered: delivery failed too often'
      FROM tasks WHERE ${where}`,
    sql`
      UPDATE tasks SET status = 'failed', error = 'dead-lettered: delivery failed too often',
             locked_by = NULL, locked_at = NULL, lease_expires_at = NULL, updated_at = ${now}
      WHERE ${where} RETURNING id`,
  ]);
  return updated.length;
}
