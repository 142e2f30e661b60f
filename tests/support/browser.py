"""Browser fixtures (a pytest plugin registered once in tests/conftest.py, so that every test directory shares one
Playwright and one Chromium): the test app served on 127.0.0.1 by a real HTTP server, driven by Chromium.

* ``live_server`` serves the session ``app`` (on the suite's PostgreSQL) from a werkzeug server in a daemon
  thread and yields its base URL. Each request runs in its own server thread with its own app context and so
  its own database session: commit what a test creates before the browser asks for it.
* ``browser`` is one Chromium for the session (``/usr/bin/chromium``; missing -> fail under ``CI=true``, else
  skip). ``new_page(viewport=...)`` opens a fresh context (no cookies) with 10 s timeouts and records console
  errors and uncaught page errors in ``page.problems``.

Teardown order matters for the ``db`` fixture's final TRUNCATE (it would wait forever on a lock held by an
open server transaction): pytest finalises ``new_page`` (browser contexts closed: no more requests, no
keep-alive connections), then ``live_server`` (server shut down, in-flight requests drained, pooled
connections disposed and, as a last resort, stray backends terminated), then ``db`` (TRUNCATE).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.e2e.support import CHROMIUM, CHROMIUM_ARGS, DESKTOP, TIMEOUT_MS


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (errors are still logged)."""

    def log_request(self, code="-", size="-") -> None:
        pass


class _InFlight:
    """WSGI wrapper counting the requests being handled, so teardown can wait for them to finish.

    Flask pops the request's app context (and so removes its database session) before ``wsgi_app``
    returns, so a request no longer holds a connection once the call below has returned."""

    def __init__(self, app):
        self.app = app
        self.count = 0
        self._cond = threading.Condition()

    def __call__(self, environ, start_response):
        with self._cond:
            self.count += 1
        try:
            return self.app(environ, start_response)
        finally:
            with self._cond:
                self.count -= 1
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.count == 0, timeout)


def _terminate_other_backends(database) -> list[str]:
    """Terminate every other session on the test database (PostgreSQL only); returns what was running."""
    if database.engine.dialect.name != "postgresql":
        return []
    with database.engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT pid, state, left(query, 120) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )).all()
        for pid, _state, _query in rows:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    return [f"pid {pid} ({state}): {query}" for pid, state, query in rows]


@pytest.fixture
def live_server(app, db):
    """Serve ``app`` on 127.0.0.1 (a free port) in a daemon thread; yields the base URL."""
    tracker = _InFlight(app)
    server = make_server("127.0.0.1", 0, tracker, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()          # stop accepting; serve_forever returns
        server.server_close()
        thread.join(timeout=10)
        drained = tracker.wait_idle(timeout=10)
        # The test thread's session and every pooled connection (server threads return theirs to the pool).
        db.session.remove()
        db.engine.dispose()
        stray = _terminate_other_backends(db) if not drained else []
        if not drained:
            pytest.fail(f"live server: {tracker.count} request(s) still running after 10 s; "
                        f"terminated backends: {stray}", pytrace=False)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: a missing browser is a failure)", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception:
        playwright.stop()
        raise
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture(scope="session", autouse=True)
def _expect_timeout():
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def new_page(request, browser, live_server, tmp_path):
    """``new_page(viewport=DESKTOP)`` -> a Page in a fresh browser context (own cookies) on the live server.

    ``page.problems`` lists console errors and uncaught exceptions seen on that page. When the test fails,
    a screenshot of every open page is saved in the test's tmp_path (the path is printed)."""
    contexts = []

    def _new_page(viewport: dict | None = None):
        context = browser.new_context(base_url=live_server, viewport=viewport or DESKTOP, locale="en-IN",
                                      timezone_id="Asia/Kolkata")
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.problems = []
        page.on("console", lambda msg: msg.type == "error" and page.problems.append(
            f"console error on {page.url}: {msg.text}"))
        page.on("pageerror", lambda exc: page.problems.append(f"page error on {page.url}: {exc}"))
        return page

    yield _new_page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for i, page in enumerate(p for context in contexts for p in context.pages):
            path = tmp_path / f"failure-{i}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
                print(f"\nscreenshot of {page.url} at failure: {path}")
            except Exception as exc:  # a crashed page must not hide the test's own failure
                print(f"\nno screenshot of {page.url}: {exc}")
    for context in contexts:
        context.close()
