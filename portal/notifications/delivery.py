"""Delivery of outbox notifications through pluggable providers, with retries and exponential backoff.

SMS: a provider is anything with a ``name`` and ``send(notification)`` (the ``SmsProvider`` protocol), picked by
config ``SMS_PROVIDER``; it raises ``DeliveryError`` when the message could not be handed over.
``OutboxProvider`` (development, tests) keeps the message in the outbox table only, where the development inbox
page shows it. A real gateway (an Indian SMS aggregator's HTTP API, say) is one more class registered in
``PROVIDERS``; its credentials come from config, and it must not log the message body (OTP texts hold the code).
Email: ``SmtpEmailProvider`` (portal/notifications/email.py) when ``SMTP_HOST`` is set, else the outbox.

Exactly once per row: ``deliver`` locks the row (SELECT ... FOR UPDATE) and sends only a 'pending' row; a second
job for the same row waits for the lock and then finds it 'sent'. (The send happens before the commit that
records it: if that commit failed after the provider took the message, the row would be sent again later —
at-least-once at the provider boundary, exactly once as far as the database can tell.)

Retries: a failed attempt stores the error and sets ``next_attempt_at = now + backoff_seconds(attempts)``
(60 s, 120 s, 240 s, ... capped at one hour); the relay queues it again when that time comes. After
``NOTIFY_MAX_ATTEMPTS`` (5) failed attempts the row is 'failed' for good.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import Notification

MAX_ATTEMPTS = 5
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 3600


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
    """The SMS provider called ``name`` (default: config ``SMS_PROVIDER``). Raises DeliveryError when unknown."""
    name = name or current_app.config.get("SMS_PROVIDER", "outbox")
    cls = PROVIDERS.get(name)
    if cls is None:
        raise DeliveryError(f"unknown provider {name!r}")
    return cls()


def get_email_provider():
    """``SmtpEmailProvider`` when config ``SMTP_HOST`` is set, else the ``OutboxProvider``."""
    if current_app.config.get("SMTP_HOST"):
        from portal.notifications.email import SmtpEmailProvider

        return SmtpEmailProvider()
    return OutboxProvider()


def backoff_seconds(attempts: int, *, base: int = RETRY_BASE_SECONDS, cap: int = RETRY_MAX_SECONDS) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt: base x 2^(attempts-1), at most ``cap``
    (60, 120, 240, 480, ... 3600). ValueError for attempts < 1."""
    if attempts < 1:
        raise ValueError("attempts start at 1")
    return min(base * 2 ** (attempts - 1), cap)


def deliver(notification_id: int, *, now: datetime) -> str:
    """Attempt to send notification ``notification_id`` once; returns the outcome: 'sent' (now or before),
    'failed' (this attempt failed — retried at ``next_attempt_at`` — or the row has given up), 'missing'.
    Only a 'pending' row is sent, under a row lock, so a row is never sent twice however many jobs run for it.
    Flushes, no commit (the job commits)."""
    note = db.session.execute(select(Notification).where(Notification.id == notification_id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one_or_none()
    if note is None:
        return "missing"
    outcome = attempt_locked(note, now=now)
    db.session.flush()
    return outcome


def attempt_locked(note: Notification, *, now: datetime) -> str:
    """One delivery attempt of ``note``, whose row the caller has locked (SELECT ... FOR UPDATE, loaded with
    ``populate_existing``): sent only when 'pending'; returns 'sent', 'failed' (retried at ``next_attempt_at``,
    or given up) or the status it already had. For senders that lock a batch of rows at once (the
    close-of-business reminders, ``portal.servicing.reminders``); ``deliver`` locks one row. No flush."""
    if note.status != "pending":
        return note.status
    if note.channel == "in_app":
        note.status, note.sent_at, note.next_attempt_at = "sent", now, None
        return "sent"
    config = current_app.config
    note.attempts += 1
    try:
        provider = get_provider() if note.channel == "sms" else get_email_provider()
        provider.send(note)
    except DeliveryError as exc:
        note.error = str(exc)[:500]
        if note.attempts >= int(config.get("NOTIFY_MAX_ATTEMPTS", MAX_ATTEMPTS)):
            note.status, note.next_attempt_at = "failed", None
        else:
            wait = backoff_seconds(note.attempts, base=int(config.get("NOTIFY_RETRY_BASE_SECONDS", RETRY_BASE_SECONDS)),
                                   cap=int(config.get("NOTIFY_RETRY_MAX_SECONDS", RETRY_MAX_SECONDS)))
            note.next_attempt_at = now + timedelta(seconds=wait)
        return "failed"
    note.status, note.sent_at, note.error, note.next_attempt_at = "sent", now, None, None
    return "sent"
