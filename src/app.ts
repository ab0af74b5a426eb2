import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import { swaggerUI } from "@hono/swagger-ui";
import { parseConfig } from "./config";
import { AppError, asUnavailable } from "./errors";
import { auth, type AuthOptions } from "./lib/auth";
import { rateLimit } from "./lib/rate-limit";
import { createRouter } from "./lib/router";
import { dashboardRoutes } from "./routes/dashboard";
import { flowControlRoutes } from "./routes/flow-control";
import { scheduleRoutes } from "./routes/schedules";
import { healthRoutes } from "./routes/health";
import { metricsRoutes } from "./routes/metrics";
import { organismRoutes } from "./routes/organism";
import { taskBatchRoutes } from "./routes/task-batch";
import { taskBulkRoutes } from "./routes/task-bulk";
import { taskQueryRoutes } from "./routes/task-queries";
import { taskRoutes } from "./routes/tasks";
import { taskLeaseRoutes } from "./routes/task-leases";
import { workerRoutes } from "./routes/workers";
import { SERVICE_NAME, SERVICE_VERSION } from "./version";

export const MAX_BODY_BYTES = 256 * 1024;
/** Where the API describes itself; these serve no API route, so the document does not list them. */
export const DOC_PATHS = ["/openapi.json", "/docs"] as const;

/** The API: every route, mounted at `/` and again under `/api/v1`. `auth` lets tests inject the limiter and clock. */
export function createApp(options: { auth?: AuthOptions } = {}) {
  // Chained, so the type of the result lists every route (AppType, the typed client).
  // `/tasks/batch` is POST only and `/tasks/{id}` has no POST, so these never shadow each other.
  const api = createRouter()
    .route("/", healthRoutes)
    .route("/", taskBatchRoutes)
    // Before the task routes: `/tasks/{id}/cancel` would otherwise take `/tasks/bulk/cancel`.
    .route("/", taskBulkRoutes)
    .route("/", taskQueryRoutes)
    .route("/", taskRoutes)
    .route("/", taskLeaseRoutes)
    .route("/", workerRoutes)
    .route("/", organismRoutes)
    .route("/", flowControlRoutes)
    .route("/", scheduleRoutes)
    .route("/", metricsRoutes)
    .route("/", dashboardRoutes);

  const app = createRouter();
  app.use("*", async (c, next) => {
    const parsed = parseConfig(c.env);
    // A broken config must not take down /health and /readyz: those report it instead.
    if (parsed.ok) c.set("config", parsed.config);
    await next();
  });
  app.use("*", auth(options.auth));
  app.use("*", rateLimit()); // after auth: only a valid token gets its own bucket
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new AppError("payload_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  const routed = app.route("/", api).route("/api/v1", api);
  installDocs(app);

  app.notFound((c) => {
    const err = new AppError("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`);
    return c.json(err.toBody(), err.status);
  });
  app.onError((err, c) => {
    if (err instanceof AppError) return c.json(err.toBody(), err.status);
    const unavailable = asUnavailable(err);
    if (unavailable) {
      if (unavailable.retryAfterS !== undefined) c.header("Retry-After", String(unavailable.retryAfterS));
      return c.json(unavailable.error.toBody(), 503);
    }
    if (err instanceof HTTPException && err.status < 500) {
      const body = new AppError("bad_request", err.message || "bad request").toBody();
      return c.json(body, err.status);
    }
    console.error("unhandled error", err);
    return c.json(new AppError("internal_error", "internal error").toBody(), 500);
  });
  return routed;
}

/** Every route with its request and response types: what `hc<AppType>` (src/client.ts) is typed by. */
export type AppType = ReturnType<typeof createApp>;

/** GET /openapi.json (every route, both mounts) and Swagger UI at /docs, also under /api/v1. */
function installDocs(app: ReturnType<typeof createRouter>): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description:
      "API_TOKEN; required on every route but /health, /readyz, /coordinator/health and /organism/health. " +
      "A worker token (WORKER_TOKENS) is accepted on POST /workers/lease and POST /tasks/{id}/heartbeat|complete|fail|release only.",
  });
  for (const prefix of ["", "/api/v1"]) {
    app.doc(`${prefix}/openapi.json`, {
      openapi: "3.0.0",
      info: {
        title: SERVICE_NAME,
        version: SERVICE_VERSION,
        description: "Durable task processing on Cloudflare Workers. Errors are `{error:{code,message,details?}}`.",
      },
      security: [{ bearerAuth: [] }],
    });
    app.get(`${prefix}/docs`, swaggerUI({ url: `${prefix}/openapi.json` }));
  }
}
