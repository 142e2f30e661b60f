"""Job adapters for the close of business (``billing`` queue): coerce ids / ISO dates, call one service.

* ``close_of_business(institution_id, business_date_iso)``: one institution's close of business for one date
  (``portal.servicing.cob.run_close_of_business``; it commits per chunk and resumes a crashed run).
* ``close_of_business_nightly()``: the RQ cron entry (``jobs/schedule.py``, 23:30 IST): queue one
  ``close_of_business`` per institution for the date its books are on.
* ``close_of_business_days(institution_id, days)``: demo mode, run ``days`` consecutive business dates.
"""
from __future__ import annotations

from datetime import date

from portal.clock import clock
from portal.extensions import db
from portal.servicing import cob


def close_of_business(institution_id: int, business_date_iso: str, chunk_size: int | None = None) -> int | None:
    """Close the books of ``institution_id`` for ``business_date_iso`` (YYYY-MM-DD); returns the run id (None
    when another worker holds the run). Idempotent: a done run is left as it is; a crashed one resumes."""
    run = cob.run_close_of_business(int(institution_id), date.fromisoformat(business_date_iso), now=clock().now(),
                                    requested_by="job", chunk_size=int(chunk_size or cob.CHUNK_SIZE))
    db.session.commit()
    return run.id if run else None


def close_of_business_nightly() -> list[int]:
    """Queue the close of business of every institution for its current business date (after the commit);
    returns the institution ids. A double enqueue is harmless (one runner per institution, done runs no-op)."""
    from sqlalchemy import select

    from portal.auth.models import Institution
    from portal.business_date import current_business_date
    from portal.queue import enqueue_after_commit

    ids = list(db.session.scalars(select(Institution.id).order_by(Institution.id)))
    for institution_id in ids:
        on = current_business_date(institution_id, clock())
        enqueue_after_commit("jobs.servicing.close_of_business", institution_id, on.isoformat(), queue="billing")
    db.session.commit()
    return ids


def close_of_business_days(institution_id: int, days: int) -> list[int]:
    """Run the close of business for ``days`` consecutive business dates of ``institution_id`` (demo mode:
    watch the book age); returns the run ids."""
    from portal.business_date import current_business_date

    done = []
    for _ in range(max(0, int(days))):
        on = current_business_date(int(institution_id), clock())
        db.session.commit()
        run = cob.run_close_of_business(int(institution_id), on, now=clock().now(), requested_by="demo")
        db.session.commit()
        if run is None or run.status != "done":
            break
        done.append(run.id)
    return done
