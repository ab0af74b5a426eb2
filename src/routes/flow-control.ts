import { createRoute, z } from "@hono/zod-openapi";
import { TASK_STATUSES } from "../db/schema";
import { wakeOrLeaveToSweeper } from "../dispatch/wakeups";
import { AppError } from "../errors";
import { configOf, createRouter } from "../lib/router";
import { errorResponses, jsonResponse, taskTypeSchema } from "../schemas/task";
import { openDb } from "../store/db";
import { getKey, getType, listKeys, listTypes, setKeyPaused, setTypePaused } from "../store/flow-pauses";
import { CONTROL_TYPES, describeTypes } from "../tasks/describe-types";

const typeSchema = z
  .object({ type: z.string(), paused: z.boolean(), counts: z.record(z.enum(TASK_STATUSES), z.number().int()) })
  .openapi("TaskType");
const keySchema = z
  .object({
    key: z.string(),
    limit: z.number().int().openapi({ description: "most tasks of the key running at once (the latest submission's)" }),
    waiting: z.number().int().openapi({ description: "queued and retrying tasks" }),
    running: z.number().int(),
    paused: z.boolean(),
  })
  .openapi("ConcurrencyKey");

const pageQuery = z
  .object({
    after: z.string().min(1).max(128).optional().openapi({ description: "next_cursor of the previous page" }),
    limit: z.coerce.number().int().min(1).max(200).default(100).openapi({ type: "integer" }),
  })
  .strict();
const page = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable().openapi({ description: "null on the last page" }) }).openapi(name);

const definedTypeSchema = z
  .object({
    type: z.string(),
    description: z.string().nullable(),
    timeout_s: z.number().nullable().openapi({ description: "seconds per attempt; null: the deployment's default" }),
    max_attempts: z.number().int().nullable().openapi({ description: "default max_attempts of its tasks (a submission's own wins); null: MAX_TASK_ATTEMPTS" }),
    retry: z.object({ base_s: z.number(), max_s: z.number() }).nullable().openapi({ description: "backoff; null: RETRY_BASE_S / RETRY_MAX_S" }),
    organ: z.string().nullable().openapi({ description: "the organ that runs it; null: chosen by the organs' task_types" }),
    params_schema: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ type: "object", description: "JSON Schema of the params a submission may give (null when the definition's schema has no JSON Schema form)" }),
  })
  .openapi("TaskDefinition");

/** GET /types: the page of types seen in tasks, plus every defined type (not paged). */
const typePageSchema = z
  .object({
    items: z.array(typeSchema),
    next_cursor: z.string().nullable().openapi({ description: "null on the last page" }),
    types: z.array(definedTypeSchema).openapi({ description: "the task types this Worker defines (a submission of any other type is refused), on every page" }),
    control_types: z.array(z.string()).openapi({
      description: "read-only control types also accepted as tasks: the coordinator answers them itself (no definition, params not read)",
      example: ["get_organism_status"],
    }),
  })
  .openapi("TaskTypePage");

const typeParam = z.object({ type: taskTypeSchema.openapi({ param: { name: "type", in: "path" } }) });
const keyParam = z.object({ key: z.string().min(1).max(128).openapi({ param: { name: "key", in: "path" }, example: "tenant:42" }) });

const nextCursor = <T>(items: T[], limit: number, name: (item: T) => string) => {
  const last = items.at(-1);
  return items.length === limit && last !== undefined ? name(last) : null;
};

type FlowAction = "pause" | "resume";

// Generic in the action, so each route keeps its literal path in AppType (the typed client).
const typeActionRoute = <A extends FlowAction>(action: A) =>
  createRoute({
    method: "post",
    path: `/types/{type}/${action}` as `/types/{type}/${A}`,
    summary: action === "pause" ? "Pause a task type: its waiting tasks are not claimed" : "Resume a task type: its tasks are claimable at once",
    tags: ["flow control"],
    request: { params: typeParam },
    responses: { 200: jsonResponse(typeSchema, "the type after the change"), ...errorResponses(400, 401, 404) },
  });

const keyActionRoute = <A extends FlowAction>(action: A) =>
  createRoute({
    method: "post",
    path: `/concurrency-keys/{key}/${action}` as `/concurrency-keys/{key}/${A}`,
    summary: action === "pause" ? "Pause a concurrency key: its tasks are not claimed" : "Resume a concurrency key",
    tags: ["flow control"],
    request: { params: keyParam },
    responses: { 200: jsonResponse(keySchema, "the key after the change"), ...errorResponses(400, 401, 404) },
  });

