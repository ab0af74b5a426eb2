import type { Config } from "./config";
import { TERMINAL_STATUSES, type TaskRow } from "./db/schema";
import { wakeOrLeaveToSweeper } from "./dispatch/wakeups";
import { AppError } from "./errors";
import { followUpDeps, followUpTerminal } from "./follow-ups";
import { cursorParam, encodeCursor } from "./lib/cursor";
import { resolveTask } from "./routes/task-ref";
import type { TaskInput } from "./schemas/task";
import type { ListTasksInput } from "./schemas/task-api";
import { CANCELLABLE, RERUNNABLE, cancelTask, rerunTask } from "./store/cancel-or-rerun";
import type { CreatedTask } from "./store/create-tasks";
import { openDb, type Db } from "./store/db";
import { listDependents } from "./store/dependents";
import { unpackExecution } from "./store/execution-codec";
import { findTask, watchTask } from "./store/find-task";
import { flowStates } from "./store/flow-state";
import { listTasks } from "./store/list-tasks";
import { NOT_WAITING, taskToJson, type TaskJson } from "./store/task-json";
import { readPlanViews, type PlanView } from "./store/task-plans";
import { submitTasks } from "./submit-tasks";
import { waiterStub } from "./clients/waiter-stub";

/**
 * The task operations behind both the HTTP routes and the service binding (src/service.ts), so
 * both have one behaviour: the same checks, the same AppError codes.
 */
export interface TaskOps {
  env: Env;
  config: Config;
  db: Db;
}

export const taskOps = (env: Env, config: Config): TaskOps => ({ env, config, db: openDb(env.DB) });

/** The longest `wait` a caller may ask for, in seconds. */
export const MAX_WAIT_S = 60;

const isTerminal = (row: TaskRow) => TERMINAL_STATUSES.includes(row.status);

export function submit(ops: TaskOps, inputs: TaskInput[], headerKey: string | null = null, batch = inputs.length > 1): Promise<CreatedTask[]> {
  const { env, config, db } = ops;
  return submitTasks(inputs, { db, queue: env.TASK_QUEUE, config, now: Date.now(), followUp: followUpDeps(env, db) }, headerKey, batch);
}

export const getTask = (ops: TaskOps, ref: string): Promise<TaskRow> => resolveTask(ops.db, ref);

/** Tasks as answered to a reader: with whether each waits on a pause or on its key's limit (one read for all). */
/** A task that may have an escalation plan: it escalated, or it is running (maybe before its first step). */
const mayHavePlan = (r: TaskRow) => r.status === "running" || (r.execution !== null && unpackExecution(r.execution)["path"] === "escalation");

export async function describeAll(ops: TaskOps, rows: TaskRow[]): Promise<TaskJson[]> {
  const planned = rows.filter(mayHavePlan).map((r) => r.id);
  const [flow, plans] = await Promise.all([flowStates(ops.db, rows), planned.length > 0 ? readPlanViews(ops.db, planned) : new Map<string, PlanView>()]);
  return rows.map((r) => taskToJson(r, flow.get(r.id) ?? NOT_WAITING, plans.get(r.id) ?? null));
}

/** A task just submitted, as answered: its flow state came with the insert (no second read). */
export const describeCreated = (created: CreatedTask): TaskJson => taskToJson(created.row, created.flow);

export async function describe(ops: TaskOps, row: TaskRow): Promise<TaskJson> {
  return (await describeAll(ops, [row]))[0] as TaskJson;
}

/**
 * Waits up to `seconds` for the task to be terminal. Cost per waiter, whatever the wait: one D1
 * write (the task is marked watched, so its terminal write notifies), one RPC to its waiter shard
 * (which reads D1 once and then only waits), one D1 read at the end, plus one notify RPC from the
 * writer. No polling.
 */
export async function waitForTask(ops: TaskOps, row: TaskRow, seconds: number): Promise<{ row: TaskRow; finished: boolean }> {
  if (isTerminal(row) || seconds <= 0) return { row, finished: isTerminal(row) };
  const watched = row.watched === 1 ? row : await watchTask(ops.db, row.id, Date.now());
  if (!watched || isTerminal(watched)) return { row: watched ?? row, finished: true };
  await waiterStub(ops.env, row.id).wait(row.id, Math.min(seconds, MAX_WAIT_S) * 1000);
  const found = await findTask(ops.db, { kind: "full", id: row.id });
  const now = found.kind === "found" ? found.row : watched;
  return { row: now, finished: isTerminal(now) };
}

export async function cancel(ops: TaskOps, ref: string): Promise<TaskRow> {
  const task = await resolveTask(ops.db, ref);
  const { row, dependents } = await cancelTask(ops.db, task.id, Date.now());
  if (!row) throw new AppError("invalid_state", `task is ${task.status}; only ${CANCELLABLE.join(", ")} tasks can be cancelled`);
  const changed = { id: row.id, status: row.status, watched: row.watched, webhook_state: row.webhookState };
  const released = await followUpTerminal([changed], dependents, "api", followUpDeps(ops.env, ops.db));
  if (released > 0) await wakeOrLeaveToSweeper(ops.env.TASK_QUEUE, "run");
  return row;
}

export async function run(ops: TaskOps, ref: string): Promise<TaskRow> {
  const task = await resolveTask(ops.db, ref);
  const queued = await rerunTask(ops.db, task.id, Date.now());
  if (!queued) {
    if (task.status === "created" && task.waitingOn > 0) {
      throw new AppError("invalid_state", `task waits on ${task.waitingOn} parent(s) (${(task.dependsOn ?? []).join(", ")}); it is queued when they complete`);
    }
    throw new AppError("invalid_state", `task is ${task.status}; only ${RERUNNABLE.join(", ")} tasks can be run`);
  }
  await wakeOrLeaveToSweeper(ops.env.TASK_QUEUE, "run");
  return queued;
}

export async function list(ops: TaskOps, q: ListTasksInput): Promise<{ items: TaskJson[]; next_cursor: string | null }> {
  const page = await listTasks(ops.db, {
    status: q.status,
    type: q.type,
    domain: q.domain,
    concurrencyKey: q.concurrency_key,
    flow: q.flow,
    limit: q.limit,
    after: cursorParam(q.cursor),
  });
  return { items: await describeAll(ops, page.rows), next_cursor: page.next && encodeCursor(page.next) };
}

/** A page of a task's children (tasks that depend on it), by id. */
export async function dependents(ops: TaskOps, ref: string, limit: number, after?: string) {
  const task = await resolveTask(ops.db, ref);
  const items = await listDependents(ops.db, task.id, limit + 1, after);
  return { task_id: task.id, items: items.slice(0, limit), next_cursor: items.length > limit ? (items[limit - 1]?.id ?? null) : null };
}
