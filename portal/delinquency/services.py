"""Collections and recovery services (issue 6 item 2, seed 000). Services flush and audit; the caller (a view or
a job) commits once. Every money change locks the loan row first (``SELECT ... FOR UPDATE``).

Rules chosen here (and why)
---------------------------
* **Who qualifies for recovery** (seed 000): a loan whose payments bounced twice or more
  (``servicing.services.recovery_eligible``), or an NPA loan (asset class or status ``npa``); a written-off
  loan stays recoverable. Anything else is refused with 409 and the reason.
* **Completing a recovery on a loan that is not written off** is money from the borrower against a loan that is
  still on the book: it is a repayment, recorded with ``servicing.services.record_repayment`` (channel
  ``officer``, idempotency key ``recovery:<case id>``), allocated like any payment (overdue interest and
  principal first) and posted Dr 1000 / Cr 1200, 1100 (+ suspense released to income). It cannot exceed what
  the loan owes today (422).
* **Completing a recovery on a written-off loan** is income: Dr 1000 cash / Cr 4200 recoveries of written-off
  loans (reference ``recovery:<case id>``), at most what was written off less what earlier cases recovered
  (422 above that). The loan's balances stay zero.
* **Write-off** (maker-checker): a collections officer proposes on a loan with an open recovery case (maker);
  a risk officer or admin who is not the maker approves (checker; 403 for the maker, and the database check
  ``ck_write_offs_maker_is_not_checker``). Approval posts one entry (reference ``write-off:<loan id>``, unique,
  so a double click posts once): Dr 5000 / Cr 1100 the principal outstanding; the interest receivable is
  credited to 1200, its part held in suspense (NPA, RBI IRAC) debited to 2100 and the rest (recognised as
  income before the loan was NPA) to 5000. The loan leaves the book: status ``written_off``, principal,
  receivable and suspense zero (the ledger check still agrees), out of the close of business.
* **Promise to pay**: kept when succeeded payments received on business dates from the day it was made to the
  promised date cover the promised amount; broken when the promised date has passed without that
  (``aging.promise_outcome``). ``evaluate_promises`` runs daily (``jobs.delinquency.evaluate_promises_daily``)
  and raises the ``promise_to_pay_broken`` alert once per broken promise (on the open -> broken change). A
  payment that later bounces does not reopen a promise already marked kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from portal.audit.services import record
from portal.business_date import current_business_date
from portal.delinquency import aging
from portal.delinquency.models import (
    ACTION_KINDS,
    ACTION_OUTCOMES,
    CollectionAssignment,
    PromiseToPay,
    RecoveryAction,
    RecoveryCase,
    WriteOff,
)
from portal.errors import DomainError, NotFound, PermissionDenied
from portal.extensions import db
from portal.ledger.models import Account
from portal.ledger.services import Line, paise_sum, post, rupees
from portal.lending.models import Loan
from portal.lending.states import LoanStatus
from portal.money import as_decimal, format_inr, quantize
from portal.security import Perm, Role, has_permission
from portal.servicing import services as servicing
from portal.servicing.models import LoanTransaction, Payment

ZERO = Decimal("0.00")
OPEN_STATUSES = (LoanStatus.ACTIVE.value, LoanStatus.OVERDUE.value, LoanStatus.NPA.value)
#: who evaluates promises in the audit trail
PROMISE_JOB_ACTOR = "promise-evaluation"
#: how far ahead a promise may be dated (days)
MAX_PROMISE_DAYS = 90

__all__ = ["LoanPosition", "MAX_PROMISE_DAYS", "approve_write_off", "assign_collector", "collectors",
           "complete_recovery", "evaluate_promises", "initiate_recovery", "institution_case", "institution_loan",
           "institution_write_off", "log_action",
           "loan_position", "open_case", "paid_since", "propose_write_off", "qualifies_for_recovery",
           "record_promise", "recoverable_after_write_off", "reject_write_off"]


# ---- loading and small helpers ---------------------------------------------------------------------------------
def institution_loan(institution_id: int, loan_id: int) -> Loan:
    """The serviced loan ``loan_id`` of ``institution_id``; NotFound (404) for a loan of another institution, an
    unknown id, or a loan imported from the book (not serviced in the portal)."""
    loan = db.session.get(Loan, loan_id)
    if loan is None or loan.institution_id != institution_id or not loan.serviced:
        raise NotFound("No such loan.")
    return loan


def _locked(loan: Loan) -> Loan:
    """``loan`` re-read under a row lock with fresh balances."""
    return db.session.get(Loan, loan.id, with_for_update=True, populate_existing=True)


def _clean_amount(amount, what: str = "amount") -> Decimal:
    """Decimal rupees > 0 with at most two decimals; DomainError (422) otherwise."""
    try:
        value = as_decimal(amount, what)
    except (TypeError, ValueError):
        raise DomainError(f"The {what} is not a valid amount in rupees.") from None
    if value <= 0:
        raise DomainError(f"The {what} must be more than zero.")
    if quantize(value) != value:
        raise DomainError(f"The {what} must be in rupees and paise (at most two decimals).")
    return value


def _clean_text(value: str | None, limit: int) -> str | None:
    value = (value or "").strip()
    return value[:limit] or None


def _check_open(loan: Loan) -> None:
    if loan.status not in OPEN_STATUSES:
        raise DomainError(f"Loan {loan.id} is {loan.status.replace('_', ' ')}: it is not being collected.", 409)


def open_case(loan_id: int) -> RecoveryCase | None:
    """The loan's open recovery case, if any."""
    return db.session.scalar(select(RecoveryCase).where(RecoveryCase.loan_id == loan_id,
                                                        RecoveryCase.status == "open"))


