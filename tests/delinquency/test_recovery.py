"""Recovery (seed 000) and write-off under maker-checker: who qualifies, completion as a repayment on the book
or as recoveries income after a write-off, the write-off's balanced entry, and the ledger check still agreeing
(trial balance zero) after each."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal.audit.models import AuditEvent
from portal.delinquency import services
from portal.delinquency.models import RecoveryAction, RecoveryCase, WriteOff
from portal.errors import DomainError, PermissionDenied
from portal.ledger.check import check_ledger
from portal.ledger.models import JournalEntry
from portal.ledger.services import trial_balance
from portal.lending.models import Loan
from portal.servicing.models import LoanTransaction, Payment
from tests.delinquency.conftest import books_on, bounced_loan, inst_id, npa_loan
from tests.factories import make_disbursed_loan
from tests.servicing.payments_support import assert_ledger_agrees

ZERO = Decimal("0.00")


def _ledger_ok():
    assert_ledger_agrees()
    balances = trial_balance(inst_id(), date(2099, 1, 1))
    assert sum((b.debit for b in balances), ZERO) == sum((b.credit for b in balances), ZERO)
    assert sum((b.balance for b in balances), ZERO) == ZERO
    assert check_ledger(inst_id(), date(2099, 1, 1)).ok


def _lines(db, reference):
    entry = db.session.scalar(select(JournalEntry).where(JournalEntry.reference == reference))
    assert entry is not None, reference
    return sorted((p.account.code, p.debit_amount, p.credit_amount) for p in entry.postings)


def _count(db, model, *where):
    return db.session.scalar(select(func.count(model.id)).where(*where))


# ---- who qualifies ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bounces", [0, 1])
def test_recovery_is_refused_for_a_loan_that_does_not_qualify(db, clock, staff, bounces):
    loan = bounced_loan(clock, bounces) if bounces else make_disbursed_loan(clock)
    db.session.commit()
    assert services.qualifies_for_recovery(loan) is None
    with pytest.raises(DomainError) as err:
        services.initiate_recovery(loan, actor=staff["collections"], clock=clock)
    db.session.rollback()
    assert err.value.http_status == 409
    assert "does not qualify for recovery" in err.value.message and f"it has {bounces}" in err.value.message
    assert _count(db, RecoveryCase) == 0


def test_two_bounces_qualify_and_a_double_click_opens_one_case(db, clock, staff):
    loan = bounced_loan(clock, 2)
    assert (loan.bounce_count, loan.asset_class) == (2, "standard")
    first = services.initiate_recovery(loan, actor=staff["collections"], clock=clock)
    again = services.initiate_recovery(loan, actor=staff["collections"], clock=clock)
    db.session.commit()
    assert first.id == again.id and first.reason == "bounces" and first.status == "open"
    assert _count(db, RecoveryCase) == 1
    assert _count(db, AuditEvent, AuditEvent.action == "recovery.initiated") == 1


def test_an_npa_loan_qualifies_and_actions_are_logged_on_its_case(db, clock, staff):
    loan = npa_loan(clock)
    assert loan.asset_class == "npa" and loan.dpd == 95 and (loan.bounce_count or 0) == 0
    case = services.initiate_recovery(loan, actor=staff["collections"], clock=clock)
    action = services.log_action(loan, kind="call", outcome="promised", note="Will pay on the 5th",
                                 actor=staff["collections"], clock=clock)
    offer = services.log_action(loan, kind="settlement_offer", outcome="offer_made", note="One-time settlement",
                                offer_amount=Decimal("60000.00"), actor=staff["collections"], clock=clock)
    db.session.commit()
    assert case.reason == "npa" and action.case_id == case.id and offer.offer_amount == Decimal("60000.00")
    for kind, outcome, amount, message in (("call", "teleported", None, "outcome"),
                                           ("email", "contacted", None, "what was done"),
                                           ("settlement_offer", "offer_made", None, "needs the amount"),
                                           ("settlement_offer", "offer_made", Decimal("-1"), "more than zero"),
                                           ("settlement_offer", "offer_made", Decimal("999999"), "more than"),
                                           ("call", "contacted", Decimal("5"), "Only a settlement offer")):
        with pytest.raises(DomainError) as err:
            services.log_action(loan, kind=kind, outcome=outcome, note="x", offer_amount=amount,
                                actor=staff["collections"], clock=clock)
        assert message in err.value.message
        db.session.rollback()
    assert _count(db, RecoveryAction) == 2


# ---- completing a recovery on a loan still on the book: a repayment -------------------------------------------
def test_recovery_on_a_loan_not_written_off_is_a_repayment(db, clock, staff):
    loan = npa_loan(clock)
    case = services.initiate_recovery(loan, actor=staff["collections"], clock=clock)
    db.session.commit()
    principal_before, interest_before = loan.principal_outstanding_amount, loan.interest_receivable_amount
    owed = principal_before + interest_before

    with pytest.raises(DomainError) as err:  # more than the loan owes: refused, nothing saved
        services.complete_recovery(case, amount=owed * 2, actor=staff["collections"], clock=clock)
    db.session.rollback()
    assert err.value.http_status == 422 and "more than loan" in err.value.message
    assert db.session.get(RecoveryCase, case.id).status == "open" and _count(db, Payment) == 0

    done = services.complete_recovery(case, amount=Decimal("20000.00"), actor=staff["collections"], clock=clock)
    twice = services.complete_recovery(case, amount=Decimal("20000.00"), actor=staff["collections"], clock=clock)
    db.session.commit()
    assert done.id == twice.id and (done.status, done.completion) == ("recovered", "repayment")
    payment = db.session.get(Payment, done.payment_id)
    assert (payment.idempotency_key, payment.status, payment.amount) == (f"recovery:{case.id}", "succeeded",
                                                                         Decimal("20000.00"))
    assert _count(db, Payment) == 1
    loan = db.session.get(Loan, loan.id)
    # overdue interest first (out of suspense, recognised as income), then principal
    assert loan.interest_receivable_amount < interest_before
    assert loan.principal_outstanding_amount + loan.interest_receivable_amount == owed - Decimal("20000.00")
    lines = _lines(db, f"payment:{payment.id}")
    assert ("1000", Decimal("20000.00"), ZERO) in lines
    assert not any(code == "4200" for code, _, _ in lines)  # not recoveries income: the loan is on the book
    assert _count(db, AuditEvent, AuditEvent.action == "recovery.completed") == 1
    _ledger_ok()


# ---- write-off: maker-checker ----------------------------------------------------------------------------------
def _proposed(db, clock, staff, maker="collections"):
    loan = npa_loan(clock)
    services.initiate_recovery(loan, actor=staff[maker], clock=clock)
    proposal = services.propose_write_off(loan, reason="Borrower untraceable for 90 days", actor=staff[maker],
                                          clock=clock)
    db.session.commit()
    return db.session.get(Loan, loan.id), proposal


def test_a_write_off_needs_an_open_recovery_case(db, clock, staff):
    loan = npa_loan(clock)
    with pytest.raises(DomainError) as err:
        services.propose_write_off(loan, reason="no hope", actor=staff["collections"], clock=clock)
    db.session.rollback()
    assert err.value.http_status == 409 and "initiate recovery" in err.value.message
    assert _count(db, WriteOff) == 0


def test_the_maker_cannot_check_their_own_write_off(db, clock, staff):
    loan, proposal = _proposed(db, clock, staff, maker="admin")  # an admin may make and check, never both
    again = services.propose_write_off(loan, reason="again", actor=staff["admin"], clock=clock)
    assert again.id == proposal.id and _count(db, WriteOff) == 1  # a double click proposes once
    for attempt in (services.approve_write_off, ):
        with pytest.raises(PermissionDenied) as err:
            attempt(proposal, actor=staff["admin"], clock=clock)
        assert err.value.http_status == 403
    with pytest.raises(PermissionDenied):
        services.reject_write_off(proposal, actor=staff["admin"], clock=clock, note="no")
    with pytest.raises(PermissionDenied):  # a collections officer is never a checker
        services.approve_write_off(proposal, actor=staff["collections"], clock=clock)
    db.session.rollback()
    assert db.session.get(WriteOff, proposal.id).status == "proposed"
    assert db.session.get(Loan, loan.id).status == "npa"
    assert _count(db, JournalEntry, JournalEntry.kind == "write_off") == 0
    # and the database refuses it too
    proposal = db.session.get(WriteOff, proposal.id)
    proposal.checked_by_id = proposal.proposed_by_id
    with pytest.raises(IntegrityError, match="maker_is_not_checker"):
        db.session.flush()
    db.session.rollback()


def test_write_off_posts_a_balanced_entry_and_takes_the_loan_off_the_book(db, clock, staff):
    loan, proposal = _proposed(db, clock, staff)
    principal, interest, suspense = (loan.principal_outstanding_amount, loan.interest_receivable_amount,
                                     loan.interest_suspense_amount)
    assert principal > 0 and interest > 0 and suspense == interest  # NPA: the receivable is held in suspense
    approved = services.approve_write_off(proposal, actor=staff["risk_officer"], clock=clock, note="agreed")
    twice = services.approve_write_off(proposal, actor=staff["risk_officer"], clock=clock)
    db.session.commit()
    assert approved.id == twice.id and approved.status == "approved"
    assert (approved.principal_amount, approved.interest_amount, approved.suspense_amount) == (principal, interest,
                                                                                                suspense)
    assert approved.checked_by_id == staff["risk_officer"].id != approved.proposed_by_id
    assert _count(db, JournalEntry, JournalEntry.reference == f"write-off:{loan.id}") == 1
    assert _lines(db, f"write-off:{loan.id}") == sorted([
        ("5000", principal, ZERO), ("2100", suspense, ZERO), ("1100", ZERO, principal), ("1200", ZERO, interest)])
    loan = db.session.get(Loan, loan.id)
    assert (loan.status, loan.principal_outstanding_amount, loan.interest_receivable_amount,
            loan.interest_suspense_amount, loan.closed_on) == ("written_off", ZERO, ZERO, ZERO, books_on())
    assert _count(db, LoanTransaction, LoanTransaction.kind == "write_off") == 1
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"write_off.proposed", "write_off.approved", "loan.written_off"} <= actions
    _ledger_ok()
    # the close of business leaves a written-off loan alone (no accrual, no re-ageing) and still agrees
    from tests.servicing.payments_support import close_days

    close_days(2, clock)
    loan = db.session.get(Loan, loan.id)
    assert (loan.status, loan.interest_receivable_amount) == ("written_off", ZERO)
    _ledger_ok()


def test_recovery_after_a_write_off_is_income_capped_at_what_was_written_off(db, clock, staff):
    loan, proposal = _proposed(db, clock, staff)
    services.approve_write_off(proposal, actor=staff["risk_officer"], clock=clock)
    db.session.commit()
    proposal = db.session.get(WriteOff, proposal.id)
    case = services.open_case(loan.id)
    assert services.recoverable_after_write_off(db.session.get(Loan, loan.id)) == proposal.total_amount
    for bad, status in ((proposal.total_amount + Decimal("0.01"), 422), (Decimal("-10.00"), 422),
                        (Decimal("0"), 422)):
        with pytest.raises(DomainError) as err:
            services.complete_recovery(case, amount=bad, actor=staff["collections"], clock=clock)
        db.session.rollback()
        assert err.value.http_status == status
    assert db.session.get(RecoveryCase, case.id).status == "open"
    assert _count(db, JournalEntry, JournalEntry.kind == "recovery") == 0

    done = services.complete_recovery(case, amount=Decimal("15000.00"), actor=staff["collections"], clock=clock)
    services.complete_recovery(case, amount=Decimal("15000.00"), actor=staff["collections"], clock=clock)
    db.session.commit()
    assert (done.status, done.completion, done.recovered_amount) == ("recovered", "recovery", Decimal("15000.00"))
    assert _lines(db, f"recovery:{case.id}") == [("1000", Decimal("15000.00"), ZERO),
                                                 ("4200", ZERO, Decimal("15000.00"))]
    assert _count(db, JournalEntry, JournalEntry.kind == "recovery") == 1
    assert _count(db, Payment) == 0  # not a repayment: the loan has left the book
    loan = db.session.get(Loan, loan.id)
    assert loan.principal_outstanding_amount == ZERO and loan.status == "written_off"
    # a later case on the written-off loan can recover only what is left
    later = services.initiate_recovery(loan, actor=staff["collections"], clock=clock)
    assert later.reason == "written_off"
    left = proposal.total_amount - Decimal("15000.00")
    assert services.recoverable_after_write_off(loan) == left
    with pytest.raises(DomainError):
        services.complete_recovery(later, amount=left + Decimal("0.01"), actor=staff["collections"], clock=clock)
    db.session.rollback()
    _ledger_ok()


def test_a_rejected_write_off_leaves_the_loan_on_the_book(db, clock, staff):
    loan, proposal = _proposed(db, clock, staff)
    with pytest.raises(DomainError) as err:
        services.reject_write_off(proposal, actor=staff["admin"], clock=clock, note="  ")
    assert err.value.http_status == 422
    db.session.rollback()
    rejected = services.reject_write_off(db.session.get(WriteOff, proposal.id), actor=staff["admin"], clock=clock,
                                         note="Collateral still to be enforced")
    db.session.commit()
    assert rejected.status == "rejected" and rejected.checked_by_id == staff["admin"].id
    with pytest.raises(DomainError) as err:
        services.approve_write_off(rejected, actor=staff["risk_officer"], clock=clock)
    assert err.value.http_status == 409
    db.session.rollback()
    assert db.session.get(Loan, loan.id).status == "npa"
    # a new proposal may follow the rejected one
    again = services.propose_write_off(db.session.get(Loan, loan.id), reason="Now untraceable",
                                       actor=staff["collections"], clock=clock)
    db.session.commit()
    assert again.id != proposal.id and again.status == "proposed"
    _ledger_ok()
