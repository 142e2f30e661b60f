"""Support ticket rules: open, reply (customer and staff), claim, status changes, attachments, notifications.

Services flush, never commit; the actor and the time are keyword arguments. Every status change and claim
writes an AuditEvent in the same transaction. A staff reply that the customer can see tells the customer with the
templated event ``ticket.reply`` (``portal.notifications.services.notify_event``: in-app, and email when the
customer has an address, as their preferences for the ``service`` category allow) in the same transaction.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import Select, func, select, update

from portal.audit.services import record
from portal.errors import DomainError, InvalidTransition, NotFound
from portal.extensions import db
from portal.lending.sla import Ageing, add_business_days, ageing
from portal.notifications.models import Notification
from portal.onboarding import documents
from portal.onboarding.models import Customer
from portal.support.models import CATEGORIES, STATUSES, SupportTicket, TicketMessage

SLA_BUSINESS_DAYS = 1
SLA_HOURS = 24.0
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_BODY = 5000
REPLY_EVENT = "ticket.reply"
#: the event name of reply notifications written before templated events; still counted and marked read
LEGACY_REPLY_EVENT = "support.ticket_reply"
REPLY_EVENTS = (REPLY_EVENT, LEGACY_REPLY_EVENT)

#: status -> statuses a staff member may move it to
ALLOWED: dict[str, frozenset[str]] = {
    "open": frozenset({"waiting_on_customer", "resolved", "closed"}),
    "waiting_on_customer": frozenset({"open", "resolved", "closed"}),
    "resolved": frozenset({"open", "closed"}),
    "closed": frozenset(),
}


@dataclass(frozen=True)
class Attachment:
    """An uploaded file as received: the customer's file name (display only) and its bytes."""

    filename: str
    data: bytes


# ---- attachments ------------------------------------------------------------------------------------------
def check_attachment(attachment: Attachment, *, max_bytes: int = MAX_ATTACHMENT_BYTES) -> tuple[str, str]:
    """Check a ticket attachment by its content (PDF, JPEG or PNG; images must decode; at most ``max_bytes``
    bytes, 5 MB by default). Returns ``(display name, content type)``; DomainError 422 otherwise. Reuses the
    KYC upload checks of ``portal.onboarding.documents``."""
    name = documents.clean_filename(attachment.filename, "attachment")
    data = attachment.data
    if not data:
        raise DomainError(f"{name} is empty (0 bytes). Choose the file again.")
    if len(data) > max_bytes:
        raise DomainError(f"{name} is too large ({documents.human_size(len(data))}); the limit is "
                          f"{documents.human_size(max_bytes)} per attachment.")
    content_type = documents.sniff_content_type(data)
    if content_type is None:
        raise DomainError(f"{name} is not a PDF, JPEG or PNG file (whatever its name says).")
    documents.check_decodes(data, name, content_type)
    return name, content_type


def attachment_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / "support"


def attachment_file(message: TicketMessage) -> Path:
    """Where ``message``'s attachment lives; NotFound when it has none."""
    import re

    if not message.attachment_path or not re.fullmatch(r"[0-9a-f]{32}\.(jpg|png|pdf)", message.attachment_path):
        raise NotFound("This message has no attachment.")
    return attachment_dir() / message.attachment_path


def _store(data: bytes, content_type: str) -> str:
    """Write the bytes under a random name (removed again if the transaction rolls back); the name."""
    storage_name = secrets.token_hex(16) + documents.EXTENSIONS[content_type]
    documents.write_file(storage_name, data, folder=attachment_dir())
    return storage_name


def _add_message(ticket: SupportTicket, *, body: str, attachment: Attachment | None, actor, now: datetime,
                 internal: bool = False) -> TicketMessage:
    body = (body or "").strip()
    if not body:
        raise DomainError("Write a message.")
    if len(body) > MAX_BODY:
        raise DomainError(f"The message is too long (at most {MAX_BODY} characters).")
    message = TicketMessage(ticket_id=ticket.id, author_user_id=actor.id, body=body, internal=internal,
                            created_at=now)
    if attachment is not None:
        name, content_type = check_attachment(attachment)
        message.attachment_path = _store(attachment.data, content_type)
        message.attachment_name, message.attachment_size = name, len(attachment.data)
        message.attachment_type = content_type
    db.session.add(message)
    ticket.updated_at = now
    db.session.flush()
    return message


def _set_status(ticket: SupportTicket, new: str, *, actor, note: str | None = None) -> None:
    old = ticket.status
    if new == old:
        return
    ticket.status = new
    record(actor, "support_ticket.status_changed", ticket, institution_id=ticket.institution_id,
           changes={"status": (old, new)}, note=note)