def _actor_id(actor) -> int | None:
    return getattr(actor, "id", None)


# ---- the collections screen ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoanPosition:
    """What a delinquent loan owes on business date ``as_of`` (Decimal rupees): the overdue principal and
    interest (instalments due before ``as_of``; credit lines: the unpaid minimum due), what is due now, and the
    balances."""

    as_of: date
    overdue_principal: Decimal
    overdue_interest: Decimal
    overdue_instalments: int
    due_now: Decimal
    principal_outstanding: Decimal
    interest_receivable: Decimal
    interest_suspense: Decimal

    @property
    def overdue_total(self) -> Decimal:
        return self.overdue_principal + self.overdue_interest

    @property
    def total_outstanding(self) -> Decimal:
        return self.principal_outstanding + self.interest_receivable


def loan_position(loan: Loan, as_of: date) -> LoanPosition:
    """The overdue amounts and balances of ``loan`` on ``as_of`` (see LoanPosition)."""
    overdue = [i for i in loan.installments if i.amount_due > 0 and i.due_on < as_of]
    open_loan = loan.status in OPEN_STATUSES
    due_now = servicing.amount_due_now(loan, as_of) if open_loan else ZERO
    principal = sum((i.principal_due for i in overdue), ZERO)
    interest = sum((i.interest_due for i in overdue), ZERO)
    if loan.kind == "credit_line":
        principal, interest = ZERO, ZERO
    return LoanPosition(as_of=as_of, overdue_principal=principal if open_loan else ZERO,
                        overdue_interest=interest if open_loan else ZERO,
                        overdue_instalments=len(overdue) if open_loan else 0, due_now=due_now,
                        principal_outstanding=loan.principal_outstanding_amount,
                        interest_receivable=loan.interest_receivable_amount,
                        interest_suspense=loan.interest_suspense_amount)


def collectors(institution_id: int) -> list:
    """The active collections officers of the institution (Users, by name): who a loan may be assigned to."""
    from portal.auth.models import User

    return list(db.session.scalars(select(User).where(User.institution_id == institution_id,
                                                      User.role == Role.COLLECTIONS.value,
                                                      User.status == "active").order_by(User.display_name)))


