import { createRoute, type z } from "@hono/zod-openapi";
import { wakeOrLeaveToSweeper } from "../dispatch/wakeups";
import { cursorParam, encodeCursor } from "../lib/cursor";
import { createRouter } from "../lib/router";
import { errorResponses } from "../schemas/task";
import { bulkInputSchema, bulkResultSchema } from "../schemas/task-bulk";
import { bulkStep, type BulkAction } from "../store/bulk-tasks";
import { openDb } from "../store/db";

const SUMMARIES: Record<BulkAction, string> = {
  retry: "Queue failed or cancelled tasks matching a filter again, each with a fresh set of attempts",
  cancel: "Cancel tasks matching a filter that have not finished (a running task's late result is discarded)",
  purge: "Delete finished tasks matching a filter, with their timelines",
};

// Generic in the action, so each route keeps its literal path in AppType (the typed client).
const bulkRoute = <A extends BulkAction>(action: A) =>
  createRoute({
    method: "post",
    path: `/tasks/bulk/${action}` as `/tasks/bulk/${A}`,
    summary: SUMMARIES[action],
    description: "Touches at most `limit` tasks, newest first; follow `next` (as `cursor`) until it is null. An empty filter is refused.",
    request: { body: { required: true, content: { "application/json": { schema: bulkInputSchema(action) } } } },
    responses: {
      200: { description: "what this call did", content: { "application/json": { schema: bulkResultSchema } } },
      ...errorResponses(400, 401),
    },
  });

/** One bounded step of `action` over the body's filter; a retry sends one wake-up for the whole step. */
async function runStep(env: Env, action: BulkAction, b: z.infer<ReturnType<typeof bulkInputSchema>>): Promise<z.infer<typeof bulkResultSchema>> {
  const ms = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso));
  const result = await bulkStep(
    openDb(env.DB),
    {
      action,
      filter: { status: b.status, type: b.type, domain: b.domain, createdBefore: ms(b.created_before), createdAfter: ms(b.created_after), errorContains: b.error_contains },
      after: cursorParam(b.cursor),
      limit: b.limit,
    },
    Date.now(),
  );
  if (action === "retry" && result.affected > 0) await wakeOrLeaveToSweeper(env.TASK_QUEUE, "run");
  return { affected: result.affected, next: result.next && encodeCursor(result.next) };
}

/** POST /tasks/bulk/{retry,cancel,purge}: one bounded step of an operation over a filter. */
export const taskBulkRoutes = createRouter()
  .openapi(bulkRoute("retry"), async (c) => c.json(await runStep(c.env, "retry", c.req.valid("json")), 200))
  .openapi(bulkRoute("cancel"), async (c) => c.json(await runStep(c.env, "cancel", c.req.valid("json")), 200))
  .openapi(bulkRoute("purge"), async (c) => c.json(await runStep(c.env, "purge", c.req.valid("json")), 200));
