"""The seed 004 revolving credit line on PostgreSQL: apply rules at their boundaries, drawdowns, 30-day billing
with carried dues, the payment order, closing, and the ledger agreeing with the loan balances."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.auth.services import default_institution
from portal.business_date import set_business_date
from portal.errors import DomainError
from portal.extensions import db as database
from portal.ledger.check import check_ledger
from portal.ledger.models import Account, JournalEntry
from portal.ledger.services import Line, loan_account_balances, post, trial_balance
from portal.lending.models import Loan, Product
from portal.scoring.models import ScoreResult
from portal.scoring.services import current_version
from portal.servicing import credit_line
from portal.servicing.models import Accrual, BillingStatement, LoanTransaction, Payment
from tests.factories import make_customer

D = Decimal
DAY0 = date(2026, 11, 23)  # the conftest clock's business date


# ---- helpers (also used by tests/web/test_credit_line_pages.py) -------------------------------------------
def cl_product() -> Product:
    return database.session.scalar(select(Product).where(Product.code == "CL-REVOLVING"))


def give_score(customer, score: int, as_of: date = DAY0) -> ScoreResult:
    """A savings-balance score for ``customer`` (written directly: the built-in scorecard moves in steps of
    10, so 449 cannot come from a balance)."""
    inst = customer.institution_id
    version = current_version(credit_line.SCORECARD_SLUG, institution_id=inst)
    result = ScoreResult(institution_id=inst, version_id=version.id, customer_id=customer.id,
                         subject_ref=f"customer:{customer.id}", purpose="on_demand", as_of=as_of,
                         features={"balance": "0"}, score=score, band="-", contributions=[])
    database.session.add(result)
    database.session.flush()
    return result


def eligible_customer(*, score: int = 700, salary: str = "20000", phone: str | None = None):
    customer = make_customer(salary=salary, phone=phone)
    give_score(customer, score)
    return customer


def open_line(clock, *, limit: str = "50000", customer=None) -> Loan:
    customer = customer or eligible_customer()
    return credit_line.open_credit_line(customer, cl_product(), limit=D(limit), actor=customer.user, clock=clock)


def move_to(day: date) -> None:
    set_business_date(default_institution().id, day, actor="system")


def accrue(loan: Loan, first: date, last: date, *, to_suspense: bool = False) -> Decimal:
    """What the close of business does for a credit line each day from ``first`` to ``last``: an accrual row of
    round(APR/365, 3) % of the principal, the receivable raised, and the day's accrual entry (Dr 1200 / Cr 4000,
    or Cr 2100 suspense for an NPA loan). Returns the total accrued."""
    total, day = D("0.00"), first
    while day <= last:
        amount = credit_line.daily_interest(loan.principal_outstanding_amount, loan.interest_rate)
        database.session.add(Accrual(loan_id=loan.id, accrued_on=day, amount=amount, to_suspense=to_suspense))
        loan.interest_receivable_amount += amount
        if to_suspense:
            loan.interest_suspense_amount += amount
        loan.last_accrued_on = day
        credit = Account.INTEREST_SUSPENSE if to_suspense else Account.INTEREST_INCOME
        post(loan.institution_id, kind="accrual", reference=f"test-accrual:{loan.id}:{day.isoformat()}",
             business_date=day, lines=[Line(Account.INTEREST_RECEIVABLE, debit=amount), Line(credit, credit=amount)])
        total += amount
        day += timedelta(days=1)
    database.session.flush()
    return total


def pay(loan: Loan, amount: str, as_of: date, key: str | None = None) -> Payment:
    """What the repayment service does before handing a credit-line payment over: the Payment row, the row lock,
    then ``credit_line.apply_payment``."""
    payment = Payment(institution_id=loan.institution_id, loan_id=loan.id, idempotency_key=key or f"k-{amount}-{as_of}",
                      channel="officer", amount=D(amount), status="succeeded", received_on=as_of)
    database.session.add(payment)
    database.session.flush()
    locked = database.session.get(Loan, loan.id, with_for_update=True)
    credit_line.apply_payment(locked, payment, as_of=as_of, actor="system")
    return payment


def assert_ledger_agrees(loan: Loan) -> None:
    inst = loan.institution_id
    result = check_ledger(inst, date(2030, 1, 1))
    assert result.ok, result.problems
    posted = loan_account_balances(inst, [Account.LOAN_PRINCIPAL, Account.INTEREST_RECEIVABLE])
    accrued = sum((a.amount for a in database.session.scalars(select(Accrual).where(Accrual.loan_id == loan.id))),
                  D("0.00"))
    assert posted.get((loan.id, Account.LOAN_PRINCIPAL), D("0.00")) == loan.principal_outstanding_amount
    assert accrued + posted.get((loan.id, Account.INTEREST_RECEIVABLE), D("0.00")) == loan.interest_receivable_amount
    balances = trial_balance(inst, date(2030, 1, 1))
    assert sum(b.debit for b in balances) == sum(b.credit for b in balances)


def statement_on(loan: Loan, day: date) -> BillingStatement:
    return database.session.scalar(select(BillingStatement).where(BillingStatement.loan_id == loan.id,
                                                                  BillingStatement.billed_on == day))


def line_with_drawdown(clock, amount: str = "10000") -> Loan:
    loan = open_line(clock)
    credit_line.drawdown(loan, D(amount), idempotency_key="day0", actor="system", clock=clock)
    return loan


# ---- apply --------------------------------------------------------------------------------------------------
def test_the_product_carries_the_seed_004_rules(db):
    product = cl_product()
    assert (product.kind, product.min_score, product.min_annual_income_amount, product.max_amount,
            product.interest_rate) == ("credit_line", 450, D("150000.00"), D("50000.00"), D("24.00"))


@pytest.mark.parametrize(("score", "salary", "limit", "says"), [
    (449, "20000", "50000", "Your credit score is 449; a credit line needs at least 450"),
    (700, "12499.99", "50000", "Your annual income is Rs 1,49,999.88"),
    (700, "20000", "50000.01", "The limit asked is Rs 50,000.01"),
])
def test_apply_is_refused_just_below_each_boundary(db, clock, score, salary, limit, says):
    customer = eligible_customer(score=score, salary=salary)
    with pytest.raises(DomainError) as refused:
        open_line(clock, limit=limit, customer=customer)
    assert refused.value.http_status == 422 and says in refused.value.message
    assert database.session.scalar(select(func.count(Loan.id)).where(Loan.kind == "credit_line")) == 0


def test_apply_without_a_score_says_the_score_comes_from_savings_transactions(db, clock):
    customer = make_customer(salary="50000")
    with pytest.raises(DomainError) as refused:
        open_line(clock, customer=customer)
    assert "computed from your savings transactions" in refused.value.message


def test_the_latest_score_counts(db, clock):
    customer = eligible_customer(score=700)
    give_score(customer, 449, as_of=DAY0 + timedelta(days=1))
    with pytest.raises(DomainError):
        open_line(clock, customer=customer)


def test_apply_is_accepted_exactly_at_the_boundaries(db, clock):
    customer = eligible_customer(score=450, salary="12500")  # 12 x 12,500 = 1,50,000
    loan = open_line(clock, limit="50000", customer=customer)
    assert (loan.kind, loan.serviced, loan.status, loan.credit_limit_amount, loan.loan_amount) == (
        "credit_line", True, "active", D("50000.00"), D("50000.00"))
    assert loan.interest_rate == D("24.00") and loan.billing_anchor_on == DAY0
    assert loan.principal_outstanding_amount == 0 and loan.monthly_installment == 0 and loan.tenure == 1
    assert loan.end_on == date(2027, 11, 23) and loan.product_id == cl_product().id
    event = database.session.scalar(select(AuditEvent).where(AuditEvent.action == "credit_line.opened"))
    assert event.entity_id == str(loan.id) and event.changes["score"] == 450
    # one open line per customer and product
    with pytest.raises(DomainError) as twice:
        open_line(clock, customer=customer)
    assert twice.value.http_status == 409


def test_a_term_loan_product_cannot_open_a_line(db, clock):
    customer = eligible_customer()
    term = database.session.scalar(select(Product).where(Product.code == "TL-PERSONAL"))
    with pytest.raises(DomainError):
        credit_line.open_credit_line(customer, term, limit=D("1000"), actor=None, clock=clock)


# ---- drawdowns ----------------------------------------------------------------------------------------------
def test_drawdowns_within_the_available_limit_and_refused_over_it(db, clock):
    loan = open_line(clock, limit="50000")
    first = credit_line.drawdown(loan, D("30000"), idempotency_key="a", actor="system", clock=clock)
    assert first.kind == "drawdown" and first.principal_amount == D("30000.00")
    assert credit_line.available_limit(loan) == D("20000.00")
    with pytest.raises(DomainError) as over:
        credit_line.drawdown(loan, D("20000.01"), idempotency_key="b", actor="system", clock=clock)
    assert "at most Rs 20,000.00" in over.value.message
    for bad in (D("0"), D("-5")):
        with pytest.raises(DomainError):
            credit_line.drawdown(loan, bad, idempotency_key="c", actor="system", clock=clock)
    credit_line.drawdown(loan, D("20000"), idempotency_key="d", actor="system", clock=clock)
    assert loan.principal_outstanding_amount == D("50000.00") and credit_line.available_limit(loan) == 0
    entry = database.session.scalar(select(JournalEntry).where(JournalEntry.reference == f"drawdown:{loan.id}:a"))
    assert {(p.account.code, p.debit_amount, p.credit_amount, p.loan_id) for p in entry.postings} == {
        ("1100", D("30000.00"), D("0.00"), loan.id), ("1000", D("0.00"), D("30000.00"), loan.id)}
    assert database.session.scalar(select(func.count(AuditEvent.id))
                                   .where(AuditEvent.action == "credit_line.drawdown")) == 2
    assert_ledger_agrees(loan)


def test_the_same_idempotency_key_returns_the_first_drawdown(db, clock):
    loan = open_line(clock)
    first = credit_line.drawdown(loan, D("1000"), idempotency_key="same", actor="system", clock=clock)
    again = credit_line.drawdown(loan, D("1000"), idempotency_key="same", actor="system", clock=clock)
    assert again.id == first.id and loan.principal_outstanding_amount == D("1000.00")
    assert database.session.scalar(select(func.count(LoanTransaction.id))) == 1
    with pytest.raises(DomainError):
        credit_line.drawdown(loan, D("1"), idempotency_key="not a key!", actor="system", clock=clock)


# ---- billing ------------------------------------------------------------------------------------------------
def test_bill_on_day_30_with_the_exact_minimum_due(db, clock):
    loan = line_with_drawdown(clock, "10000")
    inst = loan.institution_id
    accrued = accrue(loan, DAY0 + timedelta(days=1), DAY0 + timedelta(days=30))
    assert accrued == 30 * D("6.60") == D("198.00")
    assert credit_line.bill_due_accounts(inst, DAY0 + timedelta(days=29)) == 0  # not a billing date
    day30 = DAY0 + timedelta(days=30)
    move_to(day30)
    assert credit_line.bill_due_accounts(inst, day30) == 1
    bill = statement_on(loan, day30)
    assert (bill.cycle_start_on, bill.billed_on, bill.due_on) == (DAY0, date(2026, 12, 23), date(2027, 1, 7))
    assert (bill.principal_balance_amount, bill.interest_amount, bill.past_due_amount, bill.minimum_due_amount,
            bill.paid_amount) == (D("10000.00"), D("198.00"), D("0.00"), D("498.00"), D("0.00"))
    database.session.refresh(loan)
    assert loan.next_due_on == date(2027, 1, 7)
    # idempotent: the same date again bills nothing
    assert credit_line.bill_due_accounts(inst, day30) == 0
    assert database.session.scalar(select(func.count(BillingStatement.id))) == 1
    assert database.session.scalar(select(func.count(AuditEvent.id))
                                   .where(AuditEvent.action == "credit_lines.billed")) == 1


def test_an_unpaid_due_is_carried_into_the_next_bill(db, clock):
    loan = line_with_drawdown(clock, "10000")
    inst = loan.institution_id
    accrue(loan, DAY0 + timedelta(days=1), DAY0 + timedelta(days=30))
    credit_line.bill_due_accounts(inst, DAY0 + timedelta(days=30))
    accrue(loan, DAY0 + timedelta(days=31), DAY0 + timedelta(days=60))
    day60 = DAY0 + timedelta(days=60)
    assert credit_line.bill_due_accounts(inst, day60) == 1
    second = statement_on(loan, day60)
    assert (second.cycle_start_on, second.interest_amount, second.past_due_amount, second.minimum_due_amount) == (
        DAY0 + timedelta(days=30), D("198.00"), D("498.00"), D("996.00"))
    assert second.due_on == day60 + timedelta(days=15)


def test_a_partly_paid_bill_carries_only_what_is_unpaid(db, clock):
    loan = line_with_drawdown(clock, "10000")
    inst = loan.institution_id
    accrue(loan, DAY0 + timedelta(days=1), DAY0 + timedelta(days=30))
    credit_line.bill_due_accounts(inst, DAY0 + timedelta(days=30))
    pay(loan, "100.00", DAY0 + timedelta(days=35))  # all to the bill's interest
    assert statement_on(loan, DAY0 + timedelta(days=30)).paid_amount == D("100.00")
    assert loan.interest_receivable_amount == D("98.00")  # no accrual after day 30 yet
    accrue(loan, DAY0 + timedelta(days=31), DAY0 + timedelta(days=60))
    credit_line.bill_due_accounts(inst, DAY0 + timedelta(days=60))
    second = statement_on(loan, DAY0 + timedelta(days=60))
    assert (second.past_due_amount, second.minimum_due_amount) == (D("398.00"), D("896.00"))
    assert_ledger_agrees(loan)


def test_only_lines_whose_billing_date_it_is_are_billed(db, clock):
    inst = default_institution().id
    due = line_with_drawdown(clock, "10000")
    unused = open_line(clock, customer=eligible_customer())  # owes nothing: no bill
    move_to(DAY0 + timedelta(days=10))
    later = open_line(clock, customer=eligible_customer())
    credit_line.drawdown(later, D("5000"), idempotency_key="l", actor="system", clock=clock)
    assert credit_line.bill_due_accounts(inst, DAY0 + timedelta(days=30)) == 1
    assert statement_on(due, DAY0 + timedelta(days=30)) is not None
    assert statement_on(unused, DAY0 + timedelta(days=30)) is None
    assert credit_line.bill_due_accounts(inst, DAY0 + timedelta(days=40)) == 1
    bill = statement_on(later, DAY0 + timedelta(days=40))
    assert bill.minimum_due_amount == D("150.00") and bill.interest_amount == 0  # no accruals written here
    # small chunks give the same result
    assert credit_line.bill_due_accounts(inst, DAY0 + timedelta(days=60), chunk=1) == 1


# ---- payments -----------------------------------------------------------------------------------------------
def _two_unpaid_bills(clock) -> Loan:
    loan = line_with_drawdown(clock, "10000")
    inst = loan.institution_id
    accrue(loan, DAY0 + timedelta(days=1), DAY0 + timedelta(days=30))
    credit_line.bill_due_accounts(inst, DAY0 + timedelta(days=30))
    accrue(loan, DAY0 + timedelta(days=31), DAY0 + timedelta(days=60))
    credit_line.bill_due_accounts(inst, DAY0 + timedelta(days=60))
    return loan


def test_payment_order_past_due_then_current_due_then_principal(db, clock):
    loan = _two_unpaid_bills(clock)
    day = DAY0 + timedelta(days=62)
    payment = pay(loan, "700.00", day)
    assert payment.allocation["overdue_interest"] == "198.00"
    assert payment.allocation["overdue_principal"] == "300.00"
    assert payment.allocation["current_interest"] == "198.00"
    assert payment.allocation["current_principal"] == "4.00"
    assert payment.allocation["prepayment"] == "0.00" and payment.allocation["kind"] == "credit_line"
    bill = statement_on(loan, DAY0 + timedelta(days=60))
    assert bill.paid_amount == D("700.00")
    # paying the carried 498 paid the first bill too: only the second bill is unpaid now, due in the future
    assert statement_on(loan, DAY0 + timedelta(days=30)).paid_amount == D("498.00")
    assert (loan.dpd, loan.status) == (0, "active")
    assert loan.principal_outstanding_amount == D("9696.00") and loan.interest_receivable_amount == D("0.00")
    txn = database.session.scalar(select(LoanTransaction).where(LoanTransaction.payment_id == payment.id))
    assert (txn.kind, txn.amount, txn.principal_amount, txn.interest_amount) == (
        "repayment", D("700.00"), D("304.00"), D("396.00"))
    entry = database.session.scalar(select(JournalEntry).where(JournalEntry.reference == f"payment:{payment.id}"))
    assert {(p.account.code, p.debit_amount, p.credit_amount) for p in entry.postings} == {
        ("1000", D("700.00"), D("0.00")), ("1200", D("0.00"), D("396.00")), ("1100", D("0.00"), D("304.00"))}
    assert all(p.loan_id == loan.id for p in entry.postings)
    # the rest of the current due, then the excess reduces the principal
    second = pay(loan, "1000.00", day)
    assert second.allocation["current_principal"] == "296.00" and second.allocation["prepayment"] == "704.00"
    assert bill.paid_amount == D("996.00") and loan.principal_outstanding_amount == D("8696.00")
    assert credit_line.unpaid_dues(credit_line.bills_of(loan)).total == 0
    assert_ledger_agrees(loan)


def test_a_payment_above_the_balance_is_refused(db, clock):
    loan = line_with_drawdown(clock, "1000")
    accrue(loan, DAY0 + timedelta(days=1), DAY0 + timedelta(days=2))  # 2 x 0.66
    with pytest.raises(DomainError) as refused:
        pay(loan, "1001.33", DAY0 + timedelta(days=2))
    assert "at most Rs 1,001.32" in refused.value.message


def test_pay_off_then_close_and_a_closed_line_is_neither_billed_nor_drawn(db, clock):
    loan = line_with_drawdown(clock, "1000")
    inst = loan.institution_id
    accrue(loan, DAY0 + timedelta(days=1), DAY0 + timedelta(days=3))  # 3 x 0.66
    move_to(DAY0 + timedelta(days=3))
    with pytest.raises(DomainError) as early:
        credit_line.close_credit_line(loan, actor="system", clock=clock)
    assert early.value.http_status == 409 and "Rs 1,001.98" in early.value.message
    payoff = pay(loan, "1001.98", DAY0 + timedelta(days=3))
    assert payoff.allocation["prepayment"] == "1000.00" and payoff.allocation["unbilled_interest"] == "1.98"
    assert loan.status == "active"  # a revolving line stays open at zero until the customer closes it
    credit_line.close_credit_line(loan, actor="system", clock=clock)
    assert (loan.status, loan.closed_on) == ("closed", DAY0 + timedelta(days=3))
    assert credit_line.bill_due_accounts(inst, DAY0 + timedelta(days=30)) == 0
    with pytest.raises(DomainError):
        credit_line.drawdown(loan, D("10"), idempotency_key="after", actor="system", clock=clock)
    assert_ledger_agrees(loan)


def test_interest_paid_in_advance_is_not_billed_again(db, clock):
    loan = line_with_drawdown(clock, "1000")
    inst = loan.institution_id
    accrue(loan, DAY0 + timedelta(days=1), DAY0 + timedelta(days=10))  # 6.60
    pay(loan, "1003.00", DAY0 + timedelta(days=10))  # principal 1,000 and 3.00 of the interest
    credit_line.bill_due_accounts(inst, DAY0 + timedelta(days=30))
    bill = statement_on(loan, DAY0 + timedelta(days=30))
    assert (bill.principal_balance_amount, bill.interest_amount, bill.minimum_due_amount) == (
        D("0.00"), D("3.60"), D("3.60"))
    pay(loan, "3.60", DAY0 + timedelta(days=31))
    assert loan.principal_outstanding_amount == 0 and loan.interest_receivable_amount == 0
    assert_ledger_agrees(loan)


def test_interest_held_in_suspense_is_recognised_when_paid(db, clock):
    loan = line_with_drawdown(clock, "10000")
    accrue(loan, DAY0 + timedelta(days=1), DAY0 + timedelta(days=5))                      # 33.00 income
    accrue(loan, DAY0 + timedelta(days=6), DAY0 + timedelta(days=10), to_suspense=True)  # 33.00 suspense
    payment = pay(loan, "10066.00", DAY0 + timedelta(days=10))
    assert payment.allocation["interest_from_suspense"] == "33.00"
    assert loan.interest_suspense_amount == 0 and loan.interest_receivable_amount == 0
    entry = database.session.scalar(select(JournalEntry).where(JournalEntry.reference == f"payment:{payment.id}"))
    lines = {(p.account.code, p.debit_amount, p.credit_amount) for p in entry.postings}
    assert ("2100", D("33.00"), D("0.00")) in lines and ("4000", D("0.00"), D("33.00")) in lines
    assert_ledger_agrees(loan)


def test_drawdowns_wait_while_a_bill_is_past_its_due_date(db, clock):
    loan = line_with_drawdown(clock, "10000")
    inst = loan.institution_id
    accrue(loan, DAY0 + timedelta(days=1), DAY0 + timedelta(days=30))
    credit_line.bill_due_accounts(inst, DAY0 + timedelta(days=30))
    move_to(DAY0 + timedelta(days=45))  # the due date itself: still allowed
    credit_line.drawdown(loan, D("100"), idempotency_key="on-due-date", actor="system", clock=clock)
    move_to(DAY0 + timedelta(days=46))
    with pytest.raises(DomainError) as late:
        credit_line.drawdown(loan, D("100"), idempotency_key="late", actor="system", clock=clock)
    assert "07 Jan 2027" in late.value.message
    pay(loan, "498.00", DAY0 + timedelta(days=46))
    credit_line.drawdown(loan, D("100"), idempotency_key="after-paying", actor="system", clock=clock)
    assert_ledger_agrees(loan)


def test_a_random_sequence_keeps_the_ledger_and_the_line_in_agreement(db, clock):
    import random

    rng = random.Random(4)
    loan = open_line(clock, limit="50000")
    inst, day = loan.institution_id, DAY0
    for step in range(120):
        action = rng.random()
        if action < 0.25 and credit_line.available_limit(loan) > 0:
            amount = D(rng.randint(100, 500000)) / 100
            if amount <= credit_line.available_limit(loan):
                try:
                    credit_line.drawdown(loan, amount, idempotency_key=f"s{step}", actor="system", clock=clock)
                except DomainError:
                    pass  # a bill past its due date
        elif action < 0.45 and loan.principal_outstanding_amount + loan.interest_receivable_amount > 0:
            owed = loan.principal_outstanding_amount + loan.interest_receivable_amount
            amount = min(owed, D(rng.randint(100, 300000)) / 100)
            pay(loan, str(amount), day, key=f"p{step}")
        day += timedelta(days=1)
        move_to(day)
        accrue(loan, day, day)
        credit_line.bill_due_accounts(inst, day)
    assert database.session.scalar(select(func.count(BillingStatement.id))) >= 3
    assert_ledger_agrees(loan)


def test_a_second_billing_of_the_same_date_is_skipped_by_the_unique_key(db, clock):
    loan = line_with_drawdown(clock, "10000")
    day30 = DAY0 + timedelta(days=30)
    credit_line.bill_due_accounts(loan.institution_id, day30)
    # what a concurrent run that read before the first one committed would write
    duplicate = {"loan_id": loan.id, "cycle_start_on": DAY0, "billed_on": day30, "due_on": day30,
                 "principal_balance_amount": D("1"), "interest_amount": D("0"), "past_due_amount": D("0"),
                 "minimum_due_amount": D("1"), "paid_amount": D("0")}
    assert credit_line._insert_bills(BillingStatement, [duplicate]) == []
    assert statement_on(loan, day30).minimum_due_amount == D("300.00")


def test_concurrent_drawdowns_never_exceed_the_limit(app, db, clock):
    import threading

    loan = open_line(clock, limit="50000")
    database.session.commit()
    loan_id, start = loan.id, threading.Barrier(10)
    outcomes: list[str] = []

    def draw(n: int) -> None:
        with app.app_context():
            line = database.session.get(Loan, loan_id)
            start.wait(10)
            try:
                credit_line.drawdown(line, D("10000"), idempotency_key=f"t{n}", actor="system", clock=clock)
                database.session.commit()
                outcomes.append("ok")
            except DomainError:
                database.session.rollback()
                outcomes.append("refused")
            finally:
                database.session.remove()

    threads = [threading.Thread(target=draw, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok"] * 5 + ["refused"] * 5
    database.session.expire_all()
    loan = database.session.get(Loan, loan_id)
    assert loan.principal_outstanding_amount == D("50000.00")
    assert_ledger_agrees(loan)


def test_a_partly_paid_carried_due_keeps_the_oldest_due_date_for_days_past_due(db, clock):
    loan = _two_unpaid_bills(clock)
    payment = pay(loan, "300.00", DAY0 + timedelta(days=62))  # 24 Jan 2027; the first bill fell due 7 Jan
    first, second = statement_on(loan, DAY0 + timedelta(days=30)), statement_on(loan, DAY0 + timedelta(days=60))
    assert (first.paid_amount, second.paid_amount) == (D("300.00"), D("300.00"))
    assert payment.allocation["statements"] == [[first.id, "300.00"], [second.id, "300.00"]]
    assert (loan.dpd, loan.asset_class, loan.status) == (17, "sma_0", "overdue")
    assert credit_line.amount_due_now(loan, DAY0 + timedelta(days=62)) == D("696.00")  # 198 + 498 still unpaid
    pay(loan, "198.00", DAY0 + timedelta(days=62), key="rest")
    assert first.paid_amount == D("498.00") and (loan.dpd, loan.status) == (0, "active")


def test_the_close_of_business_accrues_bills_and_ages_a_line_and_a_bounce_is_undone(db, clock):
    """The real close of business (portal/servicing/cob.py) and repayment service (services.py) around the line."""
    from portal.servicing import services
    from portal.servicing.cob import run_close_of_business

    inst = default_institution().id
    loan = line_with_drawdown(clock, "10000")
    database.session.commit()

    def close(days: int) -> None:
        from portal.business_date import current_business_date

        for _ in range(days):
            run_close_of_business(inst, current_business_date(inst, clock), now=clock.now(), requested_by="test")
        database.session.expire_all()

    close(31)  # 23 Nov .. 23 Dec: accrual from Day 1 (seed 004: not on the opening day), then the bill on day 30
    loan = database.session.get(Loan, loan.id)
    accrued = database.session.scalar(select(func.count(Accrual.id)).where(Accrual.loan_id == loan.id))
    assert accrued == 30 and loan.interest_receivable_amount == 30 * D("6.60")
    bill = statement_on(loan, DAY0 + timedelta(days=30))
    assert (bill.interest_amount, bill.minimum_due_amount, bill.due_on) == (
        D("198.00"), D("498.00"), date(2027, 1, 7))
    close(17)  # 24 Dec .. 9 Jan 2027; the books are now on 10 Jan
    loan = database.session.get(Loan, loan.id)
    assert loan.dpd == 2 and loan.status == "overdue"  # the close of business of 9 Jan: 2 days past 7 Jan
    payment = services.record_repayment(loan, amount=D("498.00"), idempotency_key="cl-pay-1", channel="officer",
                                        actor="system", clock=clock)
    database.session.commit()
    assert payment.status == "succeeded" and payment.allocation["current_interest"] == "198.00"
    loan = database.session.get(Loan, loan.id)
    assert (loan.dpd, loan.status) == (0, "active") and statement_on(loan, bill.billed_on).paid_amount == D("498.00")
    assert_ledger_agrees(loan)
    services.bounce_payment(payment, actor="system", clock=clock, reason="cheque returned")
    database.session.commit()
    loan = database.session.get(Loan, loan.id)
    assert statement_on(loan, bill.billed_on).paid_amount == 0
    assert loan.principal_outstanding_amount == D("10000.00")
    assert_ledger_agrees(loan)
    close(1)
    assert database.session.get(Loan, loan.id).dpd == 3  # 10 Jan - 7 Jan: due again
