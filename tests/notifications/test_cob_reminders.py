"""Close-of-business reminders from the notification templates (portal/servicing/reminders.py): the EMI-due email
reaches a real SMTP server once (the job after the COB, or a real RQ worker), however often the date is rerun or
resumed; the reminder preferences stop the email but keep the in-app message; an overdue notice is legal and goes
out despite them; an admin's published template is what is sent (a broken one falls back to the built-in text);
credit lines get ``bill.due``; the relay steps in only when the job is lost; nothing is written twice per channel.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.auth.services import default_institution
from portal.business_date import BusinessDate
from portal.notifications import templates
from portal.notifications.models import Notification, NotificationTemplate
from portal.notifications.preferences import save_preferences
from portal.servicing import cob
from portal.servicing.models import CobRun
from portal.servicing.reminders import SEND_JOB
from tests.factories import make_staff
from tests.notifications.conftest import body_of
from tests.servicing.cob_support import make_borrower, make_credit_line, make_serviced_loan

D0 = date(2026, 11, 23)  # the business date of the test clock
ALL_ON = {(cat, ch) for cat in ("service", "reminders", "marketing") for ch in ("sms", "email", "in_app")}


@pytest.fixture(autouse=True)
def _books_on_d0(db, clock):
    from portal.business_date import current_business_date

    current_business_date(default_institution().id, clock)
    db.session.commit()


def _inst() -> int:
    return default_institution().id


def close(db, on: date | None = None, chunk_size: int = 2) -> CobRun:
    """One close of business of the books' date (or ``on``); in tests jobs run at once after the commit."""
    from portal.clock import clock

    on = on or db.session.get(BusinessDate, _inst()).current_on
    run = cob.run_close_of_business(_inst(), on, now=clock().now(), requested_by="test", chunk_size=chunk_size)
    db.session.commit()
    assert run is not None and run.status == "done", run and run.error
    return run


def rerun_reminders(db, on: date) -> dict:
    """Run the reminders step of ``on`` again (a done run, its step reset by name); returns the step record."""
    from portal.clock import clock

    run = db.session.scalar(select(CobRun).where(CobRun.institution_id == _inst(), CobRun.business_date == on))
    steps = [dict(s) for s in run.steps]
    next(s for s in steps if s["name"] == "reminders").update(status="pending", cursor=None, count=0)
    run.steps, run.status = steps, "running"
    db.session.commit()
    cob.run_close_of_business(_inst(), on, now=clock().now(), requested_by="test", chunk_size=2)
    db.session.commit()
    db.session.expire_all()
    run = db.session.get(CobRun, run.id)
    step = next(s for s in run.steps if s["name"] == "reminders")
    assert run.status == "done" and step["status"] == "done"
    return step


def borrower_with_email(email: str = "asha@example.test"):
    customer = make_borrower(password="borrower-1")
    customer.email = email
    return customer


def emi_due_in_3_days(customer):
    return make_serviced_loan(customer, start=D0 - timedelta(days=28))  # EMI 8,884.88 due 26 Nov


def overdue_tomorrow(customer):
    return make_serviced_loan(customer, start=D0 - timedelta(days=31))  # EMI due 23 Nov, unpaid: DPD 1 on 24 Nov


def rows(db, **where) -> list[Notification]:
    db.session.expire_all()
    query = select(Notification).order_by(Notification.id)
    for name, value in where.items():
        query = query.where(getattr(Notification, name) == value)
    return list(db.session.scalars(query))


