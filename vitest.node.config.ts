// The pull-worker clients' tests (npm run test:clients): plain Node, not the Workers pool — the
// client is what runs outside Cloudflare, against an in-process fake server (node:http).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "node",
    include: ["clients/node/test/**/*.test.ts"],
    testTimeout: 20_000,
  },
});
