"""The notification outbox: ``notify_event`` renders an event's published templates for the channels the
person's preferences allow and writes one outbox row per channel in the caller's transaction; ``notify`` writes
one row with a hand-written body. SMS/email rows are 'pending': a ``jobs.notifications.send_notification`` job
is queued after the commit, and ``relay_pending`` (every minute) re-queues the rows whose job never ran (Redis
down at commit time) or whose retry is due. In-app rows are 'sent' on write and counted by the bell until read.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select, update

from portal.errors import NotFound
from portal.extensions import db
from portal.notifications.events import CHANNELS, event_spec
from portal.notifications.models import Notification

log = logging.getLogger(__name__)
SEND_JOB = "jobs.notifications.send_notification"
RELAY_GRACE_SECONDS = 120   # a pending row is the relay's after this long without a send (its job may be lost)
RELAY_LEASE_SECONDS = 300   # after the relay queues a row it leaves it alone this long


def _seconds(name: str, default: int) -> timedelta:
    return timedelta(seconds=int(current_app.config.get(name, default)))


def relay_grace() -> timedelta:
    """How long a new pending SMS/email row waits for its send job before ``relay_pending`` may queue it
    (config NOTIFY_RELAY_GRACE_SECONDS, default RELAY_GRACE_SECONDS = 120 s): rows are written with
    ``next_attempt_at = now + relay_grace()``."""
    return _seconds("NOTIFY_RELAY_GRACE_SECONDS", RELAY_GRACE_SECONDS)


def notify(*, channel: str, event: str, body: str, recipient: str, now, user=None, customer=None,
           subject: str | None = None, category: str | None = None,
           template_version_id: int | None = None) -> Notification:
    """Add a Notification (flush, no commit). ``channel`` is sms | email | in_app; ``event`` names what
    happened (``otp``, ``kyc.document_approved``, ...). SMS/email go out through the ``notifications`` queue
    after the commit (``jobs.notifications.send_notification``; the relay re-queues it after
    NOTIFY_RELAY_GRACE_SECONDS if it is still pending); in-app ones are 'sent' at once.
    Raises ValueError for an unknown channel."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    note = Notification(user_id=getattr(user, "id", None), customer_id=getattr(customer, "id", None),
                        channel=channel, recipient=recipient[:254], event=event, subject=subject, body=body,
                        created_at=now, category=category, template_version_id=template_version_id,
                        status="pending", attempts=0)
    if channel == "in_app":
        note.status, note.sent_at = "sent", now
    else:
        note.next_attempt_at = now + relay_grace()
    db.session.add(note)
    db.session.flush()
    if channel != "in_app":
        from portal.queue import enqueue_after_commit

        enqueue_after_commit(SEND_JOB, note.id, queue="notifications")
    return note


def sms_number(phone: str | None) -> str | None:
    """The SMS address of an Indian mobile number: "+91" and its 10 digits ("98765 43210" -> "+919876543210");
    any other number as given; None for none."""
    if not phone:
        return None
    digits = "".join(c for c in phone if c.isdigit())
    return f"+91{digits}" if len(digits) == 10 else phone


def _recipient(channel: str, *, customer, user, phone: str | None, email: str | None) -> str | None:
    """Where ``channel`` reaches the person, or None when it cannot (no number, address or login)."""
    if channel == "sms":
        return sms_number(phone or getattr(customer, "phone_number", None) or getattr(user, "phone", None))
    if channel == "email":
        return email or getattr(customer, "email", None) or getattr(user, "email", None)
    if user is None:
        return None  # in-app needs a login to show it to
    return getattr(customer, "phone_number", None) or user.phone or user.email or f"user:{user.id}"