# ---- customer -----------------------------------------------------------------------------------------------
def open_ticket(customer: Customer, *, category: str, subject: str, body: str, attachment: Attachment | None,
                actor, now: datetime) -> SupportTicket:
    """The customer opens a ticket with its first message (and optional attachment). The answer is due
    ``SLA_BUSINESS_DAYS`` business day(s) after ``now``. DomainError 422 for an unknown category, an empty
    subject or message, or a refused attachment (nothing is saved then). Audits ``support_ticket.opened``."""
    if category not in CATEGORIES:
        raise DomainError("Choose what the ticket is about (loan, payment, KYC or other).")
    subject = (subject or "").strip()
    if not subject or len(subject) > 200:
        raise DomainError("Give the ticket a subject (at most 200 characters).")
    if attachment is not None:
        check_attachment(attachment)  # refuse before anything is written
    tz = current_app.config["PORTAL_TIMEZONE"]
    ticket = SupportTicket(institution_id=customer.institution_id, customer_id=customer.id, category=category,
                           subject=subject, status="open", sla_due_at=add_business_days(now, SLA_BUSINESS_DAYS, tz),
                           created_at=now, updated_at=now)
    db.session.add(ticket)
    db.session.flush()
    _add_message(ticket, body=body, attachment=attachment, actor=actor, now=now)
    record(actor, "support_ticket.opened", ticket, institution_id=ticket.institution_id,
           changes={"status": (None, "open"), "category": category, "customer_id": customer.id})
    return ticket


def reply_as_customer(ticket: SupportTicket, *, body: str, attachment: Attachment | None, actor,
                      now: datetime) -> TicketMessage:
    """The customer adds to the thread; a ticket waiting on them or resolved opens again (audited).
    DomainError 409 on a closed ticket, 422 for an empty message or a refused attachment."""
    if ticket.status == "closed":
        raise DomainError("This ticket is closed. Open a new ticket for a new question.", 409)
    message = _add_message(ticket, body=body, attachment=attachment, actor=actor, now=now)
    if ticket.status in ("waiting_on_customer", "resolved"):
        _set_status(ticket, "open", actor=actor, note="the customer replied")
    return message


def customer_ticket(customer: Customer, ticket_id: int) -> SupportTicket:
    """The customer's own ticket; NotFound (404) for anyone else's."""
    ticket = db.session.get(SupportTicket, ticket_id)
    if ticket is None or ticket.customer_id != customer.id:
        raise NotFound("There is no such ticket.")
    return ticket


def customer_tickets(customer: Customer) -> list[SupportTicket]:
    return list(db.session.scalars(select(SupportTicket).where(SupportTicket.customer_id == customer.id)
                                   .order_by(SupportTicket.updated_at.desc(), SupportTicket.id.desc())))


def visible_messages(ticket: SupportTicket, *, staff: bool) -> list[TicketMessage]:
    """The thread; customers never see internal notes."""
    return [m for m in ticket.messages if staff or not m.internal]


def _reply_times(ticket: SupportTicket) -> Select:
    """When staff replied in ``ticket``'s thread where the customer sees it (the ``created_at`` of its visible
    messages not written by the customer): the reply notifications carry the same ``created_at``."""
    return select(TicketMessage.created_at).where(
        TicketMessage.ticket_id == ticket.id, TicketMessage.internal.is_(False),
        TicketMessage.author_user_id.is_distinct_from(
            select(Customer.user_id).where(Customer.id == ticket.customer_id).scalar_subquery()))


def mark_replies_read(ticket: SupportTicket, *, user, now: datetime) -> int:
    """Mark ``user``'s unread in-app reply notifications of ``ticket`` read; how many.

    A notification belongs to the ticket when it was written with one of the ticket's staff replies (same
    ``created_at``, see ``reply_as_staff``), not by its subject or body: those come from templates an admin
    may edit (``ticket.reply``), and a published template need not name the ticket at all. Reply notifications
    written before templated events (``support.ticket_reply``) match the same way."""
    result = db.session.execute(update(Notification).where(
        Notification.user_id == user.id, Notification.channel == "in_app", Notification.event.in_(REPLY_EVENTS),
        Notification.created_at.in_(_reply_times(ticket)), Notification.read_at.is_(None))
        .values(read_at=now).execution_options(synchronize_session="fetch"))
    return result.rowcount


def unread_notifications(user) -> int:
    """The number of ``user``'s unread in-app ticket-reply notifications (the badge on the Help link; opening
    the ticket marks them read). Other notifications are the notification centre's (issue 6 item 3)."""
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.channel == "in_app", Notification.event.in_(REPLY_EVENTS),
        Notification.read_at.is_(None))) or 0


