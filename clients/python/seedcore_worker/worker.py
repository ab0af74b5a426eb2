"""The pull worker loop: see the package docstring and clients/python/README.md.

The HTTP contract (server side in SeedCore Edge):
  POST /workers/lease            {types, max, lease_s, wait_s} -> {tasks: [...]}
  POST /tasks/{id}/heartbeat     {lease_token, lease_s, details?} -> {lease_expires_at, cancel_requested}
  POST /tasks/{id}/complete      {lease_token, result}
  POST /tasks/{id}/fail          {lease_token, error, retryable, retry_after_s?}
  POST /tasks/{id}/release       {lease_token}
409 on any task route: the lease is no longer this worker's (nothing more is sent for that task).
"""

import json
import math
import random
import signal
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


class PermanentError(Exception):
    """Raise from a handler to fail the task without retry (bad input, a refused request)."""


class RetryAfterError(Exception):
    """Raise from a handler to retry the task ``retry_after_s`` seconds from now; the attempt counts."""

    def __init__(self, message, retry_after_s):
        super().__init__(message)
        if not isinstance(retry_after_s, (int, float)) or retry_after_s < 0 or math.isnan(retry_after_s):
            raise ValueError("retry_after_s must be a non-negative number of seconds")
        self.retry_after_s = retry_after_s


class LeaseLostError(Exception):
    """The server no longer gives this worker the task (409): re-leased after expiry, or not running."""


class WorkerError(Exception):
    """The server refused the worker for good (401 bad token, 403 type outside the token's scope, 400)."""

    def __init__(self, message, status, code=None):
        super().__init__(message)
        self.status = status
        self.code = code


