"""SeedCore Edge pull worker (stdlib only): lease tasks of ``{"kind": "pull"}`` types over HTTP, run
them with your handlers, keep their leases alive with heartbeats, and report each outcome.

    from seedcore_worker import Worker, PermanentError

    def transcode(task, ctx):
        ...                                  # ctx.heartbeat({"done": 40}); ctx.aborted.is_set()
        return {"url": "..."}                # the task's result (JSON)

    Worker("https://seedcore.example.com", token="tok-abc", concurrency=4,
           handlers={"transcode": transcode}).run()   # SIGTERM/SIGINT: graceful stop

See clients/python/README.md.
"""

from .worker import (
    LeaseLostError,
    PermanentError,
    RetryAfterError,
    TaskContext,
    Worker,
    WorkerError,
)

__all__ = ["Worker", "TaskContext", "PermanentError", "RetryAfterError", "LeaseLostError", "WorkerError"]
__version__ = "0.1.0"
