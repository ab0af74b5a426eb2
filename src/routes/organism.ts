import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { coordinatorClient, organismStub, type CoordinatorStub } from "../clients/organism-client";
import { resilienceSnapshot } from "../clients/resilience";
import { runtime } from "../dispatch/runtime";
import type { ControlResult, ExecuteResult } from "../organism/control-contracts";
import { parseOrganismConfig } from "../organism/organism-config";
import type { TaskEnvelope, TaskOutcome } from "../organism/task-contracts";
import { AppError } from "../errors";
import { configOf, createRouter, type AppEnv } from "../lib/router";
import { errorResponses, taskInputFields, taskTypeSchema } from "../schemas/task";
import { settleWithin } from "../lib/timeout";


const COORDINATOR_PROBE_MS = 3000;
const taskFields = taskInputFields.shape;

/** A task for the organism: the task fields of POST /tasks, named as in SeedCore's Serve API. */
const organismTaskSchema = z
  .object({ task_type: taskTypeSchema, params: taskFields.params, description: taskFields.description, domain: taskFields.domain, drift_score: taskFields.drift_score })
  .strict()
  .openapi("OrganismTask");
const organTaskSchema = organismTaskSchema.omit({ drift_score: true });

/** Results are open objects (`success`, `path`, then path-specific fields; DESIGN §5). */
const resultSchema = z.object({ success: z.boolean(), path: z.string().optional() }).passthrough().openapi("OrganismResult");
const statusSchema = z
  .object({ status: z.enum(["initializing", "healthy", "unhealthy", "shutdown"]), organism_initialized: z.boolean(), organs: z.array(z.object({ organ_id: z.string() }).passthrough()), error: z.string().optional() })
  .openapi("OrganismStatus");
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({ body: { required, content: { "application/json": { schema } } } });

/** A control method through the guarded coordinator client; app.onError turns its failures into 503s. */
function viaCoordinator<T>(c: Context<AppEnv>, fn: (coordinator: CoordinatorStub) => Promise<T>): Promise<T> {
  return coordinatorClient(c.env, configOf(c)).call(fn);
}

/** The outcome as the HTTP answer (the seeds' envelope): how it ran, its result, and on failure whether a retry could help. */
function outcomeBody(outcome: TaskOutcome): z.infer<typeof resultSchema> {
  if (outcome.ok) return { task_id: outcome.id, ...outcome.execution, result: outcome.result ?? null, success: true };
  return { task_id: outcome.id, ...outcome.execution, result: outcome.result ?? null, success: false, error: outcome.error, retriable: outcome.retriable };
}

/** A control answer as the HTTP answer (`{success, path:"control", …}`); its failures become HTTP errors. */
function controlBody<T extends object>(r: ControlResult<T>): z.infer<typeof resultSchema> {
  if (!r.ok) {
    if (r.code === "unknown_organ") throw new AppError("not_found", r.error);
    if (r.code === "invalid_params") throw new AppError("validation_failed", r.error);
    throw new AppError("unavailable", r.error);
  }
  return { success: true, path: "control", ...r.value };
}

/** A task run on a chosen organ: 200 with the agent's verdict (success may be false). */
function executeBody(r: ControlResult<ExecuteResult>): z.infer<typeof resultSchema> {
  const body = controlBody(r);
  return r.ok && !r.value.success ? { ...body, success: false, code: "task_failed" } : body;
}

// Generic in the path, so each route keeps its literal path in AppType (a `string` path would erase them all).
const get = <P extends string>(path: P, summary: string, schema: z.ZodType = resultSchema) =>
  createRoute({ method: "get", path, summary, tags: ["organism"], responses: { 200: json(schema, "ok"), 503: json(z.object({ error: z.unknown() }), "organism unavailable") } });

/** Names the service behind /organism as SeedCore's Serve app does, so its probes read the same. */
const ORGANISM_SERVICE = { service: "organism-manager", route_prefix: "/organism" } as const;
const organismHealthSchema = statusSchema.extend({ service: z.literal(ORGANISM_SERVICE.service), route_prefix: z.literal(ORGANISM_SERVICE.route_prefix) }).openapi("OrganismHealth");
const breakerSchema = z
  .object({ state: z.enum(["closed", "open", "half_open"]), failure_count: z.number(), total_calls: z.number(), successful_calls: z.number(), failed_calls: z.number(), circuit_opens: z.number(), rejected_calls: z.number(), retry_after_ms: z.number() })
  .openapi("BreakerState");
