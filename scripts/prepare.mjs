#!/usr/bin/env node
// `prepare` (npm runs it on `npm install` in this folder, on `npm pack`, and when another project
// links this folder as a `file:` dependency, e.g. examples/my-tasks): builds the CLI into
// dist/seedcore.mjs and the pull worker for Node (`seedcore-edge/pull-worker`) into
// dist/pull-worker.mjs with esbuild, a devDependency. Where the devDependencies are not installed
// (a project linking this folder before `npm install` ran here, or `--omit=dev`), it skips the
// build with a note instead of failing that project's install: only the `seedcore` CLI and the
// pull worker under Node need it. `npm run pack-check` fails if a tarball would ship without them.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

try {
  createRequire(import.meta.url).resolve("esbuild");
} catch {
  console.warn("seedcore-edge: esbuild (a devDependency) is not installed here; skipping the CLI build (npm run build:cli)");
  process.exit(0);
}
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
for (const script of ["build:cli", "build:pull-worker"]) {
  const run = spawnSync(npm, ["run", script], { stdio: "inherit", cwd: new URL("..", import.meta.url) });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
