"""Support tickets (issue 6 item 4): open, reply, status changes, notifications on a staff reply, ownership
404s, permission 403s, refused attachments (422, nothing saved), queue page and htmx fragment."""
from __future__ import annotations

import io
from datetime import UTC, datetime

from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.auth.models import Institution
from portal.notifications.models import Notification
from portal.support.models import SupportTicket, TicketMessage
from tests.conftest import csrf_token
from tests.factories import make_customer, make_disbursed_loan, make_staff
from tests.support_tickets.conftest import PDF_BYTES, png_bytes


def _open(client, *, subject="Where is my EMI receipt?", body="I paid on Friday.", attachment=None,
          category="payment"):
    data = {"category": category, "subject": subject, "body": body, "csrf_token": csrf_token(client, "/me/support/new")}
    if attachment is not None:
        data["attachment"] = (io.BytesIO(attachment[1]), attachment[0])
    return client.post("/me/support", data=data, content_type="multipart/form-data")


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_customer_opens_ticket_with_attachment_and_sla(db, client, login_as, upload_dir):
    customer = make_customer()
    db.session.commit()
    login_as(customer.user)
    response = _open(client, attachment=("receipt.pdf", PDF_BYTES))
    assert response.status_code == 303
    ticket = db.session.scalar(select(SupportTicket))
    assert response.headers["Location"].endswith(f"/me/support/{ticket.id}")
    assert (ticket.status, ticket.category, ticket.customer_id) == ("open", "payment", customer.id)
    # opened Monday 23 Nov 2026 10:00 IST: due one business day later, Tuesday 10:00 IST
    assert ticket.sla_due_at == datetime(2026, 11, 24, 4, 30, tzinfo=UTC)
    [message] = ticket.messages
    assert (message.attachment_name, message.attachment_type, message.attachment_size) == (
        "receipt.pdf", "application/pdf", len(PDF_BYTES))
    assert (upload_dir / "support" / message.attachment_path).read_bytes() == PDF_BYTES
    page = client.get(f"/me/support/{ticket.id}").get_data(as_text=True)
    assert "Where is my EMI receipt?" in page and "I paid on Friday." in page and "receipt.pdf" in page
    file = client.get(f"/me/support/{ticket.id}/messages/{message.id}/attachment")
    assert file.status_code == 200 and file.data == PDF_BYTES
    assert client.get("/me/support").get_data(as_text=True).count(f"/me/support/{ticket.id}") == 1
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.entity_type == "support_tickets")) == \
        "support_ticket.opened"


def test_attachment_refused_by_type_and_size_saves_nothing(db, client, login_as, upload_dir, app):
    customer = make_customer()
    db.session.commit()
    login_as(customer.user)
    fake = _open(client, attachment=("statement.pdf", b"MZ\x90\x00 this is an executable"))
    assert fake.status_code == 422
    assert "not a PDF, JPEG or PNG" in fake.get_data(as_text=True)
    big = _open(client, attachment=("big.png", png_bytes() + b"\0" * (5 * 1024 * 1024)))
    assert big.status_code == 422
    assert "too large" in big.get_data(as_text=True)
    assert _count(db, SupportTicket) == 0 and _count(db, TicketMessage) == 0
    assert not (upload_dir / "support").exists() or not any((upload_dir / "support").iterdir())


def test_staff_reply_notifies_customer_and_customer_replies(db, client, login_as):
    customer = make_customer()
    support = make_staff("support")
    db.session.commit()
    login_as(customer.user)
    _open(client)
    ticket = db.session.scalar(select(SupportTicket))

    login_as(support)
    queue = client.get("/staff/tickets").get_data(as_text=True)
    assert f"/staff/tickets/{ticket.id}" in queue and "Due in 1d 0h" in queue
    response = client.post(f"/staff/tickets/{ticket.id}/reply", data={
        "body": "We received it; the receipt is attached to your statement.",
        "csrf_token": csrf_token(client, f"/staff/tickets/{ticket.id}")})
    assert response.status_code == 303
    db.session.expire_all()
    assert (ticket.status, ticket.assigned_to_id) == ("waiting_on_customer", support.id)
    # the templated event ticket.reply: in-app only, as this customer has no email address (see
    # tests/notifications/test_ticket_reply_email.py for the email)
    [note] = db.session.scalars(select(Notification)).all()
    assert (note.user_id, note.channel, note.event, note.category, note.read_at) == (
        customer.user_id, "in_app", "ticket.reply", "service", None)
    assert (note.subject, note.body) == (f"Ticket #{ticket.id}",
                                         f"Support replied to your ticket #{ticket.id}: Where is my EMI receipt?")
    assert note.template_version_id is not None  # rendered from the institution's published template
    # an internal note is not shown to the customer and not notified
    client.post(f"/staff/tickets/{ticket.id}/reply", data={
        "body": "Customer paid by UPI", "internal": "y",
        "csrf_token": csrf_token(client, f"/staff/tickets/{ticket.id}")})
    assert _count(db, Notification) == 1

    login_as(customer.user)
    dashboard = client.get("/me/support").get_data(as_text=True)
    assert 'data-testid="unread-count"' in dashboard
    page = client.get(f"/me/support/{ticket.id}").get_data(as_text=True)
    assert "We received it" in page and "Customer paid by UPI" not in page
    db.session.expire_all()
    assert db.session.scalar(select(Notification.read_at)) is not None
    assert 'data-testid="unread-count"' not in client.get("/me/support").get_data(as_text=True)
    reply = client.post(f"/me/support/{ticket.id}/reply", data={
        "body": "Thanks, found it.", "csrf_token": csrf_token(client, f"/me/support/{ticket.id}")},
        content_type="multipart/form-data")
    assert reply.status_code == 303
    db.session.expire_all()
    assert ticket.status == "open" and len(ticket.messages) == 4
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "support_tickets")
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["support_ticket.opened", "support_ticket.claimed", "support_ticket.status_changed",
                       "support_ticket.status_changed"]