def test_the_emi_due_email_reaches_the_smtp_server_once_however_often_the_date_is_rerun(db, smtp_server, clock):
    from jobs.notifications import relay_pending, send_cob_reminders

    customer = borrower_with_email()
    loan = emi_due_in_3_days(customer)
    db.session.commit()
    run = close(db)
    [email] = rows(db, channel="email")
    assert (email.event, email.status, email.recipient, email.attempts) == ("emi.due", "sent", "asha@example.test", 1)
    assert email.dedupe_key == f"emi.due:{loan.id}:2026-11-26:email" and email.category == "reminders"
    [message] = smtp_server.messages
    assert smtp_server.for_notification(email.id) == [message]
    assert message["Subject"] == f"Loan {loan.id}: EMI due 26 Nov 2026"
    assert message["To"] == "asha@example.test"
    body = body_of(message)
    assert body.startswith("Dear Book Borrower,") and "Your EMI of Rs 8,884.88 on loan" in body
    step = next(s for s in run.steps if s["name"] == "reminders")
    assert step["count"] == 3 and step["detail"] == {"send_job": True}  # in-app, SMS and email rows
    assert {n.channel: n.status for n in rows(db)} == {"in_app": "sent", "sms": "sent", "email": "sent"}

    # the date rerun (the reminders step again), the job again, the relay long after: nothing twice
    assert rerun_reminders(db, D0)["count"] == 0
    assert send_cob_reminders(_inst(), D0.isoformat()) == {}
    clock.advance(days=1)
    assert relay_pending() == 0
    assert len(smtp_server.messages) == 1 and len(rows(db)) == 3


def test_a_real_rq_worker_sends_the_reminders_of_one_job_queued_once(db, app, smtp_server, redis_server, clock):
    from redis import Redis
    from rq import Queue, SimpleWorker
    from rq.registry import FailedJobRegistry

    from portal.notifications.services import relay_pending
    from portal.queue import FlaskJob

    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    saved = (app.config["JOBS_MODE"], app.config.get("REDIS_URL"))
    app.config.update(JOBS_MODE="rq", REDIS_URL=redis_server.url)
    try:
        customer = borrower_with_email()
        emi_due_in_3_days(customer)
        emi_due_in_3_days(borrower_with_email("ravi@example.test"))
        db.session.commit()
        close(db, chunk_size=1)  # one chunk per loan: still one job
        queue = Queue("notifications", connection=connection, job_class=FlaskJob)
        [job] = queue.get_jobs()
        assert (job.func_name, job.args) == (SEND_JOB, (_inst(), D0.isoformat()))
        pending = rows(db, status="pending")
        assert sorted(n.channel for n in pending) == ["email", "email", "sms", "sms"] and not smtp_server.messages
        assert relay_pending(clock.now()) == []  # the job is queued: the relay leaves the rows alone
        db.session.commit()

        previous, FlaskJob._app = getattr(FlaskJob, "_app", None), app
        try:
            SimpleWorker([queue], connection=connection, job_class=FlaskJob).work(burst=True)
        finally:
            FlaskJob._app = previous
        assert FailedJobRegistry(queue=queue).count == 0 and queue.count == 0
        assert job.latest_result().return_value == {"sent": 4}
        emails = rows(db, channel="email")
        assert [n.status for n in emails] == ["sent", "sent"]
        assert sorted(m["To"] for m in smtp_server.messages) == ["asha@example.test", "ravi@example.test"]
        assert all(len(smtp_server.for_notification(n.id)) == 1 for n in emails)

        assert rerun_reminders(db, D0)["count"] == 0
        assert queue.count == 0  # nothing pending for the date: no job queued
    finally:
        app.config.update(JOBS_MODE=saved[0], REDIS_URL=saved[1])
        connection.flushdb()


def test_turning_off_reminder_emails_stops_the_email_but_keeps_the_in_app_message(db, smtp_server, clock):
    customer = borrower_with_email()
    loan = emi_due_in_3_days(customer)
    db.session.flush()
    save_preferences(customer.user, ALL_ON - {("reminders", "email")}, actor=customer.user, now=clock.now())
    other = borrower_with_email("ravi@example.test")  # the same reminder, defaults: emailed
    emi_due_in_3_days(other)
    db.session.commit()
    close(db)
    assert [(n.channel, n.status) for n in rows(db, customer_id=customer.id)] == [("in_app", "sent"),
                                                                                 ("sms", "sent")]
    [in_app] = rows(db, customer_id=customer.id, channel="in_app")
    assert in_app.user_id == customer.user_id and in_app.subject == f"Loan {loan.id}: EMI due 26 Nov 2026"
    assert [m["To"] for m in smtp_server.messages] == ["ravi@example.test"]


