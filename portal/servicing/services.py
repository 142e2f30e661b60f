"""Repayments of serviced loans: record (officer, API), the gateway flow (initiate -> confirm or fail), bounce,
and the statement. Services flush and audit; the caller commits once.

Every money change locks the loan row first (``SELECT ... FOR UPDATE`` on PostgreSQL), so two payments on one
loan are applied one after the other on fresh balances. Every payment carries an idempotency key, unique per
institution: sending the same key again returns the first payment unchanged (also when two requests race: the
unique constraint decides, inside a savepoint, and the loser reads the winner's row).

Term loans are allocated by ``allocation.allocate`` (overdue interest, overdue principal, current interest,
current principal, then a prepayment that regenerates the remaining rows with the same EMI). Credit lines are
handled by ``credit_line.apply_payment``. Journal entries: ``portal/servicing/__init__.py``.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.audit.services import record
from portal.business_date import current_business_date
from portal.errors import DomainError
from portal.extensions import db
from portal.ledger.models import Account, JournalEntry, Posting
from portal.ledger.services import Line, post
from portal.lending.models import Installment, Loan
from portal.lending.schedule import regenerate_after_prepayment
from portal.lending.states import LoanStatus
from portal.money import as_decimal, format_inr, quantize
from portal.servicing import allocation as alloc_math
from portal.servicing.cob import sma_class
from portal.servicing.models import LoanTransaction, Payment

ZERO = Decimal("0.00")
#: bounces after which a loan is eligible for recovery (seed 000)
RECOVERY_BOUNCES = 2
CHANNELS = ("gateway", "officer", "api")
GATEWAY_ACTOR = "gateway"
OPEN_STATUSES = (LoanStatus.ACTIVE.value, LoanStatus.OVERDUE.value, LoanStatus.NPA.value)

__all__ = ["RECOVERY_BOUNCES", "Statement", "StatementLine", "UpcomingDue", "amount_due_now", "bounce_payment",
           "check_payable", "confirm_gateway_payment", "fail_gateway_payment", "initiate_gateway_payment",
           "record_repayment", "recovery_eligible", "statement"]


# ---- helpers ---------------------------------------------------------------------------------------------------
def recovery_eligible(loan: Loan) -> bool:
    """Seed 000: a loan whose payments bounced twice (or more) is eligible for recovery (issue 6)."""
    return (loan.bounce_count or 0) >= RECOVERY_BOUNCES


def _is_npa(loan: Loan) -> bool:
    return loan.asset_class == "npa" or loan.status == LoanStatus.NPA.value


def _clean_key(key: str | None) -> str:
    key = (key or "").strip()
    if not key or len(key) > 80:
        raise DomainError("A payment needs an idempotency key of 1 to 80 characters.", 400)
    return key


def _clean_amount(amount) -> Decimal:
    try:
        value = as_decimal(amount, "amount")
    except (TypeError, ValueError) as exc:
        raise DomainError(f"The amount is not valid: {exc}") from None
    if value <= 0:
        raise DomainError("The amount must be more than zero.")
    if quantize(value) != value:
        raise DomainError("The amount must be in rupees and paise (at most two decimals).")
    return value


def _find_payment(institution_id: int, key: str) -> Payment | None:
    return db.session.scalar(select(Payment).where(Payment.institution_id == institution_id,
                                                   Payment.idempotency_key == key))


def _replay(payment: Payment, loan: Loan) -> Payment:
    """The first payment made with a key, returned for a duplicate request (409 when it was for another loan)."""
    if payment.loan_id != loan.id:
        raise DomainError("This idempotency key was already used for a payment on another loan.", 409)
    payment.is_duplicate = True  # a plain attribute (not stored): lets a page say "already recorded"
    return payment


def _locked_loan(loan: Loan) -> Loan:
    """Re-read ``loan`` under a row lock with fresh balances and schedule rows."""
    locked = db.session.get(Loan, loan.id, with_for_update=True, populate_existing=True)
    db.session.expire(locked, ["installments"])
    db.session.scalars(select(Installment).where(Installment.loan_id == locked.id)
                       .execution_options(populate_existing=True)).all()
    return locked


def _locked_payment(payment: Payment) -> Payment:
    return db.session.get(Payment, payment.id, with_for_update=True, populate_existing=True)


def check_payable(loan: Loan) -> None:
    """Raise DomainError (409) unless ``loan`` is serviced in the portal and open (active, overdue or NPA)."""
    _check_open(loan)


def _check_open(loan: Loan) -> None:
    if not loan.serviced:
        raise DomainError(f"Loan {loan.id} is not serviced in the portal (a loan imported from the book).", 409)
    if loan.status not in OPEN_STATUSES:
        raise DomainError(f"Loan {loan.id} is {loan.status.replace('_', ' ')}: there is nothing to pay.", 409)


def _insert_payment(loan: Loan, *, key: str, amount: Decimal, channel: str, actor, status: str,
                    gateway_ref: str | None = None) -> tuple[Payment, bool]:
    """Insert the payment inside a savepoint; when a concurrent request committed the same key first, return
    that payment instead: ``(payment, created)``."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown payment channel {channel!r}")
    try:
        with db.session.begin_nested():
            payment = Payment(institution_id=loan.institution_id, loan_id=loan.id, idempotency_key=key,
                              channel=channel, amount=amount, status=status, gateway_ref=gateway_ref,
                              created_by_id=getattr(actor, "id", None))
            db.session.add(payment)
            db.session.flush()
    except IntegrityError:
        existing = _find_payment(loan.institution_id, key)
        if existing is None:
            raise
        return _replay(existing, loan), False
    return payment, True


