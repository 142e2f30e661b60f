"""Term-loan repayments on PostgreSQL: allocation, the journal entry and the loan balances agreeing with the
ledger, prepayment shortening the tenure, closing, bounces (exact reversal, count, recovery eligibility),
idempotency, the statement, and the officer's pages."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.auth.services import default_institution
from portal.errors import DomainError
from portal.ledger.models import Account, JournalEntry, Posting
from portal.ledger.services import loan_account_balances
from portal.lending.schedule import amortization_schedule
from portal.notifications.models import Notification
from portal.servicing import services
from portal.servicing.models import LoanTransaction, Payment
from tests.conftest import csrf_token, post_form
from tests.factories import make_customer, make_loan, make_staff
from tests.servicing.payments_support import DAY0, assert_ledger_agrees, close_days, disbursed_loan

D = Decimal


def pay(loan, amount, clock, key: str | None = None, actor="test"):
    return services.record_repayment(loan, amount=D(amount), idempotency_key=key or f"k-{amount}-{loan.id}",
                                     channel="officer", actor=actor, clock=clock)


def received_notes(loan) -> dict[str, Notification]:
    """{channel: notification} of the one ``payment.received`` event written for ``loan``'s customer."""
    rows = services.db.session.scalars(select(Notification).where(Notification.customer_id == loan.customer_id,
                                                                  Notification.event == "payment.received")).all()
    assert len({n.channel for n in rows}) == len(rows)
    return {n.channel: n for n in rows}


def entry(reference: str) -> JournalEntry:
    return services.db.session.scalar(select(JournalEntry).where(JournalEntry.reference == reference))


def lines_of(reference: str) -> list[tuple[str, Decimal, Decimal, int | None]]:
    e = entry(reference)
    return sorted((p.account.code, p.debit_amount, p.credit_amount, p.loan_id) for p in e.postings)


# ---- one EMI -----------------------------------------------------------------------------------------------------
def test_an_emi_posts_one_balanced_entry_and_the_balances_equal_the_ledger(db, clock):
    loan = disbursed_loan(clock)
    first = loan.installments[0]
    emi, interest, principal = first.installment_amount, first.interest_amount, first.principal_amount
    assert (emi, interest, principal) == (D("8884.88"), D("1000.00"), D("7884.88"))

    payment = pay(loan, emi, clock, key="utr-1")
    db.session.commit()
    assert payment.status == "succeeded" and payment.received_on == DAY0 and payment.channel == "officer"
    parts = payment.allocation
    assert (parts["current_interest"], parts["current_principal"], parts["prepayment"]) == ("1000.00", "7884.88",
                                                                                            "0.00")
    # the current period's interest was paid before it accrued: accrued at once (Dr 1200 / Cr 4000)
    assert lines_of(f"accrual-catchup:{payment.id}") == [("1200", D("1000.00"), D("0"), loan.id),
                                                         ("4000", D("0"), D("1000.00"), loan.id)]
    assert lines_of(f"payment:{payment.id}") == [("1000", emi, D("0"), loan.id),
                                                 ("1100", D("0"), principal, loan.id),
                                                 ("1200", D("0"), interest, loan.id)]
    assert entry(f"payment:{payment.id}").kind == "repayment"
    db.session.refresh(loan)
    assert loan.principal_outstanding_amount == D("100000.00") - principal
    assert loan.interest_receivable_amount == 0 and loan.period_accrued_amount == loan.period_interest_amount
    assert first.paid_on == DAY0 and first.amount_due == 0 and loan.status == "active" and loan.dpd == 0
    balances = loan_account_balances(loan.institution_id, [Account.LOAN_PRINCIPAL, Account.INTEREST_RECEIVABLE])
    assert balances[(loan.id, Account.LOAN_PRINCIPAL)] == loan.principal_outstanding_amount
    assert balances[(loan.id, Account.INTEREST_RECEIVABLE)] == loan.interest_receivable_amount
    assert_ledger_agrees()
    txn = db.session.scalar(select(LoanTransaction).where(LoanTransaction.payment_id == payment.id))
    assert (txn.kind, txn.amount, txn.principal_amount, txn.interest_amount) == ("repayment", emi, principal, interest)
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "payment.succeeded"))
    assert audit.entity_id == str(payment.id) and audit.changes["allocation"]["current_principal"] == "7884.88"
    # the templated event payment.received: in-app and SMS (no email address on file), with the split
    notes = received_notes(loan)
    assert set(notes) == {"in_app", "sms"} and {n.category for n in notes.values()} == {"service"}
    assert notes["in_app"].customer_id == loan.customer_id and notes["in_app"].user_id == loan.customer.user_id
    assert notes["in_app"].body == (f"We received Rs 8,884.88 for loan {loan.id}: Rs 7,884.88 principal and "
                                    "Rs 1,000.00 interest.")
    assert notes["sms"].body == f"We received Rs 8,884.88 for loan {loan.id}. Thank you."


