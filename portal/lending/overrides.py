"""The loan status override of seed 000 (``PATCH /admin/loans/{id}/override``), with maker-checker.

An administrator (the maker, ``Perm.OVERRIDE_LOAN_STATUS``) asks for a loan's status to change, with a mandatory
reason; a different administrator (the checker) approves or rejects the request. Only an approved request
changes the loan, and it changes ``loans.status`` (and ``closed_on``, the business date a loan became closed)
and nothing else: **no balance, no schedule row, no journal entry**. The ledger trial balance is the same before
and after an override (tests/lending/test_status_override.py proves it).

Which overrides are allowed (``allowed_targets``) follows from the servicing contract (portal/servicing/__init__.py):

* A serviced loan's status is a consequence of its balances and DPD: the close of business sets active / overdue /
  npa every night from DPD (RBI IRAC, borrower-wide NPA), a repayment that clears principal and interest closes
  it, and a write-off (collections, maker-checker) moves money in the ledger. An override must not contradict
  those, so for a **serviced term loan** the only override is: open (active, overdue, npa) -> **closed**, and only
  when principal, interest receivable and interest in suspense are all zero (a loan left open with nothing to
  pay). Moving a serviced loan to npa or written_off needs ledger entries (income reversal, write-off) and is
  refused here; so is reopening a closed one.
* A **credit line** is closed from its own page (``servicing.close_credit_line``): no override.
* A **book loan** (imported, ``serviced`` false) has no balances, no ledger and no close of business; its status
  is history that feeds the seed 003 score ("current loans": ``Loan.is_current``). It may be corrected between
  **active, closed and written_off** in any direction (e.g. the book says active but the loan was repaid early).

Nothing else: no "frozen" loan status is invented (freezing is for logins, ``portal.auth.sessions.freeze_user``).

Errors (``portal.errors``): another institution's loan or request -> NotFound (404); no permission or the maker
checking their own request -> PermissionDenied (403); a target not allowed, no reason -> DomainError (422); a loan
with a request already pending, a request already decided, or a loan that changed since the request -> (409).
"""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from portal.audit.services import record
from portal.business_date import current_business_date
from portal.errors import DomainError, InvalidTransition, NotFound, PermissionDenied
from portal.extensions import db
from portal.lending.models import Loan
from portal.lending.override_models import LoanStatusOverride
from portal.lending.states import LoanStatus
from portal.security import Perm, has_permission

REASON_MIN = 10     # characters: a reason a checker (and an auditor) can act on
TEXT_MAX = 2000
ZERO = Decimal("0.00")
L = LoanStatus
#: serviced term loans: statuses from which an override to closed is possible (when every balance is zero)
SERVICED_OPEN = (L.ACTIVE, L.OVERDUE, L.NPA)
#: book (imported) loans: the statuses they may be corrected between
BOOK_STATUSES = (L.ACTIVE, L.CLOSED, L.WRITTEN_OFF)


def _zero_balances(loan: Loan) -> bool:
    return all((getattr(loan, f) or ZERO) == ZERO for f in ("principal_outstanding_amount",
                                                             "interest_receivable_amount",
                                                             "interest_suspense_amount"))


def allowed_targets(loan: Loan) -> list[LoanStatus]:
    """The statuses ``loan`` may be overridden to now (empty when none); see the module docstring."""
    if not loan.serviced:
        return [s for s in BOOK_STATUSES if s != loan.status]
    if loan.kind == "credit_line":
        return []
    if loan.status in SERVICED_OPEN and _zero_balances(loan):
        return [L.CLOSED]
    return []


def why_not(loan: Loan, to_status: str) -> str:
    """A sentence saying why ``loan`` cannot be overridden to ``to_status`` (for the 422 message)."""
    word = to_status.replace("_", " ")
    if loan.serviced and loan.kind == "credit_line":
        return "A credit line is closed from its own page, not by a status override."
    if loan.serviced and to_status == L.CLOSED and loan.status in SERVICED_OPEN:
        return ("A serviced loan can be closed by override only when its principal, interest and suspense are all "
                "zero; this one still has a balance. Record the repayment or the write-off instead.")
    if loan.serviced:
        return (f"A serviced loan's status follows its balances and DPD (close of business, repayments, write-off): "
                f"it cannot be overridden from {loan.status.replace('_', ' ')} to {word}.")
    return f"A book loan can be active, closed or written off; it cannot become {word}."


def _check_actor(loan: Loan, actor) -> None:
    if loan.institution_id != actor.institution_id:
        raise NotFound("No such loan.")
    if not has_permission(actor, Perm.OVERRIDE_LOAN_STATUS):
        raise PermissionDenied("Only an administrator can override a loan's status.")


def pending_for(loan: Loan) -> LoanStatusOverride | None:
    """The request waiting for a checker on ``loan``, if any."""
    return db.session.scalar(select(LoanStatusOverride).where(LoanStatusOverride.loan_id == loan.id,
                                                              LoanStatusOverride.status == "pending"))


