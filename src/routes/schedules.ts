import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../errors";
import { reaperStub } from "../maintenance/reaper-stub";
import { nextSlot, parseCron } from "../lib/cron-slots";
import { configOf, createRouter } from "../lib/router";
import { toIso } from "../lib/time";
import { schedulePageSchema, schedulePatchSchema, scheduleInputSchema, scheduleNameSchema, scheduleSchema, scheduleTaskSchema } from "../schemas/schedule";
import { errorResponses, jsonResponse, taskSchema } from "../schemas/task";
import { openDb } from "../store/db";
import { deleteSchedule, getSchedule, insertSchedule, listSchedules, setLastTask, updateSchedule, type RawSchedule, type ScheduleFields } from "../store/schedules";
import { checkCallbacks } from "../submit-tasks";
import { checkTaskInputs } from "../tasks/check-input";
import { describeCreated, submit, taskOps } from "../task-operations";

function scheduleToJson(s: RawSchedule) {
  return {
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    task: JSON.parse(s.task) as Record<string, unknown>,
    missed: s.missed,
    max_catchup: s.max_catchup,
    paused: s.paused === 1,
    next_run_at: toIso(s.next_run_at),
    last_run_at: toIso(s.last_run_at),
    last_task_id: s.last_task_id,
    last_task_status: s.last_task_status,
    fired: s.fired,
    skipped: s.skipped,
    created_at: toIso(s.created_at) as string,
    updated_at: toIso(s.updated_at) as string,
  };
}

/** The first slot after `now`, or a 400 naming the expression or timezone that does not parse. */
function firstSlot(cron: string, timezone: string, now: number): number | null {
  const parsed = parseCron(cron, timezone);
  if (!parsed.ok) throw new AppError("validation_failed", parsed.message, { fields: [{ path: parsed.field, message: parsed.message }] });
  return nextSlot(parsed.cron, now);
}

/** The alarm fires schedules: bring it forward when this schedule's next slot is sooner than its next tick. */
async function armFor(env: Env, next: number | null): Promise<void> {
  if (next !== null) await reaperStub(env).wakeBy(next);
}

/** A schedule's task is the body's `task`: its fields are named `task.type`, `task.params.ms`. */
const taskField = (_index: number, field: string) => `task.${field}`;

const nameParam = z.object({ name: scheduleNameSchema.openapi({ param: { name: "name", in: "path" } }) });
const notFound = (name: string) => new AppError("not_found", `no schedule named '${name}'`);

async function mustGet(env: Env, name: string): Promise<RawSchedule> {
  const found = await getSchedule(openDb(env.DB), name);
  if (!found) throw notFound(name);
  return found;
}

/** PATCH, pause and resume all rewrite the definition; the next slot is counted from now. */
async function rewrite(env: Env, current: RawSchedule, fields: ScheduleFields, paused: boolean) {
  const now = Date.now();
  const next = firstSlot(fields.cron, fields.timezone, now);
  const updated = await updateSchedule(openDb(env.DB), current.name, { ...fields, paused }, paused ? null : next, now);
  if (!updated) throw notFound(current.name);
  if (!paused) await armFor(env, next);
  return scheduleToJson(updated);
}

const fieldsOf = (s: RawSchedule): ScheduleFields => ({
  cron: s.cron,
  timezone: s.timezone,
  task: JSON.parse(s.task) as Record<string, unknown>,
  missed: s.missed,
  max_catchup: s.max_catchup,
});

// Generic in the action, so each route keeps its literal path in AppType (the typed client).
const actionRoute = <A extends "pause" | "resume">(action: A) =>
  createRoute({
    method: "post",
    path: `/schedules/{name}/${action}` as `/schedules/{name}/${A}`,
    summary: action === "pause" ? "Pause a schedule: no slot fires until it is resumed" : "Resume a schedule from its next slot (paused slots are not caught up)",
    tags: ["schedules"],
    request: { params: nameParam },
    responses: { 200: jsonResponse(scheduleSchema, "the schedule after the change"), ...errorResponses(400, 401, 404) },
  });

async function setPaused(env: Env, name: string, paused: boolean) {
  const current = await mustGet(env, name);
  return rewrite(env, current, fieldsOf(current), paused);
}