def assign_collector(loan: Loan, collector_id: int | None, *, actor, now: datetime) -> CollectionAssignment | None:
    """Assign ``loan`` to the collections officer ``collector_id`` (None: unassign). Returns the assignment
    (None when unassigned). DomainError 422 when the user is not an active collections officer of the loan's
    institution; 409 for a loan that is not open. Audited (``collection.assigned``)."""
    from portal.auth.models import User

    _check_open(loan)
    current = db.session.scalar(select(CollectionAssignment).where(CollectionAssignment.loan_id == loan.id))
    old = current.collector_id if current else None
    if collector_id is None:
        if current is not None:
            db.session.delete(current)
            record(actor, "collection.unassigned", loan, changes={"collector_id": (old, None)})
        return None
    user = db.session.get(User, collector_id)
    if (user is None or user.institution_id != loan.institution_id or user.role != Role.COLLECTIONS.value
            or user.status != "active"):
        raise DomainError("Choose an active collections officer of this institution.")
    if old == collector_id:
        return current
    assigned_by = _actor_id(actor)
    if current is None:
        current = CollectionAssignment(institution_id=loan.institution_id, loan_id=loan.id, collector_id=collector_id,
                                       assigned_by_id=assigned_by, assigned_at=now)
        db.session.add(current)
    else:
        current.collector_id, current.assigned_by_id, current.assigned_at = collector_id, assigned_by, now
    db.session.flush()
    record(actor, "collection.assigned", loan, changes={"collector_id": (old, collector_id)},
           note=f"Assigned to {user.display_name}")
    return current


# ---- promises to pay -------------------------------------------------------------------------------------------
def record_promise(loan: Loan, *, amount, promised_on: date, note: str | None, actor, clock) -> PromiseToPay:
    """Record the borrower's promise to pay ``amount`` rupees by business date ``promised_on``.

    DomainError: 409 a loan that is not open, or one with an open promise already; 422 an amount <= 0, not in
    whole paise, or above what the loan owes in all (principal + interest receivable), or a date before the
    business date or more than MAX_PROMISE_DAYS after it. Audited (``promise.recorded``)."""
    loan = _locked(loan)
    _check_open(loan)
    amount = _clean_amount(amount, "promised amount")
    owed = loan.principal_outstanding_amount + loan.interest_receivable_amount
    if amount > owed:
        raise DomainError(f"{format_inr(amount)} is more than loan {loan.id} owes in all ({format_inr(owed)}).")
    as_of = current_business_date(loan.institution_id, clock)
    if promised_on < as_of:
        raise DomainError(f"The promised date cannot be before the business date ({as_of:%d %b %Y}).")
    if (promised_on - as_of).days > MAX_PROMISE_DAYS:
        raise DomainError(f"A promise can be at most {MAX_PROMISE_DAYS} days ahead.")
    if db.session.scalar(select(PromiseToPay.id).where(PromiseToPay.loan_id == loan.id,
                                                       PromiseToPay.status == "open")) is not None:
        raise DomainError(f"Loan {loan.id} already has an open promise to pay: wait for it to be kept or broken.",
                          409)
    promise = PromiseToPay(institution_id=loan.institution_id, loan_id=loan.id, promised_amount=amount,
                           promised_on=promised_on, made_on=as_of, status="open", paid_amount=ZERO,
                           note=_clean_text(note, 500), created_by_id=_actor_id(actor), created_at=clock.now())
    db.session.add(promise)
    db.session.flush()
    record(actor, "promise.recorded", promise, changes={"status": (None, "open"), "promised_amount": amount,
                                                        "promised_on": promised_on, "loan_id": loan.id})
    return promise


def paid_since(loan_id: int, start: date, end: date) -> Decimal:
    """Succeeded payments of ``loan_id`` received on business dates ``start`` to ``end`` inclusive (rupees);
    bounced or failed payments do not count."""
    return rupees(db.session.scalar(select(paise_sum(Payment.amount)).where(
        Payment.loan_id == loan_id, Payment.status == "succeeded", Payment.received_on >= start,
        Payment.received_on <= end)))