const resilienceSchema = z
  .object({
    breakers: z.record(z.string(), breakerSchema).openapi({ description: "this Worker isolate's circuit breakers (state is per isolate)" }),
    coordinator_load: z.object({ inflight_tasks: z.number(), max_inflight_tasks: z.number(), peak_inflight_tasks: z.number(), shed_total: z.number() }).nullable(),
    organ_breakers: z.record(z.string(), breakerSchema).openapi({ description: "this isolate's breakers towards organ replicas (also in breakers)" }),
    rate_limit: z.object({ checked_total: z.number(), limited_total: z.number(), limiter_errors_total: z.number() }),
    auth_failures: z.object({ failures_total: z.number(), limited_total: z.number(), limiter_errors_total: z.number() }).openapi({ description: "failed authentications counted per address, and the 429s they led to (this isolate)" }),
    services: z
      .record(
        z.string(),
        z.object({
          requests: z.number(), ok: z.number(), failed: z.number(), retries: z.number(), timeouts: z.number(), deferred_breaker: z.number(), deferred_rate: z.number(),
          breaker: breakerSchema.openapi({ description: "the worst isolate's breaker (state, failure_count, retry_after_ms); call totals summed" }),
          isolates: z.number().openapi({ description: "isolates that reported this service" }),
          breakers: z.object({ closed: z.number(), half_open: z.number(), open: z.number() }).openapi({ description: "isolates whose breaker for this service is in each state" }),
        }),
      )
      .openapi({ description: "named service clients (SERVICES and `cognitive`): counts summed over this isolate and every organ replica's isolate that answered (each isolate once)" }),
    service_sources: z
      .object({ isolates: z.number(), organs_asked: z.number(), organs_answered: z.number(), organs_missing: z.number(), missing: z.array(z.object({ replica: z.string(), error: z.string() })) })
      .openapi({ description: "whose numbers `services` holds: organ replicas are asked ≤ 4 at a time, each within 1 s, all within 2 s; a missing one's numbers are absent" }),
    cognitive: z
      .object({ llm_plans: z.number(), inflight: z.number(), fallbacks: z.record(z.string(), z.number()) })
      .openapi({ description: "this isolate's cognitive planner (COGNITIVE_URL or the Workers AI binding): plans it made and fallbacks by reason" }),
    coordinator_error: z.string().optional(),
  })
  .openapi("Resilience");


const controlResponses = { 200: json(resultSchema, "ok"), 404: json(z.object({ error: z.unknown() }), "unknown organ"), 503: json(z.object({ error: z.unknown() }), "organism unavailable") };

/** A config override is checked here, so a bad one is a 400 before the coordinator is asked (it checks again). */
const organismConfigField = z.union([z.string(), z.record(z.string(), z.unknown())]).superRefine((config, ctx) => {
  const parsed = parseOrganismConfig(config, "config");
  if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.error });
});
const initializeBody = z.object({ config: organismConfigField.optional() }).strict();

const taskData = (b: z.infer<typeof organTaskSchema>) => ({ type: b.task_type, params: b.params, description: b.description ?? null, domain: b.domain ?? null });

// Registered before /execute/{organ_id} and on its own path, so "random" can never be read as an organ id.

const coordinatorHealthSchema = z.object({ status: z.enum(["healthy", "degraded", "unhealthy"]), ping: z.boolean(), organism_status: z.string().nullable(), error: z.string().optional() }).openapi("CoordinatorHealth");

