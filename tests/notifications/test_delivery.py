"""Delivery: email reaches a real SMTP server (aiosmtpd) with the rendered subject and body; failures are retried
with exponential backoff and give up after NOTIFY_MAX_ATTEMPTS; the relay queues only due pending rows; a row is
sent once even when two workers deliver it at the same moment; a failed enqueue never fails the commit."""
from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.notifications.delivery import backoff_seconds, deliver
from portal.notifications.models import Notification
from portal.notifications.services import notify, notify_event, relay_pending
from tests.factories import make_customer
from tests.notifications.conftest import body_of, free_port


def _customer(db, email="asha@example.test"):
    customer = make_customer(first_name="Asha", last_name="Rao")
    customer.email = email
    db.session.flush()
    return customer


def test_email_arrives_at_the_smtp_server_with_the_rendered_subject_and_body(db, clock, smtp_server):
    customer = _customer(db)
    notes = notify_event("payment.bounced", customer=customer, now=clock.now(),
                         context={"loan_id": 12, "amount": Decimal("8884.88"),
                                  "reason": "insufficient funds"})
    db.session.commit()  # eager jobs: each SMS/email row is sent right after the commit
    email_row = next(n for n in notes if n.channel == "email")
    [message] = smtp_server.for_notification(email_row.id)
    assert message["Subject"] == "Your payment for loan 12 bounced"
    assert message["To"] == "asha@example.test" and message["From"] == "Portal <no-reply@lender.example>"
    assert body_of(message).strip() == ("Dear Asha Rao,\n\nYour payment of Rs 8,884.88 for loan 12 bounced "
                                        "(insufficient funds). The amount is due again.\n\n— Credit Lifecycle Portal")
    assert smtp_server.recipients == [["asha@example.test"]]  # the SMS and in-app rows do not go by email
    db.session.expire_all()
    assert {(n.channel, n.status, n.attempts) for n in notes} == {("email", "sent", 1), ("sms", "sent", 1),
                                                                   ("in_app", "sent", 0)}
    assert email_row.sent_at == clock.now() and email_row.next_attempt_at is None


@pytest.mark.parametrize("attempts, seconds", [(1, 60), (2, 120), (3, 240), (4, 480), (6, 1920), (7, 3600),
                                               (20, 3600)])
def test_backoff_doubles_up_to_an_hour(attempts, seconds):
    assert backoff_seconds(attempts) == seconds


def test_backoff_refuses_attempt_zero():
    with pytest.raises(ValueError):
        backoff_seconds(0)


def test_a_failing_smtp_server_is_retried_with_backoff_then_the_row_fails(app, db, clock):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())  # nothing listens there
    try:
        note = notify(channel="email", event="test", subject="s", body="b", recipient="a@example.test",
                      now=clock.now())
        waits = []
        for attempt in range(1, 5):
            assert deliver(note.id, now=clock.now()) == "failed"
            assert (note.status, note.attempts) == ("pending", attempt)
            assert "ConnectionRefusedError" in note.error and "b" != note.error
            waits.append(int((note.next_attempt_at - clock.now()).total_seconds()))
            # not due yet: the relay leaves it alone; due: the relay queues it
            assert relay_pending(clock.now()) == []
            clock.advance(seconds=waits[-1])
            assert relay_pending(clock.now()) == [note.id]
        assert waits == [60, 120, 240, 480]
        assert deliver(note.id, now=clock.now()) == "failed"
        assert (note.status, note.attempts, note.next_attempt_at) == ("failed", 5, None)
        clock.advance(days=1)
        assert relay_pending(clock.now()) == []  # given up: never queued again
        assert deliver(note.id, now=clock.now()) == "failed" and note.attempts == 5
    finally:
        app.config.update(SMTP_HOST=None, SMTP_PORT=25)
    db.session.rollback()