def _dues(loan: Loan) -> list[alloc_math.Due]:
    return [alloc_math.Due(i.seq, i.due_on, i.interest_due, i.principal_due) for i in loan.installments]


def amount_due_now(loan: Loan, as_of: date) -> Decimal:
    """What the borrower should pay on business date ``as_of`` (rupees): the overdue dues and what is unpaid of
    the current instalment (the next one due on or after ``as_of``). Zero once that is paid (anything paid
    then is a prepayment) and for a loan with nothing left to pay. Credit lines: the unpaid minimum due of the
    latest bill (``credit_line.amount_due_now``)."""
    if loan.kind == "credit_line":
        from portal.servicing import credit_line

        return credit_line.amount_due_now(loan, as_of)
    return alloc_math.amount_due_now(_dues(loan), as_of)


def _allocate(loan: Loan, amount: Decimal, as_of: date) -> alloc_math.Allocation:
    try:
        return alloc_math.allocate(_dues(loan), as_of=as_of, amount=amount)
    except ValueError:
        limit = alloc_math.max_payable(_dues(loan), as_of)
        raise DomainError(f"{format_inr(amount)} is more than loan {loan.id} owes today "
                          f"({format_inr(limit)}).") from None


def _refresh_delinquency(loan: Loan, as_of: date) -> None:
    """DPD from the oldest unpaid due date before ``as_of``; status and SMA class follow (NPA is left to the
    close of business, which upgrades only when all the borrower's arrears are paid). Credit lines: from the
    oldest unpaid bill (``credit_line.refresh_delinquency``)."""
    if loan.kind == "credit_line":
        from portal.servicing import credit_line

        credit_line.refresh_delinquency(loan, as_of)
        return
    overdue = [i.due_on for i in loan.installments if i.paid_on is None and i.amount_due > 0 and i.due_on < as_of]
    loan.dpd = (as_of - min(overdue)).days if overdue else 0
    if _is_npa(loan):
        return
    loan.asset_class = sma_class(loan.dpd)
    if loan.status in (LoanStatus.ACTIVE.value, LoanStatus.OVERDUE.value):
        loan.status = LoanStatus.OVERDUE.value if loan.dpd else LoanStatus.ACTIVE.value


def _row_shape(row: Installment) -> dict:
    """A schedule row's terms (not what was paid on it), for putting back a schedule a prepayment regenerated."""
    return {"seq": row.seq, "due_on": row.due_on.isoformat(), "principal": str(row.principal_amount),
            "interest": str(row.interest_amount), "installment": str(row.installment_amount),
            "balance": str(row.balance_amount)}


