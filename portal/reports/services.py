"""The portfolio dashboard: live figures for the current business date (no cache: seed 002 asks for fresh data),
the close of business's daily snapshot for past dates, and the AUM / PAR30 trend over the snapshots."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from portal.errors import DomainError
from portal.extensions import db
from portal.reports.models import PortfolioSnapshot
from portal.reports.portfolio import PortfolioFigures, portfolio_figures

#: snapshots in the trend chart
TREND_POINTS = 30


def portfolio(institution_id: int, as_of: date) -> PortfolioFigures:
    """The live portfolio figures of ``institution_id`` as of ``as_of`` (see ``portal.reports.portfolio``)."""
    return portfolio_figures(institution_id, as_of)


def write_snapshot(institution_id: int, on: date) -> tuple[PortfolioSnapshot, bool]:
    """The snapshot of (institution, business date ``on``), written from the live figures when it does not exist
    yet (flushes; the caller commits). Returns (snapshot, created)."""
    existing = snapshot_row(institution_id, on)
    if existing is not None:
        return existing, False
    figures = portfolio_figures(institution_id, on)
    row = PortfolioSnapshot(institution_id=institution_id, business_date=on, aum=figures.aum,
                            ledger_principal=figures.ledger_principal, figures=figures.to_json())
    db.session.add(row)
    db.session.flush()
    return row, True


def snapshot_row(institution_id: int, on: date) -> PortfolioSnapshot | None:
    """The stored snapshot of (institution, business date), or None."""
    return db.session.scalar(select(PortfolioSnapshot).where(PortfolioSnapshot.institution_id == institution_id,
                                                             PortfolioSnapshot.business_date == on))


@dataclass(frozen=True)
class TrendPoint:
    """One snapshot in the trend: its business date, AUM (rupees) and PAR30 (percent)."""

    on: date
    aum: Decimal
    par30: Decimal


def trend(institution_id: int, until: date, limit: int = TREND_POINTS) -> list[TrendPoint]:
    """The last ``limit`` snapshots dated on or before ``until``, oldest first."""
    rows = db.session.execute(select(PortfolioSnapshot.business_date, PortfolioSnapshot.aum, PortfolioSnapshot.figures)
                              .where(PortfolioSnapshot.institution_id == institution_id,
                                     PortfolioSnapshot.business_date <= until)
                              .order_by(PortfolioSnapshot.business_date.desc()).limit(limit)).all()
    return [TrendPoint(on, aum, Decimal(str(figures.get("par30", "0")))) for on, aum, figures in reversed(rows)]


@dataclass(frozen=True)
class Dashboard:
    """What the portfolio page shows for one date: ``figures`` (None when a past date has no snapshot),
    ``live`` (the current business date, computed now) and the trend up to the date."""

    on: date
    business_date: date
    live: bool
    figures: PortfolioFigures | None
    trend: list[TrendPoint]


def parse_date(value: str | None) -> date | None:
    """``YYYY-MM-DD`` -> date; None for a missing or empty value. DomainError 400 for anything else."""
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise DomainError(f"'{value[:20]}' is not a date: use YYYY-MM-DD.", 400) from None


def dashboard(institution_id: int, on: date | None, business_date: date) -> Dashboard:
    """The dashboard of ``on`` (default: the current ``business_date``): live figures for the business date, the
    stored snapshot for an earlier date (figures None when there is none). DomainError 400 for a date after the
    business date (the books are not there yet)."""
    on = on or business_date
    if on > business_date:
        raise DomainError(f"The books are on {business_date:%d %b %Y}: there are no figures for "
                          f"{on:%d %b %Y} yet.", 400)
    if on == business_date:
        figures, live = portfolio_figures(institution_id, on), True
    else:
        row = snapshot_row(institution_id, on)
        figures, live = (PortfolioFigures.from_json(row.figures) if row else None), False
    points = trend(institution_id, on)
    if live and (not points or points[-1].on < on):  # today's live point ends the line
        points = (points + [TrendPoint(on, figures.aum, figures.par30)])[-TREND_POINTS:]
    return Dashboard(on=on, business_date=business_date, live=live, figures=figures, trend=points)


__all__ = ["Dashboard", "TrendPoint", "dashboard", "parse_date", "portfolio", "snapshot_row", "trend",
           "write_snapshot"]
