import { env } from "cloudflare:workers";
import type { TaskRow, TimelineEntry } from "../../src/db/schema";
import { chunkJsonArray, D1_JSON_BUDGET_BYTES } from "../../src/lib/platform-limits";
import { createTasks, type CreatedTask, type NewTask } from "../../src/store/create-tasks";
import { openDb } from "../../src/store/db";
import { findTask } from "../../src/store/find-task";
import { timelineOf } from "../../src/store/timeline-codec";

export const db = () => openDb(env.DB);

/** A queued task row to insert, with a fresh id. */
export function newTask(overrides: Partial<NewTask> = {}): NewTask {
  return {
    id: crypto.randomUUID(),
    status: "queued",
    type: "test_task",
    description: null,
    domain: null,
    drift_score: 0,
    params: {},
    run_after: null,
    max_attempts: 3,
    idempotency_key: null,
    input_bytes: JSON.stringify(overrides.params ?? {}).length,
    request_hash: null,
    priority: 0,
    concurrency_key: null,
    concurrency_limit: overrides.concurrency_key ? 1 : null,
    ...overrides,
  };
}

/** Inserts tasks straight into D1 (in batches of at most 100 that fit a statement), with no wake-up: the test runs the dispatcher. */
export async function insertTasks(tasks: NewTask[], now = Date.now()): Promise<CreatedTask[]> {
  const out: CreatedTask[] = [];
  for (const chunk of chunkJsonArray(tasks, D1_JSON_BUDGET_BYTES, 100)) {
    const result = await createTasks(db(), chunk.items, now);
    if (!result.ok) throw new Error(`idempotency conflict on ${result.conflict.key}`);
    out.push(...result.tasks);
  }
  return out;
}

/** Inserts one queued task straight into D1, with no wake-up. */
export async function insertTask(overrides: Partial<NewTask> = {}): Promise<TaskRow> {
  const [created] = await insertTasks([newTask(overrides)]);
  return created!.row;
}

export async function getTask(id: string): Promise<TaskRow> {
  const found = await findTask(db(), { kind: "full", id });
  if (found.kind !== "found") throw new Error(`task ${id} not found`);
  return found.row;
}

export async function sql(query: string, ...binds: unknown[]): Promise<void> {
  await env.DB.prepare(query).bind(...binds).run();
}

/** A task's timeline entries, oldest first. */
export async function eventsOf(id: string): Promise<{ from_status: string | null; to_status: string; actor: string; message: string | null }[]> {
  return (await timelineOfTask(id)).map(([, from_status, to_status, , actor, message]) => ({ from_status, to_status, actor, message }));
}

/** A task's timeline as the API shows it (decoded), oldest first. */
export async function timelineOfTask(id: string): Promise<TimelineEntry[]> {
  return timelineOf(await getTask(id));
}

/** Marks every task of earlier tests in this file finished, so a drain here sees only this test's work. */
export async function settleOtherTasks(): Promise<void> {
  await sql("UPDATE tasks SET status = 'cancelled', lane = 0, locked_by = NULL, lease_expires_at = NULL WHERE status NOT IN ('completed', 'failed', 'cancelled')");
}

/** Reads until `ok` holds or `ms` pass, every 25 ms; the last value read (the caller asserts on it). */
export async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}