# ---- staff ------------------------------------------------------------------------------------------------
def institution_ticket(institution_id: int, ticket_id: int) -> SupportTicket:
    """Ticket ``ticket_id`` of ``institution_id``; NotFound (404) otherwise."""
    ticket = db.session.get(SupportTicket, ticket_id)
    if ticket is None or ticket.institution_id != institution_id:
        raise NotFound("There is no such ticket.")
    return ticket


def queue_select(institution_id: int, *, status: str = "active", who: str = "all", user_id: int | None = None
                 ) -> Select:
    """The queue: ``status`` one of STATUSES, ``active`` (open + waiting) or ``all``; ``who`` all | mine |
    unassigned. Oldest SLA first."""
    query = select(SupportTicket).where(SupportTicket.institution_id == institution_id)
    if status == "active":
        query = query.where(SupportTicket.status.in_(("open", "waiting_on_customer")))
    elif status in STATUSES:
        query = query.where(SupportTicket.status == status)
    if who == "mine":
        query = query.where(SupportTicket.assigned_to_id == user_id)
    elif who == "unassigned":
        query = query.where(SupportTicket.assigned_to_id.is_(None))
    return query.order_by(SupportTicket.sla_due_at, SupportTicket.id)


def sla_ageing(ticket: SupportTicket, now: datetime) -> Ageing | None:
    """On track / due soon / overdue for a ticket that waits on staff (status open); None otherwise."""
    if ticket.status != "open":
        return None
    return ageing(ticket.sla_due_at, now, sla_hours=SLA_HOURS)


def claim_ticket(ticket: SupportTicket, *, actor, now: datetime) -> SupportTicket:
    """Assign ``ticket`` to ``actor`` (audited ``support_ticket.claimed``). DomainError 409 when closed."""
    if ticket.status == "closed":
        raise DomainError("This ticket is closed.", 409)
    old = ticket.assigned_to_id
    if old != actor.id:
        ticket.assigned_to_id, ticket.updated_at = actor.id, now
        record(actor, "support_ticket.claimed", ticket, institution_id=ticket.institution_id,
               changes={"assigned_to_id": (old, actor.id)})
    return ticket


def reply_as_staff(ticket: SupportTicket, *, body: str, internal: bool = False, actor,
                   now: datetime) -> TicketMessage:
    """Support answers in the thread. A reply the customer sees (not ``internal``) moves an open ticket to
    waiting_on_customer (audited) and tells the customer (event ``ticket.reply``: in-app, and email when they
    have an address, each as their ``service`` preferences allow; the notifications carry the reply's
    ``created_at``, which is how ``mark_replies_read`` finds them); an unassigned ticket is claimed by the
    replier. DomainError 409 on a closed ticket, 422 for an empty message."""
    from portal.notifications.services import notify_event

    if ticket.status == "closed":
        raise DomainError("This ticket is closed.", 409)
    message = _add_message(ticket, body=body, attachment=None, actor=actor, now=now, internal=internal)
    if ticket.assigned_to_id is None:
        claim_ticket(ticket, actor=actor, now=now)
    if not internal:
        if ticket.status == "open":
            _set_status(ticket, "waiting_on_customer", actor=actor, note="support replied")
        notify_event(REPLY_EVENT, customer=ticket.customer, now=message.created_at,
                     context={"ticket_id": ticket.id, "ticket_subject": ticket.subject})
    return message


def change_status(ticket: SupportTicket, new_status: str, *, actor, now: datetime) -> SupportTicket:
    """Move ``ticket`` to ``new_status`` (audited ``support_ticket.status_changed``). InvalidTransition (422)
    for a move not in ALLOWED."""
    if new_status not in STATUSES:
        raise InvalidTransition("Choose a status.")
    if new_status == ticket.status:
        return ticket
    if new_status not in ALLOWED[ticket.status]:
        raise InvalidTransition(f"A {STATUSES[ticket.status].lower()} ticket cannot become "
                                f"{STATUSES[new_status].lower()}.")
    _set_status(ticket, new_status, actor=actor)
    ticket.updated_at = now
    return ticket


def customer_loans(ticket: SupportTicket) -> list:
    """The ticket's customer's loans, newest first (for the panel beside the ticket)."""
    from portal.lending.models import Loan

    return list(db.session.scalars(select(Loan).where(Loan.customer_id == ticket.customer_id,
                                                      Loan.institution_id == ticket.institution_id)
                                   .order_by(Loan.id.desc())))