def evaluate_promises(institution_id: int, business_date: date, now: datetime) -> dict[str, int]:
    """Settle the institution's open promises on ``business_date``: kept when the payments since each promise
    was made (up to its promised date) cover it, broken when its promised date is before ``business_date``
    without that, else left open with ``paid_amount`` updated. A broken promise raises the
    ``promise_to_pay_broken`` alert (``portal.alerts.services.raise_event_alert``) once: only open promises are
    evaluated. Idempotent for a date. Flushes; the job commits. Returns ``{"kept": n, "broken": n, "open": n}``."""
    from portal.alerts.services import raise_event_alert

    counts = {aging.PROMISE_KEPT: 0, aging.PROMISE_BROKEN: 0, aging.PROMISE_OPEN: 0}
    promises = db.session.scalars(select(PromiseToPay).where(PromiseToPay.institution_id == institution_id,
                                                             PromiseToPay.status == "open")
                                  .order_by(PromiseToPay.id).with_for_update(skip_locked=True)).all()
    for promise in promises:
        paid = paid_since(promise.loan_id, promise.made_on, min(promise.promised_on, business_date))
        outcome = aging.promise_outcome(promise.promised_amount, paid, promise.promised_on, business_date)
        counts[outcome] += 1
        promise.paid_amount, promise.evaluated_on = paid, business_date
        if outcome == aging.PROMISE_OPEN:
            continue
        promise.status = outcome
        record(PROMISE_JOB_ACTOR, f"promise.{outcome}", promise,
               changes={"status": ("open", outcome), "paid_amount": paid, "promised_amount": promise.promised_amount,
                        "promised_on": promise.promised_on}, institution_id=institution_id)
        if outcome == aging.PROMISE_BROKEN:
            loan = db.session.get(Loan, promise.loan_id)
            raise_event_alert("promise_to_pay_broken", institution_id=institution_id, now=now, loan_id=loan.id,
                              customer_id=loan.customer_id,
                              detail={"promise_id": promise.id, "promised_amount": str(promise.promised_amount),
                                      "promised_on": promise.promised_on.isoformat(), "paid_amount": str(paid),
                                      "made_on": promise.made_on.isoformat()},
                              dedupe_key=f"promise:{promise.id}")
    db.session.flush()
    return counts


# ---- recovery --------------------------------------------------------------------------------------------------
def qualifies_for_recovery(loan: Loan) -> str | None:
    """Why ``loan`` qualifies for recovery (seed 000): ``written_off``, ``npa`` or ``bounces`` (two or more, see
    ``servicing.services.recovery_eligible``); None when it does not."""
    if loan.status == LoanStatus.WRITTEN_OFF.value:
        return "written_off"
    if loan.status not in OPEN_STATUSES:
        return None
    if loan.asset_class == "npa" or loan.status == LoanStatus.NPA.value:
        return "npa"
    if servicing.recovery_eligible(loan):
        return "bounces"
    return None


def initiate_recovery(loan: Loan, *, actor, clock, note: str | None = None) -> RecoveryCase:
    """Open a recovery case on ``loan``. A loan with an open case returns that case (a double click opens one).
    DomainError 409 when the loan does not qualify (fewer than two bounces and not NPA; closed loans).
    Audited (``recovery.initiated``)."""
    loan = _locked(loan)
    existing = open_case(loan.id)
    if existing is not None:
        return existing
    reason = qualifies_for_recovery(loan)
    if reason is None:
        bucket = aging.bucket_for_class(loan.asset_class)
        raise DomainError(
            f"Loan {loan.id} does not qualify for recovery: it needs {servicing.RECOVERY_BOUNCES} bounced payments "
            f"(it has {loan.bounce_count or 0}) or to be NPA (it is {bucket.label if bucket else 'standard'}, "
            f"{loan.dpd} DPD, {loan.status.replace('_', ' ')}).", 409)
    case = RecoveryCase(institution_id=loan.institution_id, loan_id=loan.id, status="open", reason=reason,
                        opened_on=current_business_date(loan.institution_id, clock), opened_by_id=_actor_id(actor),
                        opened_at=clock.now())
    db.session.add(case)
    db.session.flush()
    record(actor, "recovery.initiated", case, changes={"status": (None, "open"), "reason": reason,
                                                       "loan_id": loan.id, "bounce_count": loan.bounce_count,
                                                       "asset_class": loan.asset_class, "dpd": loan.dpd},
           note=_clean_text(note, 500))
    return case


