import { createRoute, z } from "@hono/zod-openapi";
import { EVENT_ACTORS, TASK_STATUSES } from "../db/schema";
import { AppError } from "../errors";
import { configOf, createRouter } from "../lib/router";
import { errorResponses, taskIdParamSchema, taskInputSchema, taskSchema } from "../schemas/task";
import { CANCELLABLE, RERUNNABLE, cancelTask, rerunTask } from "../store/cancel-or-rerun";
import { openDb } from "../store/db";
import { wakeOrLeaveToSweeper } from "../dispatch/wakeups";
import { eventToJson } from "../store/event-json";
import { flowStates } from "../store/flow-state";
import { taskToJson } from "../store/task-json";
import { submitTasks } from "../submit-tasks";
import { resolveTask } from "./task-ref";

export const taskRoutes = createRouter();

const idempotencyHeader = z.object({
  "idempotency-key": z.string().min(1).max(128).optional(),
});

const taskResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: taskSchema } },
});

taskRoutes.openapi(
  createRoute({
    method: "post",
    path: "/tasks",
    summary: "Create a task",
    request: {
      headers: idempotencyHeader,
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
    const [created] = await submitTasks(
      [input],
      { db: openDb(c.env.DB), queue: c.env.TASK_QUEUE, config: configOf(c), now: Date.now() },
      header,
    );
    if (!created) throw new Error("submitTasks returned nothing");
    return c.json(taskToJson(created.row), created.created ? 201 : 200);
  },
);

taskRoutes.openapi(
  createRoute({
    method: "get",
    path: "/tasks/{id}",
    summary: "Get a task by full id or unique prefix",
    request: { params: taskIdParamSchema },
    responses: { 200: taskResponse("the task"), ...errorResponses(400, 404, 409) },
  }),
  async (c) => {
    const db = openDb(c.env.DB);
    const row = await resolveTask(db, c.req.valid("param").id);
    const flow = await flowStates(db, [row]);
    return c.json(taskToJson(row, flow.get(row.id)), 200);
  },
);

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

taskRoutes.openapi(
  createRoute({
    method: "get",
    path: "/tasks/{id}/events",
    summary: "The task's state changes, oldest first",
    request: { params: taskIdParamSchema },
    responses: {
      200: {
        description: "events",
        content: { "application/json": { schema: z.object({ task_id: z.string(), items: z.array(eventSchema) }) } },
      },
      ...errorResponses(400, 404, 409),
    },
  }),
  async (c) => {
    const row = await resolveTask(openDb(c.env.DB), c.req.valid("param").id);
    return c.json({ task_id: row.id, items: row.events.map(eventToJson) }, 200);
  },
);

const actionRoute = (action: "cancel" | "run", summary: string) =>
  createRoute({
    method: "post",
    path: `/tasks/{id}/${action}`,
    summary,
    request: { params: taskIdParamSchema },
    responses: { 200: taskResponse("the task after the change"), ...errorResponses(400, 404, 409) },
  });

taskRoutes.openapi(actionRoute("cancel", "Cancel a task that has not finished (a running task's late result is discarded)"), async (c) => {
  const db = openDb(c.env.DB);
  const task = await resolveTask(db, c.req.valid("param").id);
  const cancelled = await cancelTask(db, task.id, Date.now());
  if (!cancelled) {
    throw new AppError("invalid_state", `task is ${task.status}; only ${CANCELLABLE.join(", ")} tasks can be cancelled`);
  }
  return c.json(taskToJson(cancelled), 200);
});

taskRoutes.openapi(actionRoute("run", "Queue a created, failed, retrying or cancelled task now"), async (c) => {
  const db = openDb(c.env.DB);
  const task = await resolveTask(db, c.req.valid("param").id);
  const now = Date.now();
  const queued = await rerunTask(db, task.id, now);
  if (!queued) {
    throw new AppError("invalid_state", `task is ${task.status}; only ${RERUNNABLE.join(", ")} tasks can be run`);
  }
  await wakeOrLeaveToSweeper(c.env.TASK_QUEUE, "run");
  return c.json(taskToJson(queued), 200);
});
