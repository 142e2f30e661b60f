"""The notification outbox: ``notify`` writes the message in the caller's transaction; the
``notifications`` job sends pending SMS/email after the commit. In-app messages are delivered on write."""
from __future__ import annotations

from portal.extensions import db
from portal.notifications.models import Notification

CHANNELS = ("sms", "email", "in_app")


def notify(*, channel: str, event: str, body: str, recipient: str, now, user=None, customer=None,
           subject: str | None = None) -> Notification:
    """Add a Notification (flush, no commit). ``channel`` is sms | email | in_app; ``event`` names what
    happened (``otp``, ``kyc.document_approved``, ...). SMS/email go out through the ``notifications`` queue
    after the commit (``jobs.notifications.send_notification``); in-app ones are 'sent' at once.
    Raises ValueError for an unknown channel."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    note = Notification(user_id=getattr(user, "id", None), customer_id=getattr(customer, "id", None),
                        channel=channel, recipient=recipient, event=event, subject=subject, body=body,
                        created_at=now)
    if channel == "in_app":
        note.status, note.sent_at = "sent", now
    db.session.add(note)
    db.session.flush()
    if channel != "in_app":
        from portal.queue import enqueue_after_commit

        enqueue_after_commit("jobs.notifications.send_notification", note.id, queue="notifications")
    return note
