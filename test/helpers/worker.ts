import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import worker from "../../src/index";

/** A request through the Worker's own fetch (routing, middleware, onError included). */
export function api(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(new Request(`http://localhost${path}`, init));
}

/** A request through the Worker's fetch with some bindings or vars replaced (a test double, a token). */
export async function fetchWithEnv(request: Request, overrides: Partial<Record<keyof Env, unknown>>): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch!(request as Request<unknown, IncomingRequestCfProperties>, { ...env, ...overrides } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

export function postJson(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return api(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

export async function countRows(): Promise<{ tasks: number; events: number }> {
  const t = await env.DB.prepare("SELECT count(*) AS n FROM tasks").first<{ n: number }>();
  const e = await env.DB.prepare("SELECT coalesce(sum(json_array_length(events)), 0) AS n FROM tasks").first<{ n: number }>();
  return { tasks: t?.n ?? 0, events: e?.n ?? 0 };
}
