"""Helpers for the sign-in tests: OTP requests through the pages and the code read back from the outbox.

Rate-limit counters are reset before every test that uses the app (the autouse ``_reset_rate_limits`` in
tests/conftest.py); ``fresh_limits`` below does it again explicitly where a test counts requests itself."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.notifications.models import Notification
from tests.conftest import post_form

CODE_RE = re.compile(r"\b(\d{6})\b")


@pytest.fixture
def fresh_limits(app):
    """Empty rate-limit counters (Flask-Limiter's in-memory storage)."""
    from portal.extensions import limiter

    limiter.reset()
    yield limiter
    limiter.reset()


def ask_for_otp(client, phone: str, **kwargs):
    """POST the OTP request form for ``phone`` (as typed) with a CSRF token."""
    return post_form(client, "/login/otp", {"phone": phone}, page="/login/otp", **kwargs)


def enter_otp(client, code: str, **kwargs):
    """POST the code on the verify page."""
    return post_form(client, "/login/otp/verify", {"code": code}, page="/login/otp/verify", **kwargs)


def last_otp(db, phone: str) -> str:
    """The code in the newest OTP SMS to ``phone`` (10 digits), read from the notification outbox."""
    note = db.session.scalar(select(Notification).where(Notification.recipient == f"+91{phone}",
                                                        Notification.event == "otp")
                             .order_by(Notification.id.desc()).limit(1))
    assert note is not None, f"no OTP SMS to {phone}"
    return CODE_RE.search(note.body).group(1)


def wrong_code(code: str) -> str:
    """A 6-digit code different from ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


def sign_in_elsewhere(client, user, *, user_agent: str = "OtherBrowser/2.0"):
    """Sign ``user`` in on another test client (a second browser) without the password or MFA step: an open
    UserSession (committed) and a cookie carrying its key. Returns ``user``."""
    from portal.auth.sessions import SESSION_KEY, start_session
    from portal.clock import clock
    from portal.extensions import db

    row = start_session(user, ip="198.51.100.7", user_agent=user_agent, now=clock().now())
    db.session.commit()
    with client.session_transaction() as s:
        s["_user_id"], s["_fresh"], s[SESSION_KEY] = user.get_id(), True, row.session_key
    return user