def _regenerate(loan: Loan, current: Installment, remaining: Decimal, count: int):
    """The rows after ``current`` once a prepayment left ``remaining`` principal (rupees): the same EMI, at
    most ``count`` rows, zero rows trimmed (the tenure shortens); original due dates (``schedule``'s
    ``regenerate_after_prepayment``). Returns ScheduleRows numbered from ``current.seq + 1``."""
    if remaining <= 0 or count <= 0:
        return []
    return regenerate_after_prepayment(remaining, loan.interest_rate, loan.monthly_installment, current.seq + 1,
                                       current.due_on, disbursed_on=loan.disbursed_on,
                                       day_count=loan.day_count or "30/360", max_periods=count)


def _tell_customer(loan: Loan, event: str, *, now, **context) -> None:
    """Tell the loan's customer about ``event`` (``portal.notifications.events.EVENTS``) with ``context``
    (plain values), on the event's channels as their preferences allow (as ``lending.services.tell_customer``)."""
    from portal.notifications.services import notify_event

    notify_event(event, customer=loan.customer, now=now, context=context)


def _tell_payment_received(loan: Loan, payment: Payment, *, principal: Decimal, interest: Decimal, now) -> None:
    """Event ``payment.received``: the amount (rupees) and how much of it paid principal and interest."""
    _tell_customer(loan, "payment.received", now=now, loan_id=loan.id,
                   account="credit line" if loan.kind == "credit_line" else "loan", amount=payment.amount,
                   principal=principal, interest=interest, closed=loan.status == LoanStatus.CLOSED.value)


