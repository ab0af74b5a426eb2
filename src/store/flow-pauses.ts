import { sql } from "drizzle-orm";
import type { TaskStatus } from "../db/schema";
import type { Db } from "./db";
import { countsByType } from "./metrics-queries";

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

type RawType = { type: string; paused: number };
type RawKey = { key: string; max_running: number; waiting: number; running: number; paused: number };

/** The types' rows with their counts per status (the net of their transition rollups). */
async function typeInfos(db: Db, rows: RawType[]): Promise<TypeInfo[]> {
  if (rows.length === 0) return [];
  const counts = await countsByType(db, rows.map((r) => r.type));
  return rows.flatMap((r) => {
    const c = counts.get(r.type);
    return c ? [{ type: r.type, paused: r.paused === 1, counts: c }] : [];
  });
}
const keyInfo = (r: RawKey): KeyInfo => ({ key: r.key, limit: r.max_running, waiting: r.waiting, running: r.running, paused: r.paused === 1 });

/**
 * A type's flag only, one row whatever its backlog: the claim reads it (claim-due-tasks.ts), so
 * the type's tasks need no write and hold exactly while the flag is set, whatever status they were
 * in when it changed. Null when no task ever had the type (a typo makes no row).
 */
export async function setTypePaused(db: Db, type: string, paused: boolean): Promise<TypeInfo | null> {
  const rows = await db.all<RawType>(sql`UPDATE task_types SET paused = ${paused ? 1 : 0} WHERE type = ${type} RETURNING type, paused`);
  return (await typeInfos(db, rows))[0] ?? null;
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
    SELECT type, paused FROM task_types WHERE type > ${after ?? ""} ORDER BY type LIMIT ${limit}`);
  return typeInfos(db, rows);
}

export async function getType(db: Db, type: string): Promise<TypeInfo | null> {
  const rows = await db.all<RawType>(sql`SELECT type, paused FROM task_types WHERE type = ${type}`);
  return (await typeInfos(db, rows))[0] ?? null;
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
