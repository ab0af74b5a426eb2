import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/** The tests' webhook secret (test/integration/webhooks verifies signatures with it). */
const TEST_WEBHOOK_SECRET = "test-webhook-secret";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.resolve("migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // WEBHOOK_SECRET: the secret a deployment sets with `wrangler secret put`.
          // EXECUTOR_ALLOW_LOOPBACK: http executors may post to the loopback server (webhooks stay deployed-strict).
          // TASK_EXECUTORS: a type defined only by config, run by the auxiliary worker below.
          bindings: {
            TEST_MIGRATIONS: migrations,
            WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
            EXECUTOR_ALLOW_LOOPBACK: "true",
            TASK_EXECUTORS: JSON.stringify({ ex_cfg_service: { kind: "service", binding: "EXEC_FIXTURE" }, ex_cfg_score: { kind: "service", binding: "EXEC_FIXTURE", method: "score" } }),
          },
          // A second Worker whose WorkerEntrypoint the service executor calls (test/fixtures/exec-worker.mjs).
          serviceBindings: { EXEC_FIXTURE: { name: "exec-fixture", entrypoint: "ExecFixture" } },
          workers: [{ name: "exec-fixture", modules: true, scriptPath: "test/fixtures/exec-worker.mjs", compatibilityDate: "2026-04-01" }],
          // Wake-ups go to a queue nobody consumes: a test runs the dispatcher itself, so no
          // background drain can claim the tasks it is about to examine.
          queueProducers: {
            TASK_QUEUE: { queueName: "seedcore-tasks-test-sink" },
            WEBHOOK_QUEUE: { queueName: "seedcore-webhooks-test-sink" },
          },
          // A tight real limiter (merged with wrangler.toml's) so a test can burst past it.
          ratelimits: { TEST_TIGHT_LIMITER: { simple: { limit: 3, period: 60 } } },
        },
      }),
    ],
    test: {
      setupFiles: ["./test/apply-migrations.ts"],
      globalSetup: ["./test/loopback-server.mjs"],
      include: ["test/**/*.test.ts"],
    },
  };
});
