"""Customer sign-in by mobile number and one-time password (seeds 000, 001).

* ``normalize_mobile`` checks an Indian mobile number with ``phonenumbers`` and returns its 10 digits.
* ``request_otp`` retires any open challenge for the number, makes a 6-digit code from ``secrets``, stores
  only its HMAC-SHA256 (keyed with ``SECRET_KEY``) in an OtpChallenge that expires after ``OTP_TTL_SECONDS``
  (5 minutes), and puts the SMS in the notification outbox (sent by the ``notifications`` job after commit).
* ``verify_otp`` checks a code against the newest challenge: at most ``OTP_MAX_ATTEMPTS`` (5) tries, then the
  challenge is dead and a new code must be requested.
* ``customer_login_for_phone`` finds the customer login for the number or, on first sign-in, creates it
  together with a Customer (or attaches it to an imported Customer with that number).

The code is never stored, returned or logged: it exists only in the SMS body (the outbox row).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import phonenumbers
from flask import current_app
from sqlalchemy import select, update

from portal.audit.services import record
from portal.auth.models import OtpChallenge, User
from portal.auth.services import create_user, default_institution
from portal.errors import DomainError
from portal.extensions import db
from portal.notifications.services import notify_event
from portal.security import Role

log = logging.getLogger(__name__)
SIGN_IN = "sign_in"
_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalize_mobile(raw: str) -> str:
    """The 10-digit national number of an Indian mobile number typed as ``98765 43210``, ``+91-98765-43210``
    or ``09876543210``. Raises ValueError with a message for the form otherwise."""
    message = "Enter a valid 10-digit Indian mobile number."
    try:
        number = phonenumbers.parse((raw or "").strip(), "IN")
    except phonenumbers.NumberParseException:
        raise ValueError(message) from None
    if (number.country_code != 91 or not phonenumbers.is_valid_number(number)
            or phonenumbers.number_type(number) not in _MOBILE_TYPES):
        raise ValueError(message)
    national = str(number.national_number)
    if len(national) != 10:
        raise ValueError(message)
    return national


def mask_mobile(phone: str) -> str:
    """``98XXXXX210`` style display of a 10-digit number (first 2 and last 3 digits shown)."""
    return f"{phone[:2]}{'X' * (len(phone) - 5)}{phone[-3:]}" if len(phone) >= 6 else phone


def _code_hash(phone: str, purpose: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"otp:v1:{purpose}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256${digest}"


def request_otp(phone: str, *, ip: str | None, now: datetime, purpose: str = SIGN_IN) -> OtpChallenge:
    """Send a new 6-digit OTP to ``phone`` (10 digits, already normalised) and return its challenge
    (flush, no commit; the SMS leaves after the commit). Older open challenges for the same number and
    purpose stop working at once. The code itself is not returned."""
    ttl = timedelta(seconds=current_app.config.get("OTP_TTL_SECONDS", 300))
    db.session.execute(
        update(OtpChallenge)
        .where(OtpChallenge.phone == phone, OtpChallenge.purpose == purpose, OtpChallenge.consumed_at.is_(None),
               OtpChallenge.expires_at > now)
        .values(expires_at=now)
        .execution_options(synchronize_session="fetch"))
    code = f"{secrets.randbelow(1_000_000):06d}"
    challenge = OtpChallenge(phone=phone, purpose=purpose, code_hash=_code_hash(phone, purpose, code), attempts=0,
                             created_at=now, expires_at=now + ttl, ip=ip)
    db.session.add(challenge)
    user = db.session.scalar(select(User).where(User.phone == phone))
    minutes = int(ttl.total_seconds() // 60)
    # the "otp" template (security: never opted out of); the SMS goes to ``phone`` whoever owns the login
    notify_event("otp", user=user, phone=phone, context={"code": code, "minutes": minutes}, now=now)
    log.info("OTP %s requested for %s", purpose, mask_mobile(phone))  # never the code
    return challenge


@dataclass(frozen=True)
class OtpCheck:
    """The result of ``verify_otp``: ``ok``; ``reason`` ok | otp_failed | otp_locked | otp_expired | no_otp;
    ``message`` for the page (empty when ok)."""

    ok: bool
    reason: str
    message: str = ""


def verify_otp(phone: str, code: str, *, now: datetime, purpose: str = SIGN_IN) -> OtpCheck:
    """Check ``code`` against the newest challenge for ``phone``. A wrong code uses up one of the
    ``OTP_MAX_ATTEMPTS`` (5) attempts; when they are gone, or after expiry, even the right code is refused
    and a new one must be requested. A right code consumes the challenge. The challenge row is locked
    (SELECT ... FOR UPDATE) so that two parallel guesses cannot both use the last attempt. Flushes only;
    the caller commits (also on failure, so the attempt counts)."""
    max_attempts = current_app.config.get("OTP_MAX_ATTEMPTS", 5)
    challenge = db.session.scalar(
        select(OtpChallenge).where(OtpChallenge.phone == phone, OtpChallenge.purpose == purpose)
        .order_by(OtpChallenge.id.desc()).limit(1).with_for_update())
    if challenge is None or challenge.consumed_at is not None:
        return OtpCheck(False, "no_otp", "There is no code waiting for this number. Request a new code.")
    if challenge.attempts >= max_attempts:
        return OtpCheck(False, "otp_locked", "Too many wrong codes: this code no longer works. Request a new code.")
    if now >= challenge.expires_at:
        return OtpCheck(False, "otp_expired", "This code has expired. Request a new code.")
    if not hmac.compare_digest(_code_hash(phone, purpose, (code or "").strip()), challenge.code_hash):
        challenge.attempts += 1
        left = max_attempts - challenge.attempts
        log.info("wrong OTP for %s (%d attempts left)", mask_mobile(phone), max(left, 0))
        if left <= 0:
            return OtpCheck(False, "otp_locked",
                            "Too many wrong codes: this code no longer works. Request a new code.")
        return OtpCheck(False, "otp_failed",
                        f"That code is not right. {left} attempt{'s' if left != 1 else ''} left.")
    challenge.consumed_at = now
    log.info("OTP %s verified for %s", purpose, mask_mobile(phone))
    return OtpCheck(True, "ok")


def customer_login_for_phone(phone: str, *, now: datetime) -> User:
    """The customer login for ``phone`` after a verified OTP; on first sign-in it is created (role customer,
    an unusable random password) with a Customer to be completed by the onboarding wizard (empty names,
    monthly salary and approved limit 0.00, KYC not started), or attached to an imported Customer that has
    this number and no login yet. Audited ``user.created`` and ``customer.registered``.
    Raises DomainError (403) when the number belongs to a staff login or to a frozen login."""
    from portal.onboarding.models import Customer

    user = db.session.scalar(select(User).where(User.phone == phone))
    if user is not None:
        if user.role != Role.CUSTOMER.value:
            raise DomainError("This mobile number belongs to a staff login: sign in with your email and password.",
                              403)
        if user.status == "frozen":
            raise DomainError("This login is frozen. Contact the lender's support team.", 403)
        return user
    institution = default_institution()
    customer = db.session.scalar(select(Customer).where(Customer.phone_number == phone,
                                                        Customer.institution_id == institution.id,
                                                        Customer.user_id.is_(None)).limit(1))
    user = create_user(email=None, phone=phone, role=Role.CUSTOMER, password=secrets.token_urlsafe(32),
                       display_name=(customer.name if customer is not None and customer.name else phone),
                       institution=institution, actor="otp-sign-in")
    if customer is not None:
        customer.user = user
        record(user, "customer.login_linked", customer, changes={"user_id": user.id})
    else:
        customer = Customer(institution_id=institution.id, user=user, first_name="", last_name="", age=None,
                            phone_number=phone, monthly_salary=Decimal("0.00"), approved_limit=Decimal("0.00"),
                            source="portal", kyc_status="not_started")
        db.session.add(customer)
        db.session.flush()
        record(user, "customer.registered", customer, changes={"via": "otp", "phone_number": phone})
    user.last_login_at = now
    return user
