"""Loan status override (seed 000) with maker-checker: an admin requests with a reason, another admin approves or
rejects; the maker never checks their own request (service and database); approval changes the status only:
balances, the schedule and the ledger trial balance stay the same."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from portal.audit.models import AuditEvent
from portal.auth.services import default_institution
from portal.ledger.services import trial_balance
from portal.lending.models import Loan
from portal.lending.override_models import LoanStatusOverride
from portal.lending.overrides import allowed_targets
from tests.auth.conftest import sign_in_elsewhere
from tests.conftest import post_form
from tests.factories import make_customer, make_loan, make_staff
from tests.servicing.cob_support import make_borrower, make_institution
from tests.servicing.payments_support import DAY0, assert_ledger_agrees, disbursed_loan

FAR = date(2099, 1, 1)


@pytest.fixture
def admins(client, app, db, login_as):
    """``(maker, checker, checker_client)``: two administrators; the maker is signed in on ``client``."""
    maker = login_as(make_staff("admin", email="maker@bank.test"))
    checker = make_staff("admin", email="checker@bank.test")
    db.session.commit()
    checker_client = app.test_client()
    sign_in_elsewhere(checker_client, checker)
    return maker, checker, checker_client


def book_loan() -> Loan:
    """An imported (book) loan: no balances, no ledger; still current (ends in 2027)."""
    customer = make_customer(salary="60000")
    return make_loan(customer, amount="200000", tenure=24, approved_on=date(2025, 6, 10), external_loan_id=42)


REASON = "Borrower repaid in full at the branch; book not updated"


def request(client, loan_id: int, to_status: str, reason: str = REASON):
    url = f"/staff/loans/{loan_id}/status-override"
    return post_form(client, url, {"to_status": to_status, "reason": reason}, page=url)


def decide(client, override_id: int, action: str, note: str = ""):
    return post_form(client, f"/admin/loan-overrides/{override_id}/decide", {"action": action, "note": note},
                     page="/admin/loan-overrides")


def overrides(db) -> list[LoanStatusOverride]:
    return db.session.scalars(select(LoanStatusOverride).order_by(LoanStatusOverride.id)).all()


def audit(db, action: str) -> list[AuditEvent]:
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def tb() -> list:
    return trial_balance(default_institution().id, FAR)


def balances(loan: Loan) -> tuple:
    return (loan.principal_outstanding_amount, loan.interest_receivable_amount, loan.interest_suspense_amount,
            [(i.seq, i.principal_amount, i.interest_amount, i.principal_paid_amount, i.interest_paid_amount)
             for i in loan.installments])


# ---- the maker-checker flow -------------------------------------------------------------------------------------
def test_book_loan_override_needs_a_second_admin_and_leaves_the_ledger_alone(client, db, clock, admins):
    maker, checker, checker_client = admins
    serviced = disbursed_loan(clock)  # the book has real postings too
    loan = book_loan()
    db.session.commit()
    before_tb, before_serviced = tb(), balances(serviced)

    page = client.get(f"/staff/loans/{loan.id}/status-override")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="closed"' in html and 'value="written_off"' in html and 'value="npa"' not in html

    r = request(client, loan.id, "closed")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/staff/loans/{loan.id}")
    db.session.refresh(loan)
    assert loan.status == "active"  # nothing changes before the checker
    (row,) = overrides(db)
    assert (row.status, row.maker_id, row.from_status, row.to_status) == ("pending", maker.id, "active", "closed")
    requested = audit(db, "loan_status_override.requested")[-1]
    assert requested.actor_id == maker.id and requested.changes["loan_status"] == ["active", "closed"]
    assert "repaid in full" in requested.note

    # the maker is not a checker: refused, nothing saved
    own = decide(client, row.id, "approve")
    assert own.status_code == 403 and "another administrator" in own.get_data(as_text=True)
    db.session.refresh(row)
    db.session.refresh(loan)
    assert row.status == "pending" and row.checker_id is None and loan.status == "active"
    assert "Your request" in client.get("/admin/loan-overrides").get_data(as_text=True)

    queue = checker_client.get("/admin/loan-overrides").get_data(as_text=True)
    assert f'id="override-{row.id}"' in queue and 'value="approve"' in queue
    ok = decide(checker_client, row.id, "approve", "Branch receipt seen")
    assert ok.status_code == 302
    db.session.refresh(loan)
    db.session.refresh(row)
    assert loan.status == "closed" and loan.closed_on == DAY0 and not loan.is_current(DAY0)
    assert (row.status, row.checker_id, row.checker_note) == ("approved", checker.id, "Branch receipt seen")
    changed = audit(db, "loan.status_overridden")[-1]
    assert changed.actor_id == checker.id and changed.entity_id == str(loan.id)
    assert changed.changes["status"] == ["active", "closed"] and changed.changes["closed_on"] == [None, "2026-11-23"]
    assert changed.changes["maker_id"] == maker.id
    assert audit(db, "loan_status_override.approved")[-1].changes["status"] == ["pending", "approved"]

    # status only: the trial balance and the serviced loan are as they were, and the ledger agrees
    db.session.expire_all()
    assert tb() == before_tb and balances(db.session.get(Loan, serviced.id)) == before_serviced
    assert_ledger_agrees()
    # decided once: a second decision is a conflict
    assert decide(checker_client, row.id, "reject", "too late").status_code == 409


def test_the_database_refuses_a_checker_who_is_the_maker(db, admins):
    maker, _checker, _ = admins
    loan = book_loan()
    row = LoanStatusOverride(institution_id=loan.institution_id, loan_id=loan.id, from_status="active",
                             to_status="closed", reason="direct insert", maker_id=maker.id,
                             requested_at=default_institution().created_at, status="approved", checker_id=maker.id)
    db.session.add(row)
    with pytest.raises(IntegrityError, match="checker_is_not_maker"):
        db.session.flush()
    db.session.rollback()


def test_the_database_keeps_one_pending_request_per_loan(db, admins):
    maker, _checker, _ = admins
    loan = book_loan()
    for _ in range(2):
        db.session.add(LoanStatusOverride(institution_id=loan.institution_id, loan_id=loan.id, from_status="active",
                                          to_status="closed", reason="direct insert", maker_id=maker.id,
                                          requested_at=default_institution().created_at, status="pending"))
    with pytest.raises(IntegrityError, match="one_pending"):
        db.session.flush()
    db.session.rollback()


def test_reject_needs_a_note_and_leaves_the_loan(client, db, admins):
    maker, checker, checker_client = admins
    loan = book_loan()
    db.session.commit()
    request(client, loan.id, "written_off")
    (row,) = overrides(db)
    no_note = decide(checker_client, row.id, "reject")
    assert no_note.status_code == 422 and "why you reject" in no_note.get_data(as_text=True)
    db.session.refresh(row)
    assert row.status == "pending"
    assert decide(checker_client, row.id, "reject", "No write-off approval on file").status_code == 302
    db.session.refresh(row)
    db.session.refresh(loan)
    assert row.status == "rejected" and row.checker_id == checker.id and loan.status == "active"
    assert audit(db, "loan_status_override.rejected")[-1].note == "No write-off approval on file"
    assert audit(db, "loan.status_overridden") == []
    # rejected: a new request may be made
    assert request(client, loan.id, "closed").status_code == 302


def test_a_second_request_while_one_is_pending_is_409(client, db, admins):
    loan = book_loan()
    db.session.commit()
    assert request(client, loan.id, "closed").status_code == 302
    again = request(client, loan.id, "written_off")
    assert again.status_code == 409 and "already has a status override" in again.get_data(as_text=True)
    assert len(overrides(db)) == 1


@pytest.mark.parametrize(("to_status", "reason", "status"), [
    ("closed", "too short", 422),          # a reason of at least 10 characters
    ("closed", "", 422),
    ("active", "It is active already, says the book", 422),   # not a change
    ("npa", "Classify as NPA by judgement", 422),             # not a book-loan status
    ("frozen", "There is no frozen loan status", 422),
])
def test_bad_requests_are_422_and_save_nothing(client, db, admins, to_status, reason, status):
    loan = book_loan()
    db.session.commit()
    r = request(client, loan.id, to_status, reason)
    assert r.status_code == status
    assert overrides(db) == [] and audit(db, "loan_status_override.requested") == []


# ---- serviced loans: status follows balances -------------------------------------------------------------------
@pytest.mark.parametrize("to_status", ["closed", "written_off", "npa", "overdue"])
def test_a_serviced_loan_with_a_balance_cannot_be_overridden(client, db, clock, admins, to_status):
    loan = disbursed_loan(clock)
    before_tb, before = tb(), balances(loan)
    r = request(client, loan.id, to_status, "Customer says it was paid elsewhere")
    assert r.status_code == 422
    assert "balance" in r.get_data(as_text=True) or "follows its balances" in r.get_data(as_text=True)
    db.session.expire_all()
    loan = db.session.get(Loan, loan.id)
    assert loan.status == "active" and overrides(db) == []
    assert tb() == before_tb and balances(loan) == before


def _paid_off_but_left_open(clock) -> Loan:
    """A serviced loan repaid in full through the servicing services (the ledger has the disbursement and the
    repayment), whose status was then left active (what an override is for: the balances say closed)."""
    from portal.business_date import current_business_date
    from portal.extensions import db
    from portal.servicing import allocation, services

    loan = disbursed_loan(clock)
    as_of = current_business_date(loan.institution_id, clock)
    payoff = allocation.max_payable(services._dues(loan), as_of)
    services.record_repayment(loan, amount=payoff, idempotency_key="payoff-1", channel="officer", actor="test",
                              clock=clock)
    db.session.commit()
    db.session.refresh(loan)
    assert loan.principal_outstanding_amount == 0 and loan.interest_receivable_amount == 0
    db.session.execute(text("UPDATE loans SET status = 'active', closed_on = NULL WHERE id = :id"), {"id": loan.id})
    db.session.commit()
    db.session.refresh(loan)
    return loan


def test_a_serviced_loan_with_nothing_to_pay_is_closed_by_override_and_the_ledger_does_not_move(client, db, clock,
                                                                                             admins):
    _maker, checker, checker_client = admins
    loan = _paid_off_but_left_open(clock)
    assert allowed_targets(loan) == ["closed"]
    before_tb, before = tb(), balances(loan)
    entries = db.session.scalar(text("SELECT count(*) FROM journal_entries"))
    assert request(client, loan.id, "closed", "Repaid in full on disbursement day").status_code == 302
    (row,) = overrides(db)
    assert decide(checker_client, row.id, "approve").status_code == 302
    db.session.expire_all()
    loan = db.session.get(Loan, loan.id)
    assert loan.status == "closed" and loan.closed_on == DAY0
    assert tb() == before_tb and balances(loan) == before
    assert db.session.scalar(text("SELECT count(*) FROM journal_entries")) == entries
    assert_ledger_agrees()


def test_a_loan_that_changed_since_the_request_is_not_overridden(client, db, clock, admins):
    _maker, _checker, checker_client = admins
    loan = _paid_off_but_left_open(clock)
    request(client, loan.id, "closed", "Repaid in full on disbursement day")
    (row,) = overrides(db)
    db.session.execute(text("UPDATE loans SET status = 'overdue' WHERE id = :id"), {"id": loan.id})
    db.session.commit()
    r = decide(checker_client, row.id, "approve")
    assert r.status_code == 409 and "changed since the request" in r.get_data(as_text=True)
    db.session.refresh(row)
    assert row.status == "pending" and audit(db, "loan.status_overridden") == []


def test_credit_lines_and_closed_serviced_loans_have_no_override():
    line = Loan(serviced=True, kind="credit_line", status="active", principal_outstanding_amount=Decimal("0.00"),
                interest_receivable_amount=Decimal("0.00"), interest_suspense_amount=Decimal("0.00"))
    closed = Loan(serviced=True, kind="term_loan", status="closed", principal_outstanding_amount=Decimal("0.00"),
                  interest_receivable_amount=Decimal("0.00"), interest_suspense_amount=Decimal("0.00"))
    written_off = Loan(serviced=False, kind="term_loan", status="written_off")
    assert allowed_targets(line) == [] and allowed_targets(closed) == []
    assert allowed_targets(written_off) == ["active", "closed"]


# ---- who may -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["loan_officer", "risk_officer", "support", "collections"])
def test_only_admins_override(client, db, app, login_as, role):
    maker = make_staff("admin")
    loan = book_loan()
    db.session.commit()
    admin_client = app.test_client()
    sign_in_elsewhere(admin_client, maker)
    request(admin_client, loan.id, "closed")
    (row,) = overrides(db)
    login_as(make_staff(role))
    assert client.get(f"/staff/loans/{loan.id}/status-override").status_code == 403
    assert client.get("/admin/loan-overrides").status_code == 403
    assert request(client, loan.id, "written_off").status_code == 403
    assert decide(client, row.id, "approve").status_code == 403
    db.session.refresh(row)
    db.session.refresh(loan)
    assert row.status == "pending" and loan.status == "active"
    assert "status-override" not in client.get(f"/staff/loans/{loan.id}").get_data(as_text=True)


def test_another_institutions_loan_and_request_are_404(client, db, app, admins):
    _maker, _checker, checker_client = admins
    bank = make_institution("otherbank")
    stranger_admin = make_staff("admin", email="x@other.test")
    stranger_admin.institution_id = bank.id
    their_loan = make_loan(make_borrower(bank), amount="50000")
    db.session.commit()
    assert client.get(f"/staff/loans/{their_loan.id}/status-override").status_code == 404
    assert client.get(f"/staff/loans/{their_loan.id}/status-override/panel").status_code == 404
    assert request(client, their_loan.id, "closed").status_code == 404
    # their admin's request is invisible to ours
    theirs = app.test_client()
    sign_in_elsewhere(theirs, stranger_admin)
    assert request(theirs, their_loan.id, "closed").status_code == 302
    (row,) = overrides(db)
    assert f"override-{row.id}" not in checker_client.get("/admin/loan-overrides").get_data(as_text=True)
    assert decide(checker_client, row.id, "approve").status_code == 404
    db.session.refresh(row)
    assert row.status == "pending"


def test_the_loan_page_panel_and_navigation(client, db, admins):
    loan = book_loan()
    db.session.commit()
    page = client.get(f"/staff/loans/{loan.id}").get_data(as_text=True)
    assert f"/staff/loans/{loan.id}/status-override/panel" in page
    assert ">Loan overrides<" in page
    panel = client.get(f"/staff/loans/{loan.id}/status-override/panel", headers={"HX-Request": "true"})
    html = panel.get_data(as_text=True)
    assert panel.status_code == 200 and f'id="loan-{loan.id}-status-override"' in html and "<html" not in html
    assert "Request a status override" in html
    request(client, loan.id, "written_off")
    html = client.get(f"/staff/loans/{loan.id}/status-override/panel").get_data(as_text=True)
    assert "Waiting for a checker" in html and "Written off" in html
    assert db.session.scalar(select(func.count()).select_from(LoanStatusOverride)) == 1
