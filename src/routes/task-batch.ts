import { createRoute } from "@hono/zod-openapi";
import { AppError } from "../errors";
import { configOf, createRouter } from "../lib/router";
import { errorResponses } from "../schemas/task";
import { batchInputSchema, batchResultSchema } from "../schemas/task-api";
import { describeCreated, submit, taskOps } from "../task-operations";

/** POST /tasks/batch: all or nothing — the body is validated whole before anything is written. */
export const taskBatchRoutes = createRouter().openapi(
  createRoute({
    method: "post",
    path: "/tasks/batch",
    summary: "Create up to 100 tasks in one D1 transaction and one queue send",
    description:
      "Any invalid item fails the whole request with 400 naming its index (tasks.<i>.<field>); nothing is written. " +
      "An item whose idempotency_key already exists comes back as the existing task. " +
      "An Idempotency-Key header is refused with 400: one key cannot stand for many tasks, so each item carries its own. " +
      'Items may depend on each other: give one a "ref" and name it in another\'s depends_on.',
    request: { body: { required: true, content: { "application/json": { schema: batchInputSchema } } } },
    responses: {
      201: { description: "created", content: { "application/json": { schema: batchResultSchema } } },
      ...errorResponses(400, 401, 413, 503),
    },
  }),
  async (c) => {
    // Ignoring the header would let a client believe its retry is safe while it creates duplicates.
    if (c.req.header("idempotency-key") !== undefined) {
      throw new AppError("bad_request", "the Idempotency-Key header is not accepted on POST /tasks/batch; set idempotency_key on each item (tasks.<i>.idempotency_key)");
    }
    const { tasks } = c.req.valid("json");
    const ops = taskOps(c.env, configOf(c));
    const created = await submit(ops, tasks, null, true);
    return c.json({ items: created.map(describeCreated) }, 201);
  },
);