class _HttpError(Exception):
    def __init__(self, message, status, code=None, retry_after_s=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s


def _transient(err):
    return not isinstance(err, _HttpError) or err.status in TRANSIENT_STATUS


class TaskContext:
    """What a handler gets besides the task (a dict as leased).

    ``aborted``: a ``threading.Event`` set on cancel, on a lost lease, or when a graceful stop's
    grace runs out (the task is then released); ``abort_reason`` says which ("cancelled",
    "lease_lost", "stopping"). Long handlers should check it (or ``ctx.aborted.wait(s)`` instead
    of ``time.sleep(s)``).
    """

    def __init__(self, worker, held):
        self._worker = worker
        self._held = held
        self.task = held.task
        self.attempt = held.task.get("attempt")
        self.aborted = held.aborted

    @property
    def abort_reason(self):
        return self._held.abort_reason

    def heartbeat(self, details=None):
        """Extends the lease now and stores ``details`` (JSON ≤ 8 KiB; the next attempt gets them as
        ``task["last_heartbeat"]``). Returns ``{"cancel_requested": bool}``; raises LeaseLostError."""
        if details is not None:
            self._held.details = details
        return self._worker._heartbeat(self._held)


class _Held:
    def __init__(self, task):
        self.task = task
        self.aborted = threading.Event()
        self.abort_reason = None
        self.wake = threading.Event()
        self.done = False
        self.outcome = None  # ("ok", result) | ("error", exc)
        self.details = None
        self.lost = False
        self.cancelled = False
        self.released = False
        self.lease_expires_at = task.get("lease_expires_at") or 0
        self.lock = threading.Lock()

    def abort(self, why):
        with self.lock:
            if self.abort_reason is None:
                self.abort_reason = why
        self.aborted.set()


class Worker:
    """A pull worker. ``handlers``: ``{type: fn(task: dict, ctx: TaskContext) -> result}``.

    ``types`` default to the handlers' types. ``concurrency`` tasks run at once (one thread each).
    ``lease_s`` (5..900) is the lease asked for, heartbeats every ``heartbeat_s`` (default
    lease_s / 3), long-polls of ``wait_s`` (0..20). On stop, running handlers get ``grace_s`` to
    finish; the rest are released. ``on_error(exc, op, task_id)`` hears about errors the worker
    handles itself (retried server errors, lost leases).
    """

    def __init__(self, url, token=None, types=None, concurrency=1, handlers=None, lease_s=60, heartbeat_s=None,
                 wait_s=5, grace_s=30, on_error=None, retry_base_s=0.25, retry_max_s=10.0):
        self.url = url.rstrip("/")
        self.token = token
        self.handlers = dict(handlers or {})
        self.types = list(types) if types is not None else list(self.handlers)
        if not self.types:
            raise ValueError("Worker: no task types (give handlers, or types with handlers)")
        for t in self.types:
            if not callable(self.handlers.get(t)):
                raise ValueError("Worker: no handler for type %r" % t)
        self.concurrency = max(1, int(concurrency))
        self.lease_s = min(900, max(5, lease_s))
        self.heartbeat_s = max(0.05, heartbeat_s if heartbeat_s is not None else self.lease_s / 3.0)
        self.wait_s = min(20, max(0, wait_s))
        self.grace_s = max(0, grace_s)
        self.on_error = on_error
        self.retry_base_s = retry_base_s
        self.retry_max_s = retry_max_s
        self._stopping = threading.Event()
        self._grace_over = threading.Event()
        self._slot = threading.Condition()
        self._held = {}
        self._supervisors = []
        self._releases = []
        self._thread = None
        self._stopped = threading.Event()
        self.error = None  # the WorkerError that ended run(), if any

    # ---- public ---------------------------------------------------------------------------------

    @property
    def running(self):
        with self._slot:
            return len(self._held)

    def run(self, handle_signals=True):
        """Runs until stopped (``stop()``, SIGTERM or SIGINT when ``handle_signals`` and this is the
        main thread; a second signal ends the grace at once). Raises WorkerError if the server
        refused the worker for good."""
        restore = self._install_signals() if handle_signals else None
        try:
            self._run()
        finally:
            if restore:
                restore()
        if self.error is not None:
            raise self.error

    def start(self):
        """Runs the worker in a background thread; ``stop()`` ends it."""
        self._thread = threading.Thread(target=self._run_quiet, name="seedcore-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, wait=True, timeout=None):
        """Stops leasing; running handlers get ``grace_s``; the rest are released. ``wait``: block until done."""
        self._begin_stop()
        if wait:
            self._stopped.wait(timeout)

    # ---- internals ------------------------------------------------------------------------------

    def _report(self, exc, op, task_id=None):
        if self.on_error is None:
            return
        try:
            self.on_error(exc, op, task_id)
        except Exception:  # a raising on_error must not break the loop
            pass

    def _install_signals(self):
        if threading.current_thread() is not threading.main_thread():
            return None
        previous = {}

        def on_signal(signum, frame):
            if self._stopping.is_set():
                self._grace_over_now()
            else:
                self._begin_stop()

        for s in (signal.SIGTERM, signal.SIGINT):
            previous[s] = signal.signal(s, on_signal)

        def restore():
            for s, h in previous.items():
                signal.signal(s, h)

        return restore

    def _begin_stop(self):
        if self._stopping.is_set():
            return
        self._stopping.set()
        with self._slot:
            self._slot.notify_all()
        if self.grace_s == 0:
            self._grace_over_now()
        else:
            t = threading.Timer(self.grace_s, self._grace_over_now)
            t.daemon = True
            t.start()

    def _grace_over_now(self):
        self._grace_over.set()
        with self._slot:
            held = list(self._held.values())
        for h in held:
            h.wake.set()

    def _call(self, path, body, timeout):
        data = json.dumps(body).encode()
        headers = {"content-type": "application/json", "accept": "application/json", "user-agent": "seedcore-worker-python/0.1"}
        if self.token:
            headers["authorization"] = "Bearer " + self.token
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                text = res.read().decode("utf-8", "replace")
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            code, message = None, text[:300]
            try:
                err = json.loads(text).get("error") or {}
                code, message = err.get("code"), err.get("message", message)
            except (ValueError, AttributeError):
                pass
            ra = e.headers.get("retry-after") if e.headers else None
            retry_after = None
            if ra is not None:
                try:
                    retry_after = float(ra.strip())
                except ValueError:
                    pass
            raise _HttpError("POST %s answered %d: %s" % (path, e.code, message), e.code, code, retry_after)

    def _call_retrying(self, op, path, body, give_up_at=None, task_id=None, timeout=30):
        n = 0
        while True:
            try:
                return self._call(path, body, timeout)
            except (_HttpError, urllib.error.URLError, OSError, socket.timeout, json.JSONDecodeError) as err:
                if not _transient(err):
                    raise
                self._report(err, op, task_id)
                delay = min(self.retry_max_s, self.retry_base_s * 2 ** n) * (0.5 + random.random() / 2)  # jitter
                if isinstance(err, _HttpError) and err.retry_after_s is not None:
                    delay = max(delay, err.retry_after_s)
                if give_up_at is not None and time.time() + delay > give_up_at:
                    raise
                time.sleep(delay)
                n += 1

    def _task_path(self, task, route):
        return "/tasks/%s/%s" % (urllib.parse.quote(str(task["id"]), safe=""), route)

    def _heartbeat(self, h):
        if h.lost:
            raise LeaseLostError("task %s: lease lost" % h.task["id"])
        body = {"lease_token": h.task["lease_token"], "lease_s": self.lease_s}
        if h.details is not None:
            body["details"] = h.details
        try:
            res = self._call_retrying("heartbeat", self._task_path(h.task, "heartbeat"), body,
                                      give_up_at=h.lease_expires_at / 1000.0, task_id=h.task["id"]) or {}
        except _HttpError as e:
            if e.status == 409:
                self._mark_lost(h, e)
                raise LeaseLostError("task %s: lease lost (%s)" % (h.task["id"], e))
            # Refused details (too large) must not poison the automatic heartbeats that re-send them.
            if e.status == 400 and "details" in body:
                h.details = None
            raise WorkerError(str(e), e.status, e.code)
        if isinstance(res.get("lease_expires_at"), (int, float)):
            h.lease_expires_at = res["lease_expires_at"]
        if res.get("cancel_requested") and not h.cancelled:
            h.cancelled = True
            h.abort("cancelled")
        return {"cancel_requested": bool(res.get("cancel_requested"))}

    def _mark_lost(self, h, cause):
        if h.lost:
            return
        h.lost = True
        self._report(LeaseLostError("task %s: lease lost: %s" % (h.task["id"], cause)), "lease_lost", h.task["id"])
        h.abort("lease_lost")

    def _release(self, task):
        try:
            self._call_retrying("release", self._task_path(task, "release"), {"lease_token": task["lease_token"]},
                                give_up_at=max(time.time() + 5, (task.get("lease_expires_at") or 0) / 1000.0), task_id=task["id"])
        except Exception as err:  # 409: not ours any more; else the lease expires and the reaper takes it back
            self._report(err, "release", task["id"])

    def _finish(self, h):
        give_up = max(h.lease_expires_at / 1000.0, time.time() + 5)
        kind, value = h.outcome
        op = "complete" if kind == "ok" else "fail"
        try:
            if kind == "ok":
                try:
                    json.dumps(value)
                except (TypeError, ValueError) as e:  # not JSON-serialisable
                    kind, value, op = "error", PermanentError("result is not JSON: %s" % e), "fail"
            if kind == "ok":
                try:
                    self._call_retrying("complete", self._task_path(h.task, "complete"),
                                        {"lease_token": h.task["lease_token"], "result": value}, give_up, h.task["id"])
                    return
                except _HttpError as e:
                    if e.status != 413:
                        raise
                    kind, value, op = "error", PermanentError("result refused: %s" % e), "fail"
            exc = value
            retryable = not (h.cancelled or isinstance(exc, PermanentError) or getattr(exc, "retryable", True) is False)
            message = str(exc) or type(exc).__name__
            if h.cancelled:
                message = "cancelled: " + message
            body = {"lease_token": h.task["lease_token"], "error": message[:2000], "retryable": retryable}
            ra = getattr(exc, "retry_after_s", None)
            if retryable and isinstance(ra, (int, float)):
                body["retry_after_s"] = min(86400, max(0, int(math.ceil(ra))))
            self._call_retrying("fail", self._task_path(h.task, "fail"), body, give_up, h.task["id"])
        except _HttpError as e:
            if e.status == 409:
                if not h.cancelled:  # after a cancel the server has already ended the task: expected
                    self._mark_lost(h, e)
            else:
                self._report(e, op, h.task["id"])
        except Exception as e:
            self._report(e, op, h.task["id"])

    def _supervise(self, h):
        ctx = TaskContext(self, h)
        handler = self.handlers[h.task["type"]]

        def run_handler():
            try:
                h.outcome = ("ok", handler(h.task, ctx))
            except BaseException as e:  # noqa: B902 - a handler's SystemExit is still its outcome
                h.outcome = ("error", e)
            h.done = True
            h.wake.set()

        threading.Thread(target=run_handler, name="seedcore-task-%s" % h.task["id"], daemon=True).start()
        next_beat = time.monotonic() + self.heartbeat_s
        try:
            while True:
                # A lost lease: no more heartbeats, but the slot stays taken until the handler
                # returns (it was told through ctx.aborted) or the stop's grace is over.
                h.wake.wait(None if h.lost else max(0, next_beat - time.monotonic()))
                if h.done or self._grace_over.is_set():
                    break
                if h.wake.is_set():
                    h.wake.clear()
                    continue
                if h.lost:
                    continue
                try:
                    self._heartbeat(h)
                except LeaseLostError:
                    pass
                except Exception as e:  # transient: tried again at the next tick
                    self._report(e, "heartbeat", h.task["id"])
                next_beat = time.monotonic() + self.heartbeat_s
            if h.lost:
                pass  # nothing more is sent for a task that is no longer ours
            elif h.done:
                self._finish(h)
            else:  # the grace is over before the handler is: give the task back; its outcome is ignored
                h.released = True
                h.abort("stopping")
                self._release(h.task)
        finally:
            with self._slot:
                self._held.pop(h.task["id"], None)
                self._slot.notify_all()

    def _run_quiet(self):
        try:
            self._run()
        except Exception:
            pass

    def _run(self):
        failures = 0
        try:
            while not self._stopping.is_set():
                with self._slot:
                    while len(self._held) >= self.concurrency and not self._stopping.is_set():
                        self._slot.wait(1.0)
                    free = self.concurrency - len(self._held)
                if self._stopping.is_set():
                    break
                try:
                    # Not interrupted by stop: tasks this call claims are released below, not left to expire.
                    res = self._call("/workers/lease", {"types": self.types, "max": min(free, 100), "lease_s": self.lease_s,
                                                        "wait_s": self.wait_s}, timeout=self.wait_s + 30) or {}
                    failures = 0
                except (_HttpError, urllib.error.URLError, OSError, socket.timeout, json.JSONDecodeError) as err:
                    if not _transient(err):
                        self.error = WorkerError(str(err), err.status, err.code)
                        self._report(self.error, "lease")
                        break
                    self._report(err, "lease")
                    delay = min(self.retry_max_s, self.retry_base_s * 2 ** failures) * (0.5 + random.random() / 2)
                    if isinstance(err, _HttpError) and err.retry_after_s is not None:
                        delay = max(delay, err.retry_after_s)
                    failures += 1
                    self._stopping.wait(delay)
                    continue
                for task in res.get("tasks") or []:
                    if self._stopping.is_set() or not callable(self.handlers.get(task.get("type"))):
                        if not self._stopping.is_set():
                            self._report(ValueError("no handler for leased type %r" % task.get("type")), "lease", task.get("id"))
                        t = threading.Thread(target=self._release, args=(task,), daemon=True)
                        t.start()
                        self._releases.append(t)
                        continue
                    h = _Held(task)
                    with self._slot:
                        self._held[task["id"]] = h
                    s = threading.Thread(target=self._supervise, args=(h,), name="seedcore-hold-%s" % task["id"], daemon=True)
                    s.start()
                    self._supervisors.append(s)
                self._supervisors = [s for s in self._supervisors if s.is_alive()]
        finally:
            self._begin_stop()
            for s in self._supervisors:
                s.join()
            for t in self._releases:
                t.join()
            self._stopped.set()
