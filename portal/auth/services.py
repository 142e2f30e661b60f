"""Users, passwords (argon2), sign-in and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select

from portal.audit.services import record
from portal.auth.models import ApiToken, Institution, LoginEvent, User
from portal.errors import DomainError
from portal.extensions import db
from portal.security import Role

_hasher = PasswordHasher()
_fast_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # tests only


def _get_hasher() -> PasswordHasher:
    from flask import has_app_context

    if has_app_context() and current_app.config.get("FAST_PASSWORD_HASHING"):
        return _fast_hasher
    return _hasher


DEFAULT_INSTITUTION = "default"
MIN_PASSWORD = 8


def hash_password(password: str) -> str:
    """Argon2id hash of ``password``."""
    return _get_hasher().hash(password)


def verify_password(user: User, password: str) -> bool:
    """True when ``password`` matches (rehashes on parameter change)."""
    hasher = _get_hasher()
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return True


def default_institution() -> Institution:
    """The default institution, created on first use (flushes)."""
    inst = db.session.scalar(select(Institution).where(Institution.slug == DEFAULT_INSTITUTION))
    if inst is None:
        inst = Institution(slug=DEFAULT_INSTITUTION, name="Default Lender")
        db.session.add(inst)
        db.session.flush()
    return inst


def create_user(*, email: str | None, role: str, password: str, display_name: str | None = None,
                phone: str | None = None, institution: Institution | None = None, actor=None) -> User:
    """Create a user. Raises DomainError for an unknown role, a short password or a taken email/phone."""
    try:
        role = Role(role)
    except ValueError:
        raise DomainError(f"unknown role {role!r}; roles are {', '.join(r.value for r in Role)}") from None
    if len(password) < MIN_PASSWORD:
        raise DomainError(f"the password must have at least {MIN_PASSWORD} characters")
    email = email.strip().lower() if email else None
    if email and db.session.scalar(select(User.id).where(User.email == email)):
        raise DomainError(f"a user with email {email} already exists", 409)
    if phone and db.session.scalar(select(User.id).where(User.phone == phone)):
        raise DomainError("a user with this phone number already exists", 409)
    user = User(email=email, phone=phone, role=role.value, password_hash=hash_password(password),
                display_name=display_name or (email.split("@")[0] if email else phone),
                institution=institution or default_institution(), status="active", session_version=1)
    db.session.add(user)
    db.session.flush()
    record(actor, "user.created", user, changes={"role": role.value, "email": email})
    return user


@dataclass(frozen=True)
class SignIn:
    """The outcome of a password attempt: ``user`` (None for an unknown login), ``ok`` when the password was
    right and the account may sign in, ``reason`` (ok | unknown_user | bad_password | locked | frozen) and a
    ``message`` for the person signing in (empty when ok)."""

    user: User | None
    ok: bool
    reason: str
    message: str = ""


BAD_CREDENTIALS = "The email/mobile number or the password is not right."


def log_login(*, login: str, user: User | None, success: bool, reason: str, ip: str | None,
              user_agent: str | None, request_id: str | None, now: datetime) -> LoginEvent:
    """Add a LoginEvent (the login log; never a password or a code). ``reason``: ok, bad_password,
    unknown_user, locked, frozen, mfa_required, mfa_failed, otp_failed, otp_expired, otp_locked, no_otp."""
    event = LoginEvent(user_id=user.id if user else None, login=(login or "")[:254], success=success, ip=ip,
                       user_agent=(user_agent or "")[:300] or None, reason=reason[:60], request_id=request_id,
                       occurred_at=now)
    db.session.add(event)
    return event


def is_locked(user: User, now: datetime) -> bool:
    """True while ``user.locked_until`` lies in the future."""
    return user.locked_until is not None and user.locked_until > now


def locked_message(user: User) -> str:
    """'This account is locked ... until 10:15 IST' for a locked user (local time of PORTAL_TIMEZONE)."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(current_app.config.get("PORTAL_TIMEZONE", "Asia/Kolkata"))
    until = user.locked_until.astimezone(tz)
    return (f"This account is locked after too many failed attempts. Try again after {until:%H:%M} "
            f"({until.tzname()}), or ask an administrator.")


def record_failure(user: User, *, now: datetime) -> bool:
    """Count a failed password or MFA code for ``user``; at config ``LOGIN_MAX_FAILURES`` (5) consecutive
    failures lock the account for ``LOGIN_LOCK_MINUTES`` (15) and restart the count. True when it locked."""
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= current_app.config.get("LOGIN_MAX_FAILURES", 5):
        user.locked_until = now + timedelta(minutes=current_app.config.get("LOGIN_LOCK_MINUTES", 15))
        user.failed_logins = 0
        return True
    return False


def record_success(user: User, *, now: datetime) -> None:
    """A completed sign-in: the failure count and any lock are cleared, ``last_login_at`` set."""
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now


