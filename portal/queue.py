"""Background jobs on RQ, or in-process when there is no Redis.

Jobs are named by dotted string (``"jobs.ingest.run_import"``): ``portal`` never imports ``jobs``.
``enqueue_after_commit`` queues the job once the current transaction commits. Modes (config ``JOBS_MODE``):

- ``rq``: enqueue on Redis (``REDIS_URL``); ``flask rq-worker`` runs them, each job in its own app context.
- ``thread``: run in a daemon thread of this process with its own app context (``make run``, no services).
- ``eager``: run at once after the commit in a fresh app context (tests).
"""
from __future__ import annotations

import importlib
import logging
import threading

from flask import current_app
from rq.job import Job

from portal.uow import after_commit

log = logging.getLogger(__name__)
QUEUES = ("default", "billing", "exports", "notifications", "ocr")
DEFAULT_CONNECT_TIMEOUT = 2.0  # seconds (config REDIS_CONNECT_TIMEOUT)
DEFAULT_SOCKET_TIMEOUT = 3.0   # seconds (config REDIS_SOCKET_TIMEOUT)


def _resolve(name: str):
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def redis_timeouts(config) -> dict[str, float]:
    """The socket timeouts, in seconds, of the portal's Redis connections: ``socket_connect_timeout`` (config
    REDIS_CONNECT_TIMEOUT, default 2 s) and ``socket_timeout`` (REDIS_SOCKET_TIMEOUT, default 3 s). A Redis host
    that does not answer then fails an enqueue (``redis.TimeoutError``, logged by ``enqueue_after_commit``)
    after that long instead of hanging the request; a worker raises its own socket timeout above its blocking
    dequeue (RQ ``Worker._set_connection``)."""
    return {"socket_connect_timeout": float(config.get("REDIS_CONNECT_TIMEOUT") or DEFAULT_CONNECT_TIMEOUT),
            "socket_timeout": float(config.get("REDIS_SOCKET_TIMEOUT") or DEFAULT_SOCKET_TIMEOUT)}


def get_redis(app=None):
    """A Redis connection for ``REDIS_URL`` with ``redis_timeouts`` (RuntimeError when REDIS_URL is not set)."""
    from redis import Redis

    app = app or current_app
    url = app.config.get("REDIS_URL")
    if not url:
        raise RuntimeError("REDIS_URL is not set")
    return Redis.from_url(url, **redis_timeouts(app.config))


def get_queue(name: str = "default", app=None):
    """The RQ queue ``name`` on the app's Redis."""
    from rq import Queue

    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}; queues are {QUEUES}")
    return Queue(name, connection=get_redis(app), job_class=FlaskJob)


def run_in_app_context(app, name: str, *args) -> object:
    """Run job ``name(*args)`` inside a fresh app context of ``app`` (so a fresh DB session)."""
    with app.app_context():
        return _resolve(name)(*args)


def enqueue_after_commit(name: str, *args, queue: str = "default") -> None:
    """Start job ``name(*args)`` once the current transaction commits; args must be ids/ISO strings."""
    app = current_app._get_current_object()
    mode = app.config.get("JOBS_MODE", "thread")

    def start() -> None:
        if mode == "rq":
            try:
                get_queue(queue, app).enqueue(name, *args, job_timeout=1800)
            except Exception:
                # The data is committed: a failed enqueue (Redis down) must not fail the request or skip the
                # other after-commit callbacks. Logged; outbox rows are re-queued by the notifications relay.
                log.exception("could not enqueue %s%r on queue %s after commit", name, args, queue)
        elif mode == "eager":
            run_in_app_context(app, name, *args)
        else:
            thread = threading.Thread(target=_run_logged, args=(app, name, *args), daemon=True)
            thread.start()

    after_commit(start)


def _run_logged(app, name: str, *args) -> None:
    try:
        run_in_app_context(app, name, *args)
    except Exception:
        log.exception("in-process job %s%r failed", name, args)


class FlaskJob(Job):
    """An RQ job that runs inside an app context of its own (flask-rq's idea)."""

    def perform(self):
        from portal import create_app

        app = getattr(FlaskJob, "_app", None)
        if app is None:
            app = FlaskJob._app = create_app()
        with app.app_context():
            return super().perform()