def test_an_overdue_notice_is_sent_despite_every_reminder_being_turned_off(db, smtp_server, clock):
    customer = borrower_with_email()
    late = overdue_tomorrow(customer)
    emi_due_in_3_days(customer)  # a reminder: not sent at all
    db.session.flush()
    save_preferences(customer.user, set(), actor=customer.user, now=clock.now())  # everything optional off
    db.session.commit()
    close(db)
    assert rows(db) == [] and smtp_server.messages == []  # D0: only the EMI-due reminder, turned off
    close(db)  # 24 Nov: day 1 overdue
    notes = rows(db)
    assert [(n.event, n.channel, n.category) for n in notes] == [("emi.overdue", ch, "legal")
                                                                 for ch in ("in_app", "email", "sms")]
    assert {n.dedupe_key for n in notes} == {f"emi.overdue:{late.id}:2026-11-24:{ch}"
                                             for ch in ("in_app", "email", "sms")}
    [message] = smtp_server.messages
    assert message["Subject"] == f"Loan {late.id} is 1 day overdue"
    assert f"Your loan {late.id} is 1 day overdue: Rs 8,884.88 is unpaid." in body_of(message)


def _publish(db, clock, event: str, channel: str, *, subject: str | None, body: str):
    admin = make_staff("admin")
    template = db.session.scalar(select(NotificationTemplate).where(
        NotificationTemplate.institution_id == _inst(), NotificationTemplate.event == event,
        NotificationTemplate.channel == channel))
    templates.save_draft(template, subject=subject, body=body, actor=admin, now=clock.now())
    version = templates.publish(template, actor=admin, now=clock.now())
    db.session.commit()
    return version


def test_the_admins_published_template_is_what_the_customer_receives(db, smtp_server, clock):
    version = _publish(db, clock, "emi.due", "email", subject="Reminder: EMI for loan {{ loan_id }}",
                       body="Namaste {{ customer_name }}, please keep {{ emi_amount|money }} ready for "
                            "{{ due_on|date('%d/%m/%Y') }}. — Team {{ portal_name }}")
    # a published SMS template that passes the sample check but fails on real data: the built-in text is sent
    _publish(db, clock, "emi.due", "sms", subject=None,
             body="{% if loan_id != 501 %}{{ no_such_name }}{% endif %}EMI {{ emi_amount|money }} due")
    customer = borrower_with_email()
    loan = emi_due_in_3_days(customer)
    db.session.commit()
    run = close(db)
    [message] = smtp_server.messages
    assert message["Subject"] == f"Reminder: EMI for loan {loan.id}"
    assert body_of(message).strip() == ("Namaste Book Borrower, please keep Rs 8,884.88 ready for 26/11/2026. "
                                        "— Team Credit Lifecycle Portal")
    [email] = rows(db, channel="email")
    assert email.template_version_id == version.id
    [sms] = rows(db, channel="sms")
    assert sms.template_version_id is None
    assert sms.body == (f"Your EMI of Rs 8,884.88 on loan {loan.id} is due on 26 Nov 2026. "
                        "Pay it from My loans before the due date.")
    step = next(s for s in run.steps if s["name"] == "reminders")
    assert step["detail"]["template_failures"] == {"emi.due/sms": 1}


def test_a_credit_line_gets_the_minimum_due_reminder(db, clock):
    from portal.servicing.credit_line import bill_due_accounts

    customer = borrower_with_email()
    line = make_credit_line(customer, start=D0 - timedelta(days=42), drawn="20000.00")
    db.session.flush()
    assert bill_due_accounts(_inst(), D0 - timedelta(days=12)) == 1  # billed 11 Nov, due 26 Nov
    db.session.commit()
    close(db)
    notes = rows(db, event="bill.due")
    assert [n.channel for n in notes] == ["in_app", "email", "sms"]
    assert [n.dedupe_key for n in notes] == [f"bill.due:{line.id}:2026-11-26:{ch}" for ch in ("in_app", "email", "sms")]
    assert notes[0].subject == f"Credit line {line.id}: minimum due 26 Nov 2026"
    assert "The minimum due of Rs " in notes[0].body and f"on your credit line {line.id} is due on 26 Nov 2026" \
        in notes[0].body


