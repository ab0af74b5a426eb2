import { z } from "@hono/zod-openapi";
import { MISSED_POLICIES } from "../db/schema";
import { taskInputFields, withTaskInputChecks } from "./task";

export const MAX_CATCHUP_LIMIT = 1000;

/**
 * A schedule's task: a task submission without idempotency_key (each slot gets its own) and
 * without dependencies (a slot's task has no batch to name, and a fixed parent would be purged).
 */
export const scheduleTaskSchema = withTaskInputChecks(
  taskInputFields.omit({ idempotency_key: true, ref: true, depends_on: true, on_parent_failure: true }),
).openapi("ScheduleTask");

/** A schedule's name in the path (/schedules/{name}): names made before dots were refused stay addressable. */
export const scheduleNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.-]+$/, "name may hold only A-Z, a-z, 0-9 and _ . -")
  .openapi({ example: "nightly-report" });

/** A new schedule's name: no dot at all, so `.` and `..` (which a URL resolves away) cannot be made. */
const newScheduleNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, "name may hold only A-Z, a-z, 0-9 and _ -")
  .openapi({ example: "nightly-report" });

const definition = {
  cron: z.string().min(1).max(128).openapi({ example: "*/5 * * * *", description: "5 fields, or 6 with seconds first (croner)" }),
  timezone: z.string().min(1).max(64).openapi({ example: "Europe/Berlin", description: "IANA name; default UTC" }),
  task: scheduleTaskSchema,
  missed: z.enum(MISSED_POLICIES).openapi({ description: "after downtime: skip missed slots, fire the latest once, or all (up to max_catchup)" }),
  max_catchup: z.number().int().min(1).max(MAX_CATCHUP_LIMIT),
};

export const scheduleInputSchema = z
  .object({
    name: newScheduleNameSchema,
    cron: definition.cron,
    timezone: definition.timezone.default("UTC"),
    task: definition.task,
    missed: definition.missed.default("skip"),
    max_catchup: definition.max_catchup.default(100),
  })
  .strict()
  .openapi("ScheduleInput");

export const schedulePatchSchema = z
  .object({
    cron: definition.cron.optional(),
    timezone: definition.timezone.optional(),
    task: definition.task.optional(),
    missed: definition.missed.optional(),
    max_catchup: definition.max_catchup.optional(),
  })
  .strict()
  .openapi("SchedulePatch");

const isoTime = z.string().nullable().openapi({ example: "2026-11-25T12:00:00.000Z" });

export const scheduleSchema = z
  .object({
    name: z.string(),
    cron: z.string(),
    timezone: z.string(),
    task: z.record(z.string(), z.unknown()),
    missed: z.enum(MISSED_POLICIES),
    max_catchup: z.number().int(),
    paused: z.boolean(),
    next_run_at: isoTime.openapi({ description: "null while paused" }),
    last_run_at: isoTime.openapi({ description: "the last slot that fired" }),
    last_task_id: z.string().nullable(),
    last_task_status: z.string().nullable(),
    fired: z.number().int().openapi({ description: "tasks this schedule created" }),
    skipped: z.number().int().openapi({ description: "missed slots not fired" }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Schedule");

export const schedulePageSchema = z
  .object({ items: z.array(scheduleSchema), next_cursor: z.string().nullable() })
  .openapi("SchedulePage");
