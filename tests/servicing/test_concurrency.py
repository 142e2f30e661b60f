"""Concurrent repayments on PostgreSQL: 20 threads, each with its own app context (and so its own session and
connection), released together by a barrier against one committed loan."""
from __future__ import annotations

import threading
from decimal import Decimal

from sqlalchemy import func, select

from portal.clock import clock as app_clock
from portal.ledger.models import JournalEntry
from portal.lending.models import Loan
from portal.servicing import gateway, services
from portal.servicing.models import LoanTransaction, Payment, WebhookReceipt
from tests.servicing.payments_support import assert_ledger_agrees, disbursed_loan

D = Decimal
THREADS = 20


def run_together(app, work) -> tuple[list, list]:
    """Run ``work(i)`` in THREADS threads, each inside its own app context, all released at once; returns
    (results by thread, exceptions)."""
    from portal.extensions import db

    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS
    errors: list = []

    def worker(i: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=60)
                results[i] = work(i)
            except Exception as exc:  # reported by the test
                db.session.rollback()
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,), name=f"payer-{i}") for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "a payer thread hung"
    return results, errors


def _pay(loan_id: int, key: str) -> int:
    from portal.extensions import db

    loan = db.session.get(Loan, loan_id)
    payment = services.record_repayment(loan, amount=D("100.00"), idempotency_key=key, channel="api",
                                        actor="test", clock=app_clock())
    db.session.commit()
    return payment.id


def dues(loan: Loan) -> Decimal:
    return sum((i.amount_due for i in loan.installments), D(0))


def test_twenty_concurrent_repayments_leave_the_exact_balance(app, db, clock):
    loan = disbursed_loan(clock)
    loan_id, owed = loan.id, dues(loan)
    db.session.commit()
    results, errors = run_together(app, lambda i: _pay(loan_id, f"concurrent-{i}"))
    assert not errors, errors
    db.session.expire_all()
    loan = db.session.get(Loan, loan_id)
    assert len(set(results)) == THREADS
    assert db.session.scalar(select(func.count(Payment.id)).where(Payment.status == "succeeded")) == THREADS
    assert db.session.scalar(select(func.count(LoanTransaction.id))
                             .where(LoanTransaction.kind == "repayment")) == THREADS
    assert dues(loan) == owed - D("2000.00")
    first = loan.installments[0]
    assert (first.interest_paid_amount, first.principal_paid_amount) == (D("1000.00"), D("1000.00"))
    # the period's interest (1,000.00) was accrued once, at the first payment; 1,000 principal paid
    assert db.session.scalar(select(func.count(JournalEntry.id))
                             .where(JournalEntry.reference.like("accrual-catchup:%"))) == 1
    assert loan.principal_outstanding_amount == D("99000.00") and loan.interest_receivable_amount == 0
    assert loan.principal_outstanding_amount + loan.interest_receivable_amount == D("100000.00") + D("1000.00") \
        - D("2000.00")
    assert_ledger_agrees()


def test_the_same_key_twenty_times_at_once_makes_one_payment(app, db, clock):
    loan = disbursed_loan(clock)
    loan_id = loan.id
    db.session.commit()
    results, errors = run_together(app, lambda i: _pay(loan_id, "one-key"))
    assert not errors, errors
    db.session.expire_all()
    assert len(set(results)) == 1
    assert db.session.scalar(select(func.count(Payment.id))) == 1
    assert db.session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.kind == "repayment")) == 1
    assert db.session.get(Loan, loan_id).principal_outstanding_amount == D("100000.00")  # 100 went to interest
    assert_ledger_agrees()


def test_the_same_webhook_twenty_times_at_once_applies_once(app, db, clock):
    loan = disbursed_loan(clock)
    payment = services.initiate_gateway_payment(loan, amount=loan.monthly_installment, idempotency_key="gw-form",
                                                actor="test", clock=clock)
    db.session.commit()
    body, headers = gateway.build_event(payment, status="succeeded", secret=app.config["PAYMENT_WEBHOOK_SECRET"],
                                        now=clock.now(), event_id="evt-concurrent")

    def deliver(_i: int) -> tuple[int, dict]:
        response = app.test_client().post("/api/v1/payments/webhook", data=body, headers=headers)
        return response.status_code, response.get_json()

    results, errors = run_together(app, deliver)
    assert not errors, errors
    assert {code for code, _ in results} == {200}
    statuses = sorted(body["status"] for _, body in results)
    assert statuses == ["duplicate"] * (THREADS - 1) + ["succeeded"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count(WebhookReceipt.id))) == 1
    assert db.session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.kind == "repayment")) == 1
    assert_ledger_agrees()


def test_a_repayment_during_the_close_of_business_is_seen_by_it(app, db, clock):
    """A repayment holds its loan's row lock while the close of business starts: the batch waits for it, then
    sees its catch-up accrual (the period's interest accrued at once) and adds no accrual on top of it."""
    from portal.auth.services import default_institution
    from portal.business_date import current_business_date
    from portal.extensions import db as database
    from portal.servicing.cob import run_close_of_business
    from portal.servicing.models import Accrual
    from tests.servicing.payments_support import close_days

    loan = disbursed_loan(clock)
    loan_id, inst = loan.id, default_institution().id
    database.session.commit()
    close_days(5, clock)  # five days into the first period: part of its interest accrued
    on = current_business_date(inst, clock)
    database.session.commit()
    applied, go, errors = threading.Event(), threading.Event(), []

    def payer() -> None:
        with app.app_context():
            try:
                services.record_repayment(database.session.get(Loan, loan_id), amount=D("8884.88"),
                                          idempotency_key="during-cob", channel="api", actor="test",
                                          clock=app_clock())
                applied.set()
                go.wait(30)
                database.session.commit()
            except Exception as exc:
                database.session.rollback()
                errors.append(exc)
                applied.set()

    def batch() -> None:
        with app.app_context():
            try:
                run_close_of_business(inst, on, now=app_clock().now(), requested_by="test")
            except Exception as exc:
                database.session.rollback()
                errors.append(exc)

    pay_thread = threading.Thread(target=payer)
    pay_thread.start()
    assert applied.wait(30)
    cob_thread = threading.Thread(target=batch)
    cob_thread.start()
    cob_thread.join(1.5)
    assert cob_thread.is_alive(), "the close of business did not wait for the repayment's row lock"
    go.set()
    pay_thread.join(30)
    cob_thread.join(120)
    assert not errors, errors
    database.session.expire_all()
    loan = database.session.get(Loan, loan_id)
    assert loan.period_accrued_amount == loan.period_interest_amount == D("1000.00")
    assert database.session.scalar(select(func.count(Accrual.id)).where(Accrual.loan_id == loan_id,
                                                                        Accrual.accrued_on == on)) == 0
    assert loan.interest_receivable_amount == 0 and loan.installments[0].paid_on == on
    assert_ledger_agrees()
