"""Posting to the ledger, and reading it back (trial balance, balances by account and by loan).

    post(institution_id, kind="repayment", reference=f"payment:{p.id}", business_date=d, loan_id=loan.id,
         lines=[Line(Account.CASH, debit=amount), Line(Account.INTEREST_RECEIVABLE, credit=i, loan_id=loan.id),
                Line(Account.LOAN_PRINCIPAL, credit=p, loan_id=loan.id)])

Amounts are Decimal rupees. ``post`` flushes; the caller's request or job commits, so an entry is written in the
same transaction as the change it records.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, func, select, type_coerce

from portal.errors import DomainError
from portal.extensions import db
from portal.ledger.models import CHART, Account, JournalEntry, LedgerAccount, Posting
from portal.money import as_decimal, quantize

ZERO = Decimal("0.00")


def paise_sum(expression):
    """``coalesce(sum(expression), 0)`` as raw integer paise (SQLAlchemy would otherwise apply the Money type
    of the column to the sum); turn it into rupees with ``rupees()``."""
    return type_coerce(func.coalesce(func.sum(expression), 0), BigInteger)


def rupees(paise) -> Decimal:
    """Integer paise (or a Decimal number of paise from a SQL sum) -> Decimal rupees."""
    from portal.money import from_paise

    return from_paise(int(paise or 0))


class UnbalancedEntry(DomainError):
    """A journal entry whose debits and credits differ (a programming error: nothing is written)."""


@dataclass(frozen=True)
class Line:
    """One line to post: an account code, a debit or a credit in Decimal rupees (>= 0), and the loan if any."""

    account: Account
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    loan_id: int | None = None


def ensure_accounts(institution_id: int) -> dict[Account, int]:
    """Create the institution's chart of accounts if missing (flushes); return ``{Account: ledger_accounts.id}``."""
    rows = {row.code: row.id for row in db.session.scalars(
        select(LedgerAccount).where(LedgerAccount.institution_id == institution_id))}
    missing = [code for code in CHART if code.value not in rows]
    for code in missing:
        name, kind = CHART[code]
        account = LedgerAccount(institution_id=institution_id, code=code.value, name=name, kind=kind.value)
        db.session.add(account)
        db.session.flush()
        rows[code.value] = account.id
    return {code: rows[code.value] for code in CHART}


def account_ids(institution_id: int) -> dict[Account, int]:
    """``{Account: id}`` for the institution (creating the chart on first use)."""
    return ensure_accounts(institution_id)


def post(institution_id: int, *, kind: str, reference: str, business_date: date, lines: list[Line],
         loan_id: int | None = None, memo: str | None = None) -> JournalEntry:
    """Write one balanced journal entry and return it (flushes).

    Zero lines are dropped. Idempotent on ``reference`` (unique per institution): posting the same reference
    again returns the existing entry unchanged. Raises UnbalancedEntry when debits != credits or a line has a
    negative amount or both sides; TypeError for floats.
    """
    existing = db.session.scalar(select(JournalEntry).where(
        JournalEntry.institution_id == institution_id, JournalEntry.reference == reference))
    if existing is not None:
        return existing
    debit_total = credit_total = ZERO
    clean = []
    for line in lines:
        debit, credit = quantize(as_decimal(line.debit, "debit")), quantize(as_decimal(line.credit, "credit"))
        if debit < 0 or credit < 0 or (debit and credit):
            raise UnbalancedEntry(f"ledger line {line.account.name}: a debit or a credit, not negative, not both")
        if debit or credit:
            clean.append((line, debit, credit))
            debit_total += debit
            credit_total += credit
    if debit_total != credit_total:
        raise UnbalancedEntry(f"journal entry {reference}: debits {debit_total} != credits {credit_total}")
    ids = account_ids(institution_id)
    entry = JournalEntry(institution_id=institution_id, kind=kind, reference=reference,
                         business_date=business_date, loan_id=loan_id, memo=memo)
    entry.postings = [Posting(account_id=ids[line.account], loan_id=line.loan_id, debit_amount=debit,
                              credit_amount=credit) for line, debit, credit in clean]
    db.session.add(entry)
    db.session.flush()
    return entry


