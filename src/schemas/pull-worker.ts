import { z } from "@hono/zod-openapi";
import { utf8Bytes } from "../lib/platform-limits";
import { taskTypeSchema } from "./task";

/** POST /workers/lease: the most types one request may list. */
export const MAX_LEASE_TYPES = 50;
/** POST /workers/lease: the most tasks one lease takes. */
export const MAX_LEASE_TASKS = 100;
/** Lease length bounds and default, seconds. */
export const MIN_LEASE_S = 5;
export const MAX_LEASE_S = 900;
export const DEFAULT_LEASE_S = 60;
/** The longest a lease request waits for due work, seconds. */
export const MAX_LEASE_WAIT_S = 20;
export const DEFAULT_LEASE_WAIT_S = 5;
/** Heartbeat details are kept for the next attempt: at most this many bytes of JSON. */
export const MAX_HEARTBEAT_DETAILS_BYTES = 8 * 1024;
/** A worker's error message, characters. */
export const MAX_WORKER_ERROR_CHARS = 2000;
/** retry_after_s of POST /tasks/{id}/fail: at most a day. */
export const MAX_RETRY_AFTER_S = 86_400;

const leaseSeconds = z.number().min(MIN_LEASE_S).max(MAX_LEASE_S);

/** The id of a pull-worker route: a full task id (a worker got it from its lease). */
export const leasedTaskParamSchema = z.object({
  id: z.string().uuid().openapi({ param: { name: "id", in: "path" }, example: "3f2a9c1e-0000-4000-8000-000000000000" }),
});

const leaseToken = z.string().min(1).max(200).openapi({ description: "the task's lease_token from POST /workers/lease (or the SeedCore-Lease-Token header of an http executor's request)" });

/** A JSON value of at most `max` bytes (its JSON text). */
const jsonUpTo = (max: number, what: string) =>
  z.unknown().superRefine((value, ctx) => {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch {
      ctx.addIssue({ code: "custom", message: `${what} must be JSON` });
      return;
    }
    if (text !== undefined && utf8Bytes(text) > max) ctx.addIssue({ code: "custom", message: `${what} of ${utf8Bytes(text)} bytes exceeds ${max}` });
  });

export const leaseInputSchema = z
  .object({
    types: z
      .array(taskTypeSchema)
      .min(1)
      .max(MAX_LEASE_TYPES)
      .optional()
      .openapi({ description: `pull types to lease (default: every pull type the token may lease); at most ${MAX_LEASE_TYPES}` }),
    max: z.number().int().min(1).max(MAX_LEASE_TASKS).default(1).openapi({ description: `most tasks to lease (1-${MAX_LEASE_TASKS})` }),
    lease_s: leaseSeconds.default(DEFAULT_LEASE_S).openapi({ description: `lease length in seconds (${MIN_LEASE_S}-${MAX_LEASE_S}); heartbeats extend it` }),
    wait_s: z.number().min(0).max(MAX_LEASE_WAIT_S).default(DEFAULT_LEASE_WAIT_S).openapi({ description: `seconds (≤ ${MAX_LEASE_WAIT_S}) to wait for due work when none is due` }),
  })
  .strict()
  .openapi("LeaseRequest");

export const leasedTaskSchema = z
  .object({
    id: z.string(),
    type: z.string(),
    params: z.record(z.string(), z.unknown()),
    description: z.string().nullable(),
    domain: z.string().nullable(),
    attempt: z.number().int(),
    max_attempts: z.number().int(),
    lease_token: z.string(),
    lease_expires_at: z.number().int().openapi({ description: "epoch ms" }),
    deadline: z.number().int().nullable().openapi({ description: "epoch ms: now + the definition's timeout_s, or null (the lease is the only bound)" }),
    last_heartbeat: z.unknown().openapi({ description: "details of the last heartbeat of an earlier attempt, or null" }),
    parents: z.record(z.string(), z.unknown()).nullable().openapi({ description: "a dependent's parents by id: status, result, error" }),
  })
  .openapi("LeasedTask");

export const leaseResultSchema = z.object({ tasks: z.array(leasedTaskSchema) }).openapi("LeaseResult");

export const heartbeatInputSchema = z
  .object({
    lease_token: leaseToken,
    lease_s: leaseSeconds.optional().openapi({ description: "new lease length from now (default: the lease's current length, else 60)" }),
    details: jsonUpTo(MAX_HEARTBEAT_DETAILS_BYTES, "details").optional().openapi({ description: `JSON (≤ ${MAX_HEARTBEAT_DETAILS_BYTES} bytes) kept for the next attempt (its last_heartbeat)` }),
  })
  .strict()
  .openapi("HeartbeatRequest");

export const heartbeatResultSchema = z
  .object({ id: z.string(), lease_expires_at: z.number().int(), cancel_requested: z.boolean() })
  .openapi("HeartbeatResult");

export const completeInputSchema = z
  .object({ lease_token: leaseToken, result: z.unknown().openapi({ description: "the task's result (JSON, ≤ RESULT_MAX_BYTES)" }) })
  .strict()
  .openapi("CompleteRequest");

export const failInputSchema = z
  .object({
    lease_token: leaseToken,
    error: z.string().min(1).max(MAX_WORKER_ERROR_CHARS),
    retryable: z.boolean().default(true),
    retry_after_s: z.number().min(0).max(MAX_RETRY_AFTER_S).optional().openapi({ description: "when retryable: retry this many seconds from now (default: the type's backoff)" }),
  })
  .strict()
  .openapi("FailRequest");

export const releaseInputSchema = z.object({ lease_token: leaseToken }).strict().openapi("ReleaseRequest");

export const finishResultSchema = z
  .object({ id: z.string(), status: z.enum(["completed", "failed", "retry", "queued"]) })
  .openapi("LeaseOutcome");