def notify_event(event: str, *, customer=None, user=None, context: dict, now: datetime,
                 phone: str | None = None, email: str | None = None) -> list[Notification]:
    """Tell ``customer`` (and/or the login ``user``; default ``customer.user``) about ``event`` (a name in
    ``events.EVENTS``): for each channel of the event that the person's preferences allow (security and legal
    events ignore them) and that can reach them (SMS: ``phone`` or the customer's/user's number; email:
    ``email`` or their address; in-app: a login), render the institution's published template (the built-in
    default when there is none, or when the published one fails on this context: logged) over ``context``
    (plain values: str, int, Decimal rupees, date) and write an outbox row via ``notify``. Flushes, no commit.
    Returns the rows written. ValueError for an unknown event; jinja2 errors only if a built-in default fails."""
    from portal.auth.services import default_institution
    from portal.notifications.preferences import allows, preferences_of
    from portal.notifications.templates import full_context, published_versions, render_text

    spec = event_spec(event)
    if user is None and customer is not None:
        user = customer.user
    institution_id = (getattr(customer, "institution_id", None) or getattr(user, "institution_id", None)
                      or default_institution().id)
    grid = None if spec.mandatory else preferences_of(user)
    name = (customer.name if customer is not None and customer.name.strip() else
            getattr(user, "display_name", None))
    ctx = full_context(context, customer_name=name)
    versions = published_versions(institution_id, event)
    notes = []
    for channel in spec.channels:
        if grid is not None and not allows(grid, spec.category, channel):
            continue
        recipient = _recipient(channel, customer=customer, user=user, phone=phone, email=email)
        if not recipient:
            continue
        version = versions.get(channel)
        subject, body, version_id = None, None, None
        if version is not None:
            try:
                subject, body = render_text(version.subject, ctx), render_text(version.body, ctx)
                version_id = version.id
            except Exception:  # a published template that fails on real data must not lose the message
                log.exception("template %s/%s v%s failed; the built-in default is used", event, channel,
                              version.version)
                body = None
        if body is None:
            default_subject, default_body = spec.defaults[channel]
            subject, body = render_text(default_subject, ctx), render_text(default_body, ctx)
        notes.append(notify(channel=channel, event=event, body=body, subject=None if channel == "sms" else subject,
                            recipient=recipient, now=now, user=user, customer=customer, category=spec.category,
                            template_version_id=version_id))
    return notes


# ---- in-app: the bell and the notifications page -------------------------------------------------------------
def unread_count(user) -> int:
    """How many of ``user``'s in-app notifications are unread (the bell)."""
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.channel == "in_app", Notification.read_at.is_(None))) or 0


def in_app_select(user):
    """``user``'s in-app notifications, newest first (a Select for ``db.paginate``)."""
    return (select(Notification).where(Notification.user_id == user.id, Notification.channel == "in_app")
            .order_by(Notification.id.desc()))


def own_notification(user, notification_id: int) -> Notification:
    """``user``'s in-app notification ``notification_id``; NotFound (404) for anyone else's or none."""
    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != user.id or note.channel != "in_app":
        raise NotFound("There is no such notification.")
    return note


def mark_read(user, notification_id: int, *, now: datetime) -> Notification:
    """Mark ``user``'s in-app notification read (idempotent: the first read time stays). NotFound (404)."""
    note = own_notification(user, notification_id)
    if note.read_at is None:
        note.read_at = now
        db.session.flush()
    return note


def mark_all_read(user, *, now: datetime) -> int:
    """Mark all of ``user``'s unread in-app notifications read; how many."""
    result = db.session.execute(update(Notification).where(
        Notification.user_id == user.id, Notification.channel == "in_app", Notification.read_at.is_(None))
        .values(read_at=now).execution_options(synchronize_session="fetch"))
    return result.rowcount


# ---- the relay -----------------------------------------------------------------------------------------------
def relay_pending(now: datetime, *, limit: int = 500) -> list[int]:
    """Queue a send job for every pending SMS/email row that is due (``next_attempt_at`` <= ``now``, or unset):
    rows whose job was lost (Redis down at commit time: their grace period has passed) and rows whose retry is
    due. Each row is leased for NOTIFY_RELAY_LEASE_SECONDS (``next_attempt_at`` moved on) so the next run does
    not queue it again meanwhile; a duplicate job is harmless anyway (``delivery.deliver`` sends a row at most
    once). Rows locked by a running send are skipped (FOR UPDATE SKIP LOCKED). The jobs are queued after the
    commit; if Redis is still down the lease runs out and a later run tries again. Returns the ids; flushes."""
    from portal.queue import enqueue_after_commit

    ids = list(db.session.scalars(
        select(Notification.id).where(Notification.status == "pending", Notification.channel.in_(("sms", "email")),
                                      or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now))
        .order_by(Notification.id).limit(limit).with_for_update(skip_locked=True)))
    if not ids:
        return []
    lease = now + _seconds("NOTIFY_RELAY_LEASE_SECONDS", RELAY_LEASE_SECONDS)
    db.session.execute(update(Notification).where(Notification.id.in_(ids)).values(next_attempt_at=lease)
                       .execution_options(synchronize_session="fetch"))
    for note_id in ids:
        enqueue_after_commit(SEND_JOB, note_id, queue="notifications")
    log.info("relay: queued %d pending notification(s)", len(ids))
    return ids
