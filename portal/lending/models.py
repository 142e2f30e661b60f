"""Products, applications (with their events, information requests, overrides and offers), loans and their
amortization schedules.

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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Money, Rate, Timestamped, UTCDateTime, utcnow
from portal.extensions import db
from portal.lending.states import OPEN_FOR_REVIEW, ApplicationStatus, LoanStatus


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
    # Key Facts Statement (item 8): the processing fee is a share of the sanctioned amount, capped, and is
    # deducted from the disbursement; the penal charge is a % p.a. of an overdue instalment (RBI: a charge,
    # never added to the interest rate).
    processing_fee_rate: Mapped[Decimal] = mapped_column(Rate, default=Decimal("1.00"))
    processing_fee_cap_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("10000.00"))
    penal_charge_rate: Mapped[Decimal] = mapped_column(Rate, default=Decimal("2.00"))
    # servicing (issue 5): how the schedule is built, and the credit line apply rules of seed 004
    interest_method: Mapped[str] = mapped_column(String(20), default="emi", server_default="emi")
    day_count: Mapped[str] = mapped_column(String(10), default="30/360", server_default="30/360")
    min_score: Mapped[int | None] = mapped_column(Integer)  # credit line: savings-balance score >= 450
    min_annual_income_amount: Mapped[Decimal | None] = mapped_column(Money)  # credit line: >= 1,50,000


#: an application waiting for a decision (states.OPEN_FOR_REVIEW; the predicate of the partial index
#: ix_loan_applications_open_queue — queries must filter on exactly these statuses for PostgreSQL to use it)
_OPEN_QUEUE_ROW = "status IN ({})".format(", ".join(f"'{s.value}'" for s in OPEN_FOR_REVIEW))


class LoanApplication(Timestamped, db.Model):
    """A customer's request for a loan, with the seed 003 eligibility result captured at scoring."""

    __tablename__ = "loan_applications"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("tenure > 0", name="tenure_positive"),
        Index("ix_loan_applications_queue", "institution_id", "status", "id"),
        # the applications waiting for a decision (partial): the review queue's default view (first page by id
        # and its total) reads this index alone instead of walking the primary key past every decided application
        # of the book (EXPLAIN ANALYZE, 300,000 applications: 47 ms -> 0.03 ms for the first page)
        Index("ix_loan_applications_open_queue", "institution_id", "id", postgresql_where=text(_OPEN_QUEUE_ROW),
              sqlite_where=text(_OPEN_QUEUE_ROW)),
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
    rejection_code: Mapped[str | None] = mapped_column(String(30))  # review.REJECTION_REASONS
    idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # review SLA: a decision is due this many business days after (re)submission (config REVIEW_SLA_BUSINESS_DAYS)
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    customer = relationship("Customer")
    product: Mapped[Product] = relationship()
    decided_by = relationship("User", foreign_keys=[decided_by_id])
    assigned_to = relationship("User", foreign_keys=[assigned_to_id])
    events: Mapped[list[ApplicationEvent]] = relationship(
        back_populates="application", order_by="ApplicationEvent.id"
    )
    loan: Mapped[Loan | None] = relationship(back_populates="application", uselist=False)
    info_requests: Mapped[list[InfoRequest]] = relationship(back_populates="application",
                                                            order_by="InfoRequest.id")
    overrides: Mapped[list[Override]] = relationship(back_populates="application", order_by="Override.id")
    offers: Mapped[list[Offer]] = relationship(back_populates="application", order_by="Offer.id")

    @property
    def open_info_request(self) -> InfoRequest | None:
        """The question the customer has not answered yet (at most one is open)."""
        return next((r for r in self.info_requests if r.answered_at is None), None)

    @property
    def current_offer(self) -> Offer | None:
        """The latest offer (any status)."""
        return self.offers[-1] if self.offers else None


class ApplicationEvent(db.Model):
    """One step in an application's timeline, with its actor: a status change (``kind`` "status") or a note,
    an information request or answer, an escalation reason, an override, an offer or an assignment.
    ``internal`` events (officers' notes, override reasons) are shown to staff only, never to the customer."""

    __tablename__ = "application_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_applications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="status")
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column(default=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    application: Mapped[LoanApplication] = relationship(back_populates="events")


class InfoRequest(db.Model):
    """A question an officer asks the customer (application -> info_requested) and the customer's answer
    (-> submitted, scored again)."""

    __tablename__ = "application_info_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_applications.id"), index=True)
    question: Mapped[str] = mapped_column(Text)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    application: Mapped[LoanApplication] = relationship(back_populates="info_requests")
    requested_by = relationship("User")


class Override(db.Model):
    """Maker-checker override of a failed eligibility rule (``rule`` is a check name such as "emi_burden"):
    the maker writes the reason, a second person (a risk officer, never the maker) approves or rejects it."""

    __tablename__ = "application_overrides"
    __table_args__ = (
        CheckConstraint("checker_id IS NULL OR checker_id <> maker_id", name="checker_is_not_maker"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status_known"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_applications.id"), index=True)
    rule: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text)
    maker_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    checker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    checker_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    application: Mapped[LoanApplication] = relationship(back_populates="overrides")
    maker = relationship("User", foreign_keys=[maker_id])
    checker = relationship("User", foreign_keys=[checker_id])


