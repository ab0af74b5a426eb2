import { HTTPException } from "hono/http-exception";
import { bodyLimit } from "hono/body-limit";
import { parseConfig } from "./config";
import { AppError } from "./errors";
import { createRouter } from "./lib/router";
import { healthRoutes } from "./routes/health";
import { organismRoutes } from "./routes/organism";
import { taskRoutes } from "./routes/tasks";

export const MAX_BODY_BYTES = 256 * 1024;

/** The API: every route, mounted at `/` and again under `/api/v1`. */
export function createApp() {
  const api = createRouter();
  api.route("/", healthRoutes);
  api.route("/", taskRoutes);
  api.route("/", organismRoutes);

  const app = createRouter();
  app.use("*", async (c, next) => {
    const parsed = parseConfig(c.env);
    // A broken config must not take down /health and /readyz: those report it instead.
    if (parsed.ok) c.set("config", parsed.config);
    await next();
  });
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new AppError("payload_too_large", `request body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  app.route("/", api);
  app.route("/api/v1", api);

  app.notFound((c) => {
    const err = new AppError("not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`);
    return c.json(err.toBody(), err.status);
  });
  app.onError((err, c) => {
    if (err instanceof AppError) return c.json(err.toBody(), err.status);
    if (err instanceof HTTPException && err.status < 500) {
      const body = new AppError("bad_request", err.message || "bad request").toBody();
      return c.json(body, err.status);
    }
    console.error("unhandled error", err);
    return c.json(new AppError("internal_error", "internal error").toBody(), 500);
  });
  return app;
}
