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
 *   GET /exec/last?tag=T   {headers (seedcore-*), body} of the last /exec request with that tag (a 202's
 *                          lease token, for a test that then plays the endpoint finishing the task)
 * `tag` groups requests (one test's, one task's): stats are kept per tag and for its prefix before ':'.
 *
 * For named service clients (ctx.services) and the cognitive planner:
 *   ANY /svc/flaky?key=K&fail=F&code=C&retry_after=S
 *                          the first F requests of key K answer C (default 503, with Retry-After S if
 *                          given), later ones 200 {key, n, headers}; fail=-1: always C
 *   GET /svc/hits?key=K    {n}: requests /svc/flaky had for key K
 *   POST /llm/<mode>/v1/chat/completions  an OpenAI-compatible answer; <mode>: valid (a plan over the
 *                          first organ the prompt lists: ping, then test_task), invalid_json, unknown_type, slow (3 s), error (500)
 *   GET /llm/last          {authorization, model, messages} of the last chat-completions request
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
/** @type {Map<string, number>} */
const hits = new Map();
/** @type {unknown} */
let lastChat = null;
/** @type {Map<string, unknown>} */
const lastExec = new Map();

/** @param {import("node:http").IncomingMessage} req */
const bodyOf = (req) =>
  new Promise((resolve) => {
    let text = "";
    req.on("data", (chunk) => (text += chunk));
    req.on("end", () => resolve(text));
  });

/** @param {import("node:http").ServerResponse} res @param {number} status @param {unknown} body @param {Record<string, string>} [headers] */
const answer = (res, status, body, headers = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};

/** @param {string} content */
const chat = (content) => ({ id: "chatcmpl-loopback", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] });

/** @param {string} mode @param {import("node:http").IncomingMessage} req @param {import("node:http").ServerResponse} res */
async function chatCompletions(mode, req, res) {
  const request = JSON.parse(String(await bodyOf(req)) || "{}");
  lastChat = { authorization: req.headers.authorization ?? null, model: request.model ?? null, messages: request.messages ?? [] };
  const system = String(request.messages?.[0]?.content ?? "");
  const organs = JSON.parse(/these organs: (\[.*?\])/.exec(system)?.[1] ?? "[]");
  const organ = organs[0] ?? "none";
  if (mode === "valid") return answer(res, 200, chat("```json\n" + JSON.stringify({ steps: [{ organ_id: organ, task: { type: "ping", params: {} } }, { organ_id: organ, task: { type: "test_task", params: { from: "llm" } } }] }) + "\n```"));
  if (mode === "invalid_json") return answer(res, 200, chat("Sure! Here is a plan: step one, ping."));
  if (mode === "unknown_type") return answer(res, 200, chat(JSON.stringify({ steps: [{ organ_id: organ, task: { type: "launch_rockets", params: {} } }] })));
  if (mode === "error") return answer(res, 500, { error: { message: "model overloaded" } });
  if (mode === "slow") return void setTimeout(() => answer(res, 200, chat(JSON.stringify({ steps: [] }))), 3000);
  answer(res, 404, { error: `unknown mode ${mode}` });
}

/** @type {import("node:http").Server | undefined} */
let server;

/** @param {import("vitest/node").TestProject} project */
export default async function setup(project) {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://loopback");
    const tag = url.searchParams.get("tag") ?? "";
    if (url.pathname === "/svc/flaky") {
      const key = url.searchParams.get("key") ?? "";
      const n = (hits.get(key) ?? 0) + 1;
      hits.set(key, n);
      const fail = Number(url.searchParams.get("fail") ?? 0);
      const retryAfter = url.searchParams.get("retry_after");
      if (fail < 0 || n <= fail) return answer(res, Number(url.searchParams.get("code") ?? 503), { key, n, failing: true }, retryAfter === null ? {} : { "retry-after": retryAfter });
      return answer(res, 200, { key, n, headers: req.headers });
    }
    if (url.pathname === "/svc/hits") return answer(res, 200, { n: hits.get(url.searchParams.get("key") ?? "") ?? 0 });
    if (url.pathname === "/llm/last") return answer(res, 200, lastChat);
    if (url.pathname === "/exec/last") return answer(res, 200, lastExec.get(tag) ?? null);
    const llm = /^\/llm\/([a-z_]+)\/v1\/chat\/completions$/.exec(url.pathname);
    if (llm && req.method === "POST") return void chatCompletions(llm[1] ?? "", req, res);
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
        lastExec.set(tag, { headers, body });
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
