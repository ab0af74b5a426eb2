import { createRoute } from "@hono/zod-openapi";
import { wakeOrLeaveToSweeper } from "../dispatch/wakeups";
import { cursorParam, encodeCursor } from "../lib/cursor";
import { createRouter } from "../lib/router";
import { errorResponses } from "../schemas/task";
import { bulkInputSchema, bulkResultSchema } from "../schemas/task-bulk";
import { bulkStep, type BulkAction } from "../store/bulk-tasks";
import { openDb } from "../store/db";

/** POST /tasks/bulk/{retry,cancel,purge}: one bounded step of an operation over a filter. */
export const taskBulkRoutes = createRouter();

const SUMMARIES: Record<BulkAction, string> = {
  retry: "Queue failed or cancelled tasks matching a filter again, each with a fresh set of attempts",
  cancel: "Cancel tasks matching a filter that have not finished (a running task's late result is discarded)",
  purge: "Delete finished tasks matching a filter, with their timelines",
};

for (const action of ["retry", "cancel", "purge"] as const) {
  taskBulkRoutes.openapi(
    createRoute({
      method: "post",
      path: `/tasks/bulk/${action}`,
      summary: SUMMARIES[action],
      description: "Touches at most `limit` tasks, newest first; follow `next` (as `cursor`) until it is null. An empty filter is refused.",
      request: { body: { required: true, content: { "application/json": { schema: bulkInputSchema(action) } } } },
      responses: {
        200: { description: "what this call did", content: { "application/json": { schema: bulkResultSchema } } },
        ...errorResponses(400, 401),
      },
    }),
    async (c) => {
      const b = c.req.valid("json");
      const ms = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso));
      const result = await bulkStep(
        openDb(c.env.DB),
        {
          action,
          filter: {
            status: b.status,
            type: b.type,
            domain: b.domain,
            createdBefore: ms(b.created_before),
            createdAfter: ms(b.created_after),
            errorContains: b.error_contains,
          },
          after: cursorParam(b.cursor),
          limit: b.limit,
        },
        Date.now(),
      );
      // One wake-up for the whole step, however many tasks it queued.
      if (action === "retry" && result.affected > 0) await wakeOrLeaveToSweeper(c.env.TASK_QUEUE, "run");
      return c.json({ affected: result.affected, next: result.next && encodeCursor(result.next) }, 200);
    },
  );
}
