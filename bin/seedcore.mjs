#!/usr/bin/env node
// Starts the CLI, built from cli/seedcore.ts (on the typed client) by `npm run build:cli`, which
// `npm install` runs (the `prepare` script).
import { existsSync } from "node:fs";

const built = new URL("../dist/seedcore.mjs", import.meta.url);
if (!existsSync(built)) {
  process.stderr.write("seedcore: the CLI is not built yet; run `npm run build:cli` (npm install does it)\n");
  process.exit(1);
}
await import(built.href);
