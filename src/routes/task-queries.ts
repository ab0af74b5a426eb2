import { createRoute } from "@hono/zod-openapi";
import { configOf, createRouter } from "../lib/router";
import { toIso } from "../lib/time";
import { errorResponses, taskIdParamSchema } from "../schemas/task";
import { listTasksQuerySchema, taskPageSchema, taskStatusSchema } from "../schemas/task-api";
import { getTask, list, taskOps } from "../task-operations";

/** Read-only task routes: the list and the small status view. */
export const taskQueryRoutes = createRouter()
  .openapi(
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
    async (c) => c.json(await list(taskOps(c.env, configOf(c)), c.req.valid("query")), 200),
  )
  .openapi(
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
      const row = await getTask(taskOps(c.env, configOf(c)), c.req.valid("param").id);
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
