import { sql, type SQL } from "drizzle-orm";
import type { TaskStatus } from "../db/schema";

/**
 * Which way the claim finds a waiting task (migration 0015). Lane 0: a `queued` task due at its
 * creation, with no head start and no concurrency key, whose order key is its created_at: the
 * claim walks it in tasks_type_status_idx, so it carries no due-index entry (one row written less).
 * Lane 1: every other `queued` task, claimed by order key through tasks_due_idx or
 * tasks_key_due_idx. Every other status is lane 0. A trigger refuses a write that disagrees.
 */
export function laneOf(t: { status: SQL; runAfter: SQL; priority: SQL; concurrencyKey: SQL }): SQL {
  return sql`(${t.status} = 'queued' AND (${t.runAfter} IS NOT NULL OR ${t.priority} <> 0 OR ${t.concurrencyKey} IS NOT NULL))`;
}

/** The walks of tasks_type_status_idx: each status is one range of it, `queued` two (its lanes). */
export function lanesOf(status: TaskStatus): number[] {
  return status === "queued" ? [0, 1] : [0];
}
