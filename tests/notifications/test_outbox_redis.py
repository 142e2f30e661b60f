"""The transactional outbox with a real Redis and a real RQ worker (issue 6: "with Redis stopped, notifications
are queued in the outbox and sent after it comes back, none lost and none twice").

Redis is stopped; requests that notify (an OTP sign-in code, an officer's information request: in-app + email +
SMS) still succeed and leave their SMS/email rows pending in the outbox. Redis is started again on the same port;
the relay queues the pending rows (run twice at once: the second run queues nothing; run again after the lease:
every row is queued a second time), and a real RQ worker (SimpleWorker, burst, queue ``notifications``, each job
in an app context) sends them: every email reaches the SMTP server exactly once, every row is sent once.
"""
from __future__ import annotations

import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.notifications.models import Notification
from tests.conftest import post_form
from tests.factories import make_customer, make_staff, term_product
from tests.support import servers


@pytest.fixture
def redis_for_outbox(app, tmp_path):
    """A Redis of this test's own (it is stopped and started again), with the app in JOBS_MODE=rq on it."""
    try:
        server = servers.start_redis(tmp_path / "redis")
    except servers.ServerUnavailable as exc:
        servers.unavailable(f"Redis: {exc}")
    saved = (app.config["JOBS_MODE"], app.config.get("REDIS_URL"))
    app.config.update(JOBS_MODE="rq", REDIS_URL=server.url)
    holder = {"server": server}
    try:
        yield holder
    finally:
        app.config.update(JOBS_MODE=saved[0], REDIS_URL=saved[1])
        holder["server"].stop()


def _restart_on_same_port(holder, tmp_path, monkeypatch):
    port = holder["server"].port
    monkeypatch.setattr(servers, "_free_port", lambda: port)
    holder["server"] = servers.start_redis(tmp_path / "redis-again")
    assert holder["server"].url.endswith(f":{port}/0")


def _work_notifications_queue(app) -> int:
    """Run a real RQ worker in burst mode on the ``notifications`` queue; returns how many jobs finished."""
    from rq import SimpleWorker
    from rq.registry import FailedJobRegistry, FinishedJobRegistry

    from portal.queue import FlaskJob, get_queue

    queue = get_queue("notifications", app)
    finished = FinishedJobRegistry(queue=queue)
    before = finished.count
    previous, FlaskJob._app = getattr(FlaskJob, "_app", None), app
    try:
        SimpleWorker([queue], connection=queue.connection, job_class=FlaskJob).work(burst=True)
    finally:
        FlaskJob._app = previous
    assert FailedJobRegistry(queue=queue).count == 0 and queue.count == 0
    return finished.count - before


def test_redis_down_nothing_lost_nothing_twice(app, db, client, login_as, clock, smtp_server, redis_for_outbox,
                                               tmp_path, monkeypatch):
    from jobs.notifications import relay_pending
    from portal.lending import services
    from portal.queue import get_queue

    officer = login_as(make_staff("loan_officer"))
    customer = make_customer(salary="100000", first_name="Asha", last_name="Rao")
    customer.email = "asha@example.test"
    application = services.submit_application(customer, term_product(), amount=Decimal("250000"), tenure=24,
                                              actor=customer.user, clock=clock)
    db.session.commit()
    assert officer.role == "loan_officer"

    # --- Redis goes down; the requests still succeed and their messages wait in the outbox
    redis_for_outbox["server"].stop()
    started = time.monotonic()
    otp = post_form(app.test_client(), "/login/otp", {"phone": customer.phone_number}, page="/login/otp")
    assert otp.status_code == 302 and otp.headers["Location"].endswith("/login/otp/verify")
    asked = post_form(client, f"/staff/applications/{application.id}/request-info",
                      {"question": "Please upload your latest salary slip."},
                      page=f"/staff/applications/{application.id}")
    assert asked.status_code in (302, 303)
    assert time.monotonic() - started < 10  # a dead Redis does not hang the requests
    db.session.expire_all()
    rows = db.session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [(n.event, n.channel, n.status) for n in rows] == [
        ("otp", "sms", "pending"),
        ("application.info_requested", "in_app", "sent"),
        ("application.info_requested", "email", "pending"),
        ("application.info_requested", "sms", "pending")]
    pending = [n.id for n in rows if n.status == "pending"]
    email_id = rows[2].id
    assert smtp_server.messages == []

    # --- while Redis is still down the relay cannot queue either: nothing is lost, the lease runs out, it retries
    clock.advance(seconds=121)
    assert relay_pending() == 3  # committed; the enqueues after the commit fail (logged)
    db.session.expire_all()
    assert all(db.session.get(Notification, i).status == "pending" for i in pending)

    # --- Redis is back (same address): the relay queues the rows, a second run at once queues nothing
    _restart_on_same_port(redis_for_outbox, tmp_path, monkeypatch)
    clock.advance(seconds=301)  # the lease of the failed relay run is over
    queue = get_queue("notifications", app)
    assert relay_pending() == 3
    assert relay_pending() == 0
    assert queue.count == 3
    # ... and after the lease every still-pending row is queued again: two jobs per row now wait in the queue
    clock.advance(seconds=301)
    assert relay_pending() == 3
    assert queue.count == 6

    # --- a real worker sends them: each row exactly once
    assert _work_notifications_queue(app) == 6
    db.session.expire_all()
    for note_id in pending:
        note = db.session.get(Notification, note_id)
        assert (note.status, note.attempts, note.error) == ("sent", 1, None), note_id
    assert len(smtp_server.for_notification(email_id)) == 1
    assert len(smtp_server.messages) == 1
    [message] = smtp_server.messages
    assert message["Subject"] == f"Application {application.id}: we need more information"

    # --- nothing is pending any more: further relay runs and workers send nothing
    clock.advance(minutes=10)
    assert relay_pending() == 0
    assert _work_notifications_queue(app) == 0
    assert len(smtp_server.messages) == 1
