// Starts the Worker the way load, smoke and crash scripts must: programmatically, without the
// inspector unless a profiler asks (the CLI's inspector turns a burst of D1 queries into "Too
// many open files"), in this process or a detached one; plus the scripts' small shared helpers.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { unstable_startWorker } from "wrangler";

/** A hung server or client must not hang CI: the whole script fails after `ms`. */
export function failAfter(ms, name) {
  setTimeout(() => {
    console.error(`${name} FAILED: not done within ${ms / 1000} s`);
    process.exit(1);
  }, ms).unref();
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A new temporary state directory with the D1 migrations applied (as `npm run dev` does). */
export function migratedStateDir(label) {
  const persistDir = mkdtempSync(path.join(tmpdir(), `seedcore-${label}-`));
  const r = spawnSync(
    "npx",
    ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir],
    { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8", env: { ...process.env, CI: "1" } },
  );
  if (r.status !== 0) throw new Error(`migrations failed:\n${r.stdout}\n${r.stderr}`);
  return persistDir;
}

/**
 * Starts the Worker on 127.0.0.1:`port` with state in `persistDir`; `vars` override [vars].
 * The inspector stays off (TOOLCHAIN: it turns load into a flood of messages) unless a
 * profiler asks for it with `inspectorPort`. `entry` (a script path) replaces wrangler.toml's
 * `main`, e.g. a fixture Worker with task types of its own (scripts/fixtures/work-worker.ts).
 */
export async function startWorker({ port, persistDir, vars = {}, inspectorPort, entry }) {
  const worker = await unstable_startWorker({
    config: "wrangler.toml",
    ...(entry ? { entrypoint: path.resolve(entry) } : {}),
    bindings: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, { type: "plain_text", value: String(v) }])),
    dev: {
      server: { hostname: "127.0.0.1", port },
      inspector: inspectorPort === undefined ? false : { port: inspectorPort },
      persist: persistDir,
      logLevel: "warn",
      watch: false,
    },
  });
  await worker.ready;
  return worker;
}

/** A Worker in this process on a free port, serving a fresh migrated state directory. */
export async function startFreshWorker(label, { vars, inspectorPort, entry } = {}) {
  const port = await freePort();
  const worker = await startWorker({ port, persistDir: migratedStateDir(label), vars, inspectorPort, entry });
  return { worker, base: `http://127.0.0.1:${port}` };
}

export async function getJson(base, p, init) {
  const res = await fetch(`${base}${p}`, init);
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it returns a truthy value or `ms` pass (then null). */
export async function until(ms, probe, everyMs = 20) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() >= deadline) return null;
    await sleep(everyMs);
  }
}

/** GET /metrics as a map from `name` or `name{k="v",…}` (as written) to its value. */
export async function scrapeMetrics(base, init) {
  const res = await fetch(`${base}/metrics`, init);
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  const samples = new Map();
  for (const line of (await res.text()).split("\n")) {
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?)\s+(\S+)$/);
    if (m) samples.set(m[1], Number(m[2].replace("+Inf", "Infinity")));
  }
  return samples;
}

/**
 * Starts the Worker in a child process of its own process group (scripts/serve.mjs), so a
 * crash test can SIGKILL it with workerd, and a load client does not share its event loop. The
 * group is killed when this process exits, however it exits. `entry`: as in startWorker.
 */
export function spawnServer(port, persistDir, vars = {}, entry) {
  const args = ["scripts/serve.mjs", String(port), persistDir, JSON.stringify(vars), ...(entry ? [path.resolve(entry)] : [])];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  // A script that fails or hits its deadline must not leave a detached server behind.
  const killOnExit = () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  process.on("exit", killOnExit);
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + String(d)).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (d) => {
      if (String(d).includes("serving on")) resolve(child);
    });
    child.on("exit", (code) => {
      process.off("exit", killOnExit);
      reject(new Error(`server exited early (${code}):\n${stderr}`));
    });
  });
}
