"""Collections and recovery (issue 6 item 2, seed 000): who works a delinquent loan, the borrower's promises to
pay, recovery cases with their logged actions, and write-offs under maker-checker.

Amounts are Decimal rupees stored as integer paise (``portal.db.Money``); ``*_on`` columns are business dates
(``portal.business_date``), ``*_at`` aware UTC timestamps from the injected clock.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Money, UTCDateTime
from portal.extensions import db

PROMISE_STATUSES: dict[str, str] = {"open": "Open", "kept": "Kept", "broken": "Broken"}
CASE_STATUSES: dict[str, str] = {"open": "Open", "recovered": "Recovered"}
#: why a loan qualified for recovery (seed 000: two bounces, or NPA; a written-off loan stays recoverable)
CASE_REASONS: dict[str, str] = {"bounces": "Two or more bounces", "npa": "NPA", "written_off": "Written off"}
ACTION_KINDS: dict[str, str] = {"call": "Call", "visit": "Visit", "notice": "Notice",
                                "settlement_offer": "Settlement offer"}
ACTION_OUTCOMES: dict[str, str] = {
    "contacted": "Contacted", "no_contact": "No contact", "promised": "Promised to pay",
    "refused": "Refused to pay", "disputed": "Disputes the debt", "notice_served": "Notice served",
    "offer_made": "Offer made", "offer_accepted": "Offer accepted", "offer_rejected": "Offer rejected",
}
WRITE_OFF_STATUSES: dict[str, str] = {"proposed": "Awaiting checker", "approved": "Approved",
                                      "rejected": "Rejected"}


def _known(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CollectionAssignment(db.Model):
    """The collections officer working a loan (at most one per loan; no row: unassigned)."""

    __tablename__ = "collection_assignments"
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), unique=True)
    collector_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime)

    collector = relationship("User", foreign_keys=[collector_id])


class PromiseToPay(db.Model):
    """A borrower's promise to pay ``promised_amount`` rupees by business date ``promised_on``, made on business
    date ``made_on``. ``status`` open -> kept (succeeded payments received from ``made_on`` to ``promised_on``
    cover the amount) | broken (``promised_on`` passed without that); ``paid_amount`` is what those payments
    came to at the last evaluation (``services.evaluate_promises``)."""

    __tablename__ = "promises_to_pay"
    __table_args__ = (
        CheckConstraint("promised_amount > 0", name="amount_positive"),
        CheckConstraint("promised_on >= made_on", name="promised_after_made"),
        CheckConstraint(_known("status", PROMISE_STATUSES), name="status_known"),
        Index("ix_promises_to_pay_institution_status", "institution_id", "status", "promised_on"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    promised_amount: Mapped[Decimal] = mapped_column(Money)
    promised_on: Mapped[date] = mapped_column(Date)
    made_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    paid_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    evaluated_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    created_by = relationship("User")

    @property
    def status_label(self) -> str:
        return PROMISE_STATUSES.get(self.status, self.status)


class RecoveryCase(db.Model):
    """Recovery of one loan (seed 000), opened when the loan qualifies (``reason``) and completed with the
    amount recovered. ``completion``: ``repayment`` (an open loan: the money went through
    ``servicing.services.record_repayment``, ``payment_id``) or ``recovery`` (a written-off loan: Dr 1000 cash /
    Cr 4200 recoveries, ``journal_entry_id``). At most one open case per loan (partial unique index)."""

    __tablename__ = "recovery_cases"
    __table_args__ = (
        CheckConstraint(_known("status", CASE_STATUSES), name="status_known"),
        CheckConstraint(_known("reason", CASE_REASONS), name="reason_known"),
        CheckConstraint("recovered_amount IS NULL OR recovered_amount > 0", name="recovered_positive"),
        Index("ix_recovery_cases_one_open", "loan_id", unique=True, postgresql_where=text("status = 'open'"),
              sqlite_where=text("status = 'open'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="open")
    reason: Mapped[str] = mapped_column(String(12))
    opened_on: Mapped[date] = mapped_column(Date)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recovered_amount: Mapped[Decimal | None] = mapped_column(Money)
    completion: Mapped[str | None] = mapped_column(String(10))  # repayment | recovery
    completed_on: Mapped[date | None] = mapped_column(Date)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    journal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))

    opened_by = relationship("User", foreign_keys=[opened_by_id])
    completed_by = relationship("User", foreign_keys=[completed_by_id])

    @property
    def status_label(self) -> str:
        return CASE_STATUSES.get(self.status, self.status)

    @property
    def reason_label(self) -> str:
        return CASE_REASONS.get(self.reason, self.reason)


class RecoveryAction(db.Model):
    """One thing a collections officer did about a loan (call, visit, notice, settlement offer), with its
    outcome and notes; tied to the loan's open recovery case when there is one."""

    __tablename__ = "recovery_actions"
    __table_args__ = (
        CheckConstraint(_known("kind", ACTION_KINDS), name="kind_known"),
        CheckConstraint(_known("outcome", ACTION_OUTCOMES), name="outcome_known"),
        CheckConstraint("offer_amount IS NULL OR offer_amount > 0", name="offer_positive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("recovery_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    offer_amount: Mapped[Decimal | None] = mapped_column(Money)  # a settlement offer's amount (rupees)
    note: Mapped[str | None] = mapped_column(String(1000))
    acted_on: Mapped[date] = mapped_column(Date)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    actor = relationship("User")

    @property
    def kind_label(self) -> str:
        return ACTION_KINDS.get(self.kind, self.kind)

    @property
    def outcome_label(self) -> str:
        return ACTION_OUTCOMES.get(self.outcome, self.outcome)


class WriteOff(db.Model):
    """A write-off under maker-checker: a collections officer proposes (maker), a risk officer or admin who is
    not the maker approves or rejects (checker; ``maker_is_not_checker`` enforces it in the database too).
    The amounts are the loan's at the proposal, replaced by those written off at approval: principal
    (Dr 5000 / Cr 1100), interest receivable (Dr 2100 / Cr 1200 for the part in suspense, Dr 5000 / Cr 1200
    for the rest). At most one proposed or approved write-off per loan (partial unique index)."""

    __tablename__ = "write_offs"
    __table_args__ = (
        CheckConstraint(_known("status", WRITE_OFF_STATUSES), name="status_known"),
        CheckConstraint("checked_by_id IS NULL OR checked_by_id <> proposed_by_id", name="maker_is_not_checker"),
        CheckConstraint("principal_amount >= 0 AND interest_amount >= 0 AND suspense_amount >= 0",
                        name="amounts_not_negative"),
        Index("ix_write_offs_one_live", "loan_id", unique=True,
              postgresql_where=text("status IN ('proposed', 'approved')"),
              sqlite_where=text("status IN ('proposed', 'approved')")),
        Index("ix_write_offs_institution_status", "institution_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("recovery_cases.id"))
    status: Mapped[str] = mapped_column(String(10), default="proposed")
    principal_amount: Mapped[Decimal] = mapped_column(Money)
    interest_amount: Mapped[Decimal] = mapped_column(Money)
    suspense_amount: Mapped[Decimal] = mapped_column(Money)  # the part of interest_amount held in suspense
    reason: Mapped[str] = mapped_column(String(1000))
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    checked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_note: Mapped[str | None] = mapped_column(String(1000))
    written_off_on: Mapped[date | None] = mapped_column(Date)
    journal_entry_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entries.id"))

    loan = relationship("Loan")
    proposed_by = relationship("User", foreign_keys=[proposed_by_id])
    checked_by = relationship("User", foreign_keys=[checked_by_id])

    @property
    def total_amount(self) -> Decimal:
        """Principal plus interest written off (rupees)."""
        return self.principal_amount + self.interest_amount

    @property
    def status_label(self) -> str:
        return WRITE_OFF_STATUSES.get(self.status, self.status)
