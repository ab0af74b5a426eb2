#!/usr/bin/env node
// Checks what `npm pack` would put in the package's tarball: the TypeScript source the package
// exports (src/package.ts and what it imports), the Durable Objects, every D1 migration, the built
// CLI; and none of the tests, scripts, benchmarks or examples. Run by CI (`npm run pack-check`).
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
// `npm pack` runs `prepare` (builds dist/seedcore.mjs); its output goes to stderr.
const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts=false"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
const [pack] = JSON.parse(out);
const files = new Set(pack.files.map((f) => f.path));
const problems = [];
const need = (path) => files.has(path) || problems.push(`missing: ${path}`);

need("package.json");
need("src/package.ts");
need("src/index.ts");
need("src/worker.ts");
need("src/env.d.ts");
need("durable-objects/organ.ts");
need("durable-objects/organism-manager.ts");
need("bin/seedcore.mjs");
need("dist/seedcore.mjs");
need("dist/pull-worker.mjs");
need("src/pull-worker.ts");
const migrations = readdirSync(new URL("../migrations/", import.meta.url)).filter((f) => f.endsWith(".sql"));
if (migrations.length === 0) problems.push("no migrations/*.sql in the repository");
for (const m of migrations) need(`migrations/${m}`);

for (const path of files) {
  if (/^(test|tests|scripts|bench|examples|cli|docs|\.ci|\.wrangler|node_modules|coverage)\//.test(path)) problems.push(`should not ship: ${path}`);
  if (/\.(test|spec)\.tsx?$/.test(path)) problems.push(`should not ship: ${path}`);
  if (/(^|\/)\.dev\.vars$|\.log$/.test(path)) problems.push(`should not ship: ${path}`);
}

// Every relative import in the shipped source must point at a shipped file.
const { readFileSync } = await import("node:fs");
const { posix } = await import("node:path");
for (const path of files) {
  if (!/\.tsx?$/.test(path) || path.endsWith(".d.ts")) continue;
  const text = readFileSync(new URL(`../${path}`, import.meta.url), "utf8");
  for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*"(\.{1,2}\/[^"]+)"/g)) {
    const base = posix.normalize(posix.join(posix.dirname(path), spec));
    const candidates = [base, `${base}.ts`, `${base}.tsx`, `${base}/index.ts`];
    if (!candidates.some((c) => files.has(c))) problems.push(`${path} imports ${spec}, which does not ship`);
  }
}

if (problems.length > 0) {
  console.error(`pack-check: ${problems.length} problem(s) in ${pack.filename}:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`pack-check: ok — ${pack.filename}: ${files.size} files, ${migrations.length} migrations, ${(pack.size / 1024).toFixed(0)} KiB packed`);
