"""AuditEvent: append-only record of every change of money, status or permission."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime, utcnow
from portal.extensions import db


class AuditEvent(db.Model):
    """Who did what to which object, when, from which request, with the before/after of each field.

    Written in the same transaction as the change (``portal.audit.services.record``). PostgreSQL refuses
    UPDATE and DELETE on this table (trigger in the migration), except the one UPDATE that seals an event.

    Tamper evidence (``portal.audit.chain``, ``portal.audit.seal``): when the transaction commits, its events
    get ``chain_seq`` (1, 2, ... across the whole table), ``prev_hash`` and ``hash`` = SHA-256 of the previous
    hash and this event's content; ``flask --app wsgi audit-verify`` checks the chain.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor_label: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(80), index=True)
    entity_type: Mapped[str] = mapped_column(String(60))
    entity_id: Mapped[str | None] = mapped_column(String(60))
    changes: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    chain_seq: Mapped[int | None] = mapped_column(BigInteger, unique=True, index=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


from portal.audit import seal as _seal  # noqa: E402,F401  (registers the session hooks that seal the chain)
