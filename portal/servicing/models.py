"""Payments, loan transactions (the statement lines), daily accruals, credit line billing statements, and the
close-of-business runs.

Amounts are Decimal rupees stored as paise; dates are business dates.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Money, UTCDateTime, utcnow
from portal.extensions import db


class Payment(db.Model):
    """Money in for a loan: from the gateway sandbox, recorded by an officer, or through the API.

    ``idempotency_key`` is unique per institution: the same key sent again returns the first payment.
    Status: initiated (gateway page open) -> succeeded (allocated and posted) -> bounced (reversed), or failed.
    ``allocation`` records where the money went: ``{"overdue_interest": "..", "overdue_principal": "..",
    "current_interest": "..", "current_principal": "..", "prepayment": "..", "rows": [[seq, interest, principal]]}``.
    """

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("institution_id", "idempotency_key"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(80))
    channel: Mapped[str] = mapped_column(String(20))  # gateway | officer | api
    amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[str] = mapped_column(String(12), default="initiated")
    gateway_ref: Mapped[str | None] = mapped_column(String(64), unique=True)
    received_on: Mapped[date | None] = mapped_column(Date)
    allocation: Mapped[dict | None] = mapped_column(JSON)
    bounced_on: Mapped[date | None] = mapped_column(Date)
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    loan = relationship("Loan")


class LoanTransaction(db.Model):
    """One line of a loan's statement: disbursement, drawdown, repayment, prepayment, reversal (bounce),
    recovery, write-off, fee; with the principal / interest split (rupees)."""

    __tablename__ = "loan_transactions"
    __table_args__ = (Index("ix_loan_transactions_loan_on", "loan_id", "value_on", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    kind: Mapped[str] = mapped_column(String(20))
    value_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    principal_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    interest_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    fee_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    journal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Accrual(db.Model):
    """Interest accrued on one loan for one business date (the sub-ledger of the daily accrual entry).
    ``to_suspense``: accrued while NPA, held in interest suspense instead of income."""

    __tablename__ = "accruals"
    __table_args__ = (UniqueConstraint("loan_id", "accrued_on"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"))
    accrued_on: Mapped[date] = mapped_column(Date, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    to_suspense: Mapped[bool] = mapped_column(default=False)


class BillingStatement(db.Model):
    """A credit line's bill for one 30-day cycle (seed 004): minimum due = 3 % of the principal balance + the
    interest accrued in the cycle, plus unpaid past dues carried forward; due 15 days after the billing date."""

    __tablename__ = "billing_statements"
    __table_args__ = (UniqueConstraint("loan_id", "billed_on"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    cycle_start_on: Mapped[date] = mapped_column(Date)
    billed_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    principal_balance_amount: Mapped[Decimal] = mapped_column(Money)
    interest_amount: Mapped[Decimal] = mapped_column(Money)
    past_due_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    minimum_due_amount: Mapped[Decimal] = mapped_column(Money)
    paid_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))


class CobRun(db.Model):
    """One close of business of one institution for one business date; resumable step by step.

    ``steps`` is a list of ``{"name", "status": pending|running|done, "count", "seconds", "cursor"}`` in order:
    accrual, billing, due_marking, classification, snapshot, reminders, advance_date.
    """

    __tablename__ = "cob_runs"
    __table_args__ = (UniqueConstraint("institution_id", "business_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    business_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="queued")  # queued|running|done|failed
    steps: Mapped[list] = mapped_column(JSON, default=list)
    loans_total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_by: Mapped[str | None] = mapped_column(String(120))


class WebhookReceipt(db.Model):
    """Every payment-gateway webhook accepted (its event id is unique): a replay is recognised and ignored."""

    __tablename__ = "webhook_receipts"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(80), unique=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["Accrual", "BillingStatement", "CobRun", "LoanTransaction", "Payment", "WebhookReceipt"]
