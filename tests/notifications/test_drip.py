"""Drip campaign: onboarding not finished -> one reminder 1, 3 and 7 days after registering (by the business
date), never twice, none after the customer finishes, channels per the reminder preferences."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from jobs.notifications import run_drip_campaigns
from portal.business_date import set_business_date
from portal.notifications.campaigns import due_step
from portal.notifications.models import CampaignDelivery, Notification, NotificationPreference
from tests.factories import make_customer

REGISTERED = date(2026, 11, 23)  # the test clock's date (10:00 IST)


@pytest.mark.parametrize("days, step", [(0, None), (1, 1), (2, 1), (3, 3), (6, 3), (7, 7), (13, 7), (14, None),
                                        (40, None), (-1, None)])
def test_due_step(days, step):
    assert due_step(days, (1, 3, 7), 7) == step


def _registered(db, clock, **kwargs):
    customer = make_customer(**kwargs)
    customer.email = "asha@example.test"
    customer.created_at = clock.now()  # registered today (the factory's created_at is the wall clock)
    db.session.commit()
    return customer


def _run_on(db, on: date) -> int:
    from portal.auth.services import default_institution

    set_business_date(default_institution().id, on, actor="test")
    db.session.commit()
    return run_drip_campaigns()


def _reminders(db, customer) -> list[tuple[str, str]]:
    db.session.expire_all()
    return [(n.channel, n.body) for n in db.session.scalars(
        select(Notification).where(Notification.customer_id == customer.id,
                                   Notification.event == "onboarding.reminder").order_by(Notification.id))]


def test_reminders_on_days_1_3_and_7_then_stop(db, clock):
    customer = _registered(db, clock)
    sent_on = {}
    for offset in range(0, 21):
        day = REGISTERED + timedelta(days=offset)
        count = _run_on(db, day)
        if count:
            sent_on[offset] = count
        assert run_drip_campaigns() == 0  # a second run the same day sends nothing
    assert sent_on == {1: 1, 3: 1, 7: 1}
    steps = db.session.scalars(select(CampaignDelivery.step).where(CampaignDelivery.customer_id == customer.id)
                               .order_by(CampaignDelivery.step)).all()
    assert steps == [1, 3, 7]
    notes = _reminders(db, customer)
    assert [c for c, _ in notes] == ["in_app", "email", "sms"] * 3
    assert "registered 1 day ago" in notes[0][1] and "registered 3 days ago" in notes[3][1]


def test_no_reminder_after_the_customer_finishes(db, clock):
    customer = _registered(db, clock)
    assert _run_on(db, REGISTERED + timedelta(days=1)) == 1
    customer.onboarding_submitted_at = clock.now() + timedelta(days=2)
    db.session.commit()
    for offset in range(2, 15):
        assert _run_on(db, REGISTERED + timedelta(days=offset)) == 0
    assert len(_reminders(db, customer)) == 3  # only day 1's, on three channels


def test_a_missed_day_is_caught_up_once_not_all_at_once(db, clock):
    customer = _registered(db, clock)
    assert _run_on(db, REGISTERED + timedelta(days=5)) == 1  # the job did not run on days 1-4: step 3 only
    assert _run_on(db, REGISTERED + timedelta(days=6)) == 0
    assert _run_on(db, REGISTERED + timedelta(days=9)) == 1  # step 7
    assert db.session.scalars(select(CampaignDelivery.step).where(CampaignDelivery.customer_id == customer.id)
                              .order_by(CampaignDelivery.step)).all() == [3, 7]


def test_reminders_follow_the_preferences(db, clock):
    customer = _registered(db, clock)
    for channel in ("email", "sms"):
        db.session.add(NotificationPreference(user_id=customer.user_id, category="reminders", channel=channel,
                                              enabled=False))
    db.session.commit()
    assert _run_on(db, REGISTERED + timedelta(days=1)) == 1
    assert [c for c, _ in _reminders(db, customer)] == ["in_app"]


def test_only_portal_customers_with_a_login_who_have_not_finished(db, clock):
    finished = _registered(db, clock)
    finished.onboarding_submitted_at = clock.now()
    imported = make_customer(password=None)  # no login (an imported borrower)
    imported.created_at = clock.now()
    frozen = _registered(db, clock)
    frozen.user.status = "frozen"
    db.session.commit()
    assert _run_on(db, REGISTERED + timedelta(days=1)) == 0
    assert db.session.scalar(select(CampaignDelivery.id)) is None
