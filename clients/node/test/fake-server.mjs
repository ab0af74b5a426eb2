// An in-memory SeedCore server for the pull-worker client tests: the five worker routes of the
// pull contract (docs/PULL-API.md) over node:http, plus hooks a test drives.
//   add(type, params)         → a queued task
//   failNext(pathRe, status, n, headers?)  the next n requests matching pathRe answer status
//   cancel(id)                cancel_requested on the next heartbeat
//   steal(id)                 the lease token changes (as after expiry + re-lease): the holder gets 409
//   calls                     every request: {path, op, id, body, status, at}
import { createServer } from "node:http";

export async function startFakeServer({ token = null, reapExpired = true } = {}) {
  const tasks = new Map();
  const calls = [];
  const faults = [];
  let seq = 0;
  let leaseSeq = 0;

  const reap = () => {
    if (!reapExpired) return;
    const now = Date.now();
    for (const t of tasks.values()) {
      if (t.status === "running" && t.lease_expires_at < now) {
        t.status = t.attempts >= t.max_attempts ? "failed" : "queued";
        t.lease_token = null;
        t.reaped = (t.reaped ?? 0) + 1;
      }
    }
  };

  const leased = (t) => ({
    id: t.id, type: t.type, params: t.params, description: null, domain: null, attempt: t.attempts,
    max_attempts: t.max_attempts, lease_token: t.lease_token, lease_expires_at: t.lease_expires_at,
    deadline: null, last_heartbeat: t.details ?? null, parents: {},
  });

  async function handle(method, path, body) {
    if (method !== "POST") return [404, { error: { code: "not_found", message: "no route" } }];
    if (path === "/workers/lease") {
      const types = body.types ?? null;
      const max = body.max ?? 1;
      const leaseS = body.lease_s ?? 60;
      const deadline = Date.now() + (body.wait_s ?? 5) * 1000;
      for (;;) {
        reap();
        const out = [];
        for (const t of tasks.values()) {
          if (out.length >= max) break;
          if (t.status !== "queued" || (types && !types.includes(t.type))) continue;
          t.status = "running";
          t.attempts++;
          t.lease_token = `lt-${++leaseSeq}`;
          t.lease_s = leaseS;
          t.lease_expires_at = Date.now() + leaseS * 1000;
          out.push(leased(t));
        }
        if (out.length || Date.now() >= deadline) return [200, { tasks: out }];
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const m = /^\/tasks\/([^/]+)\/(heartbeat|complete|fail|release)$/.exec(path);
    if (!m) return [404, { error: { code: "not_found", message: "no route" } }];
    const t = tasks.get(decodeURIComponent(m[1]));
    if (!t) return [404, { error: { code: "not_found", message: "no task" } }];
    if (t.status !== "running" || t.lease_token !== body.lease_token) return [409, { error: { code: "conflict", message: "lease lost" } }];
    switch (m[2]) {
      case "heartbeat":
        if (body.details !== undefined && JSON.stringify(body.details).length > 8192) return [400, { error: { code: "validation_failed", message: "details: too large" } }];
        t.lease_expires_at = Date.now() + (body.lease_s ?? t.lease_s) * 1000;
        if (body.details !== undefined) t.details = body.details;
        t.heartbeats = (t.heartbeats ?? 0) + 1;
        return [200, { id: t.id, lease_expires_at: t.lease_expires_at, cancel_requested: Boolean(t.cancel_requested) }];
      case "complete":
        if (JSON.stringify(body.result ?? null).length > 10_000) return [413, { error: { code: "payload_too_large", message: "result too large" } }];
        t.status = "completed";
        t.result = body.result;
        t.completions = (t.completions ?? 0) + 1;
        return [200, { id: t.id, status: "completed" }];
      case "fail": {
        const retry = body.retryable !== false && t.attempts < t.max_attempts;
        t.status = retry ? "queued" : "failed";
        t.error = body.error;
        t.lease_token = null;
        return [200, { id: t.id, status: retry ? "retry" : "failed" }];
      }
      case "release":
        t.status = "queued";
        t.attempts--;
        t.lease_token = null;
        t.releases = (t.releases ?? 0) + 1;
        return [200, { id: t.id, status: "queued" }];
    }
  }

  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (d) => (raw += d));
    req.on("end", async () => {
      const path = new URL(req.url ?? "/", "http://fake").pathname;
      let body = {};
      try {
        body = raw ? JSON.parse(raw) : {};
      } catch {
        body = {};
      }
      const op = path === "/workers/lease" ? "lease" : path.split("/").at(-1);
      const id = path.startsWith("/tasks/") ? decodeURIComponent(path.split("/")[2]) : undefined;
      const call = { path, op, id, body, status: 0, at: Date.now(), auth: req.headers.authorization ?? null };
      calls.push(call);
      let status;
      let out;
      let headers = {};
      const fault = faults.find((f) => f.n > 0 && f.re.test(path));
      if (token && req.headers.authorization !== `Bearer ${token}`) [status, out] = [401, { error: { code: "unauthorized", message: "bad token" } }];
      else if (fault) {
        fault.n--;
        status = fault.status;
        headers = fault.headers ?? {};
        out = { error: { code: "unavailable", message: "injected" } };
      } else [status, out] = await handle(req.method, path, body);
      call.status = status;
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(out));
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    tasks,
    calls,
    add(type, params = {}, { max_attempts = 3 } = {}) {
      const id = `t${++seq}`;
      tasks.set(id, { id, type, params, status: "queued", attempts: 0, max_attempts, lease_token: null });
      return id;
    },
    failNext(re, status, n = 1, headers) {
      faults.push({ re, status, n, headers });
    },
    cancel(id) {
      tasks.get(id).cancel_requested = true;
    },
    steal(id) {
      tasks.get(id).lease_token = `stolen-${++leaseSeq}`;
    },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}
