import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  // The package's migrations, the same files `wrangler d1 migrations apply` uses.
  const migrations = await readD1Migrations(path.resolve("node_modules/seedcore-edge/migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // HEARTBEAT_S: a running task learns of its cancel within 0.2 s (the cancel test).
          bindings: { TEST_MIGRATIONS: migrations, HEARTBEAT_S: "0.2" },
        },
      }),
    ],
    test: {
      globalSetup: ["./test/quote-server.mjs"],
      setupFiles: ["./test/apply-migrations.ts"],
      include: ["test/**/*.test.ts"],
    },
  };
});
