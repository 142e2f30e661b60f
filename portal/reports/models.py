"""Daily portfolio snapshots written by the close of business (the dashboard's figures for past dates)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Money, UTCDateTime, utcnow
from portal.extensions import db


class PortfolioSnapshot(db.Model):
    """The portfolio figures of one institution at the end of one business date (``figures``: the JSON form of
    ``portal.reports.portfolio.PortfolioFigures``; ``aum`` and ``ledger_principal`` in rupees for the trend and
    the reconciliation). Written once per (institution, date) by the ``snapshot`` step of the close of business."""

    __tablename__ = "portfolio_snapshots"
    __table_args__ = (UniqueConstraint("institution_id", "business_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    business_date: Mapped[date] = mapped_column(Date)
    aum: Mapped[Decimal] = mapped_column(Money)
    ledger_principal: Mapped[Decimal] = mapped_column(Money)
    figures: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Export(db.Model):
    """One export of the book (issue 7 item 3), run as a job on the ``exports`` queue.

    ``filters``: ``{"status", "product_id", "disbursed_from", "disbursed_to"}`` (ISO dates, None = any);
    ``status``: queued|running|done|failed; ``progress``: rows written so far; ``file_path`` relative to
    ``UPLOAD_DIR``; ``size_bytes`` and ``sha256`` of the finished file; the link works until ``expires_at``."""

    __tablename__ = "exports"
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20), default="loan_book")
    format: Mapped[str] = mapped_column(String(4))  # xlsx | csv
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    pii: Mapped[bool] = mapped_column(default=False)  # phones written unmasked (requester may view PII)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int | None] = mapped_column(Integer)  # rows to write, counted when the job starts
    row_count: Mapped[int | None] = mapped_column(Integer)
    file_path: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    requested_by = relationship("User")

    @property
    def percent(self) -> int | None:
        """Progress 0..100 for the progress bar (None while the total is not known yet)."""
        if self.status == "done":
            return 100
        return int(100 * self.progress / self.progress_total) if self.progress_total else None

    @property
    def working(self) -> bool:
        """True while queued or running (the status panel polls)."""
        return self.status in ("queued", "running")


__all__ = ["Export", "PortfolioSnapshot"]
