"""A support reply is the templated event ``ticket.reply`` (category service): the customer gets the in-app
message and, when they have an email address, an email that reaches a real SMTP server (aiosmtpd); a customer
who turned off service emails on the preferences page gets no email (the in-app message still comes), one who
turned everything off gets nothing — but legal notices (the rejection of an application) are emailed anyway."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from portal.lending import services as lending
from portal.notifications.models import Notification
from portal.support import services as support
from tests.conftest import post_form
from tests.factories import make_customer, make_staff, term_product
from tests.notifications.conftest import body_of

PREFERENCES = "/me/notifications/preferences"
ALL_OPTIONAL = [f"{category}:{channel}" for category in ("service", "reminders", "marketing")
                for channel in ("in_app", "email", "sms")]


def _customer(db, email: str | None = "asha@example.test"):
    customer = make_customer(first_name="Asha", last_name="Rao")
    customer.email = email
    db.session.commit()
    return customer


def _ticket(db, customer, clock, subject: str = "EMI paid twice"):
    ticket = support.open_ticket(customer, category="payment", subject=subject, body="Debited twice in November.",
                                 attachment=None, actor=customer.user, now=clock.now())
    db.session.commit()
    return ticket


def _reply(client, ticket, body: str, **extra):
    page = f"/staff/tickets/{ticket.id}"
    response = post_form(client, f"{page}/reply", {"body": body, **extra}, page=page)
    assert response.status_code == 303, response.get_data(as_text=True)
    return response


def _notes(db, customer, event: str = "ticket.reply") -> list[Notification]:
    db.session.expire_all()
    return db.session.scalars(select(Notification).where(Notification.customer_id == customer.id,
                                                         Notification.event == event)
                              .order_by(Notification.id)).all()


def _save_preferences(client, login_as, customer, keys):
    login_as(customer.user)
    response = post_form(client, PREFERENCES, {key: "on" for key in keys}, page=PREFERENCES)
    assert response.status_code == 303


def test_a_support_reply_is_emailed_to_a_customer_with_an_address(db, client, login_as, clock, smtp_server):
    customer = _customer(db)
    ticket = _ticket(db, customer, clock)
    login_as(make_staff("support"))
    _reply(client, ticket, "We will refund the second debit within 3 working days.")
    _reply(client, ticket, "Refund approved by finance", internal="y")  # an internal note tells nobody

    in_app, email = _notes(db, customer)
    assert (in_app.channel, in_app.status, in_app.user_id) == ("in_app", "sent", customer.user_id)
    assert (email.channel, email.status, email.attempts, email.category) == ("email", "sent", 1, "service")
    [message] = smtp_server.for_notification(email.id)
    assert smtp_server.recipients == [["asha@example.test"]]
    assert message["To"] == "asha@example.test" and message["Subject"] == f"Ticket #{ticket.id}"
    assert body_of(message).strip() == (f"Dear Asha Rao,\n\nSupport replied to your ticket #{ticket.id}: "
                                        "EMI paid twice\n\n— Credit Lifecycle Portal")
    # the Help badge counts the in-app message only; reading the thread reads it and leaves the email row alone
    assert support.unread_notifications(customer.user) == 1
    login_as(customer.user)
    assert client.get(f"/me/support/{ticket.id}").status_code == 200
    db.session.expire_all()
    assert support.unread_notifications(customer.user) == 0
    assert in_app.read_at == clock.now() and email.read_at is None


def test_no_email_when_the_customer_turned_service_emails_off(db, client, login_as, clock, smtp_server):
    customer = _customer(db)
    ticket = _ticket(db, customer, clock)
    _save_preferences(client, login_as, customer, [k for k in ALL_OPTIONAL if k != "service:email"])
    login_as(make_staff("support"))
    _reply(client, ticket, "We will refund the second debit within 3 working days.")

    [in_app] = _notes(db, customer)  # no email row at all
    assert in_app.channel == "in_app" and support.unread_notifications(customer.user) == 1
    assert smtp_server.messages == []
    db.session.expire_all()
    assert ticket.status == "waiting_on_customer"  # the reply itself is unaffected


def test_everything_off_silences_replies_but_not_the_legal_rejection_notice(db, client, login_as, clock,
                                                                           smtp_server):
    customer = _customer(db)
    ticket = _ticket(db, customer, clock)
    _save_preferences(client, login_as, customer, [])  # every optional category and channel off
    login_as(make_staff("support"))
    _reply(client, ticket, "We will refund the second debit within 3 working days.")
    assert _notes(db, customer) == [] and support.unread_notifications(customer.user) == 0
    assert smtp_server.messages == []

    # the decision on an application is a legal notice (RBI Fair Practices Code): sent whatever the preferences
    application = lending.submit_application(customer, term_product(), amount=Decimal("50000"), tenure=12,
                                             actor=customer.user, clock=clock)
    lending.reject_application(application, actor=make_staff("loan_officer"), clock=clock,
                               note="Income could not be matched to the bank statement",
                               reason_code="income_unverified")
    db.session.commit()
    notes = _notes(db, customer, "application.decided")
    assert sorted(n.channel for n in notes) == ["email", "in_app", "sms"]
    assert {n.category for n in notes} == {"legal"}
    [email] = [n for n in notes if n.channel == "email"]
    [message] = smtp_server.for_notification(email.id)
    assert message["Subject"] == f"Application {application.id}: not approved"
    assert body_of(message).strip() == (
        f"Dear Asha Rao,\n\nYour application {application.id} was not approved: The income could not be "
        "verified. Income could not be matched to the bank statement. See the details on the application's "
        "page.\n\n— Credit Lifecycle Portal")
    assert smtp_server.recipients == [["asha@example.test"]]


def test_no_email_row_without_an_address(db, client, login_as, clock, smtp_server):
    customer = _customer(db, email=None)
    ticket = _ticket(db, customer, clock)
    login_as(make_staff("support"))
    _reply(client, ticket, "Done.")
    assert [n.channel for n in _notes(db, customer)] == ["in_app"]
    assert smtp_server.messages == []