def log_action(loan: Loan, *, kind: str, outcome: str, note: str | None, offer_amount=None, actor,
               clock) -> RecoveryAction:
    """Log a collections action on ``loan`` (call, visit, notice, settlement offer) with its outcome and notes,
    on the loan's open recovery case if any. A settlement offer needs its amount (rupees, > 0, at most what the
    loan owes; a written-off loan: at most what was written off and not yet recovered).
    DomainError 422 for an unknown kind or outcome, a missing note on a settlement offer, a bad amount; 409 a
    loan that is closed. Audited (``recovery.action_logged``)."""
    if kind not in ACTION_KINDS:
        raise DomainError("Choose what was done: call, visit, notice or settlement offer.")
    if outcome not in ACTION_OUTCOMES:
        raise DomainError("Choose the outcome.")
    if loan.status not in (*OPEN_STATUSES, LoanStatus.WRITTEN_OFF.value):
        raise DomainError(f"Loan {loan.id} is {loan.status.replace('_', ' ')}: nothing to collect.", 409)
    amount = None
    if kind == "settlement_offer":
        if offer_amount in (None, ""):
            raise DomainError("A settlement offer needs the amount offered.")
        amount = _clean_amount(offer_amount, "offer amount")
        limit = (recoverable_after_write_off(loan) if loan.status == LoanStatus.WRITTEN_OFF.value
                 else loan.principal_outstanding_amount + loan.interest_receivable_amount)
        if amount > limit:
            raise DomainError(f"{format_inr(amount)} is more than loan {loan.id} owes ({format_inr(limit)}).")
    elif offer_amount not in (None, ""):
        raise DomainError("Only a settlement offer carries an amount.")
    case = open_case(loan.id)
    action = RecoveryAction(institution_id=loan.institution_id, loan_id=loan.id, case_id=case.id if case else None,
                            kind=kind, outcome=outcome, offer_amount=amount, note=_clean_text(note, 1000),
                            acted_on=current_business_date(loan.institution_id, clock), actor_id=_actor_id(actor),
                            created_at=clock.now())
    db.session.add(action)
    db.session.flush()
    changes = {"kind": kind, "outcome": outcome, "loan_id": loan.id}
    if amount is not None:
        changes["offer_amount"] = amount
    record(actor, "recovery.action_logged", action, changes=changes)
    return action


def recoverable_after_write_off(loan: Loan) -> Decimal:
    """What may still be recovered on a written-off loan (rupees): the approved write-off's principal and
    interest less what recovery cases completed as recoveries already brought in (zero when not written off)."""
    written = db.session.scalar(select(WriteOff).where(WriteOff.loan_id == loan.id, WriteOff.status == "approved"))
    if written is None:
        return ZERO
    recovered = rupees(db.session.scalar(select(paise_sum(RecoveryCase.recovered_amount)).where(
        RecoveryCase.loan_id == loan.id, RecoveryCase.completion == "recovery")))
    return max(ZERO, written.total_amount - recovered)


def complete_recovery(case: RecoveryCase, *, amount, actor, clock) -> RecoveryCase:
    """Complete the open recovery ``case`` with ``amount`` rupees recovered (see the module's rules): a
    repayment (``record_repayment``, key ``recovery:<case id>``) on a loan still on the book, or Dr 1000 /
    Cr 4200 (reference ``recovery:<case id>``) on a written-off loan. A case already completed is returned
    unchanged (a double click posts once).

    DomainError: 422 an amount <= 0, not in whole paise, above what the loan owes today (open loan) or above
    what is left to recover after the write-off; 409 a loan that was closed meanwhile. Audited
    (``recovery.completed``; the repayment writes its own ``payment.succeeded``)."""
    loan = _locked(db.session.get(Loan, case.loan_id))
    case = db.session.get(RecoveryCase, case.id, with_for_update=True, populate_existing=True)
    if case.status != "open":
        return case
    amount = _clean_amount(amount, "amount recovered")
    as_of = current_business_date(loan.institution_id, clock)
    if loan.status == LoanStatus.WRITTEN_OFF.value:
        left = recoverable_after_write_off(loan)
        if amount > left:
            raise DomainError(f"{format_inr(amount)} is more than is left to recover on loan {loan.id} "
                              f"({format_inr(left)} written off and not yet recovered).")
        entry = post(loan.institution_id, kind="recovery", reference=f"recovery:{case.id}", business_date=as_of,
                     loan_id=loan.id, memo=f"Loan {loan.id}: recovered after write-off (case {case.id})",
                     lines=[Line(Account.CASH, debit=amount, loan_id=loan.id),
                            Line(Account.RECOVERIES, credit=amount, loan_id=loan.id)])
        db.session.add(LoanTransaction(loan_id=loan.id, kind="recovery", value_on=as_of, amount=amount,
                                       journal_entry_id=entry.id, note=f"Recovery case {case.id}"))
        case.completion, case.journal_entry_id = "recovery", entry.id
    elif loan.status in OPEN_STATUSES:
        payment = servicing.record_repayment(loan, amount=amount, idempotency_key=f"recovery:{case.id}",
                                             channel="officer", actor=actor, clock=clock)
        case.completion, case.payment_id = "repayment", payment.id
    else:
        raise DomainError(f"Loan {loan.id} is {loan.status.replace('_', ' ')}: there is nothing to recover.", 409)
    case.status, case.recovered_amount, case.completed_on = "recovered", amount, as_of
    case.completed_by_id = _actor_id(actor)
    record(actor, "recovery.completed", case, changes={"status": ("open", "recovered"), "recovered_amount": amount,
                                                       "completion": case.completion, "loan_id": loan.id,
                                                       "loan_status": loan.status})
    return case