const typeNotFound = (type: string) => new AppError("not_found", `no task of type '${type}' was ever submitted`);
const keyNotFound = (key: string) => new AppError("not_found", `no task with concurrency key '${key}' was ever submitted`);

/**
 * Applies a pause or resume to a type or key some task had (else 404: a typo makes no row); a
 * resumed type or key may have due work nobody was woken for.
 */
async function setFlow<T>(env: Env, action: FlowAction, apply: (paused: boolean) => Promise<T | null>, notFound: () => AppError): Promise<T> {
  const info = await apply(action === "pause");
  if (info === null) throw notFound();
  if (action === "resume") await wakeOrLeaveToSweeper(env.TASK_QUEUE, "resume");
  return info;
}
const setType = (env: Env, type: string, action: FlowAction) =>
  setFlow(env, action, (paused) => setTypePaused(openDb(env.DB), type, paused), () => typeNotFound(type));
const setKey = (env: Env, key: string, action: FlowAction) =>
  setFlow(env, action, (paused) => setKeyPaused(openDb(env.DB), key, paused), () => keyNotFound(key));

/** Pause / resume per task type and per concurrency key, and their counts (DESIGN §13); chained for AppType. */
export const flowControlRoutes = createRouter()
  .openapi(
    createRoute({
      method: "get",
      path: "/types",
      summary: "Task types: the defined ones with their params schema, and those seen in tasks with their counts by status and paused flag",
      tags: ["flow control"],
      request: { query: pageQuery },
      responses: {
        200: jsonResponse(typePageSchema, "one page of types seen in tasks (items, by name), and every defined type (types)"),
        ...errorResponses(400, 401),
      },
    }),
    async (c) => {
      const { after, limit } = c.req.valid("query");
      const items = await listTypes(openDb(c.env.DB), after ?? null, limit);
      return c.json({ items, next_cursor: nextCursor(items, limit, (t) => t.type), types: describeTypes(configOf(c)), control_types: [...CONTROL_TYPES] }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/types/{type}",
      summary: "One task type's counts and paused flag",
      tags: ["flow control"],
      request: { params: typeParam },
      responses: { 200: jsonResponse(typeSchema, "the type"), ...errorResponses(400, 401, 404) },
    }),
    async (c) => {
      const { type } = c.req.valid("param");
      const found = await getType(openDb(c.env.DB), type);
      if (!found) throw typeNotFound(type);
      return c.json(found, 200);
    },
  )
  .openapi(typeActionRoute("pause"), async (c) => c.json(await setType(c.env, c.req.valid("param").type, "pause"), 200))
  .openapi(typeActionRoute("resume"), async (c) => c.json(await setType(c.env, c.req.valid("param").type, "resume"), 200))
  .openapi(keyActionRoute("pause"), async (c) => c.json(await setKey(c.env, c.req.valid("param").key, "pause"), 200))
  .openapi(keyActionRoute("resume"), async (c) => c.json(await setKey(c.env, c.req.valid("param").key, "resume"), 200))
  .openapi(
    createRoute({
      method: "get",
      path: "/concurrency-keys",
      summary: "Concurrency keys with their limit, waiting and running counts and paused flag",
      tags: ["flow control"],
      request: { query: pageQuery },
      responses: { 200: jsonResponse(page(keySchema, "ConcurrencyKeyPage"), "one page, by key"), ...errorResponses(400, 401) },
    }),
    async (c) => {
      const { after, limit } = c.req.valid("query");
      const items = await listKeys(openDb(c.env.DB), after ?? null, limit);
      return c.json({ items, next_cursor: nextCursor(items, limit, (k) => k.key) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/concurrency-keys/{key}",
      summary: "One concurrency key",
      tags: ["flow control"],
      request: { params: keyParam },
      responses: { 200: jsonResponse(keySchema, "the key"), ...errorResponses(400, 401, 404) },
    }),
    async (c) => {
      const { key } = c.req.valid("param");
      const found = await getKey(openDb(c.env.DB), key);
      if (!found) throw keyNotFound(key);
      return c.json(found, 200);
    },
  );
