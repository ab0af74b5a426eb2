import { createRoute, z } from "@hono/zod-openapi";
import { EVENT_ACTORS, TASK_STATUSES } from "../db/schema";
import { AppError } from "../errors";
import { configOf, createRouter } from "../lib/router";
import { errorResponses, taskIdParamSchema, taskInputSchema, taskSchema } from "../schemas/task";
import { dependentsPageSchema, dependentsQuerySchema, finishedHeader, waitQuerySchema } from "../schemas/task-api";
import { eventToJson, logToJson } from "../store/event-json";
import { readLogs } from "../store/task-work";
import { timelineOf } from "../store/timeline-codec";
import { cancel, dependents, describe, describeCreated, getTask, run, submit, taskOps, waitForTask } from "../task-operations";

const idempotencyHeader = z.object({
  "idempotency-key": z.string().min(1).max(128).optional(),
});

const taskResponse = (description: string) => ({
  description,
  headers: finishedHeader,
  content: { "application/json": { schema: taskSchema } },
});

const eventSchema = z
  .object({
    at: z.string(),
    from_status: z.enum(TASK_STATUSES).nullable(),
    to_status: z.enum(TASK_STATUSES),
    attempt: z.number().int(),
    actor: z.enum(EVENT_ACTORS),
    message: z.string().nullable(),
  })
  .openapi("TaskEvent");

const logSchema = z
  .object({ at: z.string(), attempt: z.number().int(), level: z.enum(["info", "warn", "error"]), message: z.string(), data: z.unknown() })
  .openapi("TaskLogLine");

// Generic in the action, so the path stays a literal type in AppType.
const actionRoute = <A extends "cancel" | "run">(action: A, summary: string) =>
  createRoute({
    method: "post",
    path: `/tasks/{id}/${action}` as `/tasks/{id}/${A}`,
    summary,
    request: { params: taskIdParamSchema },
    responses: { 200: taskResponse("the task after the change"), ...errorResponses(400, 404, 409) },
  });

const finished = (done: boolean) => ({ "SeedCore-Finished": String(done) });

/** Task routes, chained so their types reach `AppType` (src/app.ts) and the typed client. */
export const taskRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/tasks",
      summary: "Create a task",
      description:
        "With ?wait=S (≤ 60) the answer comes once the task is terminal or the wait ends, with SeedCore-Finished. " +
        "depends_on makes it wait for its parents; callback_url gets a signed POST when it is terminal.",
      request: {
        headers: idempotencyHeader,
        query: waitQuerySchema,
        body: { required: true, content: { "application/json": { schema: taskInputSchema } } },
      },
      responses: {
        201: taskResponse("created"),
        200: taskResponse("an existing task with the same idempotency key"),
        ...errorResponses(400, 409, 413, 503),
      },
    }),
    async (c) => {
      const input = c.req.valid("json");
      const header = c.req.valid("header")["idempotency-key"] ?? null;
      if (header && input.idempotency_key && header !== input.idempotency_key) {
        throw new AppError("bad_request", "Idempotency-Key header and idempotency_key differ");
      }
      const ops = taskOps(c.env, configOf(c));
      const [created] = await submit(ops, [input], header, false);
      if (!created) throw new Error("submitTasks returned nothing");
      const { wait } = c.req.valid("query");
      const status = created.created ? 201 : 200;
      if (wait === undefined) return c.json(describeCreated(created), status);
      const waited = await waitForTask(ops, created.row, wait);
      return c.json(await describe(ops, waited.row), status, finished(waited.finished));
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/tasks/{id}",
      summary: "Get a task by full id or unique prefix (?wait=S: once it is terminal)",
      request: { params: taskIdParamSchema, query: waitQuerySchema },
      responses: { 200: taskResponse("the task"), ...errorResponses(400, 404, 409) },
    }),
    async (c) => {
      const ops = taskOps(c.env, configOf(c));
      const row = await getTask(ops, c.req.valid("param").id);
      const { wait } = c.req.valid("query");
      if (wait === undefined) return c.json(await describe(ops, row), 200);
      const waited = await waitForTask(ops, row, wait);
      return c.json(await describe(ops, waited.row), 200, finished(waited.finished));
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/tasks/{id}/events",
      summary: "The task's timeline, oldest first: state changes and webhook attempts; and its code's log lines (ctx.log, the newest 200)",
      request: { params: taskIdParamSchema },
      responses: {
        200: {
          description: "events",
          content: { "application/json": { schema: z.object({ task_id: z.string(), items: z.array(eventSchema), logs: z.array(logSchema) }) } },
        },
        ...errorResponses(400, 404, 409),
      },
    }),
    async (c) => {
      const ops = taskOps(c.env, configOf(c));
      const row = await getTask(ops, c.req.valid("param").id);
      return c.json({ task_id: row.id, items: timelineOf(row).map(eventToJson), logs: (await readLogs(ops.db, row.id)).map(logToJson) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/tasks/{id}/dependents",
      summary: "The tasks that depend on this one (its children), by id",
      request: { params: taskIdParamSchema, query: dependentsQuerySchema },
      responses: {
        200: { description: "one page", content: { "application/json": { schema: dependentsPageSchema } } },
        ...errorResponses(400, 404, 409),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      return c.json(await dependents(taskOps(c.env, configOf(c)), c.req.valid("param").id, limit, cursor), 200);
    },
  )
  .openapi(actionRoute("cancel", "Cancel a task that has not finished (a running task's late result is discarded)"), async (c) => {
    const ops = taskOps(c.env, configOf(c));
    return c.json(await describe(ops, await cancel(ops, c.req.valid("param").id)), 200);
  })
  .openapi(actionRoute("run", "Queue a created, failed, retrying or cancelled task now"), async (c) => {
    const ops = taskOps(c.env, configOf(c));
    return c.json(await describe(ops, await run(ops, c.req.valid("param").id)), 200);
  });
