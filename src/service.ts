import { WorkerEntrypoint } from "cloudflare:workers";
import type { z } from "zod";
import { MAX_BODY_BYTES } from "./app";
import { parseConfig } from "./config";
import { AppError, asUnavailable } from "./errors";
import { utf8Bytes } from "./lib/platform-limits";
import { validationError } from "./lib/router";
import { taskInputSchema, type TaskInput } from "./schemas/task";
import { batchInputSchema, listTasksQuerySchema, waitQuerySchema } from "./schemas/task-api";
import type { TaskJson } from "./store/task-json";
import { cancel, describe, describeCreated, getTask, list, run, submit, taskOps, waitForTask, type TaskOps } from "./task-operations";

/** An error as it crosses RPC: the code in front of the message (see service-client.ts). */
function asServiceError(err: unknown): Error {
  const unavailable = asUnavailable(err);
  const app = err instanceof AppError ? err : unavailable?.error;
  if (!app) {
    console.error("service binding: unhandled error", err);
    return new Error("internal_error: internal error");
  }
  return new Error(`${app.code}: ${app.message}`);
}

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  // The HTTP API's body limit, applied to what the caller hands us.
  if (utf8Bytes(JSON.stringify(value) ?? "") > MAX_BODY_BYTES) throw new AppError("payload_too_large", `request exceeds ${MAX_BODY_BYTES} bytes`);
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(parsed.error.issues);
  return parsed.data;
}

export interface WaitResult {
  task: TaskJson;
  /** false: the wait ended before the task was terminal. */
  finished: boolean;
}

/**
 * The service binding (`[[services]] … entrypoint = "SeedCoreService"`): the task API as RPC for
 * other Workers, with the HTTP API's schemas, limits and error codes. There is no token: only
 * Workers of the same account that were given the binding can call it.
 */
export class SeedCoreService extends WorkerEntrypoint<Env> {
  private async call<T>(fn: (ops: TaskOps) => Promise<T>): Promise<T> {
    try {
      const config = parseConfig(this.env);
      if (!config.ok) throw new AppError("unavailable", config.error);
      return await fn(taskOps(this.env, config.config));
    } catch (err) {
      throw asServiceError(err);
    }
  }

  /** POST /tasks: one task (the body as JSON), optionally with an idempotency key. */
  submit(input: unknown, options: { idempotencyKey?: string } = {}): Promise<TaskJson> {
    return this.call(async (ops) => {
      const task: TaskInput = parse(taskInputSchema, input);
      if (options.idempotencyKey !== undefined && task.idempotency_key && task.idempotency_key !== options.idempotencyKey) {
        throw new AppError("bad_request", "idempotencyKey and idempotency_key differ");
      }
      const [created] = await submit(ops, [task], options.idempotencyKey ?? null, false);
      if (!created) throw new Error("submit returned nothing");
      return describeCreated(created);
    });
  }

  /** POST /tasks/batch: 1–100 tasks, all or nothing; items may depend on each other by ref. */
  submitBatch(inputs: unknown): Promise<TaskJson[]> {
    return this.call(async (ops) => {
      const { tasks } = parse(batchInputSchema, { tasks: inputs });
      return (await submit(ops, tasks, null, true)).map(describeCreated);
    });
  }

  /** GET /tasks/{id}: full id or unique prefix. */
  get(id: string): Promise<TaskJson> {
    return this.call(async (ops) => describe(ops, await getTask(ops, id)));
  }

  /** GET /tasks/{id}?wait=S: the task once terminal, or as it is when `seconds` (≤ 60) pass. */
  wait(id: string, seconds: number): Promise<WaitResult> {
    return this.call(async (ops) => {
      const { wait = 0 } = parse(waitQuerySchema, { wait: seconds });
      const waited = await waitForTask(ops, await getTask(ops, id), wait);
      return { task: await describe(ops, waited.row), finished: waited.finished };
    });
  }

  cancel(id: string): Promise<TaskJson> {
    return this.call(async (ops) => describe(ops, await cancel(ops, id)));
  }

  run(id: string): Promise<TaskJson> {
    return this.call(async (ops) => describe(ops, await run(ops, id)));
  }

  /** GET /tasks: filters, limit, cursor. */
  list(query: unknown = {}): Promise<{ items: TaskJson[]; next_cursor: string | null }> {
    return this.call(async (ops) => list(ops, parse(listTasksQuerySchema, query)));
  }
}
