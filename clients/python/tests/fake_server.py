"""An in-memory SeedCore server for the client tests: the five worker routes of the pull contract
(http.server in a thread), plus hooks a test drives (add, fail_next, cancel, steal, calls)."""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

TASK_ROUTE = re.compile(r"^/tasks/([^/]+)/(heartbeat|complete|fail|release)$")


class FakeServer:
    def __init__(self, token=None):
        self.token = token
        self.tasks = {}
        self.calls = []
        self.faults = []
        self.lock = threading.Lock()
        self.seq = 0
        self.lease_seq = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = {}
                path = urlparse(self.path).path
                status, out, headers = fake.handle(path, body, self.headers.get("authorization"))
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # hooks
    def add(self, type_, params=None, max_attempts=3):
        with self.lock:
            self.seq += 1
            tid = "t%d" % self.seq
            self.tasks[tid] = {"id": tid, "type": type_, "params": params or {}, "status": "queued", "attempts": 0,
                               "max_attempts": max_attempts, "lease_token": None, "completions": 0, "releases": 0}
            return tid

    def fail_next(self, pattern, status, n=1, headers=None):
        self.faults.append({"re": re.compile(pattern), "status": status, "n": n, "headers": headers or {}})

    def cancel(self, tid):
        self.tasks[tid]["cancel_requested"] = True

    def steal(self, tid):
        with self.lock:
            self.lease_seq += 1
            self.tasks[tid]["lease_token"] = "stolen-%d" % self.lease_seq

    def ops(self, tid):
        return ["%s:%d" % (c["op"], c["status"]) for c in list(self.calls) if c["id"] == tid]

    def status(self, tid):
        return self.tasks[tid]["status"]

    # routes
    def handle(self, path, body, auth):
        op = "lease" if path == "/workers/lease" else path.rsplit("/", 1)[-1]
        tid = unquote(path.split("/")[2]) if path.startswith("/tasks/") else None
        call = {"path": path, "op": op, "id": tid, "body": body, "status": 0, "at": time.time(), "auth": auth}
        self.calls.append(call)
        headers = {}
        fault = next((f for f in self.faults if f["n"] > 0 and f["re"].search(path)), None)
        if self.token and auth != "Bearer " + self.token:
            status, out = 401, {"error": {"code": "unauthorized", "message": "bad token"}}
        elif fault:
            fault["n"] -= 1
            status, out, headers = fault["status"], {"error": {"code": "unavailable", "message": "injected"}}, fault["headers"]
        else:
            status, out = self.route(path, body)
        call["status"] = status
        return status, out, headers

    def route(self, path, body):
        if path == "/workers/lease":
            types = body.get("types")
            deadline = time.time() + body.get("wait_s", 5)
            while True:
                out = []
                with self.lock:
                    for t in self.tasks.values():
                        if len(out) >= body.get("max", 1):
                            break
                        if t["status"] != "queued" or (types and t["type"] not in types):
                            continue
                        self.lease_seq += 1
                        t.update(status="running", lease_token="lt-%d" % self.lease_seq, lease_s=body.get("lease_s", 60),
                                 lease_expires_at=int((time.time() + body.get("lease_s", 60)) * 1000))
                        t["attempts"] += 1
                        out.append({"id": t["id"], "type": t["type"], "params": t["params"], "description": None, "domain": None,
                                    "attempt": t["attempts"], "max_attempts": t["max_attempts"], "lease_token": t["lease_token"],
                                    "lease_expires_at": t["lease_expires_at"], "deadline": None,
                                    "last_heartbeat": t.get("details"), "parents": {}})
                if out or time.time() >= deadline:
                    return 200, {"tasks": out}
                time.sleep(0.02)
        m = TASK_ROUTE.match(path)
        if not m:
            return 404, {"error": {"code": "not_found", "message": "no route"}}
        with self.lock:
            t = self.tasks.get(unquote(m.group(1)))
            if t is None:
                return 404, {"error": {"code": "not_found", "message": "no task"}}
            if t["status"] != "running" or t["lease_token"] != body.get("lease_token"):
                return 409, {"error": {"code": "conflict", "message": "lease lost"}}
            route = m.group(2)
            if route == "heartbeat":
                if "details" in body and len(json.dumps(body["details"])) > 8192:
                    return 400, {"error": {"code": "validation_failed", "message": "details: too large"}}
                t["lease_expires_at"] = int((time.time() + body.get("lease_s", t["lease_s"])) * 1000)
                if "details" in body:
                    t["details"] = body["details"]
                return 200, {"id": t["id"], "lease_expires_at": t["lease_expires_at"], "cancel_requested": bool(t.get("cancel_requested"))}
            if route == "complete":
                if len(json.dumps(body.get("result"))) > 10000:
                    return 413, {"error": {"code": "payload_too_large", "message": "result too large"}}
                t.update(status="completed", result=body.get("result"))
                t["completions"] += 1
                return 200, {"id": t["id"], "status": "completed"}
            if route == "fail":
                retry = body.get("retryable", True) and t["attempts"] < t["max_attempts"]
                t.update(status="queued" if retry else "failed", error=body.get("error"), lease_token=None)
                return 200, {"id": t["id"], "status": "retry" if retry else "failed"}
            t.update(status="queued", lease_token=None)
            t["attempts"] -= 1
            t["releases"] += 1
            return 200, {"id": t["id"], "status": "queued"}