def test_a_part_payment_pays_interest_first_and_leaves_the_row_open(db, clock):
    loan = disbursed_loan(clock)
    payment = pay(loan, "1500.00", clock)
    db.session.commit()
    first = loan.installments[0]
    assert (first.interest_paid_amount, first.principal_paid_amount, first.paid_on) == (D("1000.00"), D("500.00"),
                                                                                        None)
    assert services.amount_due_now(loan, DAY0) == D("7384.88")
    assert payment.allocation["rows"] == [[1, "1000.00", "500.00"]]
    assert_ledger_agrees()


def test_overdue_dues_are_paid_before_the_current_instalment_and_the_loan_is_current_again(db, clock):
    loan = disbursed_loan(clock)
    as_of = close_days(33, clock)  # 23 Nov -> 26 Dec: the 23 Dec instalment is past due (2 DPD at the last close)
    db.session.refresh(loan)
    assert (as_of.isoformat(), loan.dpd, loan.status, loan.asset_class) == ("2026-12-26", 2, "overdue", "sma_0")
    first, second = loan.installments[0], loan.installments[1]
    assert loan.interest_receivable_amount > first.interest_amount  # the next period has started accruing
    due_now = services.amount_due_now(loan, as_of)
    assert due_now == first.installment_amount + second.installment_amount
    payment = pay(loan, first.installment_amount + D("100.00"), clock)
    db.session.commit()
    parts = payment.allocation
    assert (parts["overdue_interest"], parts["overdue_principal"]) == (str(first.interest_amount),
                                                                      str(first.principal_amount))
    assert (parts["current_interest"], parts["current_principal"]) == ("100.00", "0.00")
    db.session.refresh(loan)
    assert first.paid_on == as_of and loan.dpd == 0 and loan.status == "active" and loan.asset_class == "standard"
    # paying the current period's interest early accrued the rest of it at once
    assert loan.period_accrued_amount == loan.period_interest_amount == second.interest_amount
    assert loan.interest_receivable_amount == second.interest_amount - D("100.00")
    assert_ledger_agrees()


def test_interest_paid_out_of_suspense_is_recognised_as_income(db, clock):
    loan = disbursed_loan(clock)
    loan.asset_class, loan.status = "npa", "npa"  # as the close of business classifies it (borrower-wide)
    db.session.commit()
    payment = pay(loan, loan.installments[0].installment_amount, clock)
    db.session.commit()
    # the catch-up accrual of an NPA loan goes to suspense, and the interest paid comes out of it into income
    assert lines_of(f"accrual-catchup:{payment.id}") == [("1200", D("1000.00"), D("0"), loan.id),
                                                         ("2100", D("0"), D("1000.00"), loan.id)]
    assert ("2100", D("1000.00"), D("0"), loan.id) in lines_of(f"payment:{payment.id}")
    assert ("4000", D("0"), D("1000.00"), loan.id) in lines_of(f"payment:{payment.id}")
    db.session.refresh(loan)
    assert loan.interest_suspense_amount == 0 and payment.allocation["from_suspense"] == "1000.00"
    assert loan.status == "npa"  # the upgrade is the close of business's, not the payment's
    assert_ledger_agrees()


