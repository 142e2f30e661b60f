"""Support pages: the customer's tickets (Help), and the support queue at /staff/tickets."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user

from portal.auth.otp import mask_mobile
from portal.clock import clock
from portal.errors import DomainError, NotFound
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.onboarding.models import Customer
from portal.onboarding.services import customer_for_user
from portal.security import Perm, require_permission
from portal.support import services
from portal.support.forms import ClaimForm, CustomerReplyForm, OpenTicketForm, StaffReplyForm, StatusForm, form_error
from portal.support.models import STATUSES, SupportTicket, TicketMessage

bp = Blueprint("support", __name__)
QUEUE_LIMIT = 200
WHO = {"all": "Everyone", "mine": "Mine", "unassigned": "Unassigned"}


def _attachment(field) -> services.Attachment | None:
    data = field.data
    if not data or not getattr(data, "filename", None):
        return None
    return services.Attachment(filename=data.filename, data=data.read())


def _send(message: TicketMessage):
    response = send_file(services.attachment_file(message), mimetype=message.attachment_type,
                         download_name=message.attachment_name, conditional=False, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _message_of(ticket: SupportTicket, message_id: int, *, staff: bool) -> TicketMessage:
    for message in services.visible_messages(ticket, staff=staff):
        if message.id == message_id:
            return message
    raise NotFound("There is no such message.")


# ---- customer -------------------------------------------------------------------------------------------------
def _me() -> Customer:
    customer = customer_for_user(current_user)
    if customer is None:
        abort(404, "There is no customer profile for this login.")
    return customer


@bp.get("/me/support")
@require_permission(Perm.APPLY)
def my_tickets():
    return render_template("support/my_tickets.html", tickets=services.customer_tickets(_me()))


@bp.get("/me/support/new")
@require_permission(Perm.APPLY)
def new_ticket():
    return render_template("support/new.html", form=OpenTicketForm(category=request.args.get("category")))


@bp.post("/me/support")
@require_permission(Perm.APPLY)
def open_ticket():
    customer = _me()
    form = OpenTicketForm()
    if not form.validate_on_submit():
        return render_template("support/new.html", form=form, error=form_error(form)), 422
    try:
        ticket = services.open_ticket(customer, category=form.category.data, subject=form.subject.data,
                                      body=form.body.data, attachment=_attachment(form.attachment),
                                      actor=current_user, now=clock().now())
    except DomainError as exc:
        db.session.rollback()
        return render_template("support/new.html", form=form, error=exc.message), exc.http_status
    db.session.commit()
    flash(f"Ticket #{ticket.id} opened. We answer within one business day.", "success")
    return redirect(url_for("support.my_ticket", ticket_id=ticket.id), 303)


def _my_ticket_page(ticket: SupportTicket, form: CustomerReplyForm, error: str | None = None, status: int = 200):
    return render_template("support/my_ticket.html", ticket=ticket, form=form, error=error,
                           messages=services.visible_messages(ticket, staff=False)), status


@bp.get("/me/support/<int:ticket_id>")
@require_permission(Perm.APPLY)
def my_ticket(ticket_id: int):
    ticket = services.customer_ticket(_me(), ticket_id)
    if services.mark_replies_read(ticket, user=current_user, now=clock().now()):
        db.session.commit()
    return _my_ticket_page(ticket, CustomerReplyForm())


@bp.post("/me/support/<int:ticket_id>/reply")
@require_permission(Perm.APPLY)
def reply_my_ticket(ticket_id: int):
    ticket = services.customer_ticket(_me(), ticket_id)
    form = CustomerReplyForm()
    if not form.validate_on_submit():
        return _my_ticket_page(ticket, form, form_error(form), 422)
    try:
        services.reply_as_customer(ticket, body=form.body.data, attachment=_attachment(form.attachment),
                                   actor=current_user, now=clock().now())
    except DomainError as exc:
        db.session.rollback()
        ticket = services.customer_ticket(_me(), ticket_id)
        return _my_ticket_page(ticket, form, exc.message, exc.http_status)
    db.session.commit()
    flash("Reply sent.", "success")
    return redirect(url_for("support.my_ticket", ticket_id=ticket.id), 303)


@bp.get("/me/support/<int:ticket_id>/messages/<int:message_id>/attachment")
@require_permission(Perm.APPLY)
def my_attachment(ticket_id: int, message_id: int):
    ticket = services.customer_ticket(_me(), ticket_id)
    return _send(_message_of(ticket, message_id, staff=False))


# ---- staff ----------------------------------------------------------------------------------------------------
@bp.get("/staff/tickets")
@require_permission(Perm.VIEW_TICKETS)
def ticket_queue():
    status = request.args.get("status", "active")
    status = status if status in ("active", "all", *STATUSES) else "active"
    who = request.args.get("who", "all")
    who = who if who in WHO else "all"
    tickets = db.session.scalars(services.queue_select(current_user.institution_id, status=status, who=who,
                                                       user_id=current_user.id).limit(QUEUE_LIMIT)).all()
    now = clock().now()
    return render_page_or_fragment("support/queue.html", "support/_queue_table.html", tickets=tickets,
                                   status_filter=status, who=who, statuses=STATUSES, whos=WHO,
                                   ageing={t.id: services.sla_ageing(t, now) for t in tickets})


def _staff_ticket_page(ticket: SupportTicket, *, reply_form=None, error: str | None = None, status: int = 200):
    customer = ticket.customer
    return render_template(
        "support/ticket.html", ticket=ticket, messages=services.visible_messages(ticket, staff=True),
        customer=customer, masked_phone=mask_mobile(customer.phone_number), loans=services.customer_loans(ticket),
        ageing=services.sla_ageing(ticket, clock().now()), reply_form=reply_form or StaffReplyForm(),
        status_form=StatusForm(status=ticket.status), claim_form=ClaimForm(), error=error,
        next_statuses=sorted(services.ALLOWED[ticket.status]), statuses=STATUSES), status


@bp.get("/staff/tickets/<int:ticket_id>")
@require_permission(Perm.VIEW_TICKETS)
def staff_ticket(ticket_id: int):
    return _staff_ticket_page(services.institution_ticket(current_user.institution_id, ticket_id))


@bp.post("/staff/tickets/<int:ticket_id>/claim")
@require_permission(Perm.ANSWER_TICKETS)
def claim_ticket(ticket_id: int):
    ticket = services.institution_ticket(current_user.institution_id, ticket_id)
    form = ClaimForm()
    if not form.validate_on_submit():
        raise DomainError(form_error(form))
    services.claim_ticket(ticket, actor=current_user, now=clock().now())
    db.session.commit()
    flash(f"Ticket #{ticket.id} is yours.", "success")
    return redirect(url_for("support.staff_ticket", ticket_id=ticket.id), 303)


@bp.post("/staff/tickets/<int:ticket_id>/reply")
@require_permission(Perm.ANSWER_TICKETS)
def reply_ticket(ticket_id: int):
    ticket = services.institution_ticket(current_user.institution_id, ticket_id)
    form = StaffReplyForm()
    if not form.validate_on_submit():
        return _staff_ticket_page(ticket, reply_form=form, error=form_error(form), status=422)
    services.reply_as_staff(ticket, body=form.body.data, internal=form.internal.data, actor=current_user,
                            now=clock().now())
    db.session.commit()
    flash("Internal note added." if form.internal.data else "Reply sent; the customer is notified.", "success")
    return redirect(url_for("support.staff_ticket", ticket_id=ticket.id), 303)


@bp.post("/staff/tickets/<int:ticket_id>/status")
@require_permission(Perm.ANSWER_TICKETS)
def change_ticket_status(ticket_id: int):
    ticket = services.institution_ticket(current_user.institution_id, ticket_id)
    form = StatusForm()
    if not form.validate_on_submit():
        raise DomainError(form_error(form) or "Choose a status.")
    services.change_status(ticket, form.status.data, actor=current_user, now=clock().now())
    db.session.commit()
    flash(f"Ticket #{ticket.id} is now {ticket.status_label.lower()}.", "success")
    return redirect(url_for("support.staff_ticket", ticket_id=ticket.id), 303)


@bp.get("/staff/tickets/<int:ticket_id>/messages/<int:message_id>/attachment")
@require_permission(Perm.VIEW_TICKETS)
def staff_attachment(ticket_id: int, message_id: int):
    ticket = services.institution_ticket(current_user.institution_id, ticket_id)
    return _send(_message_of(ticket, message_id, staff=True))
