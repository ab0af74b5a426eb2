import { sql } from "drizzle-orm";
import type { TaskRow } from "../db/schema";
import type { Db } from "./db";
import { sqlBatch } from "./sql-batch";
import { fromRawRow, type RawTaskRow } from "./raw-row";

export interface NewTask {
  id: string;
  status: "created" | "queued";
  type: string;
  description: string | null;
  domain: string | null;
  drift_score: number;
  params: Record<string, unknown>;
  run_after: number | null;
  max_attempts: number;
  idempotency_key: string | null;
}

export interface CreatedTask {
  row: TaskRow;
  /** false when an earlier task with the same idempotency key was returned instead. */
  created: boolean;
}

/**
 * Inserts a batch of tasks and their first events in one transaction, three statements
 * whatever the batch size. A task whose idempotency key already exists is not inserted;
 * the existing row comes back in its place.
 */
export async function createTasks(db: Db, tasks: NewTask[], now: number): Promise<CreatedTask[]> {
  const payload = JSON.stringify(tasks);
  const keys = JSON.stringify(tasks.map((t) => t.idempotency_key).filter((k) => k !== null));
  // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT.
  const [inserted, , existing] = await sqlBatch<[RawTaskRow, unknown, RawTaskRow]>(db, [
    sql`
      INSERT INTO tasks (id, status, attempts, max_attempts, type, description, domain, drift_score,
                         params, run_after, idempotency_key, created_at, updated_at)
      SELECT j.value->>'id', j.value->>'status', 0, j.value->>'max_attempts', j.value->>'type',
             j.value->>'description', j.value->>'domain', j.value->>'drift_score',
             json(j.value->'params'), j.value->>'run_after', j.value->>'idempotency_key', ${now}, ${now}
      FROM json_each(${payload}) AS j WHERE true
      ON CONFLICT DO NOTHING
      RETURNING *`,
    sql`
      INSERT INTO task_events (task_id, at, from_status, to_status, attempt, actor, message)
      SELECT t.id, ${now}, NULL, t.status, 0, 'api', 'submitted'
      FROM json_each(${payload}) AS j CROSS JOIN tasks AS t ON t.id = j.value->>'id'`,
    sql`
      SELECT * FROM tasks WHERE idempotency_key IN (SELECT value FROM json_each(${keys}))`,
  ]);
  const byKey = new Map(existing.map((r) => [r.idempotency_key, r]));
  const byId = new Map(inserted.map((r) => [r.id, r]));
  return tasks.map((t) => {
    const own = byId.get(t.id);
    if (own) return { row: fromRawRow(own), created: true };
    const prior = t.idempotency_key === null ? undefined : byKey.get(t.idempotency_key);
    if (!prior) throw new Error(`task ${t.id} was neither inserted nor found by idempotency key`);
    return { row: fromRawRow(prior), created: false };
  });
}