def check_password(login: str, password: str, *, ip: str | None, user_agent: str | None,
                   request_id: str | None, now: datetime, log_success: bool = True) -> SignIn:
    """Check a password attempt for the user whose email (or phone) is ``login`` and log it (LoginEvent).

    Order: unknown login -> ``unknown_user``; a locked account -> ``locked`` (the password is not even
    checked); a wrong password -> ``bad_password`` (counts towards the lockout; the 5th locks); a frozen account
    with the right password -> ``frozen``; else ok (failure count cleared). With ``log_success=False`` an
    ok result is not logged: the caller logs the end of the sign-in (e.g. after the MFA step). Flushes only."""
    login = (login or "").strip().lower()
    user = db.session.scalar(select(User).where((User.email == login) | (User.phone == login)))
    common = {"login": login, "user": user, "ip": ip, "user_agent": user_agent, "request_id": request_id,
              "now": now}
    if user is None:
        _get_hasher().hash(password or "-")  # the same work as a known login: no timing hint
        log_login(success=False, reason="unknown_user", **common)
        return SignIn(None, False, "unknown_user", BAD_CREDENTIALS)
    if is_locked(user, now):
        log_login(success=False, reason="locked", **common)
        return SignIn(user, False, "locked", locked_message(user))
    if not verify_password(user, password):
        locked = record_failure(user, now=now)
        log_login(success=False, reason="bad_password", **common)
        return SignIn(user, False, "bad_password", locked_message(user) if locked else BAD_CREDENTIALS)
    if user.status == "frozen":
        log_login(success=False, reason="frozen", **common)
        return SignIn(user, False, "frozen",
                      "This login is frozen. Ask an administrator of your institution to unfreeze it.")
    if log_success:
        record_success(user, now=now)
        log_login(success=True, reason="ok", **common)
    return SignIn(user, True, "ok")


def authenticate(login: str, password: str, *, ip: str | None, request_id: str | None, now,
                 user_agent: str | None = None) -> User | None:
    """The user whose email (or phone) and password match and who may sign in, else None. Logs a LoginEvent
    (see ``check_password``, which also applies the lockout)."""
    result = check_password(login, password, ip=ip, user_agent=user_agent, request_id=request_id, now=now)
    return result.user if result.ok else None


def create_api_token(user: User, *, name: str = "api", actor=None) -> str:
    """Make a bearer token for ``user`` and return it (only its SHA-256 is stored)."""
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_sha256=hashlib.sha256(token.encode()).hexdigest(), name=name))
    record(actor, "api_token.created", user, note=name)
    return token


def user_for_token(token: str, *, now) -> User | None:
    """The active user owning an unrevoked bearer ``token``, else None."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest, ApiToken.revoked.is_(False)))
    if row is None or not row.user.is_active:
        return None
    row.last_used_at = now
    return row.user


# ---- user administration (issue 7 item 5) ---------------------------------------------------------------------
SETUP_LINK_HOURS = 72  # a set-password link works once, for 72 hours


def _admin_scope(user: User, actor: User) -> None:
    """NotFound (404) when ``user`` is not of ``actor``'s institution (another institution's ids are unknown)."""
    from portal.errors import NotFound

    if user.institution_id != actor.institution_id:
        raise NotFound("No such user.")


def _staff_role(role: str) -> Role:
    """``role`` as a staff Role; DomainError (422) for an unknown or a customer role."""
    from portal.security import STAFF_ROLES

    try:
        value = Role(role)
    except ValueError:
        value = None
    if value not in STAFF_ROLES:
        names = ", ".join(sorted(r.value for r in STAFF_ROLES))
        raise DomainError(f"Unknown staff role {role!r}; staff roles are {names}.")
    return value


def _own_institution(institution_id: int | None, actor: User) -> Institution:
    """The institution a staff user may be assigned to by ``actor``: only the actor's own (there is no
    cross-institution administrator). DomainError (422) for any other or an unknown id."""
    if institution_id is None or institution_id == actor.institution_id:
        return db.session.get(Institution, actor.institution_id)
    raise DomainError("You can only assign staff to your own institution.")


def issue_password_link(user: User, *, actor: User, now: datetime) -> str:
    """Make a one-time set-password token for ``user`` (valid ``SETUP_LINK_HOURS``) and return the token (the
    caller builds the link and shows it once; only its SHA-256 is stored, it is never logged). Unused earlier
    tokens of the user end (``replaced``). Audited ``user.password_link_issued`` (expiry only).
    NotFound (404) for another institution's user, DomainError (422) for a customer or a frozen login. Flushes."""
    from sqlalchemy import update

    from portal.auth.admin_models import PasswordSetupToken

    _admin_scope(user, actor)
    if not user.is_staff:
        raise DomainError("Customers sign in with a code sent to their mobile number; no link is needed.")
    if user.status == "frozen":
        raise DomainError("This user is frozen: unfreeze the login before issuing a set-password link.")
    db.session.execute(update(PasswordSetupToken)
                       .where(PasswordSetupToken.user_id == user.id, PasswordSetupToken.used_at.is_(None))
                       .values(used_at=now, end_reason="replaced").execution_options(synchronize_session=False))
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=SETUP_LINK_HOURS)
    db.session.add(PasswordSetupToken(user_id=user.id, token_sha256=hashlib.sha256(token.encode()).hexdigest(),
                                      issued_by_id=actor.id, created_at=now, expires_at=expires))
    record(actor, "user.password_link_issued", user, changes={"password_link_expires_at": (None, expires)})
    return token


