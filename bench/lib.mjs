// Load helpers for the benchmark: bounded loops against loopback only. undici's pooled
// `request` rather than `fetch`: on 2 cores the client's own CPU would otherwise be measured.
import { readdirSync, readFileSync } from "node:fs";
import { Agent, request } from "undici";
import { sleep } from "../scripts/dev-server.mjs";

/**
 * [vars] overrides for every benchmark server: the load comes from one loopback client, which the
 * API rate limit would throttle (its default is about to become tight).
 */
export const BENCH_VARS = { RATE_LIMIT_ENABLED: "false" };

const agent = new Agent({ connections: 128, pipelining: 1, keepAliveTimeout: 30_000 });

/** Requests the runtime dropped by restarting (and that were sent again) so far; see `call`. */
export const restarts = { count: 0 };
const RESTARTED = /restarted mid-request/;

/**
 * One request; throws on an error status. The local runtime now and then answers a POST with a
 * plain-text 503 "Your worker restarted mid-request" under a heavily loaded machine (it retries
 * GETs itself), or closes the connection under it: such a request is sent again, up to 3 times,
 * and counted in `restarts`.
 */
async function call(method, url, body, parse = JSON.parse) {
  for (let attempt = 1; ; attempt++) {
    let res;
    let text;
    try {
      res = await request(url, {
        method,
        dispatcher: agent,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      text = await res.body.text();
    } catch (err) {
      // The same restart seen from the socket: the connection closed under the request.
      if (err?.code !== "UND_ERR_SOCKET" || attempt > 3) throw err;
      restarts.count++;
      continue;
    }
    if (res.statusCode === 503 && RESTARTED.test(text) && attempt <= 3) {
      restarts.count++;
      continue;
    }
    if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${text.slice(0, 300)}`);
    return parse(text);
  }
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export const postJson = (base, path, body) => call("POST", `${base}${path}`, body);
/** The JSON body of a GET; throws on an error status (unlike dev-server's `getJson`). */
export const getBody = (base, path) => call("GET", `${base}${path}`);
export const getText = (base, path) => call("GET", `${base}${path}`, undefined, (t) => t);

/**
 * True when no task is queued, running or waiting to retry: from the rollups (GET /stats), so the
 * poll costs the same whatever the table holds and whichever indexes it has.
 */
async function drained(base) {
  const { by_status: s } = await getBody(base, "/stats?minutes=1");
  return s.queued + s.running + s.retry === 0;
}

export async function waitDrained(base, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await drained(base)) return;
    await sleep(25);
  }
  const { by_status: byStatus } = await getBody(base, "/stats?minutes=1");
  const counts = Object.fromEntries(Object.entries(byStatus).filter(([, n]) => n > 0));
  throw new Error(`tasks not drained within ${timeoutMs} ms: ${JSON.stringify(counts)}`);
}

/** Every task created at or after `sinceMs`, newest first, via the keyset-paginated list. */
export async function tasksSince(base, sinceMs) {
  const out = [];
  let cursor = null;
  for (;;) {
    const page = await getBody(base, `/tasks?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    for (const t of page.items) {
      if (Date.parse(t.created_at) < sinceMs) return out;
      out.push(t);
    }
    if (!page.next_cursor) return out;
    cursor = page.next_cursor;
  }
}

/** `fn` run `n` times one after another (after 10 unmeasured) → p50 and p99 in ms. */
export async function sequential(n, fn) {
  for (let i = 0; i < 10; i++) await fn();
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99) };
}

/** Runs `fn` from `concurrency` loops until `durationMs` passes; returns per-call latencies. */
export async function closedLoop(concurrency, durationMs, fn) {
  const latencies = [];
  const end = Date.now() + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const t0 = performance.now();
        await fn();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return latencies.sort((a, b) => a - b);
}

/**
 * CPU milliseconds used so far by the busiest `workerd` of a process group (Linux /proc; null
 * elsewhere). The local runtime serves the Worker, D1, the queue broker and every Durable Object
 * from that one process's event loop, so its CPU per task is the pipeline's cost.
 */
export function runtimeCpuMs(pgid) {
  let best = null;
  let entries;
  try {
    entries = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const pid of entries) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[2] is the process group; [11] and [12] are utime and stime in clock ticks (100/s).
    if (comm !== "workerd" || Number(fields[2]) !== pgid) continue;
    const ms = (Number(fields[11]) + Number(fields[12])) * 10;
    if (best === null || ms > best) best = ms;
  }
  return best;
}
