"""Job adapters for notifications (queue ``notifications``): send one outbox row, send a close of business's
reminders, relay the pending ones, run the drip campaigns. Each calls one service and commits once (the
reminders sender: once per batch, so its row locks are short)."""
from __future__ import annotations

from datetime import date

from portal.clock import clock
from portal.extensions import db


def send_notification(notification_id: int) -> str:
    """Deliver notification ``notification_id`` through its channel's provider; commit; return the outcome."""
    from portal.notifications.delivery import deliver

    status = deliver(int(notification_id), now=clock().now())
    db.session.commit()
    return status


def send_cob_reminders(institution_id: int, business_date: str, batch_size: int = 500) -> dict[str, int]:
    """Send the pending SMS/email reminders written by the close of business of ``business_date`` (ISO date) for
    ``institution_id`` (queued once per run by ``cob.step_reminders``), ``batch_size`` rows at a time under row
    locks, committing after each batch; returns {outcome: rows} ('sent', 'failed'). Running it twice sends
    nothing twice (only pending rows are sent); rows it does not reach are the relay's after the grace."""
    from portal.servicing.reminders import send_reminder_batch

    on, the_clock = date.fromisoformat(business_date), clock()
    totals: dict[str, int] = {}
    after: int | None = 0
    while after is not None:
        outcomes, after = send_reminder_batch(int(institution_id), on, now=the_clock.now(), after_id=after,
                                              limit=int(batch_size))
        db.session.commit()
        for outcome, n in outcomes.items():
            totals[outcome] = totals.get(outcome, 0) + n
    return totals


def relay_pending() -> int:
    """Queue send jobs for the pending outbox rows that are due (every minute on RQ cron); how many."""
    from portal.notifications.services import relay_pending as relay

    ids = relay(clock().now())
    db.session.commit()
    return len(ids)


def run_drip_campaigns(as_of: str | None = None) -> int:
    """Send the due drip-campaign reminders of every institution for its business date (or ``as_of``, an ISO
    date, to replay a day); commit; how many customers were reminded (daily on RQ cron)."""
    from sqlalchemy import select

    from portal.auth.models import Institution
    from portal.business_date import current_business_date
    from portal.notifications.campaigns import run_onboarding_drip

    the_clock, total = clock(), 0
    for institution_id in db.session.scalars(select(Institution.id).order_by(Institution.id)).all():
        on = date.fromisoformat(as_of) if as_of else current_business_date(institution_id, the_clock)
        total += run_onboarding_drip(institution_id, as_of=on, now=the_clock.now())
    db.session.commit()
    return total
