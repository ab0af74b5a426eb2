import type { Config } from "./config";
import { wakeOrLeaveToSweeper, wakeupDelaySeconds } from "./dispatch/wakeups";
import type { TaskMessage } from "./dispatch/message";
import { AppError } from "./errors";
import { canonicalJson, sha256Hex } from "./lib/canonical-json";
import { defaultConcurrencyLimit } from "./lib/concurrency-limit";
import { utf8Bytes } from "./lib/platform-limits";
import type { TaskInput } from "./schemas/task";
import { createTasks, type CreatedTask, type NewTask } from "./store/create-tasks";
import { fieldOf, resolveParents } from "./dependencies";
import { followUpTerminal, type FollowUpDeps } from "./follow-ups";
import { missingTaskIds } from "./store/find-task";
import { callbackUrlProblem } from "./webhooks/callback-url";
import { checkTaskInputs } from "./tasks/check-input";
import { definitionFor } from "./tasks/registry";
import type { Db } from "./store/db";

export interface SubmitDeps {
  db: Db;
  queue: Queue<TaskMessage>;
  config: Config;
  now: number;
  /** For dependents the submission fails at once (a parent had failed): their webhooks. */
  followUp: FollowUpDeps;
}

/** What identifies a submission for idempotency: the body as given, without the key itself. */
function requestHash(input: TaskInput): Promise<string> {
  const { idempotency_key: _key, ...body } = input;
  return sha256Hex(canonicalJson(body));
}

function flowFields(input: TaskInput, config: Config): Pick<NewTask, "priority" | "concurrency_key" | "concurrency_limit"> {
  const key = input.concurrency_key ?? null;
  return {
    priority: input.priority,
    concurrency_key: key,
    concurrency_limit: key === null ? null : (input.concurrency_limit ?? defaultConcurrencyLimit(key, config.CONCURRENCY_LIMITS)),
  };
}

async function toNewTask(input: TaskInput, id: string, parents: string[] | null, config: Config, headerKey: string | null): Promise<NewTask> {
  const key = headerKey ?? input.idempotency_key ?? null;
  return {
    id,
    // A dependent waits in `created` until its parents release it (in the insert's own transaction when they are done).
    status: input.run_immediately && parents === null ? "queued" : "created",
    type: input.type,
    description: input.description ?? null,
    domain: input.domain ?? null,
    drift_score: input.drift_score,
    params: input.params,
    run_after: input.run_after ? Date.parse(input.run_after) : null,
    // The submission's own, else its type's definition's, else the deployment's default.
    max_attempts: input.max_attempts ?? definitionFor(input.type, config)?.max_attempts ?? config.MAX_TASK_ATTEMPTS,
    idempotency_key: key,
    input_bytes: utf8Bytes(JSON.stringify(input.params)) + utf8Bytes(input.description ?? ""),
    request_hash: key === null ? null : await requestHash(input),
    depends_on: parents,
    on_parent_failure: parents === null ? null : (input.on_parent_failure ?? "fail"),
    callback_url: input.callback_url ?? null,
    ...flowFields(input, config),
  };
}

/** A callback_url must be one a deployed Worker may post to, and webhooks need their secret. */
export function checkCallbacks(inputs: readonly Pick<TaskInput, "callback_url">[], config: Config, batch: boolean): void {
  inputs.forEach((input, i) => {
    if (input.callback_url === undefined) return;
    const path = fieldOf(batch, i, "callback_url");
    const problem = callbackUrlProblem(input.callback_url, config.WEBHOOK_ALLOW_LOOPBACK);
    if (problem) throw new AppError("validation_failed", `${path}: ${problem}`, { fields: [{ path, message: problem }] });
    if (!config.WEBHOOK_SECRET) {
      throw new AppError("validation_failed", `${path}: webhooks are off until the WEBHOOK_SECRET secret is set (wrangler secret put WEBHOOK_SECRET)`);
    }
  });
}

function conflict(index: number, key: string, inputs: unknown[]): AppError {
  const where = inputs.length > 1 ? ` (tasks.${index})` : "";
  return new AppError("idempotency_conflict", `idempotency key '${key}'${where} was already used with a different body`, { idempotency_key: key, index });
}

/** The same key twice in one request must mean the same task, or the request is refused whole. */
function checkRepeatedKeys(tasks: NewTask[]): void {
  const seen = new Map<string, string | null>();
  for (const [index, t] of tasks.entries()) {
    if (t.idempotency_key === null) continue;
    if (seen.has(t.idempotency_key) && seen.get(t.idempotency_key) !== t.request_hash) throw conflict(index, t.idempotency_key, tasks);
    seen.set(t.idempotency_key, t.request_hash);
  }
}

/**
 * Checks types and params (each type defined, its params parse with the definition's schema),
 * callbacks and dependencies (refs resolved, parents present), stores the tasks (one
 * transaction), then sends one wake-up for the new queued ones: at once if any is due, else
 * delayed to the earliest run_after (the pass it wakes schedules the next).
 */
export async function submitTasks(inputs: TaskInput[], deps: SubmitDeps, headerKey: string | null = null, batch = inputs.length > 1): Promise<CreatedTask[]> {
  checkTaskInputs(inputs, (i, field) => fieldOf(batch, i, field), deps.config);
  checkCallbacks(inputs, deps.config, batch);
  // Ascending: a batch's tasks share their order key, and the claim breaks ties by id, so this keeps them in submission order.
  const ids = inputs.map(() => crypto.randomUUID()).sort();
  const { parents, external } = resolveParents(inputs, ids, batch);
  const missing = await missingTaskIds(deps.db, external);
  if (missing.length > 0) {
    throw new AppError("validation_failed", `depends_on: no task ${missing.join(", ")} (parents must exist when the task is submitted)`, { missing });
  }
  const tasks = await Promise.all(inputs.map((input, i) => toNewTask(input, ids[i] as string, parents[i] ?? null, deps.config, headerKey)));
  checkRepeatedKeys(tasks);
  const result = await createTasks(deps.db, tasks, deps.now);
  if (!result.ok) throw conflict(result.conflict.index, result.conflict.key, tasks);
  if (result.effects.changed.length > 0 || result.effects.more) await followUpTerminal([], result.effects, "api", deps.followUp);
  const queued = result.tasks.filter((c) => c.created && c.row.status === "queued");
  if (queued.length > 0) {
    const earliest = Math.min(...queued.map((c) => c.row.runAfter ?? deps.now));
    await wakeOrLeaveToSweeper(deps.queue, "submit", wakeupDelaySeconds(earliest, deps.now));
  }
  return result.tasks;
}