/** Cron schedules (DESIGN §13): each slot of the expression submits the schedule's task once. Chained for AppType. */
export const scheduleRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/schedules",
      summary: "Create a cron schedule",
      tags: ["schedules"],
      request: { body: { required: true, content: { "application/json": { schema: scheduleInputSchema } } } },
      responses: { 201: jsonResponse(scheduleSchema, "created"), ...errorResponses(400, 401, 409) },
    }),
    async (c) => {
      const { name, ...fields } = c.req.valid("json");
      checkTaskInputs([fields.task], taskField, configOf(c));
      checkCallbacks([fields.task], configOf(c), false);
      const now = Date.now();
      const next = firstSlot(fields.cron, fields.timezone, now);
      const created = await insertSchedule(openDb(c.env.DB), name, fields, next, now);
      if (!created) throw new AppError("conflict", `a schedule named '${name}' exists (PATCH it, or DELETE it first)`);
      await armFor(c.env, next);
      return c.json(scheduleToJson(created), 201);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/schedules",
      summary: "List schedules by name",
      tags: ["schedules"],
      request: {
        query: z
          .object({
            after: scheduleNameSchema.optional().openapi({ description: "next_cursor of the previous page" }),
            limit: z.coerce.number().int().min(1).max(200).default(100).openapi({ type: "integer" }),
          })
          .strict(),
      },
      responses: { 200: jsonResponse(schedulePageSchema, "one page"), ...errorResponses(400, 401) },
    }),
    async (c) => {
      const { after, limit } = c.req.valid("query");
      const rows = await listSchedules(openDb(c.env.DB), after ?? null, limit);
      const last = rows.at(-1);
      return c.json({ items: rows.map(scheduleToJson), next_cursor: rows.length === limit && last ? last.name : null }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/schedules/{name}",
      summary: "One schedule, with its next and last run and its last task's status",
      tags: ["schedules"],
      request: { params: nameParam },
      responses: { 200: jsonResponse(scheduleSchema, "the schedule"), ...errorResponses(400, 401, 404) },
    }),
    async (c) => c.json(scheduleToJson(await mustGet(c.env, c.req.valid("param").name)), 200),
  )
  .openapi(
    createRoute({
      method: "patch",
      path: "/schedules/{name}",
      summary: "Change a schedule (the next slot is counted from now)",
      tags: ["schedules"],
      request: { params: nameParam, body: { required: true, content: { "application/json": { schema: schedulePatchSchema } } } },
      responses: { 200: jsonResponse(scheduleSchema, "the schedule after the change"), ...errorResponses(400, 401, 404) },
    }),
    async (c) => {
      const current = await mustGet(c.env, c.req.valid("param").name);
      const body = c.req.valid("json");
      if (body.task) {
        checkTaskInputs([body.task], taskField, configOf(c));
        checkCallbacks([body.task], configOf(c), false);
      }
      const patch = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
      return c.json(await rewrite(c.env, current, { ...fieldsOf(current), ...patch }, current.paused === 1), 200);
    },
  )
  .openapi(actionRoute("pause"), async (c) => c.json(await setPaused(c.env, c.req.valid("param").name, true), 200))
  .openapi(actionRoute("resume"), async (c) => c.json(await setPaused(c.env, c.req.valid("param").name, false), 200))
  .openapi(
    createRoute({
      method: "post",
      path: "/schedules/{name}/trigger",
      summary: "Submit the schedule's task now, outside its slots",
      tags: ["schedules"],
      request: { params: nameParam },
      responses: { 201: jsonResponse(taskSchema, "the task"), ...errorResponses(400, 401, 404) },
    }),
    async (c) => {
      const s = await mustGet(c.env, c.req.valid("param").name);
      const template = scheduleTaskSchema.parse(JSON.parse(s.task));
      const now = Date.now();
      const ops = taskOps(c.env, configOf(c));
      // Keyed like a slot, so a retried trigger request within the same millisecond is one task.
      const [created] = await submit(ops, [{ ...template, idempotency_key: `schedule:${s.name}:trigger:${toIso(now)}` }], null, false);
      if (!created) throw new Error("submitTasks returned nothing");
      await setLastTask(ops.db, s.name, created.row.id, now);
      return c.json(describeCreated(created), 201);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/schedules/{name}",
      summary: "Delete a schedule (its tasks stay); answers the schedule as it was",
      tags: ["schedules"],
      request: { params: nameParam },
      responses: { 200: jsonResponse(scheduleSchema, "the deleted schedule"), ...errorResponses(400, 401, 404) },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const deleted = await deleteSchedule(openDb(c.env.DB), name);
      if (!deleted) throw notFound(name);
      return c.json(scheduleToJson(deleted), 200);
    },
  );
