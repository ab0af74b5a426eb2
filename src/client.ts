import { hc } from "hono/client";
import type { AppType } from "./app";

export interface ClientOptions {
  /** Sent as `Authorization: Bearer <token>` (the server's API_TOKEN). */
  token?: string | undefined;
  /** Another fetch (a test double, a service binding's `fetch`, a timeout wrapper). */
  fetch?: typeof fetch;
}

/**
 * A typed client for the HTTP API: `hc<AppType>`, so paths, parameters, bodies and answers are
 * the routes' own types (a renamed field is a compile error here and in the CLI).
 *
 *   const api = createClient("http://localhost:8787");
 *   const res = await api.tasks.$post({ json: { type: "ping" }, query: { wait: "10" } });
 *   if (res.status === 201) console.log((await res.json()).status);
 */
export function createClient(baseUrl: string, options: ClientOptions = {}) {
  const headers: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
  return hc<AppType>(baseUrl.replace(/\/+$/, ""), { headers, ...(options.fetch ? { fetch: options.fetch } : {}) });
}

export type SeedCoreClient = ReturnType<typeof createClient>;
