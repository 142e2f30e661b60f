"""Daily portfolio snapshots written by the close of business (the dashboard's figures for past dates)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

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


__all__ = ["PortfolioSnapshot"]