# ---- write-off (maker-checker) ---------------------------------------------------------------------------------
def propose_write_off(loan: Loan, *, reason: str, actor, clock) -> WriteOff:
    """The maker proposes writing ``loan`` off (a loan on the book with an open recovery case). A loan with a
    proposal awaiting the checker returns that proposal (a double click proposes once).

    DomainError: 409 a loan that is not open, without an open recovery case, or with nothing outstanding;
    422 an empty reason. Audited (``write_off.proposed``)."""
    reason = _clean_text(reason, 1000)
    if not reason:
        raise DomainError("Write why the loan should be written off.")
    loan = _locked(loan)
    pending = db.session.scalar(select(WriteOff).where(WriteOff.loan_id == loan.id, WriteOff.status == "proposed"))
    if pending is not None:
        return pending
    _check_open(loan)
    case = open_case(loan.id)
    if case is None:
        raise DomainError(f"Loan {loan.id} has no open recovery case: initiate recovery before proposing a "
                          f"write-off.", 409)
    if loan.principal_outstanding_amount + loan.interest_receivable_amount <= 0:
        raise DomainError(f"Loan {loan.id} owes nothing: there is nothing to write off.", 409)
    proposal = WriteOff(institution_id=loan.institution_id, loan_id=loan.id, case_id=case.id, status="proposed",
                        principal_amount=loan.principal_outstanding_amount,
                        interest_amount=loan.interest_receivable_amount,
                        suspense_amount=min(loan.interest_suspense_amount, loan.interest_receivable_amount),
                        reason=reason, proposed_by_id=actor.id, proposed_at=clock.now())
    db.session.add(proposal)
    db.session.flush()
    record(actor, "write_off.proposed", proposal, changes={"status": (None, "proposed"), "loan_id": loan.id,
                                                           "principal": proposal.principal_amount,
                                                           "interest": proposal.interest_amount}, note=reason)
    return proposal


def _check_checker(proposal: WriteOff, actor) -> None:
    if not has_permission(actor, Perm.CHECK_WRITE_OFFS):
        raise PermissionDenied("Only a risk officer or an admin can check a write-off.")
    if actor.id == proposal.proposed_by_id:
        raise PermissionDenied("You proposed this write-off: another person must check it (maker-checker).")


