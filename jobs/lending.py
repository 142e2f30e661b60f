"""Job adapters for the lending workflow: coerce the arguments, call one service, commit once."""
from __future__ import annotations

from datetime import UTC, datetime

from portal.clock import clock
from portal.extensions import db
from portal.lending import services


def expire_offers(as_of_iso: str | None = None) -> int:
    """Expire every offer past its expiry at ``as_of_iso`` (an ISO timestamp; naive means UTC; default: the
    clock's now) and commit; returns how many expired. Idempotent: run every 15 minutes (``jobs/schedule.py``)."""
    if as_of_iso:
        now = datetime.fromisoformat(as_of_iso)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
    else:
        now = clock().now()
    count = services.expire_offers(now=now)
    db.session.commit()
    return count
