"""Signed-in browser sessions (UserSession rows), ending them one by one or all at once, and freezing users.

A sign-in creates a UserSession whose random ``session_key`` is kept in the signed Flask session cookie
(``SESSION_KEY``); the user loader accepts a cookie only while its row is open and the user's
``session_version`` still matches, so ending a row or bumping the version (freeze) signs that browser out on
its next request.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update

from portal.audit.services import record
from portal.auth.models import User, UserSession
from portal.errors import DomainError, NotFound
from portal.extensions import db

SESSION_KEY = "portal_sid"              # key of the UserSession.session_key in the Flask session
TOUCH_EVERY = timedelta(minutes=1)      # last_seen_at is written at most once a minute per session


def start_session(user: User, *, ip: str | None, user_agent: str | None, now: datetime) -> UserSession:
    """Open a UserSession for ``user`` (flush, no commit); the caller keeps ``row.session_key`` in the
    Flask session. ``user_agent`` is cut to 300 characters."""
    row = UserSession(user_id=user.id, session_key=secrets.token_urlsafe(32), ip=ip,
                      user_agent=(user_agent or "")[:300] or None, created_at=now, last_seen_at=now)
    db.session.add(row)
    db.session.flush()
    return row


def open_session(user_id: int, session_key: str | None) -> UserSession | None:
    """The open (not ended) UserSession of ``user_id`` with ``session_key``, else None."""
    if not session_key:
        return None
    return db.session.scalar(select(UserSession).where(UserSession.session_key == session_key,
                                                       UserSession.user_id == user_id,
                                                       UserSession.ended_at.is_(None)))


def touch_due(row: UserSession, now: datetime) -> bool:
    """True when ``row.last_seen_at`` is older than ``TOUCH_EVERY`` (so it should be written again)."""
    return row.last_seen_at is None or now - row.last_seen_at >= TOUCH_EVERY


def end_session(row: UserSession, *, reason: str, now: datetime) -> None:
    """Close ``row`` (no-op when already ended); ``reason`` e.g. signed_out, ended_by_user, frozen."""
    if row.ended_at is None:
        row.ended_at, row.end_reason = now, reason[:40]


def end_all_sessions(user: User, *, reason: str, now: datetime, except_key: str | None = None) -> int:
    """Close every open session of ``user`` (but the one with ``except_key``); returns how many."""
    q = (update(UserSession)
         .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
         .values(ended_at=now, end_reason=reason[:40]))
    if except_key:
        q = q.where(UserSession.session_key != except_key)
    result = db.session.execute(q.execution_options(synchronize_session="fetch"))
    return result.rowcount or 0


def sessions_of(user: User, *, include_ended: bool = False, limit: int = 50) -> list[UserSession]:
    """``user``'s sessions, newest first (open ones only unless ``include_ended``)."""
    q = select(UserSession).where(UserSession.user_id == user.id)
    if not include_ended:
        q = q.where(UserSession.ended_at.is_(None))
    return list(db.session.scalars(q.order_by(UserSession.created_at.desc(), UserSession.id.desc()).limit(limit)))


def own_session(user: User, session_id: int) -> UserSession:
    """The session ``session_id`` when it belongs to ``user``; NotFound (404) otherwise, so another user's
    session id is indistinguishable from a missing one."""
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != user.id:
        raise NotFound("No such session.")
    return row


def freeze_user(user: User, *, actor: User, reason: str, now: datetime) -> int:
    """Freeze ``user`` (seed 000): status frozen, ``session_version`` bumped and every open session ended, so
    each of the user's browsers is signed out on its next request. Audited ``user.frozen`` with ``reason``.
    Returns the number of sessions ended. DomainError (422) for an already frozen user, for freezing
    oneself, or without a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Give a reason for freezing this user.")
    if user.id == actor.id:
        raise DomainError("You cannot freeze your own login.")
    if user.status == "frozen":
        raise DomainError("This user is already frozen.")
    old_status = user.status
    user.status = "frozen"
    user.session_version = (user.session_version or 1) + 1
    ended = end_all_sessions(user, reason="frozen", now=now)
    record(actor, "user.frozen", user, changes={"status": (old_status, "frozen"), "sessions_ended": ended},
           note=reason)
    return ended


def unfreeze_user(user: User, *, actor: User, reason: str, now: datetime) -> None:
    """Let a frozen ``user`` sign in again (status active, lockout cleared). Audited ``user.unfrozen``.
    DomainError (422) when the user is not frozen or no reason is given."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Give a reason for unfreezing this user.")
    if user.status != "frozen":
        raise DomainError("This user is not frozen.")
    user.status = "active"
    user.failed_logins, user.locked_until = 0, None
    record(actor, "user.unfrozen", user, changes={"status": ("frozen", "active")}, note=reason)