# ---- applying a payment (term loans) ---------------------------------------------------------------------------
def _apply_term_payment(loan: Loan, payment: Payment, split: alloc_math.Allocation, *, as_of: date, actor,
                        clock) -> None:
    """Pay the rows, catch up the current period's accrual, post ``payment:<id>``, update the balances,
    regenerate the schedule after a prepayment, close or re-age the loan; statement line, audit, notification."""
    rows = {i.seq: i for i in loan.installments}
    old = {"status": loan.status, "end_on": loan.end_on.isoformat(), "closed_on": None, "dpd": loan.dpd,
           "asset_class": loan.asset_class}
    principal_before, interest_before = loan.principal_outstanding_amount, loan.interest_receivable_amount
    # a prepayment regenerates the rows after the current one (and the current row's balance): keep their terms
    snapshot = ([_row_shape(i) for i in loan.installments if i.seq >= split.current_seq]
                if split.prepayment else None)

    # accrue the rest of the running period at once when its interest is paid before it has fully accrued
    catch_up = ZERO
    period_paid = any(s.interest > 0 and rows[s.seq].due_on == loan.next_due_on for s in split.rows)
    if period_paid and loan.period_accrued_amount < loan.period_interest_amount:
        catch_up = loan.period_interest_amount - loan.period_accrued_amount
        npa = _is_npa(loan)
        post(loan.institution_id, kind="accrual", reference=f"accrual-catchup:{payment.id}", business_date=as_of,
             loan_id=loan.id, memo=f"Loan {loan.id}: the period's interest accrued at once (payment {payment.id})",
             lines=[Line(Account.INTEREST_RECEIVABLE, debit=catch_up, loan_id=loan.id),
                    Line(Account.INTEREST_SUSPENSE if npa else Account.INTEREST_INCOME, credit=catch_up,
                         loan_id=loan.id)])
        loan.period_accrued_amount = loan.period_interest_amount
        loan.interest_receivable_amount += catch_up
        if npa:
            loan.interest_suspense_amount += catch_up

    on_time = 0  # instalments fully paid by their due date: the seed 003 "EMIs paid on time" of the score
    for part in split.rows:
        row = rows[part.seq]
        row.interest_paid_amount += part.interest
        row.principal_paid_amount += part.principal
        if row.amount_due == 0 and row.paid_on is None:
            row.paid_on = as_of
            if as_of <= row.due_on:
                on_time += 1
    loan.emis_paid_on_time += on_time

    # interest paid out of suspense is recognised as income when received (RBI IRAC)
    from_suspense = min(split.interest, loan.interest_suspense_amount)
    lines = [Line(Account.CASH, debit=payment.amount, loan_id=loan.id),
             Line(Account.INTEREST_RECEIVABLE, credit=split.interest, loan_id=loan.id),
             Line(Account.LOAN_PRINCIPAL, credit=split.principal, loan_id=loan.id)]
    if from_suspense > 0:
        lines += [Line(Account.INTEREST_SUSPENSE, debit=from_suspense, loan_id=loan.id),
                  Line(Account.INTEREST_INCOME, credit=from_suspense, loan_id=loan.id)]
    entry = post(loan.institution_id, kind="repayment", reference=f"payment:{payment.id}", business_date=as_of,
                 loan_id=loan.id, memo=f"Loan {loan.id}: payment {payment.id} ({payment.channel})", lines=lines)
    loan.principal_outstanding_amount -= split.principal
    loan.interest_receivable_amount -= split.interest
    loan.interest_suspense_amount -= from_suspense

    if split.prepayment:
        current = rows[split.current_seq]
        future = sorted((i for i in loan.installments if i.seq > current.seq and i.paid_on is None),
                        key=lambda i: i.seq)
        remaining = sum((i.principal_due for i in future), ZERO) - split.prepayment
        regenerated = _regenerate(loan, current, remaining, len(future))
        for row, new in zip(future, regenerated, strict=False):
            row.due_on, row.principal_amount, row.interest_amount = new.due_on, new.principal, new.interest
            row.installment_amount, row.balance_amount = new.installment, new.balance
        for row in future[len(regenerated):]:
            loan.installments.remove(row)  # delete-orphan: the tenure shortens
        current.balance_amount = remaining
        loan.end_on = regenerated[-1].due_on if regenerated else current.due_on

    if loan.principal_outstanding_amount == 0 and loan.interest_receivable_amount == 0:
        loan.status, loan.closed_on, loan.dpd = LoanStatus.CLOSED.value, as_of, 0
        if not _is_npa(loan):
            loan.asset_class = "standard"
    else:
        _refresh_delinquency(loan, as_of)

    payment.status, payment.received_on = "succeeded", as_of
    payment.allocation = {**split.as_dict(), "interest": str(split.interest), "principal": str(split.principal),
                          "catch_up": str(catch_up), "from_suspense": str(from_suspense), "on_time": on_time,
                          "loan_before": old,
                          "rows_before": snapshot}
    note = "Repayment" + (f", of which {format_inr(split.prepayment)} prepaid" if split.prepayment else "")
    db.session.add(LoanTransaction(loan_id=loan.id, kind="repayment", value_on=as_of, amount=payment.amount,
                                   principal_amount=split.principal, interest_amount=split.interest,
                                   payment_id=payment.id, journal_entry_id=entry.id, note=note))
    changes = {"status": ("initiated", "succeeded"), "amount": payment.amount, "channel": payment.channel,
               "principal_outstanding": (principal_before, loan.principal_outstanding_amount),
               "interest_receivable": (interest_before, loan.interest_receivable_amount),
               "allocation": {k: payment.allocation[k] for k in alloc_math.BUCKETS}}
    if old["status"] != loan.status:
        changes["loan_status"] = (old["status"], loan.status)
    if catch_up:
        changes["interest_accrued_at_once"] = catch_up
    if split.prepayment:
        changes["end_on"] = (old["end_on"], loan.end_on.isoformat())
    record(actor, "payment.succeeded", payment, changes=changes)
    if split.prepayment:  # issue 6: a large prepayment raises an alert (rules of kind large_prepayment)
        from portal.alerts.services import raise_event_alert

        raise_event_alert("large_prepayment", institution_id=loan.institution_id, now=clock.now(), loan_id=loan.id,
                          customer_id=loan.customer_id, dedupe_key=f"payment:{payment.id}",
                          detail={"amount": split.prepayment, "payment_id": payment.id, "paid": payment.amount})
    _tell_payment_received(loan, payment, principal=split.principal, interest=split.interest, now=clock.now())


