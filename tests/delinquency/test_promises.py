"""Promises to pay: kept when payments since the promise cover it by the promised date, broken otherwise; a
broken promise raises the ``promise_to_pay_broken`` alert exactly once; bad promises are refused."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from jobs import delinquency as delinquency_jobs
from portal.alerts.models import Alert
from portal.audit.models import AuditEvent
from portal.delinquency import services
from portal.delinquency.models import PromiseToPay
from portal.errors import DomainError
from portal.lending.models import Loan
from portal.servicing import services as servicing
from tests.delinquency.conftest import D0, books_on, inst_id
from tests.factories import make_disbursed_loan
from tests.servicing.payments_support import close_days


@pytest.fixture
def loan(db, clock, staff):
    made = make_disbursed_loan(clock)
    db.session.commit()
    return made


def _promise(db, clock, loan, staff, amount="5000.00", days=2):
    promise = services.record_promise(db.session.get(Loan, loan.id), amount=Decimal(amount),
                                      promised_on=books_on() + timedelta(days=days), note="will pay from salary",
                                      actor=staff["collections"], clock=clock)
    db.session.commit()
    return promise


def _pay(db, clock, loan, amount, key, staff):
    payment = servicing.record_repayment(db.session.get(Loan, loan.id), amount=Decimal(amount), idempotency_key=key,
                                         channel="officer", actor=staff["loan_officer"], clock=clock)
    db.session.commit()
    return payment


def _alerts(db, loan_id):
    return db.session.scalars(select(Alert).where(Alert.kind == "promise_to_pay_broken",
                                                  Alert.loan_id == loan_id)).all()


def test_a_promise_covered_by_payments_by_its_date_is_kept(db, clock, loan, staff):
    promise = _promise(db, clock, loan, staff, amount="5000.00", days=2)  # made D0, by D0 + 2
    close_days(1, clock)                                                    # books on D0 + 1
    _pay(db, clock, loan, "3000.00", "p1", staff)
    assert services.evaluate_promises(inst_id(), books_on(), clock.now()) == {"kept": 0, "broken": 0, "open": 1}
    db.session.commit()
    assert db.session.get(PromiseToPay, promise.id).paid_amount == Decimal("3000.00")
    _pay(db, clock, loan, "2000.00", "p2", staff)
    assert services.evaluate_promises(inst_id(), books_on(), clock.now())["kept"] == 1
    db.session.commit()
    promise = db.session.get(PromiseToPay, promise.id)
    assert (promise.status, promise.paid_amount, promise.evaluated_on) == ("kept", Decimal("5000.00"),
                                                                          D0 + timedelta(days=1))
    assert _alerts(db, loan.id) == []
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "promise.kept")) == 1


def test_a_promise_not_covered_by_its_date_is_broken_and_alerts_once(db, clock, loan, staff):
    promise = _promise(db, clock, loan, staff, amount="5000.00", days=1)  # by D0 + 1
    _pay(db, clock, loan, "4999.99", "short", staff)                      # a paisa short, on D0
    close_days(1, clock)                                                    # D0 + 1: the promised date itself
    delinquency_jobs.evaluate_promises(inst_id(), books_on().isoformat())
    assert db.session.get(PromiseToPay, promise.id).status == "open" and _alerts(db, loan.id) == []
    close_days(1, clock)                                                    # D0 + 2: the date has passed
    assert delinquency_jobs.evaluate_promises(inst_id(), books_on().isoformat()) == {"kept": 0, "broken": 1,
                                                                                      "open": 0}
    db.session.expire_all()
    promise = db.session.get(PromiseToPay, promise.id)
    assert (promise.status, promise.paid_amount) == ("broken", Decimal("4999.99"))
    alerts = _alerts(db, loan.id)
    assert len(alerts) == 1
    assert alerts[0].customer_id == loan.customer_id and alerts[0].detail["promise_id"] == promise.id
    assert alerts[0].detail["promised_amount"] == "5000.00"
    # the daily job again, and a payment after the date: still broken, still one alert
    _pay(db, clock, loan, "100.00", "late", staff)
    delinquency_jobs.evaluate_promises_daily()
    delinquency_jobs.evaluate_promises_daily()
    db.session.expire_all()
    assert db.session.get(PromiseToPay, promise.id).status == "broken"
    assert len(_alerts(db, loan.id)) == 1
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "promise.broken")) == 1


def test_payments_before_the_promise_or_bounced_do_not_count(db, clock, loan, staff):
    _pay(db, clock, loan, "1000.00", "before", staff)                     # D0, before the promise is made
    close_days(1, clock)
    promise = _promise(db, clock, loan, staff, amount="2000.00", days=0)  # made and due D0 + 1
    bounced = _pay(db, clock, loan, "2000.00", "bouncer", staff)
    servicing.bounce_payment(db.session.get(type(bounced), bounced.id), actor=staff["loan_officer"], clock=clock,
                             reason="insufficient funds")
    db.session.commit()
    close_days(1, clock)
    services.evaluate_promises(inst_id(), books_on(), clock.now())
    db.session.commit()
    promise = db.session.get(PromiseToPay, promise.id)
    assert (promise.status, promise.paid_amount) == ("broken", Decimal("0.00"))


@pytest.mark.parametrize(("amount", "days", "status", "message"), [
    ("-5.00", 2, 422, "more than zero"),
    ("0", 2, 422, "more than zero"),
    ("10.005", 2, 422, "two decimals"),
    ("200000.00", 2, 422, "owes in all"),
    ("100.00", -1, 422, "before the business date"),
    ("100.00", 91, 422, "at most 90 days"),
])
def test_bad_promises_are_refused_and_nothing_is_saved(db, clock, loan, staff, amount, days, status, message):
    with pytest.raises(DomainError) as err:
        services.record_promise(db.session.get(Loan, loan.id), amount=Decimal(amount),
                                promised_on=D0 + timedelta(days=days), note=None, actor=staff["collections"],
                                clock=clock)
    db.session.rollback()
    assert err.value.http_status == status and message in err.value.message
    assert db.session.scalar(select(func.count(PromiseToPay.id))) == 0


def test_one_open_promise_per_loan(db, clock, loan, staff):
    _promise(db, clock, loan, staff)
    with pytest.raises(DomainError) as err:
        _promise(db, clock, loan, staff, amount="100.00")
    db.session.rollback()
    assert err.value.http_status == 409
    assert db.session.scalar(select(func.count(PromiseToPay.id))) == 1


def test_the_daily_evaluation_is_registered_for_0100_ist_after_the_close_of_business(redis_server):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from croniter import croniter
    from redis import Redis
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=Redis.from_url(redis_server.url))
    scheduler.load_config_from_file("jobs.schedule")
    [job] = [j for j in scheduler.get_jobs() if j.name == "promise-evaluation"]
    assert (job.func_name, job.queue_name) == ("jobs.delinquency.evaluate_promises_daily", "default")
    when = croniter(job.cron, datetime(2026, 11, 23, tzinfo=UTC)).get_next(datetime).astimezone(
        ZoneInfo("Asia/Kolkata"))
    assert (when.hour, when.minute) == (1, 0)
