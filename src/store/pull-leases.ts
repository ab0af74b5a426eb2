import { sql } from "drizzle-orm";
import type { TaskStatus } from "../db/schema";
import type { Db } from "./db";

/** What the pull-worker routes read of a task before a fenced write: its lease, its type (scope), its attempts (retry policy). */
export interface LeaseRow {
  id: string;
  type: string;
  status: TaskStatus;
  locked_by: string | null;
  lease_expires_at: number | null;
  last_heartbeat: number | null;
  attempts: number;
  max_attempts: number;
  concurrency_key: string | null;
  has_dependents: number;
  created_at: number;
  /** The newest timeline entry as stored (store/timeline-codec.ts), JSON. */
  last_event: string | null;
}

/** One task by full id (a primary-key read), or null. */
export async function readLease(db: Db, id: string): Promise<LeaseRow | null> {
  const rows = await db.all<LeaseRow>(sql`
    SELECT id, type, status, locked_by, lease_expires_at, coalesce(last_heartbeat, locked_at) AS last_heartbeat, attempts, max_attempts, concurrency_key, has_dependents, created_at,
           json_extract(events, '$[#-1]') AS last_event
    FROM tasks WHERE id = ${id}`);
  return rows[0] ?? null;
}
