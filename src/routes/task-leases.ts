import { createRoute } from "@hono/zod-openapi";
import { configOf, createRouter } from "../lib/router";
import { completeLease, failLease, heartbeatLease, releaseLease } from "../pull-workers";
import {
  completeInputSchema,
  failInputSchema,
  finishResultSchema,
  heartbeatInputSchema,
  heartbeatResultSchema,
  leasedTaskParamSchema,
  releaseInputSchema,
} from "../schemas/pull-worker";
import { errorResponses, jsonResponse } from "../schemas/task";
import { taskOps } from "../task-operations";
import { workerScopeOf } from "./workers";

const FENCED =
  "Authorization: a worker token scoped to the task's type, or API_TOKEN. Fenced by lease_token: a stale or unknown token, " +
  "or a task no longer running, is a 409 and nothing changes.";

/** A leased task's heartbeat and end (pull workers, and http endpoints that answered 202). */
export const taskLeaseRoutes = createRouter()
  .openapi(
    createRoute({
      method: "post",
      path: "/tasks/{id}/heartbeat",
      summary: "Extend a leased task's lease; keeps details for the next attempt; says whether it was cancelled",
      description: `${FENCED} A task cancelled while this lease ran answers 200 with cancel_requested: true.`,
      request: { params: leasedTaskParamSchema, body: { required: true, content: { "application/json": { schema: heartbeatInputSchema } } } },
      responses: { 200: jsonResponse(heartbeatResultSchema, "the lease, extended"), ...errorResponses(400, 401, 403, 404, 409) },
    }),
    async (c) => c.json(await heartbeatLease(taskOps(c.env, configOf(c)), workerScopeOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/tasks/{id}/complete",
      summary: "Complete a leased task with its result",
      description: `${FENCED} A result above RESULT_MAX_BYTES is a 413 and the task is unchanged.`,
      request: { params: leasedTaskParamSchema, body: { required: true, content: { "application/json": { schema: completeInputSchema } } } },
      responses: { 200: jsonResponse(finishResultSchema, "the task's new status"), ...errorResponses(400, 401, 403, 404, 409, 413) },
    }),
    async (c) => c.json(await completeLease(taskOps(c.env, configOf(c)), workerScopeOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/tasks/{id}/fail",
      summary: "Fail a leased task's attempt: retry (retryable, attempts left) or failed",
      description: `${FENCED} retry_after_s sets when a retry is due; else the type's backoff.`,
      request: { params: leasedTaskParamSchema, body: { required: true, content: { "application/json": { schema: failInputSchema } } } },
      responses: { 200: jsonResponse(finishResultSchema, "the task's new status"), ...errorResponses(400, 401, 403, 404, 409) },
    }),
    async (c) => c.json(await failLease(taskOps(c.env, configOf(c)), workerScopeOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/tasks/{id}/release",
      summary: "Give a leased task back unstarted: queued, due now, its attempt given back",
      description: FENCED,
      request: { params: leasedTaskParamSchema, body: { required: true, content: { "application/json": { schema: releaseInputSchema } } } },
      responses: { 200: jsonResponse(finishResultSchema, "queued"), ...errorResponses(400, 401, 403, 404, 409) },
    }),
    async (c) => c.json(await releaseLease(taskOps(c.env, configOf(c)), workerScopeOf(c), c.req.valid("param").id, c.req.valid("json")), 200),
  );
