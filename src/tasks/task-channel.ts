import { AppError } from "../errors";
import { requireConfig } from "../config";
import { openDb, type Db } from "../store/db";
import { appendLogs, heartbeatTask, readSteps, saveProgress, saveStep } from "../store/task-work";
import { submit, taskOps } from "../task-operations";
import type { ChildTask } from "./define-task";
import { PermanentError } from "./errors";
import { leaseTokenFor } from "../lib/lease-token";
import type { TaskChannel, TaskWork } from "./run-task";

/** A child's idempotency key is `<parent id>:<key>` within the 128 characters keys may have. */
export const MAX_CHILD_KEY_LENGTH = 128 - 37;

/** A run's context writes to its task row, fenced by the claim's token (a claimed task). */
export function storedChannel(env: Env, work: TaskWork & { token: string }): TaskChannel {
  const { id, token } = work;
  // Opened on first use: most tasks never write through their context.
  let opened: Db | undefined;
  const db = () => (opened ??= openDb(env.DB));
  return {
    heartbeat: (details) => heartbeatTask(db(), id, token, details, Date.now(), requireConfig(env).TASK_LEASE_S * 1000),
    saveProgress: (json) => saveProgress(db(), id, token, json, Date.now()),
    readSteps: () => readSteps(db(), id),
    saveStep: (name, json) => saveStep(db(), id, token, name, json, Date.now()),
    appendLogs: (json) => appendLogs(db(), id, token, json, Date.now()),
    submit: (child, key) => submitChild(env, id, child, key),
    leaseToken: () => leaseTokenFor(token, id),
  };
}

async function submitChild(env: Env, parentId: string, child: ChildTask, key: string): Promise<{ id: string; created: boolean }> {
  if (typeof key !== "string" || key === "" || key.length > MAX_CHILD_KEY_LENGTH) throw new PermanentError(`ctx.submit needs a key of 1-${MAX_CHILD_KEY_LENGTH} characters`);
  const input = {
    type: child.type,
    params: child.params ?? {},
    description: child.description ?? null,
    domain: child.domain ?? null,
    drift_score: 0,
    run_immediately: true,
    priority: child.priority ?? 0,
    ...(child.max_attempts === undefined ? {} : { max_attempts: child.max_attempts }),
  };
  try {
    const [created] = await submit(taskOps(env, requireConfig(env)), [input], `${parentId}:${key}`);
    if (!created) throw new Error("submission returned no task");
    return { id: created.row.id, created: created.created };
  } catch (err) {
    // A child the API refuses (unknown type, bad params, the key reused with another body) fails the same way on every attempt.
    if (err instanceof AppError && err.status < 500) throw new PermanentError(`ctx.submit: ${err.message}`);
    throw err;
  }
}

/** A run nothing is stored of (POST /organism/execute): steps live in memory, children cannot be submitted. */
export function unstoredChannel(): TaskChannel {
  const steps = new Map<string, string>();
  return {
    heartbeat: async () => true,
    saveProgress: async () => true,
    readSteps: async () => steps,
    saveStep: async (name, json) => (steps.set(name, json), true),
    appendLogs: async () => true,
    submit: async () => {
      throw new PermanentError("ctx.submit needs a stored task (submit it with POST /tasks)");
    },
    leaseToken: async () => null,
  };
}