class Offer(db.Model):
    """The terms offered to the customer after an approval (or a counter-offer), with the Key Facts Statement.

    ``kfs`` is the canonical JSON of the KFS as issued; on acceptance ``kfs_html`` keeps the document exactly
    as shown (the HTML rendered from ``kfs``) and ``kfs_sha256`` its digest, for the customer to download
    again. Status: offered -> accepted | declined | expired."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("tenure > 0", name="tenure_positive"),
        CheckConstraint("processing_fee_amount >= 0", name="fee_not_negative"),
        CheckConstraint("status IN ('offered', 'accepted', 'declined', 'expired')", name="status_known"),
        Index("ix_offers_status_expires_at", "status", "expires_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("loan_applications.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="standard")  # standard | counter
    amount: Mapped[Decimal] = mapped_column(Money)
    interest_rate: Mapped[Decimal] = mapped_column(Rate)
    rate_type: Mapped[str] = mapped_column(String(10), default="fixed")
    tenure: Mapped[int] = mapped_column(Integer)
    emi_amount: Mapped[Decimal] = mapped_column(Money)
    processing_fee_amount: Mapped[Decimal] = mapped_column(Money)
    net_disbursed_amount: Mapped[Decimal] = mapped_column(Money)
    total_interest_amount: Mapped[Decimal] = mapped_column(Money)
    total_payable_amount: Mapped[Decimal] = mapped_column(Money)
    apr: Mapped[Decimal] = mapped_column(Rate)  # % p.a., two decimals
    status: Mapped[str] = mapped_column(String(10), default="offered")
    offered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_ip: Mapped[str | None] = mapped_column(String(45))
    kfs: Mapped[dict] = mapped_column(JSON)
    kfs_html: Mapped[str | None] = mapped_column(Text)
    kfs_sha256: Mapped[str | None] = mapped_column(String(64))

    application: Mapped[LoanApplication] = relationship(back_populates="offers")
    offered_by = relationship("User")

    def is_open(self, now: datetime) -> bool:
        """Offered and not yet past its expiry."""
        return self.status == "offered" and now < self.expires_at


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
        Index("ix_loans_serviced", "institution_id", "serviced", "id"),
        CheckConstraint("principal_outstanding_amount >= 0", name="principal_not_negative"),
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

    # --- servicing (issue 5; portal/servicing). Loans serviced in the portal (``serviced``) carry their balances
    # here, kept equal to the ledger by every service (``flask --app wsgi ledger-check`` proves it). Imported
    # book loans are history for the seed 003 score and are not serviced.
    serviced: Mapped[bool] = mapped_column(default=False, server_default="0")
    kind: Mapped[str] = mapped_column(String(20), default="term_loan", server_default="term_loan")
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    interest_method: Mapped[str] = mapped_column(String(20), default="emi", server_default="emi")
    day_count: Mapped[str] = mapped_column(String(10), default="30/360", server_default="30/360")
    principal_outstanding_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    interest_receivable_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    #: interest accrued while NPA and not recognised as income (RBI IRAC); part of interest_receivable_amount
    interest_suspense_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    #: the accrual period now running (term loans: from the previous due date, or disbursement, to the next one)
    period_start_on: Mapped[date | None] = mapped_column(Date)
    next_due_on: Mapped[date | None] = mapped_column(Date)
    period_interest_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    period_accrued_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    last_accrued_on: Mapped[date | None] = mapped_column(Date)
    #: delinquency: days past due from the oldest unpaid due date, RBI asset class, first day as NPA
    dpd: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    asset_class: Mapped[str] = mapped_column(String(12), default="standard", server_default="standard")
    npa_since_on: Mapped[date | None] = mapped_column(Date)
    bounce_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    closed_on: Mapped[date | None] = mapped_column(Date)
    #: credit lines (seed 004): the limit and the day billing cycles count from (account creation)
    credit_limit_amount: Mapped[Decimal | None] = mapped_column(Money)
    billing_anchor_on: Mapped[date | None] = mapped_column(Date)

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


#: a schedule row with something still to pay (the predicate of the partial index ix_installments_unpaid)
_UNPAID_ROW = "principal_paid_amount < principal_amount OR interest_paid_amount < interest_amount"


class Installment(db.Model):
    """One row of a loan's amortization schedule (rupees)."""

    __tablename__ = "installments"
    __table_args__ = (
        UniqueConstraint("loan_id", "seq"), Index("ix_installments_loan_due", "loan_id", "due_on"),
        # the rows with something unpaid (partial): the close of business reads each loan's oldest unpaid due
        # date (DPD) from this index alone instead of every schedule row of the book
        Index("ix_installments_unpaid", "loan_id", "due_on", postgresql_where=text(_UNPAID_ROW),
              sqlite_where=text(_UNPAID_ROW)),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    principal_amount: Mapped[Decimal] = mapped_column(Money)
    interest_amount: Mapped[Decimal] = mapped_column(Money)
    installment_amount: Mapped[Decimal] = mapped_column(Money)
    balance_amount: Mapped[Decimal] = mapped_column(Money)
    paid_on: Mapped[date | None] = mapped_column(Date)
    #: what has been paid against this row (servicing allocates payments here, oldest first)
    principal_paid_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    interest_paid_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")

    loan: Mapped[Loan] = relationship(back_populates="installments")

    @property
    def principal_due(self) -> Decimal:
        return self.principal_amount - self.principal_paid_amount

    @property
    def interest_due(self) -> Decimal:
        return self.interest_amount - self.interest_paid_amount

    @property
    def amount_due(self) -> Decimal:
        """What is still to pay on this row (rupees)."""
        return self.principal_due + self.interest_due
