import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      /** vitest.config.ts: the package's migrations, applied before each test file. */
      TEST_MIGRATIONS: D1Migration[];
    }
  }
}

declare module "vitest" {
  export interface ProvidedContext {
    /** test/quote-server.ts: the loopback quote API's base URL. */
    quoteServer: string;
  }
}