def create_staff_user(*, email: str, display_name: str, role: str, actor: User, now: datetime,
                      institution_id: int | None = None) -> tuple[User, str]:
    """An administrator creates a staff login in their own institution; returns ``(user, token)`` where
    ``token`` is a one-time set-password link token (see ``issue_password_link``): no password is chosen,
    shown or logged by the administrator, and the login cannot sign in until the person sets one.

    DomainError (422) for an unknown or customer role, a taken email, or another institution. Audited
    ``user.created`` with before/after. Flushes, never commits."""
    staff_role = _staff_role(role)
    institution = _own_institution(institution_id, actor)
    email = (email or "").strip().lower()
    if not email:
        raise DomainError("Enter the email address the person signs in with.")
    if db.session.scalar(select(User.id).where(User.email == email)):
        raise DomainError(f"A user with email {email} already exists.")
    user = User(email=email, role=staff_role.value, display_name=(display_name or "").strip() or email.split("@")[0],
                password_hash=hash_password(secrets.token_urlsafe(32)),  # unknown to anyone: set by the link
                institution=institution, status="active", session_version=1)
    db.session.add(user)
    db.session.flush()
    record(actor, "user.created", user, changes={
        "email": (None, email), "display_name": (None, user.display_name), "role": (None, staff_role.value),
        "institution_id": (None, institution.id), "status": (None, "active")})
    return user, issue_password_link(user, actor=actor, now=now)


def change_staff_access(user: User, *, role: str, institution_id: int | None, actor: User, reason: str,
                        now: datetime) -> dict:
    """Change the role (and institution) of a staff ``user``. Every open session of the user ends at once
    (``session_version`` bumped, UserSession rows ended ``access_changed``), so the new role applies from the
    next request. Returns the changes ``{field: (old, new)}``; audited ``user.access_changed`` with ``reason``.

    Errors: NotFound (404) for another institution's user; DomainError (422) for a customer login, an unknown
    role, another institution, no change, or no reason; (409) for changing one's own access (an administrator
    cannot demote themselves: another administrator must). Flushes only."""
    from portal.auth.sessions import end_all_sessions

    _admin_scope(user, actor)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Give a reason: it goes into the audit log.")
    if not user.is_staff:
        raise DomainError("This is a customer login; only staff roles are managed here.")
    if user.id == actor.id:
        raise DomainError("You cannot change your own role or institution; ask another administrator.", 409)
    new_role = _staff_role(role)
    institution = _own_institution(institution_id, actor)
    changes = {}
    if user.role != new_role.value:
        changes["role"] = (user.role, new_role.value)
    if user.institution_id != institution.id:
        changes["institution_id"] = (user.institution_id, institution.id)
    if not changes:
        raise DomainError("Nothing changed: choose another role or institution.")
    user.role, user.institution_id = new_role.value, institution.id
    old_version = user.session_version or 1
    user.session_version = old_version + 1
    ended = end_all_sessions(user, reason="access_changed", now=now)
    changes["session_version"] = (old_version, user.session_version)
    record(actor, "user.access_changed", user, changes={**changes, "sessions_ended": ended}, note=reason)
    return changes


def password_token(token: str, *, now: datetime, lock: bool = False):
    """The usable PasswordSetupToken for ``token`` (unused, unexpired, user active), else None; ``lock`` takes
    a row lock (``FOR UPDATE``) so that two uses of one link cannot both succeed."""
    from portal.auth.admin_models import PasswordSetupToken

    digest = hashlib.sha256((token or "").encode()).hexdigest()
    q = select(PasswordSetupToken).where(PasswordSetupToken.token_sha256 == digest)
    row = db.session.scalar(q.with_for_update() if lock else q)
    if row is None or row.used_at is not None or row.expires_at <= now or not row.user.is_active:
        return None
    return row


def set_password_with_token(token: str, password: str, *, now: datetime) -> User:
    """Set the password of the token's user (argon2) and use the token up. Every open session of the user ends
    (``session_version`` bumped): a reset signs out everywhere. The failed-attempt lock is cleared. Audited
    ``user.password_set`` (no password in the log). DomainError (404) for an unknown, used or expired link,
    (422) for a password shorter than ``MIN_PASSWORD``. Flushes only."""
    from portal.auth.sessions import end_all_sessions

    row = password_token(token, now=now, lock=True)
    if row is None:
        raise DomainError("This link does not work any more (used, replaced or expired). Ask your administrator "
                          "for a new one.", 404)
    if len(password or "") < MIN_PASSWORD:
        raise DomainError(f"The password must have at least {MIN_PASSWORD} characters.")
    user = row.user
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None
    old_version = user.session_version or 1
    user.session_version = old_version + 1
    ended = end_all_sessions(user, reason="password_set", now=now)
    row.used_at, row.end_reason = now, "used"
    record(user, "user.password_set", user, changes={"session_version": (old_version, user.session_version),
                                                     "sessions_ended": ended})
    return user
