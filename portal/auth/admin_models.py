"""PasswordSetupToken: the one-time set-password link an administrator gives a new (or locked-out) staff user."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import UTCDateTime
from portal.extensions import db


class PasswordSetupToken(db.Model):
    """A set-password link (``/account/set-password/<token>``). Only the SHA-256 of the token is stored; the link
    is shown once to the administrator who issued it and works once, until ``expires_at``. Issuing a new link
    for the same user ends the unused ones (``used_at`` set, ``end_reason`` "replaced")."""

    __tablename__ = "password_setup_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(20))  # used | replaced

    user = relationship("User", foreign_keys=[user_id])
    issued_by = relationship("User", foreign_keys=[issued_by_id])
