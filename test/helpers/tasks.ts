import { env } from "cloudflare:workers";
import type { TaskRow } from "../../src/db/schema";
import { createTasks, type NewTask } from "../../src/store/create-tasks";
import { openDb } from "../../src/store/db";
import { findTask } from "../../src/store/find-task";

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
    ...overrides,
  };
}

/** Inserts a queued task straight into D1, with no queue message: the test delivers it. */
export async function insertTask(overrides: Partial<NewTask> = {}): Promise<TaskRow> {
  const [created] = await createTasks(db(), [newTask(overrides)], Date.now());
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

export async function eventsOf(id: string): Promise<{ from_status: string | null; to_status: string; actor: string; message: string | null }[]> {
  const { results } = await env.DB.prepare(
    "SELECT from_status, to_status, actor, message FROM task_events WHERE task_id = ? ORDER BY id",
  )
    .bind(id)
    .all<{ from_status: string | null; to_status: string; actor: string; message: string | null }>();
  return results;
}
