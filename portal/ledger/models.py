"""Ledger accounts, journal entries and postings.

Amounts are Decimal rupees stored as integer paise (``portal.db.Money``). A posting is either a debit or a credit
(one of the two amounts is zero). An entry is balanced: the sum of its debits equals the sum of its credits
(checked by ``services.post`` before anything is written, and by ``flask --app wsgi ledger-check``).

Postings carry the loan they belong to when the entry is about one loan (disbursement, repayment, reversal,
write-off, recovery). The nightly interest accrual is posted as one entry per institution and business date
(one posting pair for income, one for suspense); its per-loan detail is the ``accruals`` table (the
sub-ledger), so a 1,000,000-loan book accrues in one statement instead of 2,000,000 postings.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Money, UTCDateTime, utcnow
from portal.extensions import db


class AccountKind(StrEnum):
    """The five account types; assets and expenses have a debit normal balance, the rest a credit one."""

    ASSET = "asset"
    LIABILITY = "liability"
    INCOME = "income"
    EXPENSE = "expense"
    EQUITY = "equity"


class Account(StrEnum):
    """Chart of accounts codes used by the lending rules (one set per institution)."""

    CASH = "1000"                 # cash / bank (collections and disbursement account)
    LOAN_PRINCIPAL = "1100"       # loans and advances: outstanding principal
    INTEREST_RECEIVABLE = "1200"  # interest accrued, not yet paid
    INTEREST_SUSPENSE = "2100"    # interest accrued on NPA loans, not recognised as income (RBI IRAC)
    INTEREST_INCOME = "4000"
    FEE_INCOME = "4100"           # processing fees, bounce charges
    RECOVERIES = "4200"           # recoveries of written-off loans
    WRITE_OFF = "5000"            # loan losses written off


CHART: dict[Account, tuple[str, AccountKind]] = {
    Account.CASH: ("Cash and bank", AccountKind.ASSET),
    Account.LOAN_PRINCIPAL: ("Loans: outstanding principal", AccountKind.ASSET),
    Account.INTEREST_RECEIVABLE: ("Interest receivable", AccountKind.ASSET),
    Account.INTEREST_SUSPENSE: ("Interest in suspense (NPA)", AccountKind.LIABILITY),
    Account.INTEREST_INCOME: ("Interest income", AccountKind.INCOME),
    Account.FEE_INCOME: ("Fee income", AccountKind.INCOME),
    Account.RECOVERIES: ("Recoveries of written-off loans", AccountKind.INCOME),
    Account.WRITE_OFF: ("Loans written off", AccountKind.EXPENSE),
}


class LedgerAccount(db.Model):
    """One account of an institution's chart of accounts."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("institution_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    code: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(10))


class JournalEntry(db.Model):
    """One balanced journal entry. ``reference`` is unique per institution and makes posting idempotent
    (e.g. ``accrual:2026-11-23:income``, ``payment:812``, ``reversal:812``)."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        UniqueConstraint("institution_id", "reference"),
        Index("ix_journal_entries_institution_date", "institution_id", "business_date"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    business_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))  # disbursement|accrual|repayment|reversal|recovery|write_off|npa
    reference: Mapped[str] = mapped_column(String(80))
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"), index=True)
    memo: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    postings: Mapped[list[Posting]] = relationship(back_populates="entry", cascade="all, delete-orphan")


class Posting(db.Model):
    """One line of a journal entry: a debit or a credit to one account, optionally for one loan."""

    __tablename__ = "postings"
    __table_args__ = (
        CheckConstraint("debit_amount >= 0 AND credit_amount >= 0", name="amounts_not_negative"),
        CheckConstraint("(debit_amount = 0) <> (credit_amount = 0)", name="debit_or_credit"),
        Index("ix_postings_account_loan", "account_id", "loan_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"))
    debit_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    credit_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))

    entry: Mapped[JournalEntry] = relationship(back_populates="postings")
    account: Mapped[LedgerAccount] = relationship()
