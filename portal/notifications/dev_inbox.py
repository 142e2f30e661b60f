"""The development inbox: the latest SMS and email messages of the outbox, one-time passwords included.

Registered by ``create_app`` only when config ``DEV_INBOX`` is true (development and test configs); the
production config refuses to start with it, so ``/dev/inbox`` is a 404 there. Open to anyone on purpose:
a developer signing in by OTP reads the code here before being signed in.
"""
from flask import Blueprint, request
from sqlalchemy import select

from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.notifications.models import Notification

bp = Blueprint("dev_inbox", __name__, url_prefix="/dev")
LIMIT = 50


@bp.get("/inbox")
def inbox():
    """The newest ``LIMIT`` SMS/email notifications, optionally for recipients containing ``?to=``; htmx polls
    the table fragment."""
    to = (request.args.get("to") or "").strip()[:40]
    q = select(Notification).where(Notification.channel.in_(("sms", "email")))
    if to:
        q = q.where(Notification.recipient.contains(to, autoescape=True))
    rows = db.session.scalars(q.order_by(Notification.id.desc()).limit(LIMIT)).all()
    return render_page_or_fragment("notifications/dev_inbox.html", "notifications/_dev_inbox_table.html",
                                   rows=rows, to=to)
