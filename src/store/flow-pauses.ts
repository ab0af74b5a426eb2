import { sql } from "drizzle-orm";
import { TASK_STATUSES, type TaskStatus } from "../db/schema";
import type { Db } from "./db";

export interface TypeInfo {
  type: string;
  paused: boolean;
  counts: Record<TaskStatus, number>;
}

export interface KeyInfo {
  key: string;
  limit: number;
  waiting: number;
  running: number;
  paused: boolean;
}

type RawType = { type: string; paused: number } & Record<TaskStatus, number>;
type RawKey = { key: string; max_running: number; waiting: number; running: number; paused: number };

const typeInfo = (r: RawType): TypeInfo => ({
  type: r.type,
  paused: r.paused === 1,
  counts: Object.fromEntries(TASK_STATUSES.map((s) => [s, r[s]])) as Record<TaskStatus, number>,
});
const keyInfo = (r: RawKey): KeyInfo => ({ key: r.key, limit: r.max_running, waiting: r.waiting, running: r.running, paused: r.paused === 1 });

/**
 * A type's flag only, one row whatever its backlog: the claim reads it (claim-due-tasks.ts), so
 * the type's tasks need no write and hold exactly while the flag is set, whatever status they were
 * in when it changed. Null when no task ever had the type (a typo makes no row).
 */
export async function setTypePaused(db: Db, type: string, paused: boolean): Promise<TypeInfo | null> {
  const rows = await db.all<RawType>(sql`UPDATE task_types SET paused = ${paused ? 1 : 0} WHERE type = ${type} RETURNING *`);
  return rows[0] ? typeInfo(rows[0]) : null;
}

/**
 * A key's flag only: the claim reads it for every key it serves, so its tasks need no write.
 * Null when no task ever had the key (a typo makes no row).
 */
export async function setKeyPaused(db: Db, key: string, paused: boolean): Promise<KeyInfo | null> {
  const rows = await db.all<RawKey>(sql`
    UPDATE concurrency_keys SET paused = ${paused ? 1 : 0} WHERE key = ${key}
    RETURNING key, max_running, waiting, running, paused`);
  return rows[0] ? keyInfo(rows[0]) : null;
}

/** One page of types by name (the table has a row per type ever submitted). */
export async function listTypes(db: Db, after: string | null, limit: number): Promise<TypeInfo[]> {
  const rows = await db.all<RawType>(sql`
    SELECT * FROM task_types WHERE type > ${after ?? ""} ORDER BY type LIMIT ${limit}`);
  return rows.map(typeInfo);
}

export async function getType(db: Db, type: string): Promise<TypeInfo | null> {
  const rows = await db.all<RawType>(sql`SELECT * FROM task_types WHERE type = ${type}`);
  return rows[0] ? typeInfo(rows[0]) : null;
}

export async function listKeys(db: Db, after: string | null, limit: number): Promise<KeyInfo[]> {
  const rows = await db.all<RawKey>(sql`
    SELECT key, max_running, waiting, running, paused FROM concurrency_keys WHERE key > ${after ?? ""} ORDER BY key LIMIT ${limit}`);
  return rows.map(keyInfo);
}

export async function getKey(db: Db, key: string): Promise<KeyInfo | null> {
  const rows = await db.all<RawKey>(sql`SELECT key, max_running, waiting, running, paused FROM concurrency_keys WHERE key = ${key}`);
  return rows[0] ? keyInfo(rows[0]) : null;
}
