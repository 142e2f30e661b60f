"""Scorecards (seed 002): versioned rules and bands, every score kept with its contributions; the
savings-transactions book behind the seed 004 score; long scoring runs (backtests, recalculations).

Built-in scorecards (``loan-history``, ``savings-balance``) have ``institution_id`` NULL and are usable by every
institution; they are created by the migration. An institution that edits a built-in gets its own copy with the
same slug, which then takes precedence for that institution (``services.resolve_scorecard``).
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from portal.db import Money, Timestamped, UTCDateTime, utcnow
from portal.extensions import db


class Scorecard(Timestamped, db.Model):
    """A named scorecard. ``source`` says where its features come from: ``loan_history`` (seed 003 book) or
    ``savings`` (seed 004 transactions)."""

    __tablename__ = "scorecards"
    __table_args__ = (UniqueConstraint("institution_id", "slug"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    slug: Mapped[str] = mapped_column(String(60), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20))  # loan_history | savings
    builtin: Mapped[bool] = mapped_column(default=False)

    versions: Mapped[list[ScorecardVersion]] = relationship(
        back_populates="scorecard", order_by="ScorecardVersion.number", cascade="all, delete-orphan"
    )

    @property
    def published_version(self) -> ScorecardVersion | None:
        return next((v for v in reversed(self.versions) if v.status == "published"), None)

    @property
    def draft_version(self) -> ScorecardVersion | None:
        return next((v for v in reversed(self.versions) if v.status == "draft"), None)


class ScorecardVersion(db.Model):
    """One version of a scorecard. Drafts are editable; a published version is immutable (editing makes a new
    draft); publishing retires the previous published version. ``features`` is the declared feature list
    ``[{"name", "label"}]``; ``rules`` ``[{"name", "expression", "points"|"weight", "note"}]``; ``bands``
    ``[{"band", "min", "max", "approve"}]``."""

    __tablename__ = "scorecard_versions"
    __table_args__ = (
        UniqueConstraint("scorecard_id", "number"),
        CheckConstraint("status IN ('draft', 'published', 'retired')", name="status"),
        CheckConstraint("min_score < max_score", name="range"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(ForeignKey("scorecards.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    base_score: Mapped[int] = mapped_column(Integer, default=0)
    min_score: Mapped[int] = mapped_column(Integer)
    max_score: Mapped[int] = mapped_column(Integer)
    features: Mapped[list] = mapped_column(JSON)
    rules: Mapped[list] = mapped_column(JSON)
    bands: Mapped[list] = mapped_column(JSON)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    scorecard: Mapped[Scorecard] = relationship(back_populates="versions")
    created_by = relationship("User", foreign_keys=[created_by_id])
    published_by = relationship("User", foreign_keys=[published_by_id])

    @property
    def label(self) -> str:
        return f"v{self.number} ({self.status})"


class ScoreResult(db.Model):
    """One score: the version used, the features it saw, the score, the band and every rule's contribution.
    ``subject_ref`` names what was scored (``customer:12``, ``savings:<uuid>``, ``api:<ref>``)."""

    __tablename__ = "score_results"
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("scorecard_versions.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    subject_ref: Mapped[str] = mapped_column(String(100), index=True)
    purpose: Mapped[str] = mapped_column(String(20), default="on_demand")  # on_demand | recalculation | api
    as_of: Mapped[date] = mapped_column(Date)
    features: Mapped[dict] = mapped_column(JSON)
    score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(10))
    contributions: Mapped[list] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    version: Mapped[ScorecardVersion] = relationship()


class TransactionImport(Timestamped, db.Model):
    """An import of the Bright Money savings-transactions CSV (seed 004). The uploaded bytes are kept so any
    worker can run it; ``rejected`` lists ``{"row_number", "reason", "values"}`` dicts."""

    __tablename__ = "transaction_imports"
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued|running|done|failed
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    file: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(Integer, default=0)
    users_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[list | None] = deferred(mapped_column(JSON))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by = relationship("User")

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return int(100 * self.progress_done / self.progress_total) if self.progress_total else 0


class SavingsAccount(db.Model):
    """A savings-transactions holder (the CSV's ``user`` UUID, seed 004's "Aadhar ID"), optionally linked to a
    portal customer so the customer can be scored with ``savings-balance``."""

    __tablename__ = "savings_accounts"
    __table_args__ = (UniqueConstraint("institution_id", "external_user"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    external_user: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), unique=True)
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("transaction_imports.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer = relationship("Customer")


class SavingsTransaction(db.Model):
    """One row of the savings-transactions CSV. Amount in whole rupees (Decimal), always positive."""

    __tablename__ = "savings_transactions"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("transaction_type IN ('CREDIT', 'DEBIT')", name="transaction_type"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    import_batch_id: Mapped[int] = mapped_column(ForeignKey("transaction_imports.id"), index=True)
    savings_account_id: Mapped[int] = mapped_column(ForeignKey("savings_accounts.id"), index=True)
    external_user: Mapped[str] = mapped_column(String(64), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    transacted_on: Mapped[date] = mapped_column(Date)
    transaction_type: Mapped[str] = mapped_column(String(6))
    amount: Mapped[Decimal] = mapped_column(Money)


class ScoringRun(Timestamped, db.Model):
    """A long scoring run a person may wait for: a ``backtest`` of a version over the whole book against the
    current version, or a ``recalculation`` of the current scores. ``result`` holds the summary."""

    __tablename__ = "scoring_runs"
    __table_args__ = (CheckConstraint("kind IN ('backtest', 'recalculation')", name="kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    version_id: Mapped[int | None] = mapped_column(ForeignKey("scorecard_versions.id"))
    baseline_version_id: Mapped[int | None] = mapped_column(ForeignKey("scorecard_versions.id"))
    as_of: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued|running|done|failed
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    version: Mapped[ScorecardVersion | None] = relationship(foreign_keys=[version_id])
    baseline_version: Mapped[ScorecardVersion | None] = relationship(foreign_keys=[baseline_version_id])
    created_by = relationship("User")

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return int(100 * self.progress_done / self.progress_total) if self.progress_total else 0
