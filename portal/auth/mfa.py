"""Staff multi-factor authentication with TOTP (RFC 6238, pyotp): enrolment, QR code, verification.

Time comes from the injected clock (``now``), never from ``time.time()``, so tests with a FixedClock and
replays agree with the codes an authenticator app shows for that moment.
"""
from __future__ import annotations

import re
from datetime import datetime

import pyotp
import segno
from flask import current_app

from portal.audit.services import record
from portal.auth.models import User
from portal.errors import DomainError
from portal.security import Role

CODE_RE = re.compile(r"^\d{6}$")


def mfa_required(user: User) -> bool:
    """True when ``user``'s role must use TOTP (config ``MFA_REQUIRED_ROLES``: admin, risk officer)."""
    return Role(user.role).value in current_app.config.get("MFA_REQUIRED_ROLES", ())


def mfa_applies(user: User) -> bool:
    """True when ``user`` must give a TOTP code after the password: MFA is required or switched on."""
    return mfa_required(user) or bool(user.mfa_enabled)


def ensure_secret(user: User) -> str:
    """The user's TOTP secret (base32, 32 characters), created when missing (enrolment start; no commit).
    A confirmed secret (``mfa_enabled``) is never replaced here."""
    if not user.totp_secret:
        user.totp_secret = pyotp.random_base32(32)
    return user.totp_secret


def provisioning_uri(user: User) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads from the QR code (issuer from
    config ``MFA_ISSUER``, account name = the email, else the phone)."""
    issuer = current_app.config.get("MFA_ISSUER", "Credit Lifecycle Portal")
    return pyotp.TOTP(ensure_secret(user)).provisioning_uri(name=user.email or user.phone or str(user.id),
                                                            issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """An inline ``<svg>`` QR code of ``uri`` (segno, 4 px modules), safe to embed with ``|safe``."""
    return segno.make(uri, error="m", micro=False).svg_inline(scale=4, light="#fff", border=4,
                                                              title="QR code for your authenticator app")


def verify_code(secret: str | None, code: str, *, now: datetime) -> bool:
    """True when ``code`` (6 digits) is the TOTP of ``secret`` at ``now`` or one 30-second step either side."""
    code = (code or "").strip().replace(" ", "")
    if not secret or not CODE_RE.match(code):
        return False
    return pyotp.TOTP(secret).verify(code, for_time=now, valid_window=1)


def confirm_enrolment(user: User, code: str, *, now: datetime, actor=None) -> None:
    """Switch MFA on once ``code`` matches the pending secret; audited ``user.mfa_enabled``.
    Raises DomainError (422) when the code is wrong or there is no secret to confirm."""
    if not user.totp_secret:
        raise DomainError("Start the enrolment first: open the MFA page to get a QR code.")
    if not verify_code(user.totp_secret, code, now=now):
        raise DomainError("That code is not right. Check the time on your phone and enter the current code.")
    user.mfa_enabled = True
    record(actor or user, "user.mfa_enabled", user, changes={"mfa_enabled": (False, True)})


def disable_mfa(user: User, code: str, *, now: datetime, actor=None) -> None:
    """Switch MFA off for a user who may go without it, after a current code; audited ``user.mfa_disabled``.
    Raises DomainError (403) for a role that requires MFA, (422) for a wrong code."""
    if mfa_required(user):
        raise DomainError("Your role requires two-step verification; it cannot be switched off.", 403)
    if not verify_code(user.totp_secret, code, now=now):
        raise DomainError("That code is not right; MFA stays on.")
    user.totp_secret, user.mfa_enabled = None, False
    record(actor or user, "user.mfa_disabled", user, changes={"mfa_enabled": (True, False)})


def reset_mfa(user: User, *, actor, reason: str) -> None:
    """An administrator clears ``user``'s TOTP secret (a lost phone): the next sign-in enrols again when the
    role requires MFA. Audited ``user.mfa_reset`` with ``reason``."""
    was = bool(user.mfa_enabled)
    user.totp_secret, user.mfa_enabled = None, False
    record(actor, "user.mfa_reset", user, changes={"mfa_enabled": (was, False)}, note=reason)