@dataclass(frozen=True)
class AccountBalance:
    """Totals of one account up to a business date (Decimal rupees); ``balance`` is debit - credit."""

    code: str
    name: str
    kind: str
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        return self.debit - self.credit


def trial_balance(institution_id: int, as_of: date) -> list[AccountBalance]:
    """Debit and credit totals per account of all entries dated on or before ``as_of``, in chart order.
    The debit totals equal the credit totals (a balanced ledger)."""
    ids = ensure_accounts(institution_id)
    debit, credit = paise_sum(Posting.debit_amount), paise_sum(Posting.credit_amount)
    rows = db.session.execute(
        select(Posting.account_id, debit, credit)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(JournalEntry.institution_id == institution_id, JournalEntry.business_date <= as_of)
        .group_by(Posting.account_id)).all()
    totals = {account_id: (rupees(d), rupees(c)) for account_id, d, c in rows}
    out = []
    for code, account_id in ids.items():
        name, kind = CHART[code]
        d, c = totals.get(account_id, (ZERO, ZERO))
        out.append(AccountBalance(code=code.value, name=name, kind=kind.value, debit=d, credit=c))
    return out


@dataclass(frozen=True)
class Movement:
    """One account's movement on one business date by kind of entry (Decimal rupees)."""

    code: str
    name: str
    kind: str
    entries: int
    debit: Decimal
    credit: Decimal


def day_summary(institution_id: int, on: date) -> list[Movement]:
    """The ledger summary of one business date: per entry kind and account, the number of entries and the
    debit and credit totals, in chart order."""
    ids = ensure_accounts(institution_id)
    by_id = {account_id: code for code, account_id in ids.items()}
    rows = db.session.execute(
        select(JournalEntry.kind, Posting.account_id, func.count(func.distinct(JournalEntry.id)),
               paise_sum(Posting.debit_amount), paise_sum(Posting.credit_amount))
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .where(JournalEntry.institution_id == institution_id, JournalEntry.business_date == on)
        .group_by(JournalEntry.kind, Posting.account_id)).all()
    order = list(CHART)
    out = [Movement(code=by_id[account_id].value, name=CHART[by_id[account_id]][0], kind=kind, entries=count,
                    debit=rupees(d), credit=rupees(c))
           for kind, account_id, count, d, c in rows]
    return sorted(out, key=lambda m: (m.kind, order.index(Account(m.code))))


def loan_account_balances(institution_id: int, accounts: list[Account]) -> dict[tuple[int, Account], Decimal]:
    """``{(loan_id, account): debit - credit}`` over the postings that name a loan (Decimal rupees)."""
    ids = account_ids(institution_id)
    by_id = {ids[a]: a for a in accounts}
    net = paise_sum(type_coerce(Posting.debit_amount, BigInteger) - type_coerce(Posting.credit_amount, BigInteger))
    rows = db.session.execute(
        select(Posting.loan_id, Posting.account_id, net)
        .where(Posting.account_id.in_(list(by_id)), Posting.loan_id.is_not(None))
        .group_by(Posting.loan_id, Posting.account_id)).all()
    return {(loan_id, by_id[account_id]): rupees(value) for loan_id, account_id, value in rows}


def unbalanced_entries(institution_id: int | None = None, limit: int = 10) -> list[tuple[int, str, Decimal]]:
    """Entries whose postings do not balance: ``[(entry_id, reference, debit - credit in rupees)]`` (should be
    empty)."""
    net = paise_sum(type_coerce(Posting.debit_amount, BigInteger) - type_coerce(Posting.credit_amount, BigInteger))
    query = (select(JournalEntry.id, JournalEntry.reference, net)
             .join(Posting, Posting.entry_id == JournalEntry.id)
             .group_by(JournalEntry.id, JournalEntry.reference).having(net != 0).order_by(JournalEntry.id)
             .limit(limit))
    if institution_id is not None:
        query = query.where(JournalEntry.institution_id == institution_id)
    return [(i, ref, rupees(v)) for i, ref, v in db.session.execute(query).all()]


__all__ = ["AccountBalance", "Line", "Movement", "UnbalancedEntry", "account_ids", "day_summary", "ensure_accounts",
           "loan_account_balances", "paise_sum", "post", "rupees", "trial_balance", "unbalanced_entries"]
