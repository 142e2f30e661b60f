"""Email over SMTP (``smtplib``), configured from the environment:

    SMTP_HOST      the relay to hand mail to; unset -> email stays in the outbox (development, dev inbox)
    SMTP_PORT      default 25 (587 with SMTP_STARTTLS)
    SMTP_USER / SMTP_PASSWORD   optional login (use it with SMTP_STARTTLS)
    SMTP_STARTTLS  upgrade the connection with STARTTLS (default off)
    SMTP_TIMEOUT   seconds (default 10)
    MAIL_FROM      the From address (default "Credit Lifecycle Portal <no-reply@portal.invalid>")

Each message carries ``X-Notification-Id`` and a ``Message-ID`` derived from the outbox row, so a receiving
system can tell one row's mail from another's. The body is never logged.
"""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app

from portal.notifications.models import Notification

DEFAULT_FROM = "Credit Lifecycle Portal <no-reply@portal.invalid>"


class SmtpEmailProvider:
    """Sends one email through the configured SMTP server; DeliveryError when it cannot (connection refused,
    timeout, address refused, authentication failed)."""

    name = "smtp"

    def __init__(self, config=None) -> None:
        config = config if config is not None else current_app.config
        self.host = config.get("SMTP_HOST")
        self.port = int(config.get("SMTP_PORT") or 25)
        self.user = config.get("SMTP_USER")
        self.password = config.get("SMTP_PASSWORD")
        self.starttls = bool(config.get("SMTP_STARTTLS"))
        self.timeout = float(config.get("SMTP_TIMEOUT") or 10)
        self.sender = config.get("MAIL_FROM") or DEFAULT_FROM

    def message(self, notification: Notification) -> EmailMessage:
        """The email for ``notification``: plain text, From MAIL_FROM, To the recipient, its subject."""
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = notification.recipient
        msg["Subject"] = notification.subject or "Credit Lifecycle Portal"
        msg["Message-ID"] = make_msgid(idstring=f"notification-{notification.id}", domain="portal.invalid")
        msg["X-Notification-Id"] = str(notification.id)
        msg.set_content(notification.body)
        return msg

    def send(self, notification: Notification) -> None:
        from portal.notifications.delivery import DeliveryError

        if not self.host:
            raise DeliveryError("SMTP_HOST is not set")
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(self.message(notification))
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}"[:500]) from exc
