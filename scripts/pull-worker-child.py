"""One Python pull worker for scripts/pull-check.mjs (clients/python/seedcore_worker).
Usage: python3 scripts/pull-worker-child.py <base> <name> <logFile|-> <concurrency> <ms> [token] [lease_s]
Same task type, result and log lines as scripts/pull-worker-child.mjs."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
from seedcore_worker import Worker  # noqa: E402

args = sys.argv[1:] + [None] * 7
base, name, log_file, concurrency, ms = args[0], args[1], args[2], int(args[3] or 4), float(args[4] or 300)
token, lease_s = args[5] or None, float(args[6] or 5)


def log(**line):
    if log_file == "-":
        return
    line.update(worker=name, at=int(time.time() * 1000))
    with open(log_file, "a") as f:
        f.write(json.dumps(line) + "\n")


def pull_echo(task, ctx):
    log(ev="run", id=task["id"], attempt=task["attempt"], lease_expires_at=task["lease_expires_at"])
    wait_ms = (task.get("params") or {}).get("ms", ms)
    if ctx.aborted.wait(wait_ms / 1000.0):
        log(ev="aborted", id=task["id"], attempt=task["attempt"], reason=ctx.abort_reason)
        raise RuntimeError("aborted: %s" % ctx.abort_reason)
    log(ev="done", id=task["id"], attempt=task["attempt"])
    return {"worker": name, "pid": os.getpid(), "attempt": task["attempt"], "n": (task.get("params") or {}).get("n")}


def on_error(exc, op, task_id):
    if op == "lease_lost":
        log(ev="lease_lost", id=task_id)
    elif os.environ.get("PULL_CHILD_VERBOSE"):
        print("%s: %s %s: %s" % (name, op, task_id or "", exc), file=sys.stderr, flush=True)


print("%s: leasing from %s" % (name, base), flush=True)
Worker(base, token=token, concurrency=concurrency, lease_s=lease_s, wait_s=2, grace_s=float(os.environ.get("PULL_CHILD_GRACE_S", 10)),
       handlers={"pull_echo": pull_echo}, on_error=on_error).run()
