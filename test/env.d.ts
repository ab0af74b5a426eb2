import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      /** vitest.config.ts: limit 3 per 60 s (a long window, so a burst never straddles two), for the rate-limit burst test. */
      TEST_TIGHT_LIMITER: RateLimit;
      /** vitest.config.ts: the auxiliary worker test/fixtures/exec-worker.mjs (its ExecFixture entrypoint), for the service executor. */
      EXEC_FIXTURE: Service;
    }
  }
}

declare module "vitest" {
  export interface ProvidedContext {
    /** test/loopback-server.mjs: a Node HTTP server for task code that calls an outside API. */
    loopbackOrigin: string;
  }
}