# ---- prepayment and closing ------------------------------------------------------------------------------------
def test_a_prepayment_regenerates_the_rows_with_the_same_emi_and_shortens_the_tenure(db, clock):
    loan = disbursed_loan(clock)
    emi, old_end = loan.monthly_installment, loan.end_on
    payment = pay(loan, emi + D("30000.00"), clock)
    db.session.commit()
    db.session.refresh(loan)
    assert payment.allocation["prepayment"] == "30000.00"
    rows = loan.installments
    assert len(rows) < 12 and loan.end_on < old_end and loan.end_on == rows[-1].due_on
    open_rows = [r for r in rows if r.paid_on is None]
    assert all(r.installment_amount == emi for r in open_rows[:-1]) and open_rows[-1].installment_amount <= emi
    assert sum((r.principal_amount for r in open_rows), D(0)) == loan.principal_outstanding_amount
    assert loan.principal_outstanding_amount == D("100000.00") - D("7884.88") - D("30000.00")
    assert [r.due_on for r in rows] == [r.due_on for r in amortization_schedule(D("100000"), D("12"), 12,
                                                                                DAY0)][:len(rows)]
    assert rows[0].balance_amount == loan.principal_outstanding_amount and open_rows[-1].balance_amount == 0
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "payment.succeeded"))
    assert audit.changes["end_on"] == [old_end.isoformat(), loan.end_on.isoformat()]
    assert_ledger_agrees()


def test_paying_everything_closes_the_loan(db, clock):
    loan = disbursed_loan(clock)
    payoff = D("100000.00") + loan.installments[0].interest_amount
    with pytest.raises(DomainError, match="more than loan"):
        pay(loan, payoff + D("0.01"), clock)
    db.session.rollback()
    pay(loan, payoff, clock)
    db.session.commit()
    db.session.refresh(loan)
    assert (loan.status, loan.closed_on, loan.principal_outstanding_amount, loan.interest_receivable_amount) == (
        "closed", DAY0, 0, 0)
    assert [r.seq for r in loan.installments] == [1] and loan.end_on == loan.installments[0].due_on
    assert received_notes(loan)["in_app"].body == (
        f"We received Rs 1,01,000.00 for loan {loan.id}: Rs 1,00,000.00 principal and Rs 1,000.00 interest. "
        "The loan is fully repaid and closed.")
    with pytest.raises(DomainError, match="closed") as refused:
        pay(loan, "1.00", clock, key="after-close")
    assert refused.value.http_status == 409
    assert_ledger_agrees()


# ---- bounces -----------------------------------------------------------------------------------------------------
def test_a_bounce_reverses_the_entry_exactly_and_counts(db, clock):
    loan = disbursed_loan(clock)
    payment = pay(loan, loan.monthly_installment, clock)
    db.session.commit()
    officer = make_staff("loan_officer")
    services.bounce_payment(payment, actor=officer, clock=clock, reason="Cheque returned: funds insufficient")
    db.session.commit()
    original, reversal = lines_of(f"payment:{payment.id}"), lines_of(f"reversal:{payment.id}")
    assert reversal == sorted((code, credit, debit, loan_id) for code, debit, credit, loan_id in original)
    assert entry(f"reversal:{payment.id}").kind == "reversal"
    db.session.refresh(loan)
    first = loan.installments[0]
    assert (payment.status, payment.bounced_on, payment.failure_reason) == (
        "bounced", DAY0, "Cheque returned: funds insufficient")
    assert (first.interest_paid_amount, first.principal_paid_amount, first.paid_on) == (0, 0, None)
    # the interest accrued at once stays accrued: the receivable holds it again
    assert loan.principal_outstanding_amount == D("100000.00") and loan.interest_receivable_amount == D("1000.00")
    assert loan.bounce_count == 1 and not services.recovery_eligible(loan)
    txn = db.session.scalar(select(LoanTransaction).where(LoanTransaction.kind == "reversal"))
    assert (txn.amount, txn.principal_amount, txn.interest_amount) == (loan.monthly_installment, D("7884.88"),
                                                                       D("1000.00"))
    bounced = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "payment.bounced"))
    assert bounced.actor_id == officer.id and bounced.changes["bounce_count"] == [0, 1]
    with pytest.raises(DomainError, match="only a succeeded payment"):
        services.bounce_payment(payment, actor=officer, clock=clock, reason="again")
    assert_ledger_agrees()


