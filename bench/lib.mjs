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

async function call(method, url, body) {
  const res = await request(url, {
    method,
    dispatcher: agent,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.body.json();
  if (res.statusCode >= 300) throw new Error(`${method} ${url} → ${res.statusCode}: ${JSON.stringify(json)}`);
  return json;
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

/** True when no task is queued, running or waiting to retry. */
async function drained(base) {
  for (const status of ["queued", "running", "retry"]) {
    const page = await getBody(base, `/tasks?status=${status}&limit=1`);
    if (page.items.length > 0) return false;
  }
  return true;
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