def _apply_credit_line_payment(loan: Loan, payment: Payment, *, as_of: date, actor, clock) -> None:
    """Credit lines (seed 004): ``credit_line.apply_payment`` allocates (past dues, current due, principal) and
    posts; this records the outcome like a term-loan payment."""
    from portal.servicing import credit_line

    result = credit_line.apply_payment(loan, payment, as_of=as_of, actor=actor)
    payment.status, payment.received_on, payment.allocation = "succeeded", as_of, result
    if db.session.scalar(select(LoanTransaction.id).where(LoanTransaction.payment_id == payment.id)) is None:
        entry_id = db.session.scalar(select(JournalEntry.id).where(
            JournalEntry.institution_id == loan.institution_id, JournalEntry.reference == f"payment:{payment.id}"))
        db.session.add(LoanTransaction(
            loan_id=loan.id, kind="repayment", value_on=as_of, amount=payment.amount,
            principal_amount=Decimal(str((result or {}).get("principal", "0"))),
            interest_amount=Decimal(str((result or {}).get("interest", "0"))), payment_id=payment.id,
            journal_entry_id=entry_id, note="Repayment"))
    record(actor, "payment.succeeded", payment, changes={"status": ("initiated", "succeeded"),
                                                         "amount": payment.amount, "channel": payment.channel})
    txn = db.session.scalar(select(LoanTransaction).where(LoanTransaction.payment_id == payment.id))
    _tell_payment_received(loan, payment, principal=txn.principal_amount, interest=txn.interest_amount,
                           now=clock.now())


# ---- record, initiate, confirm, fail ---------------------------------------------------------------------------
def record_repayment(loan: Loan, *, amount: Decimal, idempotency_key: str, channel: str, actor, clock) -> Payment:
    """Record money received for ``loan`` on the business date and apply it (term loans: ``allocation``; credit
    lines: ``credit_line.apply_payment``). Returns the succeeded Payment.

    * ``amount``: Decimal rupees > 0, whole paise, at most what the loan owes today (overdue dues, the current
      instalment, and the principal still unpaid).
    * ``idempotency_key``: 1-80 characters, unique per institution; a key already used returns that first
      payment unchanged (``payment.is_duplicate`` is then True), also under concurrency.
    * ``channel``: gateway | officer | api; ``actor``: a User or a string; ``clock``: the app clock.

    Locks the loan row. Raises DomainError: 409 a loan that is not serviced or not open, or a key used on another
    loan; 422 a bad or too large amount; 400 a bad key.
    """
    key = _clean_key(idempotency_key)
    existing = _find_payment(loan.institution_id, key)
    if existing is not None:
        return _replay(existing, loan)
    amount = _clean_amount(amount)
    loan = _locked_loan(loan)
    existing = _find_payment(loan.institution_id, key)  # a concurrent duplicate committed while we waited
    if existing is not None:
        return _replay(existing, loan)
    _check_open(loan)
    as_of = current_business_date(loan.institution_id, clock)
    if loan.kind == "credit_line":
        payment, created = _insert_payment(loan, key=key, amount=amount, channel=channel, actor=actor,
                                           status="initiated")
        if created:
            _apply_credit_line_payment(loan, payment, as_of=as_of, actor=actor, clock=clock)
        return payment
    split = _allocate(loan, amount, as_of)
    payment, created = _insert_payment(loan, key=key, amount=amount, channel=channel, actor=actor,
                                       status="initiated")
    if created:
        _apply_term_payment(loan, payment, split, as_of=as_of, actor=actor, clock=clock)
    return payment


