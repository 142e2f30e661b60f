"""Notification test fixtures: a real SMTP server (aiosmtpd's Controller on 127.0.0.1, a free port) wired into
the app's SMTP_* config, and helpers to read what it received."""
from __future__ import annotations

import email
import socket
import threading
from email.message import Message

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """What the SMTP server received: ``messages`` (parsed emails) with their envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        with self._lock:
            self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def for_notification(self, note_id: int) -> list[Message]:
        """The messages carrying ``X-Notification-Id: note_id``."""
        return [m for m in self.messages if m["X-Notification-Id"] == str(note_id)]


@pytest.fixture
def smtp_server(app):
    """A real SMTP server on 127.0.0.1 for this test; the app sends email to it (SMTP_HOST/SMTP_PORT)."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    saved = {k: app.config.get(k) for k in ("SMTP_HOST", "SMTP_PORT", "MAIL_FROM")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, MAIL_FROM="Portal <no-reply@lender.example>")
    inbox.port = port
    try:
        yield inbox
    finally:
        controller.stop()
        app.config.update(saved)


def body_of(message: Message) -> str:
    """The text body of a parsed email."""
    text = message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")
    return text.replace("\r\n", "\n")
