"""Delivery of outbox notifications through pluggable providers (config ``SMS_PROVIDER``)."""
from __future__ import annotations

from flask import current_app

from portal.extensions import db
from portal.notifications.models import Notification


def deliver(notification_id: int, *, now) -> str:
    """Send a pending notification once (idempotent: a sent one is left alone); returns the status.
    The 'outbox' provider (development, tests) only marks it sent: the dev inbox page shows it."""
    note = db.session.get(Notification, notification_id, with_for_update=True)
    if note is None or note.status == "sent":
        return note.status if note else "missing"
    provider = current_app.config.get("SMS_PROVIDER", "outbox")
    note.attempts += 1
    if provider == "outbox":
        note.status, note.sent_at = "sent", now
    else:
        note.status, note.error = "failed", f"unknown provider {provider!r}"
    return note.status
