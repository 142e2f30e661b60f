"""The Help badge and mark-read of ticket replies (event ``ticket.reply``): opening a ticket reads the reply
notifications of that ticket only, found by the reply they were written with — not by their subject or body,
which come from templates an admin may edit (here: a published in-app template that names no ticket). Reply
notifications written before templated events (``support.ticket_reply``) are counted and read the same way."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from portal.notifications import templates
from portal.notifications.models import Notification, NotificationTemplate
from portal.support import services as support
from tests.conftest import post_form
from tests.factories import make_customer, make_staff


def _ticket(db, customer, clock, subject: str):
    ticket = support.open_ticket(customer, category="loan", subject=subject, body="A question.", attachment=None,
                                 actor=customer.user, now=clock.now())
    db.session.commit()
    return ticket


def _reply(client, ticket, body: str = "Here is the answer."):
    page = f"/staff/tickets/{ticket.id}"
    assert post_form(client, f"{page}/reply", {"body": body}, page=page).status_code == 303


def _unread(db, user) -> list[Notification]:
    db.session.expire_all()
    return db.session.scalars(select(Notification).where(Notification.user_id == user.id,
                                                         Notification.read_at.is_(None))
                              .order_by(Notification.id)).all()


def _help_badge(client) -> str | None:
    html = client.get("/me/support").get_data(as_text=True)
    return "unread" if 'data-testid="unread-count"' in html else None


def test_opening_a_ticket_reads_only_its_replies_whatever_the_template_says(db, client, login_as, clock):
    admin = make_staff("admin")
    template = db.session.scalar(select(NotificationTemplate).where(NotificationTemplate.event == "ticket.reply",
                                                                    NotificationTemplate.channel == "in_app"))
    templates.save_draft(template, subject="Support wrote back", body="{{ customer_name }}, support answered you.",
                         actor=admin, now=clock.now())
    templates.publish(template, actor=admin, now=clock.now())
    customer = make_customer(first_name="Asha", last_name="Rao")
    other = make_customer(first_name="Ravi", last_name="Kumar")
    db.session.commit()
    first = _ticket(db, customer, clock, "Foreclosure charges")
    second = _ticket(db, customer, clock, "EMI date")
    theirs = _ticket(db, other, clock, "Foreclosure charges")

    login_as(make_staff("support"))
    _reply(client, first)
    clock.advance(minutes=1)
    _reply(client, second)
    _reply(client, theirs)
    mine = _unread(db, customer.user)
    assert [(n.event, n.subject, n.body) for n in mine] == [
        ("ticket.reply", "Support wrote back", "Asha Rao, support answered you.")] * 2
    assert support.unread_notifications(customer.user) == 2

    login_as(customer.user)
    assert _help_badge(client) == "unread"
    assert client.get(f"/me/support/{first.id}").status_code == 200
    assert [n.id for n in _unread(db, customer.user)] == [mine[1].id]  # the second ticket's reply stays unread
    assert support.unread_notifications(customer.user) == 1 and _help_badge(client) == "unread"
    assert client.get(f"/me/support/{second.id}").status_code == 200
    assert _unread(db, customer.user) == [] and _help_badge(client) is None
    assert support.unread_notifications(other.user) == 1  # another customer's reply is untouched


def test_reply_notifications_from_before_templates_are_counted_and_read(db, client, login_as, clock):
    customer = make_customer()
    db.session.commit()
    ticket = _ticket(db, customer, clock, "Where is my receipt?")
    login_as(make_staff("support"))
    _reply(client, ticket)
    # a row as the hand-written notify() used to write it
    db.session.execute(update(Notification).where(Notification.customer_id == customer.id)
                       .values(event=support.LEGACY_REPLY_EVENT, subject=f"Ticket #{ticket.id}"))
    db.session.commit()
    assert support.unread_notifications(customer.user) == 1

    login_as(customer.user)
    clock.advance(hours=1)
    assert client.get(f"/me/support/{ticket.id}").status_code == 200
    db.session.expire_all()
    note = db.session.scalar(select(Notification).where(Notification.customer_id == customer.id))
    assert note.event == "support.ticket_reply" and note.read_at == clock.now()
    assert support.unread_notifications(customer.user) == 0
    assert note.created_at == ticket.messages[-1].created_at  # what ties the notification to the reply
    assert clock.now() - note.created_at == timedelta(hours=1)
