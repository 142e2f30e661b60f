"""Job adapters for collections (``default`` queue): coerce ids / ISO dates, call one service, commit.

* ``evaluate_promises(institution_id, business_date_iso)``: settle one institution's open promises to pay on
  one business date (``portal.delinquency.services.evaluate_promises``: kept / broken, the
  ``promise_to_pay_broken`` alert once per broken promise).
* ``evaluate_promises_daily()``: the RQ cron entry (``jobs/schedule.py``, 01:00 IST, after the nightly close of
  business has moved the business date): every institution on the date its books are on, one commit each.
"""
from __future__ import annotations

from datetime import date

from portal.clock import clock
from portal.extensions import db


def evaluate_promises(institution_id: int, business_date_iso: str) -> dict[str, int]:
    """Evaluate ``institution_id``'s open promises on ``business_date_iso`` (YYYY-MM-DD); returns the counts
    ``{"kept": n, "broken": n, "open": n}``. Idempotent: settled promises are not looked at again."""
    from portal.delinquency import services

    counts = services.evaluate_promises(int(institution_id), date.fromisoformat(business_date_iso),
                                        now=clock().now())
    db.session.commit()
    return counts


def evaluate_promises_daily() -> dict[int, dict[str, int]]:
    """Evaluate the open promises of every institution on its current business date; ``{institution_id:
    counts}``."""
    from sqlalchemy import select

    from portal.auth.models import Institution
    from portal.business_date import current_business_date

    out = {}
    for institution_id in list(db.session.scalars(select(Institution.id).order_by(Institution.id))):
        on = current_business_date(institution_id, clock())
        out[institution_id] = evaluate_promises(institution_id, on.isoformat())
    return out
