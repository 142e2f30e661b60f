"""Users, passwords (argon2), sign-in and API tokens."""
from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from portal.audit.services import record
from portal.auth.models import ApiToken, Institution, LoginEvent, User
from portal.errors import DomainError
from portal.extensions import db
from portal.security import Role

_hasher = PasswordHasher()
_fast_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # tests only


def _get_hasher() -> PasswordHasher:
    from flask import current_app, has_app_context

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


def authenticate(login: str, password: str, *, ip: str | None, request_id: str | None, now) -> User | None:
    """The active user whose email (or phone) and password match, else None. Logs a LoginEvent."""
    login = login.strip().lower()
    user = db.session.scalar(select(User).where((User.email == login) | (User.phone == login)))
    ok = user is not None and user.is_active and verify_password(user, password)
    db.session.add(LoginEvent(user_id=user.id if user else None, login=login[:254], success=ok, ip=ip,
                              request_id=request_id, occurred_at=now))
    if ok:
        user.last_login_at = now
        return user
    return None


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