def test_two_bounces_make_the_loan_eligible_for_recovery(db, clock):
    loan = disbursed_loan(clock)
    for attempt in (1, 2):
        payment = pay(loan, loan.monthly_installment, clock, key=f"nach-{attempt}")
        services.bounce_payment(payment, actor="system", clock=clock, reason="Mandate returned")
        db.session.commit()
    db.session.refresh(loan)
    assert loan.bounce_count == 2 and services.recovery_eligible(loan)
    last = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "payment.bounced")
                              .order_by(AuditEvent.id)).all()[-1]
    assert last.changes["recovery_eligible"] is True
    assert_ledger_agrees()


def test_bouncing_a_prepayment_restores_the_schedule_and_a_closed_loan(db, clock):
    loan = disbursed_loan(clock)
    before = [(r.seq, r.due_on, r.principal_amount, r.interest_amount, r.balance_amount) for r in loan.installments]
    end_on = loan.end_on
    payment = pay(loan, D("100000.00") + D("1000.00"), clock)
    db.session.commit()
    assert loan.status == "closed" and len(loan.installments) == 1
    services.bounce_payment(payment, actor="system", clock=clock, reason="Returned")
    db.session.commit()
    db.session.refresh(loan)
    assert [(r.seq, r.due_on, r.principal_amount, r.interest_amount, r.balance_amount)
            for r in loan.installments] == before
    assert all(r.paid_on is None and r.principal_paid_amount == 0 for r in loan.installments)
    assert (loan.status, loan.closed_on, loan.end_on) == ("active", None, end_on)
    assert loan.principal_outstanding_amount == D("100000.00")
    assert_ledger_agrees()


def test_an_earlier_payment_bounces_under_a_later_prepayment_and_both_undo_exactly(db, clock):
    loan = disbursed_loan(clock)
    original = [(r.seq, r.due_on, r.principal_amount, r.interest_amount, r.balance_amount) for r in loan.installments]
    first = pay(loan, "1500.00", clock)                           # interest 1,000 + principal 500 of row 1
    second = pay(loan, D("7384.88") + D("20000.00"), clock)       # the rest of row 1 + a prepayment of 20,000
    db.session.commit()

    def principal_due_is_outstanding():
        db.session.refresh(loan)
        assert sum((r.principal_due for r in loan.installments), D(0)) == loan.principal_outstanding_amount

    principal_due_is_outstanding()
    services.bounce_payment(first, actor="system", clock=clock, reason="Returned")
    db.session.commit()
    principal_due_is_outstanding()
    row1 = loan.installments[0]
    assert (row1.interest_paid_amount, row1.principal_paid_amount, row1.paid_on) == (0, D("7384.88"), None)
    assert_ledger_agrees()
    services.bounce_payment(second, actor="system", clock=clock, reason="Returned")
    db.session.commit()
    principal_due_is_outstanding()
    assert [(r.seq, r.due_on, r.principal_amount, r.interest_amount, r.balance_amount)
            for r in loan.installments] == original
    assert all(r.principal_paid_amount == r.interest_paid_amount == 0 for r in loan.installments)
    assert loan.principal_outstanding_amount == D("100000.00") and loan.bounce_count == 2
    assert_ledger_agrees()


def test_a_prepayment_cannot_bounce_under_a_later_payment(db, clock):
    loan = disbursed_loan(clock)
    first = pay(loan, loan.monthly_installment + D("1000.00"), clock)
    pay(loan, "500.00", clock)
    db.session.commit()
    with pytest.raises(DomainError, match="first") as refused:
        services.bounce_payment(first, actor="system", clock=clock, reason="Returned")
    assert refused.value.http_status == 409


