"""Products, applications (with their events), loans and their amortization schedules.

Amounts are Decimal rupees (stored as paise), rates Decimal % per annum, tenures in months.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Money, Rate, Timestamped, UTCDateTime, utcnow
from portal.extensions import db
from portal.lending.states import ApplicationStatus, LoanStatus


class Product(Timestamped, db.Model):
    """A loan product of an institution: amount, tenure and rate bounds (seed 003 term loan by default)."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("institution_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(30), default="term_loan")
    min_amount: Mapped[Decimal] = mapped_column(Money)
    max_amount: Mapped[Decimal] = mapped_column(Money)
    min_tenure: Mapped[int] = mapped_column(Integer)
    max_tenure: Mapped[int] = mapped_column(Integer)
    interest_rate: Mapped[Decimal] = mapped_column(Rate)  # the rate the product offers, % p.a.
    active: Mapped[bool] = mapped_column(default=True)


class LoanApplication(Timestamped, db.Model):
    """A customer's request for a loan, with the seed 003 eligibility result captured at scoring."""

    __tablename__ = "loan_applications"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("tenure > 0", name="tenure_positive"),
        Index("ix_loan_applications_queue", "institution_id", "status", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    tenure: Mapped[int] = mapped_column(Integer)
    interest_rate: Mapped[Decimal] = mapped_column(Rate)
    status: Mapped[str] = mapped_column(String(20), default=ApplicationStatus.DRAFT)
    credit_score: Mapped[int | None] = mapped_column(Integer)
    score_band: Mapped[str | None] = mapped_column(String(2), index=True)
    corrected_interest_rate: Mapped[Decimal | None] = mapped_column(Rate)
    monthly_installment: Mapped[Decimal | None] = mapped_column(Money)
    eligible: Mapped[bool | None] = mapped_column()
    score_detail: Mapped[dict | None] = mapped_column(JSON)  # components, checks, as_of
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)

    customer = relationship("Customer")
    product: Mapped[Product] = relationship()
    decided_by = relationship("User", foreign_keys=[decided_by_id])
    assigned_to = relationship("User", foreign_keys=[assigned_to_id])
    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application", order_by="ApplicationEvent.id"
    )
    loan: Mapped[Loan | None] = relationship(back_populates="application", uselist=False)


class ApplicationEvent(db.Model):
    """One step in an application's timeline: a status change or a note, with its actor."""

    __tablename__ = "application_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_applications.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    application: Mapped[LoanApplication] = relationship(back_populates="events")


class Loan(Timestamped, db.Model):
    """A term loan: sanctioned and disbursed in the portal, or imported from a book.

    ``external_loan_id`` is the file's Loan ID, unique only per customer (shared/data/README.md).
    ``monthly_installment`` is the EMI (imported loans keep the file's 'Monthly payment').
    """

    __tablename__ = "loans"
    __table_args__ = (
        UniqueConstraint("customer_id", "external_loan_id"),
        CheckConstraint("loan_amount > 0", name="loan_amount_positive"),
        CheckConstraint("tenure > 0", name="tenure_positive"),
        Index("ix_loans_institution_status", "institution_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    application_id: Mapped[int | None] = mapped_column(ForeignKey("loan_applications.id"), unique=True)
    external_loan_id: Mapped[int | None] = mapped_column(Integer)
    loan_amount: Mapped[Decimal] = mapped_column(Money)
    tenure: Mapped[int] = mapped_column(Integer)
    interest_rate: Mapped[Decimal] = mapped_column(Rate)
    monthly_installment: Mapped[Decimal] = mapped_column(Money)
    emis_paid_on_time: Mapped[int] = mapped_column(Integer, default=0)
    approved_on: Mapped[date] = mapped_column(Date)
    disbursed_on: Mapped[date | None] = mapped_column(Date)
    end_on: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), default=LoanStatus.ACTIVE)
    source: Mapped[str] = mapped_column(String(20), default="portal")  # portal | import | api
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))

    customer = relationship("Customer")
    application: Mapped[LoanApplication | None] = relationship(back_populates="loan")
    installments: Mapped[list[Installment]] = relationship(
        back_populates="loan", order_by="Installment.seq", cascade="all, delete-orphan"
    )

    def is_current(self, as_of: date) -> bool:
        """Current debt (seed 003): a loan whose end date is after the business date."""
        return self.end_on > as_of and self.status not in (LoanStatus.CLOSED, LoanStatus.WRITTEN_OFF)

    def emis_due(self, as_of: date) -> int:
        """EMIs that have fallen due by ``as_of``: whole months since approval, at most the tenure."""
        months = (as_of.year - self.approved_on.year) * 12 + (as_of.month - self.approved_on.month)
        if as_of.day < self.approved_on.day:
            months -= 1
        return max(0, min(self.tenure, months))

    def repayments_left(self, as_of: date) -> int:
        """EMIs still to pay (seed 003 ``repayments_left``): tenure minus EMIs paid (on time, as recorded
        in the book) for imported loans; tenure minus paid instalments for portal loans."""
        if self.installments:
            return sum(1 for i in self.installments if i.paid_on is None)
        return max(0, self.tenure - self.emis_paid_on_time)


class Installment(db.Model):
    """One row of a loan's amortization schedule (rupees)."""

    __tablename__ = "installments"
    __table_args__ = (UniqueConstraint("loan_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    principal_amount: Mapped[Decimal] = mapped_column(Money)
    interest_amount: Mapped[Decimal] = mapped_column(Money)
    installment_amount: Mapped[Decimal] = mapped_column(Money)
    balance_amount: Mapped[Decimal] = mapped_column(Money)
    paid_on: Mapped[date | None] = mapped_column(Date)

    loan: Mapped[Loan] = relationship(back_populates="installments")
