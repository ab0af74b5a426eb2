import { createRoute } from "@hono/zod-openapi";
import { AppError } from "../errors";
import { decodeCursor, encodeCursor, type TaskCursor } from "../lib/cursor";
import { createRouter } from "../lib/router";
import { toIso } from "../lib/time";
import { errorResponses, taskIdParamSchema } from "../schemas/task";
import { listTasksQuerySchema, taskPageSchema, taskStatusSchema } from "../schemas/task-api";
import { openDb } from "../store/db";
import { flowStates } from "../store/flow-state";
import { listTasks } from "../store/list-tasks";
import { taskToJson } from "../store/task-json";
import { resolveTask } from "./task-ref";

/** Read-only task routes: the list and the small status view. */
export const taskQueryRoutes = createRouter();

taskQueryRoutes.openapi(
  createRoute({
    method: "get",
    path: "/tasks",
    summary: "List tasks, newest first, with filters and a keyset cursor",
    request: { query: listTasksQuerySchema },
    responses: {
      200: { description: "one page", content: { "application/json": { schema: taskPageSchema } } },
      ...errorResponses(400, 401),
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    let after: TaskCursor | undefined;
    if (q.cursor !== undefined) {
      const decoded = decodeCursor(q.cursor);
      if (!decoded.ok) {
        throw new AppError("validation_failed", `cursor: ${decoded.reason}`, {
          fields: [{ path: "cursor", message: decoded.reason }],
        });
      }
      after = decoded.cursor;
    }
    const db = openDb(c.env.DB);
    const page = await listTasks(db, {
      status: q.status, type: q.type, domain: q.domain, limit: q.limit, after,
      concurrencyKey: q.concurrency_key, flow: q.flow,
    });
    const next = page.last ? encodeCursor({ createdAt: page.last.createdAt, id: page.last.id }) : null;
    const flow = await flowStates(db, page.rows);
    return c.json({ items: page.rows.map((r) => taskToJson(r, flow.get(r.id))), next_cursor: next }, 200);
  },
);

taskQueryRoutes.openapi(
  createRoute({
    method: "get",
    path: "/tasks/{id}/status",
    summary: "A task's status, attempts and last change (small, for polling)",
    request: { params: taskIdParamSchema },
    responses: {
      200: { description: "the status", content: { "application/json": { schema: taskStatusSchema } } },
      ...errorResponses(400, 401, 404, 409),
    },
  }),
  async (c) => {
    const row = await resolveTask(openDb(c.env.DB), c.req.valid("param").id);
    return c.json(
      {
        id: row.id,
        status: row.status,
        attempts: row.attempts,
        max_attempts: row.maxAttempts,
        error: row.error,
        run_after: toIso(row.runAfter),
        updated_at: toIso(row.updatedAt) as string,
      },
      200,
    );
  },
);
