import { createRoute, z } from "@hono/zod-openapi";
import { organismStub } from "../clients/organism-client";
import { parseConfig } from "../config";
import { createRouter } from "../lib/router";
import { openDb } from "../store/db";
import { checkSchema } from "../store/schema-version";
import { SERVICE_NAME, SERVICE_VERSION } from "../version";
import { settleWithin } from "../lib/timeout";


const COORDINATOR_PROBE_MS = 3000;


const depSchema = z.object({ ok: z.boolean(), status: z.string().optional(), error: z.string().optional() });
const readySchema = z.object({
  status: z.enum(["ready", "not_ready"]),
  deps: z.object({ config: depSchema, d1: depSchema, coordinator: depSchema }),
});
type Dep = z.infer<typeof depSchema>;

async function probeCoordinator(env: Env): Promise<Dep> {
  const probe = await settleWithin(organismStub(env).getStatus(), COORDINATOR_PROBE_MS, "coordinator");
  if (!probe.ok) return probe;
  const s = probe.value;
  return { ok: s.status === "healthy", status: s.status, ...(s.error ? { error: s.error } : {}) };
}

export const healthRoutes = createRouter()
  .openapi(
    createRoute({
      method: "get",
      path: "/health",
      summary: "Liveness",
      responses: {
        200: {
          description: "alive",
          content: {
            "application/json": {
              schema: z.object({ status: z.literal("healthy"), service: z.string(), version: z.string() }),
            },
          },
        },
      },
    }),
    (c) => c.json({ status: "healthy" as const, service: SERVICE_NAME, version: SERVICE_VERSION }, 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/readyz",
      summary: "Readiness: config, D1 migrations and the coordinator",
      responses: {
        200: { description: "ready", content: { "application/json": { schema: readySchema } } },
        503: { description: "not ready, with the reason", content: { "application/json": { schema: readySchema } } },
      },
    }),
    async (c) => {
      const parsed = parseConfig(c.env);
      const config: Dep = parsed.ok ? { ok: true } : { ok: false, error: parsed.error };
      const [d1, coordinator] = await Promise.all([checkSchema(openDb(c.env.DB)), probeCoordinator(c.env)]);
      const deps = { config, d1, coordinator };
      const ready = config.ok && d1.ok && coordinator.ok;
      return c.json({ status: ready ? ("ready" as const) : ("not_ready" as const), deps }, ready ? 200 : 503);
    },
  );