def initiate_gateway_payment(loan: Loan, *, amount: Decimal, idempotency_key: str, actor, clock) -> Payment:
    """Open a gateway payment for ``loan``: a Payment (status initiated, channel gateway, a random
    ``gateway_ref``) that the gateway's signed webhook later confirms or fails. The same ``idempotency_key``
    (the pay form's hidden field) returns the first payment, so a double submit opens one payment.

    Raises DomainError: 409 a loan that is not serviced or not open; 422 an amount <= 0 or above what the loan
    owes today."""
    key = _clean_key(idempotency_key)
    existing = _find_payment(loan.institution_id, key)
    if existing is not None:
        return _replay(existing, loan)
    amount = _clean_amount(amount)
    _check_open(loan)
    as_of = current_business_date(loan.institution_id, clock)
    if loan.kind != "credit_line":
        _allocate(loan, amount, as_of)  # refuse now what could not be applied later
    payment, created = _insert_payment(loan, key=key, amount=amount, channel="gateway", actor=actor,
                                       status="initiated", gateway_ref="gw_" + secrets.token_hex(12))
    if created:
        record(actor, "payment.initiated", payment, changes={"status": (None, "initiated"), "amount": amount,
                                                             "gateway_ref": payment.gateway_ref})
    return payment


def confirm_gateway_payment(payment: Payment, *, actor=GATEWAY_ACTOR, clock) -> Payment:
    """The gateway says ``payment`` succeeded: apply it like ``record_repayment`` (locks the loan, then the
    payment). Idempotent: a payment that is no longer initiated is returned unchanged. When the loan can no
    longer take the amount (paid meanwhile), the payment fails with a reason (money to refund) instead."""
    loan = _locked_loan(payment.loan)
    payment = _locked_payment(payment)
    if payment.status != "initiated":
        return payment
    as_of = current_business_date(loan.institution_id, clock)
    try:
        _check_open(loan)
        if loan.kind == "credit_line":
            _apply_credit_line_payment(loan, payment, as_of=as_of, actor=actor, clock=clock)
            return payment
        split = _allocate(loan, payment.amount, as_of)
    except DomainError as exc:
        return _fail(payment, reason=f"Not applied, to be refunded: {exc.message}"[:200], actor=actor, clock=clock)
    _apply_term_payment(loan, payment, split, as_of=as_of, actor=actor, clock=clock)
    return payment


def _fail(payment: Payment, *, reason: str, actor, clock) -> Payment:
    payment.status, payment.failure_reason = "failed", reason[:200]
    record(actor, "payment.failed", payment, changes={"status": ("initiated", "failed")}, note=reason)
    _tell_customer(payment.loan, "payment.failed", now=clock.now(), loan_id=payment.loan_id,
                   amount=payment.amount, reason=reason)
    return payment


def fail_gateway_payment(payment: Payment, *, reason: str, actor=GATEWAY_ACTOR, clock) -> Payment:
    """The gateway says ``payment`` failed: status failed with ``reason``; nothing is posted. Idempotent (a
    payment no longer initiated is returned unchanged)."""
    payment = _locked_payment(payment)
    if payment.status != "initiated":
        return payment
    return _fail(payment, reason=reason, actor=actor, clock=clock)


# ---- bounce ----------------------------------------------------------------------------------------------------
def _reverse_entry(payment: Payment, as_of: date) -> JournalEntry:
    original = db.session.scalar(select(JournalEntry).where(
        JournalEntry.institution_id == payment.institution_id, JournalEntry.reference == f"payment:{payment.id}"))
    if original is None:
        raise DomainError(f"Payment {payment.id} has no journal entry to reverse.", 409)
    postings = db.session.scalars(select(Posting).where(Posting.entry_id == original.id).order_by(Posting.id)).all()
    lines = [Line(Account(p.account.code), debit=p.credit_amount, credit=p.debit_amount, loan_id=p.loan_id)
             for p in postings]
    return post(payment.institution_id, kind="reversal", reference=f"reversal:{payment.id}", business_date=as_of,
                loan_id=payment.loan_id, memo=f"Payment {payment.id} bounced", lines=lines)


def _restore_rows(loan: Loan, snapshot: list[dict]) -> None:
    """Put back the terms of the rows a prepayment regenerated or removed (what was paid on them is undone
    separately, from the payment's split). Rows it removed come back unpaid."""
    by_seq = {i.seq: i for i in loan.installments}
    for state in snapshot:
        row = by_seq.get(state["seq"])
        if row is None:
            row = Installment(seq=state["seq"], principal_paid_amount=ZERO, interest_paid_amount=ZERO, paid_on=None)
            loan.installments.append(row)
        row.due_on = date.fromisoformat(state["due_on"])
        row.principal_amount, row.interest_amount = Decimal(state["principal"]), Decimal(state["interest"])
        row.installment_amount, row.balance_amount = Decimal(state["installment"]), Decimal(state["balance"])


