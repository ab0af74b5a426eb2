import { z } from "@hono/zod-openapi";
import { TASK_STATUSES } from "../db/schema";
import { MAX_CURSOR_LENGTH } from "../lib/cursor";
import { taskInputSchema, taskSchema, taskTypeSchema } from "./task";

export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 200;
export const MAX_BATCH_TASKS = 100;

/** Query of GET /tasks; unknown parameters are refused rather than silently ignored. */
export const listTasksQuerySchema = z
  .object({
    status: z.enum(TASK_STATUSES).optional(),
    type: taskTypeSchema.optional(),
    domain: z.string().min(1).max(64).optional(),
    concurrency_key: z.string().min(1).max(128).optional(),
    flow: z.enum(["paused", "waiting_on_key"]).optional().openapi({ description: "waiting tasks held by a pause, or by their key's limit" }),
    limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(DEFAULT_LIST_LIMIT).openapi({ type: "integer", example: 50 }),
    cursor: z
      .string()
      .min(1)
      .max(MAX_CURSOR_LENGTH)
      .optional()
      .openapi({ description: "next_cursor of the previous page (opaque)" }),
  })
  .strict();

export type ListTasksInput = z.infer<typeof listTasksQuerySchema>;

/** `?wait=S` on GET /tasks/{id} and POST /tasks. */
export const waitQuerySchema = z.object({
  wait: z.coerce
    .number()
    .min(0)
    .max(60)
    .optional()
    .openapi({
      description: "seconds (≤ 60) to wait for the task to be terminal; the answer comes as soon as it is, or when the wait ends, with SeedCore-Finished: true | false",
      example: 30,
    }),
});

export const finishedHeader = {
  "SeedCore-Finished": { description: "with ?wait: true when the task is terminal, false when the wait ended first", schema: { type: "string" as const, enum: ["true", "false"] } },
};

export const dependentsQuerySchema = z
  .object({
    limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(DEFAULT_LIST_LIMIT).openapi({ type: "integer", example: 50 }),
    cursor: z.string().uuid().optional().openapi({ description: "next_cursor of the previous page" }),
  })
  .strict();

export const dependentsPageSchema = z
  .object({
    task_id: z.string(),
    items: z.array(z.object({ id: z.string(), status: z.enum(TASK_STATUSES), type: z.string() })),
    next_cursor: z.string().nullable(),
  })
  .openapi("TaskDependents");

export const taskPageSchema = z
  .object({
    items: z.array(taskSchema),
    next_cursor: z.string().nullable().openapi({ description: "null on the last page" }),
  })
  .openapi("TaskPage");

export const batchInputSchema = z
  .object({ tasks: z.array(taskInputSchema).min(1).max(MAX_BATCH_TASKS) })
  .strict()
  .openapi("TaskBatchInput");

export const batchResultSchema = z
  .object({ items: z.array(taskSchema).openapi({ description: "the tasks, in the order submitted" }) })
  .openapi("TaskBatchResult");

export const taskStatusSchema = z
  .object({
    id: z.string().uuid(),
    status: z.enum(TASK_STATUSES),
    attempts: z.number().int(),
    max_attempts: z.number().int(),
    error: z.string().nullable(),
    run_after: z.string().nullable(),
    updated_at: z.string(),
  })
  .openapi("TaskStatus");