def request_status_override(loan: Loan, *, to_status: str, reason: str, actor, clock) -> LoanStatusOverride:
    """The maker asks for ``loan`` to become ``to_status`` (a LoanStatus value) with a ``reason`` of at least
    ``REASON_MIN`` characters. Nothing on the loan changes yet. Audited ``loan_status_override.requested``.

    Raises NotFound (another institution), PermissionDenied (no ``OVERRIDE_LOAN_STATUS``), InvalidTransition (422,
    a target not in ``allowed_targets``), DomainError (422, reason) or (409, a request already pending). Flushes."""
    _check_actor(loan, actor)
    loan = db.session.get(Loan, loan.id, with_for_update=True, populate_existing=True)
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN:
        raise DomainError(f"Write the reason for the override (at least {REASON_MIN} characters): the checker "
                          f"and the audit log rely on it.")
    if len(reason) > TEXT_MAX:
        raise DomainError(f"Keep the reason under {TEXT_MAX:,} characters.")
    try:
        target = LoanStatus(to_status)
    except ValueError:
        raise InvalidTransition(f"Unknown loan status {to_status!r}.") from None
    if target not in allowed_targets(loan):
        raise InvalidTransition(why_not(loan, target.value))
    if pending_for(loan) is not None:
        raise DomainError("This loan already has a status override waiting for a checker.", 409)
    row = LoanStatusOverride(institution_id=loan.institution_id, loan_id=loan.id, from_status=loan.status,
                             to_status=target.value, reason=reason, maker_id=actor.id, requested_at=clock.now(),
                             status="pending")
    db.session.add(row)
    db.session.flush()
    record(actor, "loan_status_override.requested", row, institution_id=loan.institution_id,
           changes={"status": (None, "pending"), "loan_id": loan.id, "loan_status": (loan.status, target.value)},
           note=reason)
    return row


def decide_status_override(override: LoanStatusOverride, *, approve: bool, note: str | None, actor,
                           clock) -> LoanStatusOverride:
    """The checker (an administrator other than the maker) approves or rejects a pending request.

    Approval re-checks the rule on the loan as it is now (row-locked) and sets ``loan.status`` (and ``closed_on``:
    the business date when the loan becomes closed, None when it leaves closed); balances and the ledger are not
    touched. Audited twice in the same transaction: ``loan_status_override.approved|rejected`` on the request and
    ``loan.status_overridden`` on the loan, each with before/after. A rejection needs a ``note``.

    Raises NotFound (another institution), PermissionDenied (the maker, or no permission), DomainError (409: already
    decided, or the loan changed since the request; 422: a rejection without a note). Flushes only."""
    if override.institution_id != actor.institution_id:
        raise NotFound("No such override request.")
    _check_actor(override.loan, actor)
    if actor.id == override.maker_id:
        raise PermissionDenied("You requested this override: another administrator must check it (maker-checker).")
    override = db.session.get(LoanStatusOverride, override.id, with_for_update=True, populate_existing=True)
    if override.status != "pending":
        raise DomainError(f"This request was already {override.status}.", 409)
    note = (note or "").strip()[:TEXT_MAX] or None
    if not approve and not note:
        raise DomainError("Write why you reject the request; the maker will read it.")
    loan = db.session.get(Loan, override.loan_id, with_for_update=True, populate_existing=True)
    now = clock.now()
    if approve:
        if loan.status != override.from_status or LoanStatus(override.to_status) not in allowed_targets(loan):
            raise DomainError(f"The loan changed since the request (it is {loan.status.replace('_', ' ')} now): "
                              f"reject this request and ask for a new one if still needed.", 409)
        old_status, old_closed = loan.status, loan.closed_on
        loan.status = override.to_status
        if loan.status == L.CLOSED:
            loan.closed_on = current_business_date(loan.institution_id, clock)
        elif old_status == L.CLOSED:
            loan.closed_on = None
        changes = {"status": (old_status, loan.status), "override_id": override.id, "maker_id": override.maker_id}
        if loan.closed_on != old_closed:
            changes["closed_on"] = (old_closed, loan.closed_on)
        record(actor, "loan.status_overridden", loan, changes=changes, note=override.reason)
    override.status = "approved" if approve else "rejected"
    override.checker_id, override.checker_note, override.decided_at = actor.id, note, now
    record(actor, f"loan_status_override.{override.status}", override, institution_id=override.institution_id,
           changes={"status": ("pending", override.status), "loan_id": loan.id,
                    "loan_status": (override.from_status, override.to_status)}, note=note)
    return override


def override_queue(institution_id: int, *, limit: int = 50) -> tuple[list[LoanStatusOverride],
                                                                       list[LoanStatusOverride]]:
    """``(pending, recent)``: every pending request of the institution (oldest first) and the ``limit`` most
    recently decided ones."""
    base = select(LoanStatusOverride).where(LoanStatusOverride.institution_id == institution_id)
    pending = db.session.scalars(base.where(LoanStatusOverride.status == "pending")
                                 .order_by(LoanStatusOverride.id)).all()
    recent = db.session.scalars(base.where(LoanStatusOverride.status != "pending")
                                .order_by(LoanStatusOverride.decided_at.desc(), LoanStatusOverride.id.desc())
                                .limit(limit)).all()
    return list(pending), list(recent)
