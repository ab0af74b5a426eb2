import { z } from "@hono/zod-openapi";
import { PARENT_FAILURE_POLICIES, TASK_STATUSES, WEBHOOK_STATES } from "../db/schema";
import { MAX_CALLBACK_URL_BYTES } from "../webhooks/callback-url";
import { utf8Bytes } from "../lib/platform-limits";
import { MUTATING_CONTROL_ROUTES } from "../organism/decisions";

const MAX_DESCRIPTION_BYTES = 4 * 1024;
const MAX_PARAMS_BYTES = 64 * 1024;
/** The most params + description one task can hold (sizes a dispatcher pass). */
export const MAX_TASK_INPUT_BYTES = MAX_PARAMS_BYTES + MAX_DESCRIPTION_BYTES;
export const MAX_ATTEMPTS_LIMIT = 20;
/** A day of head start at most: priority ages, so a day-old task outranks any new one. */
export const MAX_PRIORITY_S = 86_400;
export const MAX_CONCURRENCY_LIMIT = 1000;
/** Well below SQLite's JSON depth limit (1000), so D1's json() never rejects what we accept. */
export const MAX_PARAMS_DEPTH = 32;

/** Why a JSON value cannot be stored as-is: too deep, or a number JSON cannot carry (1e999). */
function jsonValueProblem(value: unknown, depth = 1): string | null {
  if (typeof value === "number") return Number.isFinite(value) ? null : "params hold a non-finite number";
  if (value === null || typeof value !== "object") return null;
  if (depth > MAX_PARAMS_DEPTH) return `params nest deeper than ${MAX_PARAMS_DEPTH} levels`;
  for (const v of Object.values(value)) {
    const problem = jsonValueProblem(v, depth + 1);
    if (problem) return problem;
  }
  return null;
}

/** Parents one task may have. */
export const MAX_PARENTS = 100;

/** A batch-local name for depends_on; never UUID-shaped, so it cannot be mistaken for a task id. */
export const taskRefNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.:-]+$/, "a ref may hold only A-Z, a-z, 0-9 and _ . : -")
  .refine((s) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s), "a ref must not look like a task id");

/**
 * Types and keys are path segments (/types/{type}, /concurrency-keys/{key}): a URL resolves `.`
 * and `..` segments away, so a name of dots only could never be addressed again.
 */
const notOnlyDots = [(s: string) => !/^\.+$/.test(s), "must not be only dots (it could not be named in a URL path)"] as const;

export const taskTypeSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9_.:-]+$/, "type may hold only a-z, 0-9 and _ . : -")
  .refine(...notOnlyDots)
  .openapi({ example: "general_query" });

/** A concurrency key as submitted: characters that stand in a URL path as they are (no `/`, `%`, `?`, `#`, spaces). */
export const concurrencyKeySchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:@+=~-]+$/, "concurrency_key may hold only A-Z, a-z, 0-9 and _ . : @ + = ~ -")
  .refine(...notOnlyDots);

/** A task's type as submitted: control messages that change the organism go through their routes only. */
const submittableTypeSchema = taskTypeSchema.superRefine((type, ctx) => {
  const route = MUTATING_CONTROL_ROUTES[type];
  if (route) ctx.addIssue({ code: "custom", message: `'${type}' changes the organism and is not accepted as a task; use ${route}` });
});

