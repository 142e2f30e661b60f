"""The business date: the date the books are on (Fineract's idea), one row per institution.

Services read it with ``current_business_date()``; the close of business (or an admin in demo mode)
advances it. It is seeded from the clock the first time it is read.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Timestamped
from portal.extensions import db


class BusinessDate(Timestamped, db.Model):
    """The current business date of one institution."""

    __tablename__ = "business_dates"
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), primary_key=True)
    current_on: Mapped[date] = mapped_column(Date)


def current_business_date(institution_id: int, clock) -> date:
    """The institution's business date; created from ``clock.today()`` on first use (flushes)."""
    row = db.session.get(BusinessDate, institution_id)
    if row is None:
        row = BusinessDate(institution_id=institution_id, current_on=clock.today())
        db.session.add(row)
        db.session.flush()
    return row.current_on


def set_business_date(institution_id: int, new_date: date, *, actor) -> date:
    """Move the business date to ``new_date`` (forward only; ValueError otherwise); audited."""
    from portal.audit.services import record

    row = db.session.get(BusinessDate, institution_id)
    old = row.current_on if row else None
    if old is not None and new_date < old:
        raise ValueError("the business date only moves forward")
    if row is None:
        row = BusinessDate(institution_id=institution_id, current_on=new_date)
        db.session.add(row)
    row.current_on = new_date
    record(actor, "business_date.set", ("business_dates", institution_id),
           changes={"current_on": (old, new_date)}, institution_id=institution_id)
    return new_date