OPS = st.lists(st.one_of(st.tuples(st.just("pay"), st.integers(min_value=1, max_value=4_000_000)),
                         st.tuples(st.just("bounce"), st.integers(min_value=0, max_value=5)),
                         st.tuples(st.just("close"), st.integers(min_value=1, max_value=12))),
               min_size=1, max_size=7)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_property_random_payments_bounces_and_closes_keep_the_books_exact(db, clock, ops):
    """Any sequence of payments (paise), bounces and close-of-business days keeps: the unpaid principal of the
    rows == principal outstanding, nothing paid beyond a row, the receivable never negative, closed exactly
    at zero, and the ledger agreeing with every loan."""
    import uuid

    loan = disbursed_loan(clock)
    for op, value in ops:
        if op == "close":
            close_days(value, clock)
        elif op == "pay":
            db.session.refresh(loan)
            as_of = services.current_business_date(loan.institution_id, clock)
            limit = services.alloc_math.max_payable(services._dues(loan), as_of)
            if loan.status in ("active", "overdue", "npa") and limit > 0:
                pay(loan, min(D(value) / 100, limit), clock, key=uuid.uuid4().hex)
        else:
            succeeded = [p for p in db.session.scalars(select(Payment).where(Payment.loan_id == loan.id))
                         if p.status == "succeeded"]
            if succeeded:
                try:
                    services.bounce_payment(succeeded[value % len(succeeded)], actor="system", clock=clock,
                                            reason="Returned")
                except DomainError as exc:
                    assert exc.http_status == 409 and "bounced first" in exc.message
                    db.session.rollback()
        db.session.commit()
        db.session.refresh(loan)
        rows = loan.installments
        assert sum((r.principal_due for r in rows), D(0)) == loan.principal_outstanding_amount
        assert all(0 <= r.principal_paid_amount <= r.principal_amount and 0 <= r.interest_paid_amount
                   <= r.interest_amount and (r.paid_on is not None) == (r.amount_due == 0) for r in rows)
        assert loan.interest_receivable_amount >= 0
        closed = loan.principal_outstanding_amount == 0 and loan.interest_receivable_amount == 0
        assert (loan.status == "closed") == closed
        assert_ledger_agrees()


# ---- idempotency and refusals ------------------------------------------------------------------------------------
def test_the_same_key_returns_the_first_payment_unchanged(db, clock):
    loan = disbursed_loan(clock)
    first = pay(loan, "5000.00", clock, key="receipt-77")
    db.session.commit()
    again = pay(loan, "9999.00", clock, key="receipt-77")
    db.session.commit()
    assert again.id == first.id and again.amount == D("5000.00") and again.is_duplicate
    assert db.session.scalar(select(func.count(Payment.id))) == 1
    assert db.session.scalar(select(func.count(JournalEntry.id)).where(JournalEntry.kind == "repayment")) == 1
    assert db.session.scalar(select(func.count(LoanTransaction.id)).where(LoanTransaction.kind == "repayment")) == 1
    other = disbursed_loan(clock, customer=loan.customer)
    with pytest.raises(DomainError, match="another loan"):
        pay(other, "5000.00", clock, key="receipt-77")


@pytest.mark.parametrize(("amount", "message"), [("0", "more than zero"), ("-5", "more than zero"),
                                                 ("10.005", "two decimals")])
def test_bad_amounts_are_refused(db, clock, amount, message):
    loan = disbursed_loan(clock)
    with pytest.raises(DomainError, match=message):
        pay(loan, amount, clock)


def test_imported_book_loans_take_no_payments(db, clock):
    book = make_loan(make_customer())
    with pytest.raises(DomainError, match="not serviced"):
        pay(book, "100.00", clock)


# ---- the statement -----------------------------------------------------------------------------------------------
def test_the_statement_splits_principal_and_interest_and_lists_upcoming_dues(db, clock):
    loan = disbursed_loan(clock)
    pay(loan, loan.monthly_installment, clock)
    db.session.commit()
    st = services.statement(loan, DAY0)
    assert [(line.kind, line.principal, line.interest, line.principal_balance) for line in st.lines] == [
        ("disbursement", D("100000.00"), D("0.00"), D("100000.00")),
        ("repayment", D("7884.88"), D("1000.00"), D("92115.12"))]
    assert st.next_due.seq == 2 and st.next_due.amount == loan.installments[1].installment_amount
    assert len(st.upcoming) == 11 and st.principal_outstanding == D("92115.12")
    assert st.due_now == 0  # the current instalment is paid; the next one's period has not started
    # paying now is a prepayment: it is never booked as the next instalment's interest
    extra = pay(loan, "0.01", clock, key="one-paisa")
    assert (extra.allocation["current_interest"], extra.allocation["prepayment"]) == ("0.00", "0.01")
    assert st.totals["principal"] == D("92115.12")