/** The fields of a task submission, without the checks across fields (schedules reuse them). */
export const taskInputFields = z
  .object({
    type: submittableTypeSchema,
    description: z
      .string()
      .refine((s) => utf8Bytes(s) <= MAX_DESCRIPTION_BYTES, `description exceeds ${MAX_DESCRIPTION_BYTES} bytes`)
      .nullish()
      .openapi({ example: "what is 12*(3+4)?" }),
    domain: z.string().min(1).max(64).nullish(),
    drift_score: z.number().finite().min(0).max(1).default(0),
    params: z
      .record(z.string(), z.unknown())
      .superRefine((p, ctx) => {
        // Depth first: JSON.stringify of a very deep value would overflow the stack.
        const problem =
          jsonValueProblem(p) ??
          (utf8Bytes(JSON.stringify(p)) > MAX_PARAMS_BYTES ? `params exceed ${MAX_PARAMS_BYTES} bytes of JSON` : null);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .default({}),
    run_immediately: z.boolean().default(true),
    run_after: z.iso.datetime({ offset: true }).nullish().openapi({ example: "2026-01-01T00:00:00Z" }),
    max_attempts: z.number().int().min(1).max(MAX_ATTEMPTS_LIMIT).optional(),
    idempotency_key: z.string().min(1).max(128).nullish(),
    ref: taskRefNameSchema.optional().openapi({
      description: "POST /tasks/batch only: a name other items of the same batch give in depends_on",
      example: "extract",
    }),
    depends_on: z
      .array(z.union([z.string().uuid(), taskRefNameSchema]))
      .max(MAX_PARENTS)
      .refine((ids) => new Set(ids).size === ids.length, "depends_on lists a parent twice")
      .optional()
      .openapi({
        description: `up to ${MAX_PARENTS} parents: ids of existing tasks, or refs of items of the same batch. The task waits (created, waiting_on > 0) until every parent has completed, then is queued; its handler gets their results in params.parents`,
      }),
    on_parent_failure: z.enum(PARENT_FAILURE_POLICIES).optional().openapi({
      description: "when a parent fails or is cancelled: fail (default) or cancel this task with the reason, or run it anyway once every parent has finished",
    }),
    callback_url: z.string().max(MAX_CALLBACK_URL_BYTES).optional().openapi({
      description: "POSTed the task JSON once it is terminal, signed with SeedCore-Signature (https; http to loopback only in local development)",
      example: "https://example.com/hooks/seedcore",
    }),
    // Flow control (DESIGN §13).
    priority: z.number().int().min(0).max(MAX_PRIORITY_S).default(0).openapi({ description: "seconds of head start in the claim order" }),
    concurrency_key: concurrencyKeySchema.nullish().openapi({ example: "tenant:42" }),
    concurrency_limit: z
      .number()
      .int()
      .min(1)
      .max(MAX_CONCURRENCY_LIMIT)
      .optional()
      .openapi({ description: "most tasks of the key running at once (default: CONCURRENCY_LIMITS, else 1)" }),
  })
  .strict();

/** Checks across the fields of a submission. */
export const withTaskInputChecks = <T extends z.ZodType<{ concurrency_key?: string | null | undefined; concurrency_limit?: number | undefined }>>(schema: T) =>
  schema.refine((t) => t.concurrency_limit === undefined || Boolean(t.concurrency_key), {
    path: ["concurrency_limit"],
    message: "concurrency_limit needs a concurrency_key",
  });

/** Body of POST /tasks (and each item of POST /tasks/batch). */
export const taskInputSchema = withTaskInputChecks(taskInputFields).openapi("TaskInput");

export type TaskInput = z.infer<typeof taskInputSchema>;

const isoTime = z.string().openapi({ example: "2026-11-25T12:00:00.000Z" });

export const taskSchema = z
  .object({
    id: z.string().uuid(),
    status: z.enum(TASK_STATUSES),
    type: z.string(),
    description: z.string().nullable(),
    domain: z.string().nullable(),
    drift_score: z.number(),
    params: z.record(z.string(), z.unknown()),
    result: z.unknown().openapi({ description: "what the task's code returned (any JSON)" }),
    execution: z.record(z.string(), z.unknown()).nullable().openapi({ description: "how it ran: path (fast, escalation, control), organ_id, replica, agent_id, p_fast, latency_ms; an escalation's plan and steps" }),
    progress: z
      .object({ current: z.number(), total: z.number().nullable(), message: z.string().nullable(), at: isoTime.nullable() })
      .nullable()
      .openapi({ description: "the last ctx.progress() the task's code reported (stored about once a second)" }),
    error: z.string().nullable(),
    attempts: z.number().int(),
    max_attempts: z.number().int(),
    run_after: isoTime.nullable(),
    locked_by: z.string().nullable(),
    locked_at: isoTime.nullable(),
    lease_expires_at: isoTime.nullable(),
    last_heartbeat: isoTime.nullable(),
    idempotency_key: z.string().nullable(),
    depends_on: z.array(z.string()).openapi({ description: "the parents' ids ([] when none)" }),
    on_parent_failure: z.enum(PARENT_FAILURE_POLICIES).nullable(),
    waiting_on: z.number().int().openapi({ description: "parents not finished yet; > 0 while the task waits on them (status created)" }),
    callback_url: z.string().nullable(),
    webhook_state: z.enum(WEBHOOK_STATES).nullable().openapi({ description: "pending, sent, delivered or failed once the task is terminal" }),
    created_at: isoTime,
    updated_at: isoTime,
    plan: z
      .object({
        plan_source: z.enum(["params", "decomposition", "fallback", "llm"]),
        fallback_reason: z.string().optional(),
        steps: z.array(z.object({ organ_id: z.string(), type: z.string(), done: z.boolean(), finished_at: isoTime.nullable() })),
      })
      .nullable()
      .openapi({ description: "an escalation plan and how far it got; a retry resumes at the first step not done" }),
    // Flow control (DESIGN §13).
    priority: z.number().int(),
    concurrency_key: z.string().nullable(),
    concurrency_limit: z.number().int().nullable(),
    paused: z.boolean().openapi({ description: "waiting, and its type or concurrency key is paused" }),
    waiting_on_key: z.boolean().openapi({ description: "waiting, and its concurrency key is at its limit" }),
  })
  .openapi("Task");

export const errorSchema = z
  .object({
    error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
  })
  .openapi("Error");

export const taskIdParamSchema = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, example: "3f2a9c1e" }),
});

/** A JSON response of the OpenAPI document. */
export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });

/** Standard error responses for the OpenAPI document. */
export const errorResponses = (...codes: (400 | 401 | 403 | 404 | 409 | 413 | 429 | 503)[]) =>
  Object.fromEntries(
    codes.map((code) => [code, { description: "error", content: { "application/json": { schema: errorSchema } } }]),
  );
