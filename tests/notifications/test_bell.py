"""The in-app bell and /me/notifications: unread count fragment (polled, refreshed by HX-Trigger), list page and
fragment, mark read (404 for someone else's), mark all read, and the count rising when support replies."""
from __future__ import annotations

import re

from sqlalchemy import select

from portal.notifications.models import Notification
from portal.notifications.services import notify
from tests.conftest import csrf_token
from tests.factories import make_customer, make_staff

COUNT_RE = re.compile(r'data-testid="bell-count">(\d+)<')


def _note(user, now, *, read=False, body="Your EMI is due."):
    note = notify(channel="in_app", event="emi.due", body=body, subject="EMI due", recipient=user.phone, user=user,
                  now=now)
    if read:
        note.read_at = now
    return note


def _count(html: str) -> int:
    match = COUNT_RE.search(html)
    return int(match.group(1)) if match else 0


def test_bell_fragment_counts_unread_in_app_notifications(db, client, login_as, clock):
    customer = make_customer()
    other = make_customer()
    _note(customer.user, clock.now())
    _note(customer.user, clock.now())
    _note(customer.user, clock.now(), read=True)
    _note(other.user, clock.now())
    notify(channel="sms", event="otp", body="123456", recipient="+919800000000", user=customer.user, now=clock.now())
    db.session.commit()
    login_as(customer.user)
    fragment = client.get("/me/notifications/bell", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<a id="notification-bell"') and _count(fragment) == 2
    assert 'hx-trigger="every 20s, notifications-changed from:body"' in fragment
    page = client.get("/me").get_data(as_text=True)  # every page of a signed-in user has the bell
    assert 'id="notification-bell"' in page and _count(page) == 2


def test_notifications_page_lists_own_messages_full_page_and_fragment(db, client, login_as, clock):
    customer = make_customer()
    mine = _note(customer.user, clock.now(), body="Mine to read")
    _note(make_customer().user, clock.now(), body="Someone else's")
    db.session.commit()
    login_as(customer.user)
    page = client.get("/me/notifications").get_data(as_text=True)
    assert "<html" in page and "Notifications (1)" in page and "Mine to read" in page
    assert "Someone else" not in page and f'id="notification-{mine.id}"' in page
    fragment = client.get("/me/notifications", headers={"HX-Request": "true"})
    assert "HX-Request" in fragment.headers["Vary"]
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and html.lstrip().startswith('<div id="notification-list">')


def test_mark_read_updates_the_item_and_triggers_the_bell(db, client, login_as, clock):
    customer = make_customer()
    first, second = _note(customer.user, clock.now()), _note(customer.user, clock.now())
    db.session.commit()
    login_as(customer.user)
    token = csrf_token(client, "/me/notifications")
    r = client.post(f"/me/notifications/{first.id}/read", headers={"HX-Request": "true"}, data={"csrf_token": token})
    assert r.status_code == 200 and r.headers["HX-Trigger"] == "notifications-changed"
    html = r.get_data(as_text=True)
    assert f'id="notification-{first.id}"' in html and "Mark read" not in html
    db.session.expire_all()
    assert first.read_at == clock.now() and second.read_at is None
    assert _count(client.get("/me/notifications/bell").get_data(as_text=True)) == 1
    # without htmx: a redirect back to the list
    r = client.post(f"/me/notifications/{second.id}/read", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["Location"].endswith("/me/notifications")
    assert _count(client.get("/me/notifications/bell").get_data(as_text=True)) == 0


def test_someone_elses_notification_is_404_and_unchanged(db, client, login_as, clock):
    customer, other = make_customer(), make_customer()
    theirs = _note(other.user, clock.now())
    sms = notify(channel="sms", event="otp", body="123456", recipient="+919800000000", user=customer.user,
                 now=clock.now())
    db.session.commit()
    login_as(customer.user)
    token = csrf_token(client, "/me/notifications")
    assert client.post(f"/me/notifications/{theirs.id}/read", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/me/notifications/{sms.id}/read", data={"csrf_token": token}).status_code == 404
    assert client.post("/me/notifications/999999/read", data={"csrf_token": token}).status_code == 404
    db.session.expire_all()
    assert theirs.read_at is None and sms.read_at is None


def test_mark_all_read(db, client, login_as, clock):
    customer, other = make_customer(), make_customer()
    for _ in range(3):
        _note(customer.user, clock.now())
    theirs = _note(other.user, clock.now())
    db.session.commit()
    login_as(customer.user)
    token = csrf_token(client, "/me/notifications")
    r = client.post("/me/notifications/read-all", headers={"HX-Request": "true"}, data={"csrf_token": token})
    assert r.status_code == 200 and r.headers["HX-Trigger"] == "notifications-changed"
    assert "Mark all read" not in r.get_data(as_text=True)
    db.session.expire_all()
    unread = db.session.scalars(select(Notification.user_id).where(Notification.read_at.is_(None))).all()
    assert unread == [other.user_id] and theirs.read_at is None
    r = client.post("/me/notifications/read-all", data={"csrf_token": token})
    assert r.status_code == 303


def test_anonymous_bell_asks_htmx_to_sign_in(db, client):
    r = client.get("/me/notifications/bell", headers={"HX-Request": "true"})
    assert r.status_code == 401 and "/login" in r.headers["HX-Redirect"]
    assert client.post("/me/notifications/read-all").status_code in (302, 400)


def test_a_support_reply_raises_the_bell_and_reading_the_ticket_lowers_it(db, client, login_as, clock):
    from portal.support import services as support

    customer = make_customer()
    staff = make_staff("support")
    ticket = support.open_ticket(customer, category="payment", subject="EMI paid twice", body="Twice!",
                                 attachment=None, actor=customer.user, now=clock.now())
    db.session.commit()
    login_as(customer.user)
    assert _count(client.get("/me/notifications/bell").get_data(as_text=True)) == 0
    support.reply_as_staff(ticket, body="We will refund it.", actor=staff, now=clock.now())
    db.session.commit()
    bell = client.get("/me/notifications/bell").get_data(as_text=True)
    help_page = client.get("/me/support").get_data(as_text=True)
    assert _count(bell) == 1 and 'data-testid="unread-count"' in help_page  # the bell and Help agree
    client.get(f"/me/support/{ticket.id}")  # reading the thread marks the reply read
    assert _count(client.get("/me/notifications/bell").get_data(as_text=True)) == 0