/** /organism/* and /coordinator/health (DESIGN §7). Every call goes through the coordinator's RPC. */
export const organismRoutes = createRouter()
  .openapi(get("/organism/health", "Organism health", organismHealthSchema), async (c) =>
    c.json({ ...ORGANISM_SERVICE, ...(await organismStub(c.env).getStatus()) }, 200))
  .openapi(get("/organism/status", "Coordinator status, circuit breakers, load shedding and 429 counts", statusSchema.extend({ resilience: resilienceSchema })), async (c) => {
    const [status, resilience] = await Promise.all([organismStub(c.env).getStatus(), resilienceSnapshot(c.env)]);
    return c.json({ ...status, resilience }, 200);
  })
  .openapi(get("/organism/organism-status", "get_organism_status"), async (c) =>
    c.json(controlBody({ ok: true, value: await viaCoordinator(c, (s) => s.getStatus()) }), 200))
  .openapi(get("/organism/organism-summary", "get_organism_summary: organs (each with its replicas), agents, metrics"), async (c) =>
    c.json(controlBody(await viaCoordinator(c, (s) => s.summary())), 200))
  .openapi(
    createRoute({ method: "post", path: "/organism/handle-task", summary: "Run one task synchronously", tags: ["organism"], request: jsonBody(organismTaskSchema), responses: { 200: json(resultSchema, "the task's outcome (success may be false)") } }),
    async (c) => {
      const body = c.req.valid("json");
      const task = { id: crypto.randomUUID(), type: body.task_type, params: body.params, description: body.description ?? null, domain: body.domain ?? null, drift_score: body.drift_score, attempt: 1 };
      const outcome = await runtime(c.env, configOf(c)).runNow(task);
      // The coordinator could not be reached or refused for now: that is the service being unavailable.
      if (!outcome.ok && outcome.notRun) throw new AppError("unavailable", outcome.error);
      return c.json(outcomeBody(outcome), 200);
    },
  )
  .openapi(
    createRoute({
      method: "post", path: "/organism/initialize", summary: "initialize_organism (optionally with a config override; a bad one is a 400 and changes nothing)", tags: ["organism"],
      request: jsonBody(initializeBody, false),
      responses: { ...controlResponses, ...errorResponses(400) },
    }),
    async (c) => {
      const { config } = c.req.valid("json");
      return c.json(controlBody(await viaCoordinator(c, (s) => s.initialize(config))), 200);
    },
  )
  .openapi(createRoute({ method: "post", path: "/organism/shutdown", summary: "shutdown_organism", tags: ["organism"], responses: controlResponses }), async (c) =>
    c.json(controlBody({ ok: true, value: await viaCoordinator(c, (s) => s.shutdown()) }), 200))
  .openapi(
    createRoute({ method: "post", path: "/organism/execute-random", summary: "execute_on_random_organ (rotates deterministically)", tags: ["organism"], request: jsonBody(organTaskSchema), responses: { 200: json(resultSchema, "ok"), 503: json(z.object({ error: z.unknown() }), "organism unavailable") } }),
    async (c) => c.json(executeBody(await viaCoordinator(c, (s) => s.executeOnRandom(taskData(c.req.valid("json"))))), 200),
  )
  .openapi(
    createRoute({
      method: "post", path: "/organism/execute/{organ_id}", summary: "execute_on_organ", tags: ["organism"],
      request: { params: z.object({ organ_id: z.string().min(1).max(64) }), ...jsonBody(organTaskSchema) },
      responses: controlResponses,
    }),
    async (c) => {
      const { organ_id } = c.req.valid("param");
      return c.json(executeBody(await viaCoordinator(c, (s) => s.executeOn(organ_id, taskData(c.req.valid("json"))))), 200);
    },
  )
  .openapi(
    createRoute({ method: "get", path: "/coordinator/health", summary: "Ping the coordinator", tags: ["organism"], responses: { 200: json(coordinatorHealthSchema, "healthy or degraded"), 503: json(coordinatorHealthSchema, "unhealthy") } }),
    async (c) => {
      const stub = organismStub(c.env);
      const probe = await settleWithin(
        (async () => ({ pong: (await stub.ping()) === "pong", status: await stub.getStatus() }))(),
        COORDINATOR_PROBE_MS,
        "coordinator",
      );
      if (!probe.ok || !probe.value.pong) {
        return c.json({ status: "unhealthy" as const, ping: false, organism_status: null, error: probe.ok ? "unexpected ping answer" : probe.error }, 503);
      }
      const { status } = probe.value;
      // Answering but not healthy (initialising, failed init, shut down) is "degraded": it can recover.
      const health = status.status === "healthy" ? ("healthy" as const) : ("degraded" as const);
      return c.json({ status: health, ping: true, organism_status: status.status, ...(status.error ? { error: status.error } : {}) }, 200);
    },
  );
