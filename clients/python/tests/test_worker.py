"""seedcore_worker.Worker against the fake server of the pull contract (tests/fake_server.py).
Run: python3 -m unittest discover -s clients/python/tests"""

import os
import signal
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from fake_server import FakeServer  # noqa: E402
from seedcore_worker import PermanentError, RetryAfterError, Worker, WorkerError  # noqa: E402


def until(probe, timeout=10.0):
    end = time.time() + timeout
    while True:
        v = probe()
        if v:
            return v
        if time.time() > end:
            raise AssertionError("until: timed out")
        time.sleep(0.01)


class WorkerTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeServer()
        self.errors = []
        self.worker = None

    def tearDown(self):
        if self.worker is not None:
            self.worker.stop(timeout=10)
        self.fake.close()

    def start(self, handlers, **kw):
        opts = dict(lease_s=5, wait_s=1, retry_base_s=0.02, retry_max_s=0.1,
                    on_error=lambda exc, op, tid: self.errors.append((op, exc)))
        opts.update(kw)
        self.worker = Worker(self.fake.url, handlers=handlers, **opts).start()
        return self.worker

    def test_concurrency_bound_and_results(self):
        lock = threading.Lock()
        state = {"running": 0, "peak": 0}

        def echo(task, ctx):
            with lock:
                state["running"] += 1
                state["peak"] = max(state["peak"], state["running"])
            time.sleep(0.05)
            with lock:
                state["running"] -= 1
            return {"echoed": task["params"]}

        self.start({"echo": echo}, concurrency=3)
        ids = [self.fake.add("echo", {"i": i}) for i in range(12)]
        until(lambda: all(self.fake.status(i) == "completed" for i in ids))
        self.assertEqual(state["peak"], 3)
        for n, tid in enumerate(ids):
            self.assertEqual(self.fake.tasks[tid]["result"], {"echoed": {"i": n}})
            self.assertEqual(self.fake.tasks[tid]["completions"], 1)
        leases = [c for c in self.fake.calls if c["op"] == "lease"]
        self.assertTrue(all(1 <= c["body"]["max"] <= 3 for c in leases))
        self.assertEqual(leases[0]["body"]["types"], ["echo"])

    def test_token_sent(self):
        self.fake.token = "tok-1"
        self.start({"echo": lambda t, c: 1}, token="tok-1")
        tid = self.fake.add("echo")
        until(lambda: self.fake.status(tid) == "completed")
        self.assertTrue(all(c["auth"] == "Bearer tok-1" for c in self.fake.calls))

    def test_bad_token_ends_run_with_worker_error(self):
        self.fake.token = "right"
        w = Worker(self.fake.url, token="wrong", handlers={"echo": lambda t, c: 1}, wait_s=0)
        with self.assertRaises(WorkerError) as cm:
            w.run(handle_signals=False)
        self.assertEqual(cm.exception.status, 401)

    def test_heartbeats_with_details(self):
        def slow(task, ctx):
            self.assertEqual(ctx.heartbeat({"step": 1}), {"cancel_requested": False})
            time.sleep(0.6)
            return "ok"

        self.start({"slow": slow}, heartbeat_s=0.1)
        tid = self.fake.add("slow")
        until(lambda: self.fake.status(tid) == "completed")
        beats = [c for c in self.fake.calls if c["id"] == tid and c["op"] == "heartbeat"]
        self.assertGreaterEqual(len(beats), 3)
        self.assertTrue(all(c["body"]["details"] == {"step": 1} and c["body"]["lease_s"] == 5 for c in beats))

    def test_refused_details_raise_and_do_not_poison_heartbeats(self):
        seen = {}

        def slow(task, ctx):
            try:
                ctx.heartbeat({"blob": "x" * 9000})
            except WorkerError as e:
                seen["status"] = e.status
            time.sleep(0.6)
            return "ok"

        self.start({"slow": slow}, heartbeat_s=0.1)
        tid = self.fake.add("slow")
        until(lambda: self.fake.status(tid) == "completed")
        self.assertEqual(seen["status"], 400)
        beats = [c for c in self.fake.calls if c["id"] == tid and c["op"] == "heartbeat"]
        self.assertEqual(beats[0]["status"], 400)
        self.assertGreaterEqual(len(beats) - 1, 2)
        self.assertTrue(all(c["status"] == 200 and "details" not in c["body"] for c in beats[1:]))

    def test_cancel_sets_aborted_and_fails_without_retry(self):
        seen = {}

        def slow(task, ctx):
            ctx.aborted.wait(10)
            seen["reason"] = ctx.abort_reason
            raise RuntimeError("stopped")

        self.start({"slow": slow}, heartbeat_s=0.1)
        tid = self.fake.add("slow")
        until(lambda: self.fake.status(tid) == "running")
        self.fake.cancel(tid)
        until(lambda: self.fake.status(tid) == "failed")
        self.assertEqual(seen["reason"], "cancelled")
        fail = next(c for c in self.fake.calls if c["id"] == tid and c["op"] == "fail")
        self.assertFalse(fail["body"]["retryable"])
        self.assertTrue(fail["body"]["error"].startswith("cancelled:"))

    def test_409_aborts_and_sends_nothing(self):
        seen = {}

        def slow(task, ctx):
            ctx.aborted.wait(10)
            seen["reason"] = ctx.abort_reason
            return "late"

        self.start({"slow": slow}, heartbeat_s=0.1)
        tid = self.fake.add("slow")
        until(lambda: self.fake.status(tid) == "running")
        self.fake.steal(tid)
        until(lambda: seen.get("reason"))
        self.assertEqual(seen["reason"], "lease_lost")
        time.sleep(0.2)
        self.assertEqual([o for o in self.fake.ops(tid) if o.split(":")[0] in ("complete", "fail", "release")], [])
        self.assertTrue(any(op == "lease_lost" for op, _ in self.errors))
        until(lambda: self.worker.running == 0)

    def test_lost_task_ignoring_abort_is_dropped_at_grace_without_release(self):
        never = threading.Event()
        w = self.start({"deaf": lambda t, c: never.wait(30)}, heartbeat_s=0.1, grace_s=0.3)
        tid = self.fake.add("deaf")
        until(lambda: self.fake.status(tid) == "running")
        self.fake.steal(tid)
        until(lambda: any(op == "lease_lost" for op, _ in self.errors))
        time.sleep(0.2)
        self.assertEqual(w.running, 1)
        w.stop(timeout=10)
        self.assertEqual(w.running, 0)
        never.set()
        self.assertEqual([o for o in self.fake.ops(tid) if o.split(":")[0] in ("complete", "fail", "release")], [])

    def test_raise_fails_with_retryable_flag(self):
        class Flagged(Exception):
            retryable = False

        def boom(task, ctx):
            kind = task["params"]["kind"]
            if kind == "plain":
                raise ValueError("plain failure")
            if kind == "permanent":
                raise PermanentError("bad input")
            if kind == "flag":
                raise Flagged("flagged")
            raise RetryAfterError("rate limited", 7.2)

        self.start({"boom": boom}, concurrency=4)
        plain = self.fake.add("boom", {"kind": "plain"}, max_attempts=1)
        permanent = self.fake.add("boom", {"kind": "permanent"})
        flag = self.fake.add("boom", {"kind": "flag"})
        after = self.fake.add("boom", {"kind": "after"}, max_attempts=1)
        until(lambda: all(self.fake.status(i) == "failed" for i in (plain, permanent, flag, after)))

        def fail_of(tid):
            return next(c for c in self.fake.calls if c["id"] == tid and c["op"] == "fail")["body"]

        self.assertEqual((fail_of(plain)["error"], fail_of(plain)["retryable"]), ("plain failure", True))
        self.assertNotIn("retry_after_s", fail_of(plain))
        self.assertFalse(fail_of(permanent)["retryable"])
        self.assertFalse(fail_of(flag)["retryable"])
        self.assertEqual((fail_of(after)["retryable"], fail_of(after)["retry_after_s"]), (True, 8))

    def test_413_fails_without_retry(self):
        self.start({"big": lambda t, c: "x" * 20000})
        tid = self.fake.add("big")
        until(lambda: self.fake.status(tid) == "failed")
        self.assertEqual(self.fake.ops(tid), ["complete:413", "fail:200"])

    def test_transient_errors_retried(self):
        def echo(task, ctx):
            time.sleep(0.25)
            return "done"

        self.fake.fail_next(r"^/workers/lease$", 503, 3, {"retry-after": "0"})
        self.fake.fail_next(r"/heartbeat$", 503, 1)
        self.fake.fail_next(r"/complete$", 502, 2)
        self.start({"echo": echo}, heartbeat_s=0.1)
        tid = self.fake.add("echo")
        until(lambda: self.fake.status(tid) == "completed")
        self.assertEqual(len([c for c in self.fake.calls if c["op"] == "lease" and c["status"] == 503]), 3)
        self.assertEqual([o for o in self.fake.ops(tid) if o.startswith("complete")], ["complete:502", "complete:502", "complete:200"])
        self.assertEqual(self.fake.tasks[tid]["completions"], 1)

    def test_stop_completes_within_grace_and_releases_the_rest(self):
        started = []
        reasons = []

        def quick(task, ctx):
            started.append(task["id"])
            time.sleep(0.2)
            return "in the grace"

        def stuck(task, ctx):
            started.append(task["id"])
            ctx.aborted.wait(10)
            reasons.append(ctx.abort_reason)
            return "too late"

        w = self.start({"quick": quick, "stuck": stuck}, concurrency=2, grace_s=0.4)
        q = self.fake.add("quick")
        s = self.fake.add("stuck")
        until(lambda: len(started) == 2)
        t0 = time.time()
        w.stop()
        took = time.time() - t0
        self.assertEqual(self.fake.status(q), "completed")
        self.assertEqual(self.fake.tasks[s]["status"], "queued")
        self.assertEqual(self.fake.tasks[s]["attempts"], 0)
        self.assertEqual(self.fake.tasks[s]["releases"], 1)
        until(lambda: reasons)
        self.assertEqual(reasons, ["stopping"])
        self.assertEqual([o for o in self.fake.ops(s) if o.split(":")[0] in ("complete", "fail")], [])
        self.assertGreaterEqual(took, 0.35)
        self.assertLess(took, 3)
        self.assertEqual([c for c in self.fake.calls if c["op"] == "lease" and c["at"] > t0 + 0.05], [])

    def test_stop_releases_what_an_inflight_lease_brings(self):
        ran = []
        w = self.start({"echo": lambda t, c: ran.append(1)}, wait_s=2)
        until(lambda: any(c["op"] == "lease" for c in self.fake.calls))
        stopper = threading.Thread(target=w.stop)
        stopper.start()
        tid = self.fake.add("echo")
        stopper.join(10)
        self.assertEqual(ran, [])
        self.assertEqual((self.fake.status(tid), self.fake.tasks[tid]["releases"]), ("queued", 1))

    def test_sigterm_graceful_stop_in_a_process(self):
        """run() in a child process's main thread: SIGTERM → the running task finishes within the
        grace and completes; a stuck one is released; the process exits 0."""
        script = (
            "import sys, threading, time; sys.path.insert(0, %r)\n"
            "from seedcore_worker import Worker\n"
            "out = threading.Lock()\n"
            "def say(line):\n    with out: sys.stdout.write(line + '\\n'); sys.stdout.flush()\n"
            "def quick(t, c):\n    say('started ' + t['id']); time.sleep(0.5); return 'finished'\n"
            "def stuck(t, c):\n    say('started ' + t['id']); c.aborted.wait(30); return 'late'\n"
            "Worker(%r, handlers={'quick': quick, 'stuck': stuck}, concurrency=2, lease_s=5, wait_s=1, grace_s=1.5).run()\n"
            "say('exited')\n"
        ) % (os.path.dirname(HERE), self.fake.url)
        q = self.fake.add("quick")
        s = self.fake.add("stuck")
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        try:
            lines = [proc.stdout.readline(), proc.stdout.readline()]
            self.assertTrue(all(line.startswith("started") for line in lines), lines)
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
        self.assertEqual(proc.returncode, 0)
        self.assertIn("exited", out)
        self.assertEqual(self.fake.status(q), "completed")
        self.assertEqual((self.fake.status(s), self.fake.tasks[s]["releases"], self.fake.tasks[s]["attempts"]), ("queued", 1, 0))

    def test_no_handler_for_type(self):
        with self.assertRaises(ValueError):
            Worker("http://127.0.0.1:1", types=["nope"], handlers={})


if __name__ == "__main__":
    unittest.main()