def approve_write_off(proposal: WriteOff, *, actor, clock, note: str | None = None) -> WriteOff:
    """The checker approves ``proposal``: the loan is written off on the business date with the amounts it owes
    now (one entry, reference ``write-off:<loan id>``): Dr 5000 principal + the receivable not in suspense,
    Dr 2100 the suspense / Cr 1100 principal, Cr 1200 interest receivable. The loan: status written_off,
    closed_on the business date, balances zero. An approved proposal is returned unchanged (a double click
    posts once).

    PermissionDenied (403) for the maker or a role without CHECK_WRITE_OFFS; DomainError 409 for a rejected
    proposal or a loan no longer open (paid off meanwhile). Audited (``write_off.approved``, ``loan.written_off``).
    """
    _check_checker(proposal, actor)
    loan = _locked(db.session.get(Loan, proposal.loan_id))
    proposal = db.session.get(WriteOff, proposal.id, with_for_update=True, populate_existing=True)
    if proposal.status == "approved":
        return proposal
    if proposal.status != "proposed":
        raise DomainError(f"Write-off {proposal.id} was {proposal.status}: propose again.", 409)
    _check_open(loan)
    as_of = current_business_date(loan.institution_id, clock)
    principal, interest = loan.principal_outstanding_amount, loan.interest_receivable_amount
    suspense = min(loan.interest_suspense_amount, interest)
    entry = post(loan.institution_id, kind="write_off", reference=f"write-off:{loan.id}", business_date=as_of,
                 loan_id=loan.id, memo=f"Loan {loan.id} written off (write-off {proposal.id})",
                 lines=[Line(Account.WRITE_OFF, debit=principal + interest - suspense, loan_id=loan.id),
                        Line(Account.INTEREST_SUSPENSE, debit=suspense, loan_id=loan.id),
                        Line(Account.LOAN_PRINCIPAL, credit=principal, loan_id=loan.id),
                        Line(Account.INTEREST_RECEIVABLE, credit=interest, loan_id=loan.id)])
    old_status = loan.status
    loan.principal_outstanding_amount = loan.interest_receivable_amount = loan.interest_suspense_amount = ZERO
    loan.status, loan.closed_on = LoanStatus.WRITTEN_OFF.value, as_of
    proposal.status, proposal.checked_by_id, proposal.checked_at = "approved", actor.id, clock.now()
    proposal.check_note, proposal.written_off_on, proposal.journal_entry_id = _clean_text(note, 1000), as_of, entry.id
    proposal.principal_amount, proposal.interest_amount, proposal.suspense_amount = principal, interest, suspense
    db.session.add(LoanTransaction(loan_id=loan.id, kind="write_off", value_on=as_of, amount=principal + interest,
                                   principal_amount=principal, interest_amount=interest, journal_entry_id=entry.id,
                                   note=f"Written off (write-off {proposal.id})"))
    db.session.flush()
    record(actor, "write_off.approved", proposal, changes={"status": ("proposed", "approved"),
                                                           "principal": principal, "interest": interest,
                                                           "suspense": suspense, "maker_id": proposal.proposed_by_id},
           note=proposal.check_note)
    record(actor, "loan.written_off", loan, changes={
        "status": (old_status, loan.status), "principal_outstanding": (principal, ZERO),
        "interest_receivable": (interest, ZERO), "interest_suspense": (suspense, ZERO), "write_off_id": proposal.id})
    return proposal


def reject_write_off(proposal: WriteOff, *, actor, clock, note: str) -> WriteOff:
    """The checker rejects ``proposal`` with a reason (the loan stays on the book). PermissionDenied (403) for
    the maker; DomainError 422 an empty reason, 409 a proposal already decided. Audited (``write_off.rejected``).
    """
    _check_checker(proposal, actor)
    note = _clean_text(note, 1000)
    if not note:
        raise DomainError("Write why the write-off is rejected.")
    proposal = db.session.get(WriteOff, proposal.id, with_for_update=True, populate_existing=True)
    if proposal.status != "proposed":
        raise DomainError(f"Write-off {proposal.id} is already {proposal.status}.", 409)
    proposal.status, proposal.checked_by_id, proposal.checked_at, proposal.check_note = (
        "rejected", actor.id, clock.now(), note)
    db.session.flush()
    record(actor, "write_off.rejected", proposal, changes={"status": ("proposed", "rejected"),
                                                           "maker_id": proposal.proposed_by_id}, note=note)
    return proposal


def institution_write_off(institution_id: int, write_off_id: int) -> WriteOff:
    """Write-off ``write_off_id`` of ``institution_id``; NotFound (404) otherwise."""
    proposal = db.session.get(WriteOff, write_off_id)
    if proposal is None or proposal.institution_id != institution_id:
        raise NotFound("No such write-off.")
    return proposal


def institution_case(institution_id: int, loan: Loan, case_id: int) -> RecoveryCase:
    """Recovery case ``case_id`` of ``loan`` (of ``institution_id``); NotFound (404) otherwise."""
    case = db.session.get(RecoveryCase, case_id)
    if case is None or case.loan_id != loan.id or case.institution_id != institution_id:
        raise NotFound("No such recovery case.")
    return case