def test_the_relay_queues_only_due_pending_sms_and_email(db, clock, enqueued_jobs):
    now = clock.now()
    fresh = notify(channel="sms", event="t", body="b", recipient="+919800000001", now=now)
    old = notify(channel="email", event="t", body="b", recipient="x@example.test", now=now - timedelta(minutes=5))
    legacy = notify(channel="sms", event="t", body="b", recipient="+919800000002", now=now)
    legacy.next_attempt_at = None  # a row written before next_attempt_at existed
    sent = notify(channel="sms", event="t", body="b", recipient="+919800000003", now=now - timedelta(hours=1))
    sent.status = "sent"
    notify(channel="in_app", event="t", body="b", recipient="9800000004", now=now - timedelta(hours=1))
    db.session.flush()
    assert sorted(relay_pending(now)) == sorted([old.id, legacy.id])
    assert old.next_attempt_at == now + timedelta(seconds=300)  # leased
    assert relay_pending(now + timedelta(seconds=119)) == []  # the lease holds; the fresh row is in its grace
    assert relay_pending(now + timedelta(seconds=120)) == [fresh.id]  # its job never ran: the relay queues it
    assert sorted(relay_pending(now + timedelta(minutes=5))) == sorted([old.id, legacy.id])
    db.session.rollback()


@pytest.fixture
def enqueued_jobs(monkeypatch):
    """Record the after-commit enqueues instead of running them."""
    calls = []
    monkeypatch.setattr("portal.queue.after_commit", lambda fn, session=None: calls.append(fn))
    return calls


def test_two_workers_delivering_the_same_row_send_it_once(app, db, clock, smtp_server, enqueued_jobs):
    """Row lock + status check: two jobs for one row at the same moment (a relay duplicate) -> one email."""
    async def slow_data(server, session, envelope, _orig=smtp_server.handle_DATA):
        await asyncio.sleep(0.3)  # hold the first sender inside its SMTP conversation (and its row lock)
        return await _orig(server, session, envelope)

    smtp_server.handle_DATA = slow_data
    # committed without its job (enqueued_jobs records it): the two threads below are the workers
    note = notify(channel="email", event="t", subject="Once", body="only once", recipient="a@example.test",
                  now=clock.now())
    db.session.commit()
    assert len(enqueued_jobs) == 1
    note_id, outcomes, barrier = note.id, [], threading.Barrier(2)

    def worker():
        with app.app_context():
            from portal.extensions import db as _db

            barrier.wait()
            outcomes.append(deliver(note_id, now=clock.now()))
            _db.session.commit()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["sent", "sent"]
    assert len(smtp_server.for_notification(note_id)) == 1
    db.session.expire_all()
    assert db.session.scalar(select(Notification.attempts).where(Notification.id == note_id)) == 1


def test_a_failed_enqueue_after_commit_is_logged_and_harmless(app, db, clock, caplog):
    """JOBS_MODE=rq with Redis unreachable: the commit succeeds, the row stays pending for the relay, the error
    is logged, and the other after-commit callbacks still run."""
    from portal.queue import enqueue_after_commit
    from portal.uow import after_commit

    saved = (app.config["JOBS_MODE"], app.config.get("REDIS_URL"))
    app.config.update(JOBS_MODE="rq", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    ran = []
    try:
        note = notify(channel="sms", event="t", body="secret 123456", recipient="+919800000001", now=clock.now())
        enqueue_after_commit("jobs.notifications.send_notification", 999, queue="notifications")
        after_commit(lambda: ran.append("later callback"))
        with caplog.at_level("ERROR", logger="portal.queue"):
            db.session.commit()
    finally:
        app.config.update(JOBS_MODE=saved[0], REDIS_URL=saved[1])
    assert ran == ["later callback"]
    assert "could not enqueue jobs.notifications.send_notification" in caplog.text
    assert "secret 123456" not in caplog.text
    db.session.expire_all()
    assert db.session.get(Notification, note.id).status == "pending"


def test_the_relay_command_queues_due_rows_and_they_are_sent(app, db, clock):
    note = notify(channel="sms", event="t", body="b", recipient="+919800000001", now=clock.now() - timedelta(hours=1))
    note.next_attempt_at = clock.now() - timedelta(minutes=1)
    db.session.commit()  # eager mode sends it now: make it pending again, as if its job had been lost
    note.status, note.attempts = "pending", 0
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["notifications-relay"])
    assert result.exit_code == 0 and "queued 1 pending notification(s)" in result.output
    db.session.expire_all()
    assert (note.status, note.attempts) == ("sent", 1)
    assert "queued 0" in app.test_cli_runner().invoke(args=["notifications-relay"]).output