def test_status_changes_claim_and_invalid_transition(db, client, login_as):
    customer = make_customer()
    support = make_staff("support")
    db.session.commit()
    login_as(customer.user)
    _open(client)
    ticket = db.session.scalar(select(SupportTicket))
    login_as(support)
    url = f"/staff/tickets/{ticket.id}"
    assert client.post(f"{url}/claim", data={"csrf_token": csrf_token(client, url)}).status_code == 303
    assert client.post(f"{url}/status", data={"status": "resolved", "csrf_token": csrf_token(client, url)}
                       ).status_code == 303
    assert client.post(f"{url}/status", data={"status": "closed", "csrf_token": csrf_token(client, url)}
                       ).status_code == 303
    refused = client.post(f"{url}/status", data={"status": "open", "csrf_token": csrf_token(client, url)})
    assert refused.status_code == 422 and "cannot become open" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert (ticket.status, ticket.assigned_to_id) == ("closed", support.id)
    changes = db.session.scalars(select(AuditEvent.changes).where(
        AuditEvent.action == "support_ticket.status_changed").order_by(AuditEvent.id)).all()
    assert [c["status"] for c in changes] == [["open", "resolved"], ["resolved", "closed"]]
    # the customer cannot reply to a closed ticket
    login_as(customer.user)
    closed = client.post(f"/me/support/{ticket.id}/reply", data={
        "body": "one more thing", "csrf_token": csrf_token(client, f"/me/support/{ticket.id}")})
    assert closed.status_code == 409


def test_queue_filters_page_and_fragment(db, client, login_as):
    customer = make_customer()
    support = make_staff("support")
    db.session.commit()
    login_as(customer.user)
    _open(client, subject="First question")
    _open(client, subject="Second question")
    first, second = db.session.scalars(select(SupportTicket).order_by(SupportTicket.id)).all()
    login_as(support)
    url = f"/staff/tickets/{first.id}"
    client.post(f"{url}/claim", data={"csrf_token": csrf_token(client, url)})
    page = client.get("/staff/tickets?who=mine")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html and "First question" in html and "Second question" not in html
    assert "HX-Request" in page.headers["Vary"]
    fragment = client.get("/staff/tickets?who=unassigned", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="ticket-queue">') and "<html" not in fragment
    assert "Second question" in fragment and "First question" not in fragment
    closed = client.get("/staff/tickets?status=closed", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "No tickets match" in closed


def test_staff_sees_customer_loans_with_masked_phone(db, client, login_as, clock):
    loan = make_disbursed_loan(clock)
    customer = loan.customer
    customer.aadhaar_last4 = "4321"
    support = make_staff("support")
    db.session.commit()
    login_as(customer.user)
    _open(client, category="loan")
    ticket = db.session.scalar(select(SupportTicket))
    login_as(support)
    html = client.get(f"/staff/tickets/{ticket.id}").get_data(as_text=True)
    phone = customer.phone_number
    assert phone not in html and f"{phone[:2]}XXXXX{phone[-3:]}" in html
    assert "Aadhaar" not in html and "4321" not in html
    assert f"<td>{loan.id}</td>" in html


def test_ownership_404s(db, client, login_as):
    owner, other = make_customer(), make_customer()
    other_institution = Institution(name="Other Bank", slug="other-bank")
    db.session.add(other_institution)
    db.session.flush()
    foreign_support = make_staff("support")
    foreign_support.institution_id = other_institution.id
    db.session.commit()
    login_as(owner.user)
    _open(client, attachment=("p.png", png_bytes()))
    ticket = db.session.scalar(select(SupportTicket))
    message = ticket.messages[0]
    login_as(other.user)
    assert client.get(f"/me/support/{ticket.id}").status_code == 404
    assert client.get(f"/me/support/{ticket.id}/messages/{message.id}/attachment").status_code == 404
    assert client.post(f"/me/support/{ticket.id}/reply", data={
        "body": "hi", "csrf_token": csrf_token(client, "/me/support")}).status_code == 404
    login_as(foreign_support)
    assert client.get(f"/staff/tickets/{ticket.id}").status_code == 404
    assert client.post(f"/staff/tickets/{ticket.id}/reply", data={
        "body": "hi", "csrf_token": csrf_token(client, "/staff/tickets")}).status_code == 404
    assert "Where is my" not in client.get("/staff/tickets").get_data(as_text=True)
    assert _count(db, TicketMessage) == 1


def test_permission_403s(db, client, login_as):
    customer = make_customer()
    officer = make_staff("loan_officer")
    db.session.commit()
    login_as(customer.user)
    _open(client)
    ticket = db.session.scalar(select(SupportTicket))
    assert client.get("/staff/tickets").status_code == 403
    assert client.get(f"/staff/tickets/{ticket.id}").status_code == 403
    login_as(officer)
    assert client.get("/staff/tickets").status_code == 403
    assert client.post(f"/staff/tickets/{ticket.id}/reply", data={
        "body": "hi", "csrf_token": csrf_token(client, "/staff/applications")}).status_code == 403
    assert client.get("/me/support").status_code == 403
    assert client.get("/staff/tickets").status_code == 403
