import { serviceErrorCode, type SeedCoreBinding } from "../../../src/service-client";

export interface Env {
  SEEDCORE: SeedCoreBinding;
}

const json = (body: unknown, status = 200) => Response.json(body, { status });

/**
 * POST /echo {"hello": …}: submits a test_task with the body as params through the binding,
 * waits up to 10 s for it, reads it back and answers with its result (202 if it is not done).
 */
export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    if (request.method !== "POST" || url.pathname !== "/echo") return json({ error: "POST /echo" }, 404);
    try {
      const submitted = await env.SEEDCORE.submit({ type: "test_task", params: await request.json() });
      const { finished } = await env.SEEDCORE.wait(submitted.id, 10);
      const task = await env.SEEDCORE.get(submitted.id);
      return json({ id: task.id, status: task.status, result: task.result }, finished ? 200 : 202);
    } catch (err) {
      // The service's error codes are the HTTP API's; switch on them like on a status code.
      switch (serviceErrorCode(err)) {
        case "validation_failed":
        case "bad_request":
        case "payload_too_large":
          return json({ error: (err as Error).message }, 400);
        case "unavailable":
          return json({ error: (err as Error).message }, 503);
        default:
          throw err;
      }
    }
  },
} satisfies ExportedHandler<Env>;
