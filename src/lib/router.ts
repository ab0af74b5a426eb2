import { OpenAPIHono } from "@hono/zod-openapi";
import type { Hook } from "@hono/zod-openapi";
import type { Config } from "../config";
import { AppError } from "../errors";
import type { WorkerScope } from "./worker-tokens";

export interface AppEnv {
  Bindings: Env;
  /** workerScope: set by auth on the pull-worker routes (what the caller may lease and finish). */
  Variables: { config: Config | undefined; workerScope?: WorkerScope };
}

/** A zod validation failure as the 400 that names the offending fields (routes and the service binding). */
export function validationError(issues: readonly { path: PropertyKey[]; message: string }[]): AppError {
  const fields = issues.map((i) => ({ path: i.path.map(String).join(".") || "(body)", message: i.message }));
  const first = fields[0];
  return new AppError("validation_failed", first ? `${first.path}: ${first.message}` : "invalid request", { fields });
}

/** Turns a zod validation failure into a 400 naming the offending fields. */
export const validationHook: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (result.success) return;
  throw validationError(result.error.issues);
};

/** Every route file builds on this, so validation errors have one shape everywhere. */
export function createRouter(): OpenAPIHono<AppEnv> {
  // Not strict: `/api/v1/` (the dashboard under the versioned mount) and `/tasks/` match too.
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false });
}

/** The parsed config; routes that act (not the health ones) refuse to run on a broken one. */
export function configOf(c: { get(key: "config"): Config | undefined }): Config {
  const config = c.get("config");
  if (!config) throw new AppError("unavailable", "configuration is invalid; see GET /readyz for the reason");
  return config;
}
