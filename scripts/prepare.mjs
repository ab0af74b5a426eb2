#!/usr/bin/env node
// `prepare` (npm runs it on `npm install` in this folder, on `npm pack`, and when another project
// links this folder as a `file:` dependency, e.g. examples/my-tasks): builds the CLI into
// dist/seedcore.mjs with esbuild, a devDependency. Where the devDependencies are not installed
// (a project linking this folder before `npm install` ran here, or `--omit=dev`), it skips the
// build with a note instead of failing that project's install: only the `seedcore` CLI needs it.
// `npm run pack-check` fails if a tarball would ship without dist/seedcore.mjs.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

try {
  createRequire(import.meta.url).resolve("esbuild");
} catch {
  console.warn("seedcore-edge: esbuild (a devDependency) is not installed here; skipping the CLI build (npm run build:cli)");
  process.exit(0);
}
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const run = spawnSync(npm, ["run", "build:cli"], { stdio: "inherit", cwd: new URL("..", import.meta.url) });
process.exit(run.status ?? 1);
