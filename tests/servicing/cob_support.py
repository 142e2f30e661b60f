"""Helpers for the close-of-business tests: a serviced book built directly (schedule rows, balances and the
disbursement's journal entry, as ``lending.services.disburse`` makes them), and a snapshot of everything the
close of business writes, with ids replaced by positions so two identical books can be compared."""
from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from portal.extensions import db
from portal.lending.models import Installment, Loan
from portal.lending.schedule import amortization_schedule

_phones = itertools.count(1)


def make_institution(slug: str):
    """A second lender with its chart of accounts."""
    from portal.auth.models import Institution
    from portal.ledger.services import ensure_accounts

    institution = Institution(slug=slug, name=slug.title())
    db.session.add(institution)
    db.session.flush()
    ensure_accounts(institution.id)
    return institution


def make_borrower(institution=None, *, password: str | None = None):
    from portal.onboarding.services import register_customer

    return register_customer(first_name="Book", last_name="Borrower", age=35, phone_number=f"8{next(_phones):09d}",
                             monthly_salary=Decimal("80000"), password=password, institution=institution)


def make_serviced_loan(customer, *, start: date, amount: str = "100000.00", rate: str = "12", tenure: int = 12,
                       kind: str = "term_loan") -> Loan:
    """A disbursed term loan of ``customer`` serviced from ``start`` (flushes)."""
    from portal.lending.services import post_disbursement

    principal = Decimal(amount)
    rows = amortization_schedule(principal, Decimal(rate), tenure, start)
    loan = Loan(institution_id=customer.institution_id, customer_id=customer.id, loan_amount=principal,
                tenure=tenure, interest_rate=Decimal(rate), monthly_installment=rows[0].installment,
                approved_on=start, disbursed_on=start, end_on=rows[-1].due_on, status="active", source="portal",
                serviced=True, kind=kind, principal_outstanding_amount=principal, period_start_on=start,
                next_due_on=rows[0].due_on, period_interest_amount=rows[0].interest,
                period_accrued_amount=Decimal("0.00"))
    loan.installments = [Installment(seq=r.seq, due_on=r.due_on, principal_amount=r.principal,
                                     interest_amount=r.interest, installment_amount=r.installment,
                                     balance_amount=r.balance) for r in rows]
    db.session.add(loan)
    db.session.flush()
    post_disbursement(loan, amount=principal, fee=Decimal("0.00"), as_of=start)
    return loan


def make_credit_line(customer, *, start: date, drawn: str = "20000.00", apr: str = "24", limit: str = "50000.00"):
    """An open credit line with ``drawn`` rupees drawn on ``start`` (Dr 1100 / Cr 1000)."""
    from portal.ledger.models import Account
    from portal.ledger.services import Line, post

    amount = Decimal(drawn)
    loan = Loan(institution_id=customer.institution_id, customer_id=customer.id, loan_amount=Decimal(limit),
                tenure=1, interest_rate=Decimal(apr), monthly_installment=Decimal("0.00"), approved_on=start,
                disbursed_on=start, end_on=date(start.year + 5, start.month, 1), status="active", source="portal",
                serviced=True, kind="credit_line", principal_outstanding_amount=amount,
                credit_limit_amount=Decimal(limit), billing_anchor_on=start)
    db.session.add(loan)
    db.session.flush()
    post(customer.institution_id, kind="drawdown", reference=f"drawdown:test:{loan.id}", business_date=start,
         loan_id=loan.id, lines=[Line(Account.LOAN_PRINCIPAL, debit=amount, loan_id=loan.id),
                                 Line(Account.CASH, credit=amount, loan_id=loan.id)])
    return loan


def pay_installments(loan: Loan, *seqs: int, paid_on: date | None = None) -> None:
    """Mark schedule rows paid in full (the schedule only: enough for DPD tests, not for the ledger)."""
    for row in loan.installments:
        if row.seq in seqs:
            row.principal_paid_amount, row.interest_paid_amount = row.principal_amount, row.interest_amount
            row.paid_on = paid_on or row.due_on
    db.session.flush()


def snapshot(institution_id: int) -> dict:
    """What the close of business owns, for one institution, with loan ids replaced by their position: loans'
    balances and classes, accruals, journal entries with postings, reminders, business date, and runs."""
    from portal.business_date import BusinessDate
    from portal.ledger.models import JournalEntry, LedgerAccount, Posting
    from portal.notifications.models import Notification
    from portal.servicing.models import Accrual, CobRun

    db.session.expire_all()
    loans = db.session.scalars(select(Loan).where(Loan.institution_id == institution_id).order_by(Loan.id)).all()
    pos = {loan.id: n for n, loan in enumerate(loans)}
    fields = ("status", "principal_outstanding_amount", "interest_receivable_amount", "interest_suspense_amount",
              "period_start_on", "next_due_on", "period_interest_amount", "period_accrued_amount",
              "last_accrued_on", "dpd", "asset_class", "npa_since_on")
    accounts = dict(db.session.execute(select(LedgerAccount.id, LedgerAccount.code)
                                       .where(LedgerAccount.institution_id == institution_id)).all())
    entries = []
    for entry in db.session.scalars(select(JournalEntry).where(JournalEntry.institution_id == institution_id)
                                    .order_by(JournalEntry.reference)):
        lines = sorted((accounts[p.account_id], pos.get(p.loan_id), p.debit_amount, p.credit_amount)
                       for p in db.session.scalars(select(Posting).where(Posting.entry_id == entry.id)))
        # loan ids in references (disbursement:<id>, accrual:<date>:due:<first id of the chunk>) -> positions
        reference = ":".join(f"#{pos[int(part)]}" if part.isdigit() and int(part) in pos else part
                             for part in entry.reference.split(":"))
        entries.append((reference, entry.kind, entry.business_date, lines))
    customers = sorted({loan.customer_id for loan in loans})
    notes = sorted((n.event, _mask(n.subject, pos) or "", _mask(n.body, pos), n.channel, n.status,
                    _mask_key(n.dedupe_key, pos))
                   for n in db.session.scalars(select(Notification).where(Notification.customer_id.in_(customers))))
    return {
        "loans": [tuple(getattr(loan, f) for f in fields) for loan in loans],
        "accruals": sorted((pos[a.loan_id], a.accrued_on, a.amount, a.to_suspense) for a in db.session.scalars(
            select(Accrual).where(Accrual.loan_id.in_(list(pos))))),
        "entries": sorted(entries, key=lambda e: (e[0], e[2])),
        "notifications": notes,
        "business_date": db.session.get(BusinessDate, institution_id).current_on,
        "runs": [(r.business_date, r.status, [(s["name"], s["status"], s["count"]) for s in r.steps])
                 for r in db.session.scalars(select(CobRun).where(CobRun.institution_id == institution_id)
                                             .order_by(CobRun.business_date))],
    }


def _mask(text: str | None, pos: dict[int, int]) -> str | None:
    if text is None:
        return None
    for loan_id in sorted(pos, reverse=True):
        text = text.replace(f"loan {loan_id}", f"loan #{pos[loan_id]}").replace(f"Loan {loan_id}",
                                                                               f"Loan #{pos[loan_id]}")
    return text


def _mask_key(key: str | None, pos: dict[int, int]) -> str:
    """A reminder's dedupe key ("emi.due:<loan id>:<date>:<channel>") with the loan id replaced by its position."""
    if not key:
        return ""
    event, loan_id, rest = key.split(":", 2)
    return f"{event}:#{pos.get(int(loan_id), loan_id)}:{rest}"