def test_the_relay_sends_the_reminders_only_when_the_job_is_lost(db, app, clock, monkeypatch):
    from portal import queue
    from portal.notifications.services import relay_grace, relay_pending

    queued = []
    monkeypatch.setattr(queue, "enqueue_after_commit", lambda name, *args, queue="default": queued.append(
        (name, args, queue)))  # the job is lost: queued, never run
    customer = borrower_with_email()
    emi_due_in_3_days(customer)
    db.session.commit()
    close(db)
    assert queued == [(SEND_JOB, (_inst(), D0.isoformat()), "notifications")]
    pending = rows(db, status="pending")
    assert sorted(n.channel for n in pending) == ["email", "sms"]
    assert all(n.next_attempt_at >= clock.now() + relay_grace() for n in pending)
    assert relay_pending(clock.now() + relay_grace() - timedelta(seconds=1)) == []
    ids = relay_pending(clock.now() + relay_grace() + timedelta(minutes=1))
    assert sorted(ids) == sorted(n.id for n in pending)
    assert [name for name, _, _ in queued[1:]] == ["jobs.notifications.send_notification"] * 2


def test_a_rerun_or_resumed_step_writes_nothing_twice_per_channel_whatever_the_templates_say(db, clock,
                                                                                             monkeypatch):
    from jobs.notifications import send_cob_reminders

    people = [borrower_with_email(f"b{n}@example.test") for n in range(3)] + [make_borrower() for _ in range(2)]
    for n, person in enumerate(people):
        emi_due_in_3_days(person)
        if n % 2:
            overdue_tomorrow(person)
    db.session.commit()
    close(db)
    first = {n.dedupe_key: (n.id, n.body) for n in rows(db)}
    assert len(first) == 3 * 3 + 2 * 2  # emi.due: in-app + SMS (+ email for the three with an address)

    # D0 again with a new published text: the old NOT EXISTS on the subject would write every reminder again
    _publish(db, clock, "emi.due", "in_app", subject="New text for {{ loan_id }}", body="New body {{ loan_id }}")
    assert rerun_reminders(db, D0)["count"] == 0
    assert {n.dedupe_key: (n.id, n.body) for n in rows(db)} == first

    # 24 Nov crashes after the second committed chunk of the reminders step (loans 3-4), then resumes
    chunks = []

    def crash(run_id, name, cursor):
        if name == "reminders" and cursor is not None:
            chunks.append(cursor)
            if len(chunks) == 2:
                raise RuntimeError("killed after a reminders chunk")

    monkeypatch.setattr(cob, "_checkpoint", crash)
    with pytest.raises(RuntimeError):
        close(db)
    db.session.rollback()
    partial = len(rows(db))
    assert first.keys() < {n.dedupe_key for n in rows(db)}  # loan 3's overdue notices are written
    monkeypatch.setattr(cob, "_checkpoint", lambda *args: None)
    run = cob.run_close_of_business(_inst(), D0 + timedelta(days=1), now=clock.now(), requested_by="test",
                                    chunk_size=1)  # resumed, with other chunk bounds
    db.session.commit()
    assert run.status == "done" and len(rows(db)) > partial
    keys = db.session.execute(select(Notification.event, Notification.dedupe_key, func.count())
                              .group_by(Notification.event, Notification.dedupe_key)).all()
    assert all(count == 1 and key for _, key, count in keys)
    overdue = sorted(key for event, key, _ in keys if event == "emi.overdue")
    assert len(overdue) == 3 + 2  # day 1 overdue: borrower 1 (with an address: 3 channels), borrower 3 (2)
    assert all(":2026-11-24:" in key for key in overdue)
    assert send_cob_reminders(_inst(), (D0 + timedelta(days=1)).isoformat()) == {}  # all sent already
    assert {n.status for n in rows(db)} == {"sent"}
