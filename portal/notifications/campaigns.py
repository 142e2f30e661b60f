"""Drip campaigns: timed reminders until the customer does the thing.

``ONBOARDING``: a customer who registered in the portal (with a login) but has not submitted the onboarding
wizard (``Customer.onboarding_submitted_at`` is unset) gets one ``onboarding.reminder`` 1, 3 and 7 days after
registering (email/SMS/in-app as their reminder preferences allow). Days count from the registration date in
PORTAL_TIMEZONE to the institution's business date. Each step is recorded in ``campaign_deliveries`` (unique per
campaign, customer and step), so a step is never sent twice; a step whose day was missed (the job did not run)
is still sent while the next step is not yet due, never several at once; nothing after the customer finishes.
The daily job ``jobs.notifications.run_drip_campaigns`` runs it for every institution.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import CampaignDelivery


@dataclass(frozen=True)
class DripCampaign:
    """``name``, the ``event`` it sends, its ``steps`` (days after the start, ascending) and how many days the
    last step stays due (``last_window``)."""

    name: str
    event: str
    steps: tuple[int, ...]
    last_window: int = 7


ONBOARDING = DripCampaign(name="onboarding", event="onboarding.reminder", steps=(1, 3, 7))


def due_step(days: int, steps: tuple[int, ...], last_window: int) -> int | None:
    """The step due ``days`` after the start: the largest step <= days, as long as the next step is not due yet
    (the last one for ``last_window`` days); None before the first step or after the last window.
    Pure: due_step(2, (1, 3, 7), 7) == 1; due_step(7, ...) == 7; due_step(14, ...) is None."""
    for i, step in enumerate(steps):
        end = steps[i + 1] if i + 1 < len(steps) else step + last_window
        if step <= days < end:
            return step
    return None


def run_onboarding_drip(institution_id: int, *, as_of: date, now: datetime) -> int:
    """Send the due onboarding reminders of ``institution_id`` for the business date ``as_of``; returns how many
    customers were reminded. Flushes, no commit (the job commits once)."""
    from portal.auth.models import User
    from portal.notifications.services import notify_event
    from portal.onboarding.models import Customer

    campaign = ONBOARDING
    tz = ZoneInfo(current_app.config.get("PORTAL_TIMEZONE", "Asia/Kolkata"))
    horizon = campaign.steps[-1] + campaign.last_window
    earliest = datetime.combine(as_of - timedelta(days=horizon), time.min, tzinfo=tz)
    latest = datetime.combine(as_of - timedelta(days=campaign.steps[0] - 1), time.min, tzinfo=tz)
    customers = db.session.scalars(
        select(Customer).join(User, User.id == Customer.user_id)
        .where(Customer.institution_id == institution_id, Customer.onboarding_submitted_at.is_(None),
               Customer.source == "portal", User.status == "active",
               Customer.created_at >= earliest, Customer.created_at < latest)
        .order_by(Customer.id)).all()
    if not customers:
        return 0
    sent = {(r.customer_id, r.step) for r in db.session.scalars(
        select(CampaignDelivery).where(CampaignDelivery.campaign == campaign.name,
                                       CampaignDelivery.customer_id.in_([c.id for c in customers])))}
    count = 0
    for customer in customers:
        days = (as_of - customer.created_at.astimezone(tz).date()).days
        step = due_step(days, campaign.steps, campaign.last_window)
        if step is None or (customer.id, step) in sent:
            continue
        db.session.add(CampaignDelivery(campaign=campaign.name, customer_id=customer.id, step=step, sent_on=as_of,
                                        created_at=now))
        notify_event(campaign.event, customer=customer, context={"days": days}, now=now)
        count += 1
    db.session.flush()
    return count
