"""Preferences: a customer turns email/SMS/in-app on or off per optional category (service, reminders,
marketing); security (OTP) and legal messages cannot be turned off, neither by the form (it does not offer them)
nor by a forged post or a stray row in the table."""
from __future__ import annotations

import re

from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.notifications.models import Notification, NotificationPreference
from portal.notifications.services import notify_event
from tests.conftest import csrf_token, post_form
from tests.factories import make_customer, make_staff

URL = "/me/notifications/preferences"


def _customer(db):
    customer = make_customer(first_name="Asha", last_name="Rao")
    customer.email = "asha@example.test"
    db.session.commit()
    return customer


def _save(client, *keys):
    return client.post(URL, data={**{k: "on" for k in keys}, "csrf_token": csrf_token(client, URL)})


def _checked(html: str, key: str) -> bool:
    tag = re.search(rf'<input[^>]*name="{re.escape(key)}"[^>]*>', html)
    assert tag, key
    return re.search(r"\schecked[\s>]", tag.group(0)) is not None


def _channels(notes) -> set[str]:
    return {n.channel for n in notes}


def test_the_page_offers_only_the_optional_categories(db, client, login_as):
    login_as(_customer(db).user)
    html = client.get(URL).get_data(as_text=True)
    for key in ("service:email", "service:sms", "service:in_app", "reminders:email", "marketing:sms"):
        assert f'name="{key}"' in html
    assert 'name="security:' not in html and 'name="legal:' not in html
    assert "One-time password" in html and "Payment bounced" in html  # listed as always sent
    # defaults: service and reminders on, marketing off
    assert _checked(html, "reminders:sms") and _checked(html, "service:email")
    assert not _checked(html, "marketing:email")


def test_turning_off_reminder_email_and_sms_is_respected_and_audited(db, client, login_as, clock):
    customer = _customer(db)
    login_as(customer.user)
    response = _save(client, "service:email", "service:sms", "service:in_app", "reminders:in_app")
    assert response.status_code == 303
    db.session.expire_all()
    assert _channels(notify_event("emi.due", customer=customer, now=clock.now(), context={
        "loan_id": 1, "emi_amount": 100, "due_on": clock.today()})) == {"in_app"}
    assert _channels(notify_event("application.info_requested", customer=customer, now=clock.now(), context={
        "application_id": 1, "question": "Why?"})) == {"in_app", "email", "sms"}
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "notification_preferences.changed"))
    assert audit.changes == {"reminders.email": [True, False], "reminders.sms": [True, False]}
    page = client.get(URL).get_data(as_text=True)
    assert not _checked(page, "reminders:email") and _checked(page, "reminders:in_app")


def test_everything_off_still_sends_legal_notices_and_otp(db, client, login_as, clock, app):
    customer = _customer(db)
    login_as(customer.user)
    # a forged post: the mandatory categories are named, asking to keep only them... and nothing else on
    assert _save(client, "security:sms", "legal:email", "otp:sms").status_code == 303
    db.session.expire_all()
    stored = db.session.scalars(select(NotificationPreference.category).distinct()).all()
    assert sorted(stored) == ["marketing", "reminders", "service"]  # forged keys were ignored
    assert notify_event("application.info_requested", customer=customer, now=clock.now(),
                        context={"application_id": 1, "question": "Why?"}) == []
    assert notify_event("onboarding.reminder", customer=customer, now=clock.now(), context={"days": 1}) == []
    legal = notify_event("payment.bounced", customer=customer, now=clock.now(),
                         context={"loan_id": 3, "amount": 10, "reason": "insufficient funds"})
    assert _channels(legal) == {"in_app", "email", "sms"}
    # even a row in the table for a mandatory category (written by hand) does not stop the OTP
    db.session.add(NotificationPreference(user_id=customer.user_id, category="security", channel="sms",
                                          enabled=False))
    db.session.commit()
    r = post_form(app.test_client(), "/login/otp", {"phone": customer.phone_number}, page="/login/otp")
    assert r.status_code == 302
    otp = db.session.scalar(select(Notification).where(Notification.event == "otp"))
    assert otp.channel == "sms" and otp.recipient == f"+91{customer.phone_number}" and otp.status == "sent"


def test_marketing_is_off_until_the_customer_opts_in(db, client, login_as):
    from portal.notifications.preferences import preferences_of

    customer = _customer(db)
    assert not any(v for (cat, _), v in preferences_of(customer.user).items() if cat == "marketing")
    login_as(customer.user)
    _save(client, "marketing:email")
    db.session.expire_all()
    grid = preferences_of(customer.user)
    assert grid[("marketing", "email")] and not grid[("marketing", "sms")] and not grid[("service", "email")]


def test_preferences_are_for_customers_only(db, client, login_as):
    assert client.get(URL).status_code == 302  # anonymous -> sign in
    login_as(make_staff("support"))
    assert client.get(URL).status_code == 403
    token = csrf_token(client, "/me/notifications")
    assert client.post(URL, data={"csrf_token": token}).status_code == 403
    assert db.session.scalar(select(NotificationPreference.id)) is None


def test_a_post_without_csrf_is_refused_and_saves_nothing(db, client, login_as):
    login_as(_customer(db).user)
    assert client.post(URL, data={"service:email": "on"}).status_code == 400
    assert db.session.scalar(select(NotificationPreference.id)) is None
