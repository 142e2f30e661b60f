"""Delivery of outbox notifications through pluggable providers (config ``SMS_PROVIDER``).

A provider is anything with a ``name`` and ``send(notification)`` (the ``SmsProvider`` protocol); it raises
``DeliveryError`` when the message could not be handed over. ``OutboxProvider`` (development, tests) keeps the
message in the outbox table only, where the development inbox page shows it. A real gateway (an Indian SMS
aggregator's HTTP API, say) is one more class registered in ``PROVIDERS``; its credentials come from config,
and it must not log the message body (OTP texts hold the code).
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from flask import current_app

from portal.extensions import db
from portal.notifications.models import Notification


class DeliveryError(Exception):
    """A provider could not send a message; the text is stored on the notification (never the body)."""


class SmsProvider(Protocol):
    """Sends one SMS. ``send`` returns nothing on success and raises DeliveryError on failure."""

    name: str

    def send(self, notification: Notification) -> None: ...


class OutboxProvider:
    """Development and test provider: the message stays in the outbox (the dev inbox page lists it)."""

    name = "outbox"

    def send(self, notification: Notification) -> None:
        return None


PROVIDERS: dict[str, type] = {"outbox": OutboxProvider}


def get_provider(name: str | None = None) -> SmsProvider:
    """The provider called ``name`` (default: config ``SMS_PROVIDER``). Raises DeliveryError when unknown."""
    name = name or current_app.config.get("SMS_PROVIDER", "outbox")
    cls = PROVIDERS.get(name)
    if cls is None:
        raise DeliveryError(f"unknown provider {name!r}")
    return cls()


def deliver(notification_id: int, *, now: datetime) -> str:
    """Send a pending notification once (idempotent: a sent one is left alone); returns its status
    (sent | failed | missing). SMS and email go through the configured provider (email has only the outbox
    for now); a DeliveryError marks it failed with the error text. Locks the row; flushes, no commit."""
    note = db.session.get(Notification, notification_id, with_for_update=True)
    if note is None or note.status == "sent":
        return note.status if note else "missing"
    note.attempts += 1
    try:
        provider = get_provider() if note.channel == "sms" else OutboxProvider()
        provider.send(note)
    except DeliveryError as exc:
        note.status, note.error = "failed", str(exc)[:500]
    else:
        note.status, note.sent_at, note.error = "sent", now, None
    return note.status
