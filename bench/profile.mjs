// npm run bench:profile: a V8 CPU profile of the Worker's isolate (routes, consumer, Durable
// Objects, the D1 client) during one bulk run. Prints the busiest functions and writes
// bench/.state/worker.cpuprofile (open it in Chrome DevTools → Performance).
import { mkdirSync, writeFileSync } from "node:fs";
import { WebSocket } from "undici";
import { failAfter, freePort, startFreshWorker } from "../scripts/dev-server.mjs";
import { BENCH_VARS } from "./lib.mjs";
import { bulk } from "./scenarios.mjs";

failAfter(180_000, "bench:profile");

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
async function connectInspector(inspectorPort) {
  const [target] = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  // The inspector proxy only admits local origins.
  const ws = new WebSocket(target.webSocketDebuggerUrl, { headers: { Origin: "http://localhost" } });
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  const pending = new Map();
  let lastId = 0;
  ws.addEventListener("message", async (event) => {
    const text = typeof event.data === "string" ? event.data : await new Response(event.data).text();
    const message = JSON.parse(text);
    pending.get(message.id)?.(message.result);
    pending.delete(message.id);
  });
  return {
    send: (method, params = {}) =>
      new Promise((resolve) => {
        const id = ++lastId;
        pending.set(id, resolve);
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

/** Where a sampled frame belongs; "idle" is time the thread spent outside this isolate. */
function category({ functionName, url }) {
  if (functionName === "(idle)") return "outside the Worker's isolate (D1's SQLite, queue broker, I/O) or idle";
  if (functionName === "(program)" || functionName === "(garbage collector)") return "V8 (compiler, GC)";
  if (url.startsWith("cloudflare-internal:d1")) return "D1 client (runtime JS: request and row conversion)";
  if (url === "") return "runtime built-ins (Response, Headers, fetch, DO storage)";
  return "our bundle (routes, consumer, Durable Objects, zod, drizzle)";
}

/** Self time per function and per category, largest first, as shares of the whole profile. */
function selfTimes(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map();
  const byCategory = new Map();
  let total = 0;
  profile.samples.forEach((nodeId, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const frame = nodes.get(nodeId).callFrame;
    const { functionName, url, lineNumber } = frame;
    const key = `${functionName || "(anonymous)"} ${url.split("/").pop()}${lineNumber >= 0 ? `:${lineNumber + 1}` : ""}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + dt);
    byCategory.set(category(frame), (byCategory.get(category(frame)) ?? 0) + dt);
    total += dt;
  });
  const shares = (m) => [...m].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, pct: (100 * us) / total }));
  return { functions: shares(byFunction), categories: shares(byCategory) };
}

const inspectorPort = await freePort();
const { worker, base } = await startFreshWorker("profile", { inspectorPort, vars: BENCH_VARS });
await bulk(base, { total: 1000 }); // warm-up
const inspector = await connectInspector(inspectorPort);
await inspector.send("Profiler.enable");
await inspector.send("Profiler.setSamplingInterval", { interval: 200 });
await inspector.send("Profiler.start");
const run = await bulk(base);
const { profile } = await inspector.send("Profiler.stop");
inspector.close();
await worker.dispose();

mkdirSync(new URL("./.state/", import.meta.url), { recursive: true });
writeFileSync(new URL("./.state/worker.cpuprofile", import.meta.url), JSON.stringify(profile));
console.log(`bulk under the profiler (slower than npm run bench): ${run.tasks_per_s.toFixed(0)} tasks/s\n`);
const { functions, categories } = selfTimes(profile);
console.log("| share | where |\n| --- | --- |");
for (const { name, pct } of categories) console.log(`| ${pct.toFixed(1)} % | ${name} |`);
console.log("\n| self time | function (bundle line) |\n| --- | --- |");
for (const { name, pct } of functions.slice(0, 20)) console.log(`| ${pct.toFixed(1)} % | ${name} |`);
console.log("\nwrote bench/.state/worker.cpuprofile");
process.exit(0);
