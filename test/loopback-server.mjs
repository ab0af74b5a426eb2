import { createHmac } from "node:crypto";
import { createServer } from "node:http";

/** vitest.config.ts's WEBHOOK_SECRET: /exec checks the signature of what the http executor posts. */
const TEST_WEBHOOK_SECRET = "test-webhook-secret";

/**
 * A loopback HTTP server in Node, for tasks whose code calls an outside API (vitest globalSetup;
 * tests get its origin with inject("loopbackOrigin")). It counts what the production limits care
 * about, since the simulator enforces none of them:
 *   GET /slow?ms=N&tag=T   answers {tag} after N ms (concurrency counted, peak kept per tag prefix)
 *   GET /hang?tag=T        never answers; records when the client closes the connection
 *   GET /stats?tag=T       {inflight, peak, served, closed: [tags whose connection was cut]}
 *   POST /exec?status=S&retry_after=R&nonretryable=1&ms=N&tag=T
 *                          an http executor's receiver: after N ms answers status S (default 200);
 *                          200 → {task, headers (seedcore-*), signature_ok}; else a text body
 *                          "refused: S"; with Retry-After R and/or SeedCore-NonRetryable: true
 * `tag` groups requests (one test's, one task's): stats are kept per tag and for its prefix before ':'.
 */
/** @type {Map<string, {inflight: number, peak: number, served: number, closed: string[]}>} */
const stats = new Map();
/** @param {string} key */
const of = (key) => {
  let s = stats.get(key);
  if (!s) stats.set(key, (s = { inflight: 0, peak: 0, served: 0, closed: [] }));
  return s;
};
/** @param {string} tag */
const keysOf = (tag) => [tag, tag.split(":")[0] ?? ""];

/** @type {import("node:http").Server | undefined} */
let server;

/** @param {import("vitest/node").TestProject} project */
export default async function setup(project) {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://loopback");
    const tag = url.searchParams.get("tag") ?? "";
    if (url.pathname === "/stats") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(of(tag)));
      return;
    }
    const counted = keysOf(tag).map(of);
    for (const s of counted) s.peak = Math.max(s.peak, ++s.inflight);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      for (const s of counted) s.inflight--;
    };
    res.on("close", () => {
      if (!res.writableFinished) for (const s of counted) s.closed.push(tag);
      finish();
    });
    if (url.pathname === "/hang") return;
    if (url.pathname === "/exec") {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const sig = /^t=(\d+),v1=([0-9a-f]+)$/.exec(String(req.headers["seedcore-signature"] ?? ""));
        const signature_ok = sig !== null && createHmac("sha256", TEST_WEBHOOK_SECRET).update(`${sig[1]}.${body}`).digest("hex") === sig[2];
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith("seedcore-")));
        const status = Number(url.searchParams.get("status") ?? 200);
        setTimeout(() => {
          for (const s of counted) s.served++;
          if (url.searchParams.get("retry_after")) res.setHeader("retry-after", String(url.searchParams.get("retry_after")));
          if (url.searchParams.get("nonretryable")) res.setHeader("seedcore-nonretryable", "true");
          if (status === 200) {
            res.setHeader("content-type", "application/json");
            let task = null;
            try {
              task = JSON.parse(body);
            } catch {}
            res.end(JSON.stringify({ task, headers, signature_ok }));
          } else {
            res.statusCode = status;
            res.end(status === 202 ? "" : `refused: ${status} ${"x".repeat(Number(url.searchParams.get("pad") ?? 0))}`);
          }
          finish();
        }, Number(url.searchParams.get("ms") ?? 0));
      });
      return;
    }
    const ms = Number(url.searchParams.get("ms") ?? 0);
    setTimeout(() => {
      for (const s of counted) s.served++;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ tag, ms }));
      finish();
    }, ms);
  });
  await new Promise((resolve) => server?.listen(0, "127.0.0.1", () => resolve(undefined)));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("loopback server has no port");
  project.provide("loopbackOrigin", `http://127.0.0.1:${address.port}`);
  return async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(() => resolve(undefined)));
  };
}