def bounce_payment(payment: Payment, *, actor, clock, reason: str) -> Payment:
    """``payment`` bounced (a cheque or mandate returned unpaid): its journal entry is reversed exactly
    (``reversal:<id>``), the rows it paid are un-paid (a schedule regenerated by its prepayment is restored),
    the balances and delinquency go back, the payment is marked bounced and the loan's bounce count grows; at
    ``RECOVERY_BOUNCES`` the loan is eligible for recovery (``recovery_eligible``).

    Raises DomainError: 409 when the payment did not succeed (or already bounced), or when it carried a
    prepayment and a later payment on the loan succeeded (bounce that one first); 422 an empty reason.
    """
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Give the reason for the bounce.")
    loan = _locked_loan(payment.loan)
    payment = _locked_payment(payment)
    if payment.status != "succeeded":
        raise DomainError(f"Payment {payment.id} is {payment.status}: only a succeeded payment can bounce.", 409)
    as_of = current_business_date(loan.institution_id, clock)
    data = payment.allocation or {}
    if loan.kind == "credit_line":
        from portal.servicing import credit_line

        reverse = getattr(credit_line, "reverse_payment", None)
        if reverse is None:
            raise DomainError("A bounced credit line payment cannot be reversed here yet.", 409)
        reverse(loan, payment, as_of=as_of, actor=actor)
        interest, principal, from_suspense = (Decimal(str(data.get("interest", "0"))),
                                              Decimal(str(data.get("principal", "0"))), ZERO)
    else:
        interest, principal = Decimal(data["interest"]), Decimal(data["principal"])
        from_suspense = Decimal(data.get("from_suspense", "0"))
        if data.get("rows_before") is not None:
            later = db.session.scalar(select(Payment.id).where(Payment.loan_id == loan.id, Payment.id > payment.id,
                                                               Payment.status == "succeeded"))
            if later is not None:
                raise DomainError(f"Payment {payment.id} prepaid principal and payment {later} came after it: "
                                  f"mark payment {later} as bounced first.", 409)
            _restore_rows(loan, data["rows_before"])
            loan.end_on = date.fromisoformat(data["loan_before"]["end_on"])
        loan.emis_paid_on_time = max(0, loan.emis_paid_on_time - int(data.get("on_time", 0)))
        rows = {i.seq: i for i in loan.installments}
        for seq, row_interest, row_principal in data["rows"]:
            row = rows[seq]
            row.interest_paid_amount -= Decimal(row_interest)
            row.principal_paid_amount -= Decimal(row_principal)
            if row.amount_due > 0:
                row.paid_on = None
    entry = _reverse_entry(payment, as_of)
    loan.principal_outstanding_amount += principal
    loan.interest_receivable_amount += interest
    loan.interest_suspense_amount += from_suspense
    old_status, old_count = loan.status, loan.bounce_count or 0
    loan.bounce_count = old_count + 1
    if loan.kind != "credit_line":  # credit_line.reverse_payment re-ages the line from its bills
        if loan.status == LoanStatus.CLOSED.value:
            loan.status, loan.closed_on = data["loan_before"]["status"], None
        _refresh_delinquency(loan, as_of)
    payment.status, payment.bounced_on, payment.failure_reason = "bounced", as_of, reason[:200]
    db.session.add(LoanTransaction(loan_id=loan.id, kind="reversal", value_on=as_of, amount=payment.amount,
                                   principal_amount=principal, interest_amount=interest, payment_id=payment.id,
                                   journal_entry_id=entry.id, note=f"Payment {payment.id} bounced: {reason}"[:200]))
    changes = {"status": ("succeeded", "bounced"), "amount": payment.amount,
               "bounce_count": (old_count, loan.bounce_count),
               "principal_outstanding": (loan.principal_outstanding_amount - principal,
                                         loan.principal_outstanding_amount)}
    if old_status != loan.status:
        changes["loan_status"] = (old_status, loan.status)
    if recovery_eligible(loan):
        changes["recovery_eligible"] = True
    record(actor, "payment.bounced", payment, changes=changes, note=reason)
    if recovery_eligible(loan):  # issue 6: the second bounce raises an alert, once per loan (two_bounces rules)
        from portal.alerts.services import raise_event_alert

        raise_event_alert("two_bounces", institution_id=loan.institution_id, now=clock.now(), loan_id=loan.id,
                          customer_id=loan.customer_id, dedupe_key=f"bounces:{loan.id}",
                          detail={"bounce_count": loan.bounce_count, "payment_id": payment.id})
    _tell_customer(loan, "payment.bounced", now=clock.now(), loan_id=loan.id, amount=payment.amount, reason=reason)
    return payment