# ---- the officer's pages -----------------------------------------------------------------------------------------
def test_officer_records_a_repayment_and_marks_it_bounced(client, db, clock, login_as):
    loan = disbursed_loan(clock)
    login_as(make_staff("loan_officer"))
    page = client.get(f"/staff/loans/{loan.id}/payments")
    assert page.status_code == 200 and "Record a repayment" in page.get_data(as_text=True)
    fragment = client.get(f"/staff/loans/{loan.id}/payments", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith(f'<section id="loan-{loan.id}-repayments"')
    assert f'hx-get="/staff/loans/{loan.id}/payments"' in client.get(f"/staff/loans/{loan.id}").get_data(as_text=True)

    form = {"amount": "8884.88", "reference": "UTR-0001"}
    refused = post_form(client, f"/staff/loans/{loan.id}/payments", form, page=f"/staff/loans/{loan.id}/payments",
                        headers={"HX-Request": "true"})
    assert refused.status_code == 422 and "Confirm that the money was received" in refused.get_data(as_text=True)
    done = post_form(client, f"/staff/loans/{loan.id}/payments", {**form, "confirm": "y"},
                     page=f"/staff/loans/{loan.id}/payments", headers={"HX-Request": "true"})
    assert done.status_code == 200 and done.headers["HX-Trigger"] == "loan-changed"
    assert "recorded" in done.get_data(as_text=True)
    payment = db.session.scalar(select(Payment))
    assert (payment.idempotency_key, payment.channel, payment.status) == ("officer:UTR-0001", "officer", "succeeded")
    # the same reference again records nothing new (plain form post: redirect with a flash)
    again = post_form(client, f"/staff/loans/{loan.id}/payments", {**form, "confirm": "y"},
                      page=f"/staff/loans/{loan.id}/payments")
    assert again.status_code == 303
    assert "already recorded" in client.get(again.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(select(func.count(Payment.id))) == 1
    too_much = post_form(client, f"/staff/loans/{loan.id}/payments",
                         {"amount": "500000", "reference": "UTR-2", "confirm": "y"},
                         page=f"/staff/loans/{loan.id}/payments")
    assert too_much.status_code == 422 and "more than loan" in too_much.get_data(as_text=True)

    bounced = post_form(client, f"/staff/payments/{payment.id}/bounce", {"reason": "Cheque returned"},
                        page=f"/staff/loans/{loan.id}/payments", headers={"HX-Request": "true"})
    assert bounced.status_code == 200 and "marked as bounced" in bounced.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "bounced"
    no_reason = post_form(client, f"/staff/payments/{payment.id}/bounce", {"reason": ""},
                          page=f"/staff/loans/{loan.id}/payments")
    assert no_reason.status_code == 422
    statement = client.get(f"/staff/loans/{loan.id}/statement").get_data(as_text=True)
    assert "Bounced payment reversed" in statement and "Rs 7,884.88" in statement
    assert_ledger_agrees()


def test_staff_pages_need_the_permission_and_the_institution(client, db, clock, login_as):
    loan = disbursed_loan(clock)
    login_as(make_staff("support"))
    assert client.get(f"/staff/loans/{loan.id}/payments").status_code == 403
    assert client.get(f"/staff/loans/{loan.id}/statement").status_code == 200
    other = _other_institution_officer()
    login_as(other)
    assert client.get(f"/staff/loans/{loan.id}/payments").status_code == 404
    assert client.get(f"/staff/loans/{loan.id}/statement").status_code == 404
    token = csrf_token(client, "/staff/applications")
    assert client.post(f"/staff/loans/{loan.id}/payments", data={"csrf_token": token, "amount": "1",
                                                                 "reference": "x", "confirm": "y"}).status_code == 404


def _other_institution_officer():
    from portal.auth.models import Institution
    from portal.extensions import db

    institution = Institution(slug="other-lender", name="Other lender")
    db.session.add(institution)
    db.session.flush()
    officer = make_staff("loan_officer")
    officer.institution_id = institution.id
    db.session.commit()
    assert officer.institution_id != default_institution().id
    return officer


def test_posting_loan_ids_are_on_every_repayment_line(db, clock):
    loan = disbursed_loan(clock)
    payment = pay(loan, "2000.00", clock)
    db.session.commit()
    loan_ids = db.session.scalars(select(Posting.loan_id).join(JournalEntry).where(
        JournalEntry.reference == f"payment:{payment.id}")).all()
    assert loan_ids and set(loan_ids) == {loan.id}
