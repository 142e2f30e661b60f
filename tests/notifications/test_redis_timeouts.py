"""Redis that cannot be reached does not hang a request: every Redis connection of the portal has a connect and
a socket timeout from config (REDIS_CONNECT_TIMEOUT, REDIS_SOCKET_TIMEOUT). An officer's information request
(in-app + email + SMS: two enqueues after the commit) still succeeds, quickly, with its SMS/email rows pending
in the outbox for the relay, whether the Redis port is closed (refused at once), the host accepts and never
answers (socket timeout) or never completes the TCP handshake (connect timeout). The stopped-Redis journey with
a real worker is tests/notifications/test_outbox_redis.py."""
from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.config import from_env
from portal.lending import services as lending
from portal.notifications.models import Notification
from portal.queue import get_redis
from tests.conftest import post_form
from tests.factories import make_customer, make_staff, term_product
from tests.notifications.conftest import free_port

TIMEOUT = 0.5  # seconds, for these tests (the defaults are 2 s to connect, 3 s per command)


@contextmanager
def dead_redis(kind: str) -> Iterator[str]:
    """A Redis URL on 127.0.0.1 that never serves: ``closed`` (nothing listens: refused at once), ``silent``
    (accepts the connection, never answers a command) or ``unreachable`` (the accept queue is full, so the TCP
    handshake never completes, as with a firewalled host)."""
    if kind == "closed":
        yield f"redis://127.0.0.1:{free_port()}/0"
        return
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0 if kind == "unreachable" else 16)
    port = listener.getsockname()[1]
    held = []
    try:
        if kind == "unreachable":
            held.append(socket.create_connection(("127.0.0.1", port)))  # fills the accept queue of 0
            probe = socket.socket()
            probe.settimeout(0.3)
            held.append(probe)
            with pytest.raises(TimeoutError):  # a connect now hangs: the handshake is never answered
                probe.connect(("127.0.0.1", port))
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        for sock in held:
            sock.close()
        listener.close()


@pytest.fixture
def rq_mode(app):
    saved = {k: app.config.get(k) for k in ("JOBS_MODE", "REDIS_URL", "REDIS_CONNECT_TIMEOUT", "REDIS_SOCKET_TIMEOUT")}
    app.config.update(JOBS_MODE="rq", REDIS_CONNECT_TIMEOUT=TIMEOUT, REDIS_SOCKET_TIMEOUT=TIMEOUT)
    yield app.config
    app.config.update(saved)


def test_get_redis_carries_the_configured_timeouts(app):
    saved = {k: app.config.get(k) for k in ("REDIS_URL", "REDIS_CONNECT_TIMEOUT", "REDIS_SOCKET_TIMEOUT")}
    try:
        app.config["REDIS_URL"] = "redis://127.0.0.1:6399/0"
        kwargs = get_redis(app).connection_pool.connection_kwargs
        assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (2.0, 3.0)  # the config defaults
        app.config.update(REDIS_CONNECT_TIMEOUT=1.5, REDIS_SOCKET_TIMEOUT=4)
        kwargs = get_redis(app).connection_pool.connection_kwargs
        assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (1.5, 4.0)
    finally:
        app.config.update(saved)


def test_the_timeouts_come_from_the_environment_and_reach_the_rate_limiter():
    config = from_env({"PORTAL_ENV": "test", "REDIS_URL": "redis://redis.internal:6379/0",
                       "REDIS_CONNECT_TIMEOUT": "1.5", "REDIS_SOCKET_TIMEOUT": "2.5"})
    assert (config.REDIS_CONNECT_TIMEOUT, config.REDIS_SOCKET_TIMEOUT) == (1.5, 2.5)
    assert config.RATELIMIT_STORAGE_URI == "redis://redis.internal:6379/0"
    assert config.RATELIMIT_STORAGE_OPTIONS == {"socket_connect_timeout": 1.5, "socket_timeout": 2.5}
    config.REDIS_SOCKET_TIMEOUT = 0
    with pytest.raises(RuntimeError, match="positive"):
        config.validate()


@pytest.mark.parametrize("kind", ["closed", "silent", "unreachable"])
def test_a_request_that_enqueues_succeeds_quickly_when_redis_does_not_answer(kind, app, db, client, login_as,
                                                                            clock, rq_mode, caplog):
    officer = login_as(make_staff("loan_officer"))
    customer = make_customer(salary="100000")
    customer.email = "asha@example.test"
    application = lending.submit_application(customer, term_product(), amount=Decimal("250000"), tenure=24,
                                             actor=customer.user, clock=clock)
    db.session.commit()
    assert officer.role == "loan_officer"
    with dead_redis(kind) as url, caplog.at_level(logging.ERROR, logger="portal.queue"):
        rq_mode["REDIS_URL"] = url
        started = time.monotonic()
        asked = post_form(client, f"/staff/applications/{application.id}/request-info",
                          {"question": "Please upload your latest salary slip."},
                          page=f"/staff/applications/{application.id}")
        elapsed = time.monotonic() - started
    assert asked.status_code in (302, 303)
    # two enqueues (the email and the SMS row), each failing after at most one timeout; without the timeouts a
    # silent or unreachable host holds each one for redis-py's default (5 s) or, on older clients, for ever
    assert elapsed < 2 * TIMEOUT + 2, elapsed
    if kind != "closed":
        assert elapsed >= TIMEOUT  # the timeout is what ended the wait
    assert caplog.text.count("could not enqueue jobs.notifications.send_notification") == 2
    db.session.expire_all()
    rows = db.session.scalars(select(Notification).where(Notification.customer_id == customer.id)
                              .order_by(Notification.id)).all()
    assert [(n.channel, n.status) for n in rows] == [("in_app", "sent"), ("email", "pending"), ("sms", "pending")]
    assert all(n.next_attempt_at is not None for n in rows[1:])  # the relay sends them when Redis is back
