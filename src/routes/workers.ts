import { createRoute } from "@hono/zod-openapi";
import { AppError } from "../errors";
import { configOf, createRouter } from "../lib/router";
import type { WorkerScope } from "../lib/worker-tokens";
import { leaseTasks } from "../pull-workers";
import { leaseInputSchema, leaseResultSchema } from "../schemas/pull-worker";
import { errorResponses, jsonResponse } from "../schemas/task";
import { taskOps } from "../task-operations";

/** What auth granted this request on a pull-worker route (always set there; fail closed otherwise). */
export function workerScopeOf(c: { get(key: "workerScope"): WorkerScope | undefined }): WorkerScope {
  const scope = c.get("workerScope");
  if (!scope) throw new AppError("unauthorized", "missing or invalid bearer token (Authorization: Bearer <worker token or API_TOKEN>)");
  return scope;
}

/** POST /workers/lease: pull workers take due tasks of pull types (DESIGN §16). */
export const workerRoutes = createRouter().openapi(
  createRoute({
    method: "post",
    path: "/workers/lease",
    summary: "Lease due tasks of pull types (a pull worker's poll)",
    description:
      "Authorization: a worker token (WORKER_TOKENS, scoped to its types) or API_TOKEN. Takes up to `max` due tasks of the " +
      "requested pull types by the dispatcher's claim (priority, concurrency keys, pauses, run_after, dependencies), each " +
      "`running` under its own lease_token until lease_expires_at; heartbeats extend it, /complete, /fail and /release end it. " +
      "When nothing is due it waits up to `wait_s`, then answers `{tasks: []}`. A listed type that is not a pull type is a 400, " +
      "one outside the token's scope a 403.",
    request: { body: { required: true, content: { "application/json": { schema: leaseInputSchema } } } },
    responses: { 200: jsonResponse(leaseResultSchema, "the leased tasks (none when the wait ended first)"), ...errorResponses(400, 401, 403, 503) },
  }),
  async (c) => {
    const tasks = await leaseTasks(taskOps(c.env, configOf(c)), workerScopeOf(c), c.req.valid("json"));
    return c.json({ tasks }, 200);
  },
);
