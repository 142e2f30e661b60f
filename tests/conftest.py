"""Fixtures: a real PostgreSQL and Redis started on loopback for the session; the schema comes from the
migrations; every test that touches the database gets clean tables (TRUNCATE after the test)."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from portal import create_app
from portal.clock import FixedClock
from portal.config import TestConfig
from tests.support.servers import ServerUnavailable, start_postgres, start_redis, unavailable

# one Playwright and one Chromium for the whole run: tests/e2e, tests/alerts, tests/delinquency, ... share them
pytest_plugins = ["tests.support.browser"]

START = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)  # 10:00 IST on the business date 23 Nov 2026


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    try:
        server = start_postgres(tmp_path_factory.mktemp("pg"))
    except ServerUnavailable as exc:
        unavailable(f"PostgreSQL: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    try:
        server = start_redis(tmp_path_factory.mktemp("redis"))
    except ServerUnavailable as exc:
        unavailable(f"Redis: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def app(pg_server):
    """The app on the test PostgreSQL, schema built by ``flask db upgrade`` (the migrations)."""
    from flask_migrate import upgrade

    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = pg_server.url
    application = create_app(config)
    with application.app_context():
        upgrade()
    return application


def _truncate(database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in database.metadata.sorted_tables)
    with database.engine.begin() as conn:
        if database.engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for t in reversed(database.metadata.sorted_tables):
                conn.execute(t.delete())


@pytest.fixture
def clock(app):
    """A FixedClock at 10:00 IST on 23 Nov 2026, installed in the app for this test."""
    fixed = FixedClock(START)
    previous = app.extensions["clock"]
    app.extensions["clock"] = fixed
    yield fixed
    app.extensions["clock"] = previous


@pytest.fixture
def db(app, clock):
    """An app context with the reference data (default institution, term-loan product) and clean tables
    after the test."""
    from portal.bootstrap import ensure_reference_data
    from portal.extensions import db as database

    with app.app_context():
        ensure_reference_data()
        database.session.commit()
        yield database
        database.session.remove()
        _truncate(database)


@pytest.fixture
def client(app, db):
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def csrf_token(client, url: str = "/login") -> str:
    """A CSRF token for ``client``'s session, read from a page."""
    html = client.get(url).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {url}"
    return match.group(1) or match.group(2)


def post_form(client, url: str, data: dict, *, page: str = "/login", **kwargs):
    """POST ``data`` to ``url`` with a valid CSRF token (as a browser would)."""
    return client.post(url, data={**data, "csrf_token": csrf_token(client, page)}, **kwargs)


@pytest.fixture
def login_as(client, db):
    """``login_as(user)`` signs ``user`` in on ``client``: an open UserSession (committed) and a Flask-Login
    session cookie carrying its key, as a real sign-in makes (no password or MFA step)."""
    from portal.auth.sessions import SESSION_KEY, start_session
    from portal.clock import clock

    def _login(user):
        row = start_session(user, ip="127.0.0.1", user_agent="pytest", now=clock().now())
        db.session.commit()
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            session[SESSION_KEY] = row.session_key
        return user

    return _login


@pytest.fixture(autouse=True)
def _reset_rate_limits(request):
    """Rate-limit counters (Flask-Limiter, in-memory in tests) start empty in every test that uses the app."""
    if "app" in request.fixturenames:
        from portal.extensions import limiter

        request.getfixturevalue("app")
        limiter.reset()
    yield