# ---- statement -------------------------------------------------------------------------------------------------
#: how each kind of statement line moves the principal balance
PRINCIPAL_SIGN = {"disbursement": 1, "drawdown": 1, "reversal": 1, "repayment": -1, "prepayment": -1,
                  "write_off": -1}
KIND_LABELS = {"disbursement": "Disbursement", "drawdown": "Drawdown", "repayment": "Repayment",
               "prepayment": "Prepayment", "reversal": "Bounced payment reversed", "write_off": "Write-off",
               "recovery": "Recovery", "fee": "Fee"}


@dataclass(frozen=True)
class StatementLine:
    """A past transaction (rupees): ``principal_balance`` is the principal outstanding after it."""

    value_on: date
    kind: str
    label: str
    amount: Decimal
    principal: Decimal
    interest: Decimal
    fee: Decimal
    principal_balance: Decimal
    note: str | None
    payment_id: int | None


@dataclass(frozen=True)
class UpcomingDue:
    """An instalment with something still to pay (rupees); ``overdue`` when due before the business date."""

    seq: int
    due_on: date
    principal: Decimal
    interest: Decimal
    amount: Decimal
    overdue: bool
    part_paid: bool


@dataclass(frozen=True)
class Statement:
    """A loan's statement on ``as_of`` (seed 004): past transactions with the principal / interest split and
    a running principal balance, and the upcoming dues."""

    loan_id: int
    as_of: date
    lines: list[StatementLine]
    upcoming: list[UpcomingDue]
    principal_outstanding: Decimal
    interest_receivable: Decimal
    due_now: Decimal

    @property
    def next_due(self) -> UpcomingDue | None:
        return self.upcoming[0] if self.upcoming else None

    @property
    def totals(self) -> dict[str, Decimal]:
        return {"principal": sum((u.principal for u in self.upcoming), ZERO),
                "interest": sum((u.interest for u in self.upcoming), ZERO),
                "amount": sum((u.amount for u in self.upcoming), ZERO)}


def statement(loan: Loan, as_of: date) -> Statement:
    """The statement of ``loan`` on business date ``as_of``: every LoanTransaction dated on or before it (oldest
    first, with the principal balance after each) and every instalment with something unpaid."""
    rows = db.session.scalars(select(LoanTransaction).where(LoanTransaction.loan_id == loan.id,
                                                            LoanTransaction.value_on <= as_of)
                              .order_by(LoanTransaction.value_on, LoanTransaction.id)).all()
    balance, lines = ZERO, []
    for t in rows:
        balance += PRINCIPAL_SIGN.get(t.kind, 0) * t.principal_amount
        lines.append(StatementLine(t.value_on, t.kind, KIND_LABELS.get(t.kind, t.kind.replace("_", " ").capitalize()),
                                   t.amount, t.principal_amount, t.interest_amount, t.fee_amount, balance, t.note,
                                   t.payment_id))
    upcoming = [UpcomingDue(i.seq, i.due_on, i.principal_due, i.interest_due, i.amount_due, i.due_on < as_of,
                            bool(i.principal_paid_amount or i.interest_paid_amount))
                for i in loan.installments if i.amount_due > 0]
    return Statement(loan.id, as_of, lines, upcoming, loan.principal_outstanding_amount,
                     loan.interest_receivable_amount, amount_due_now(loan, as_of))
