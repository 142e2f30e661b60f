"""Write audit events in the caller's transaction (Indico's ``event.log``)."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

from flask import g, has_request_context, request

from portal.audit.models import AuditEvent
from portal.extensions import db

SYSTEM = "system"


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, (int, str)):
        return value.value
    return value


def record(actor, action: str, entity, *, changes: dict | None = None, note: str | None = None,
           institution_id: int | None = None) -> AuditEvent:
    """Add an AuditEvent for ``action`` (e.g. ``"loan.disbursed"``) on ``entity`` (a model instance, or
    a ``(type, id)`` tuple) by ``actor`` (a User, or None / a string for the system). ``changes`` maps a
    field to ``(old, new)`` or to a value. Flushes, never commits; carries the request id and IP."""
    if isinstance(entity, tuple):
        entity_type, entity_id = entity
    else:
        db.session.flush()
        entity_type, entity_id = type(entity).__tablename__, entity.id
    plain = None
    if changes:
        plain = {k: ([_plain(x) for x in v] if isinstance(v, tuple) else _plain(v)) for k, v in changes.items()}
        json.dumps(plain)  # refuse what cannot be stored
    actor_id = getattr(actor, "id", None)
    if actor is None or isinstance(actor, str):
        label = actor or SYSTEM
    else:
        label = f"{actor.display_name} ({actor.role})"
    if institution_id is None:
        institution_id = getattr(entity, "institution_id", None) or getattr(actor, "institution_id", None)
    event = AuditEvent(
        actor_id=actor_id, actor_label=label, action=action, entity_type=entity_type,
        entity_id=None if entity_id is None else str(entity_id), changes=plain, note=note,
        institution_id=institution_id,
        request_id=g.get("request_id") if has_request_context() else _job_id(),
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(event)
    return event


def _job_id() -> str | None:
    try:
        from rq import get_current_job

        job = get_current_job()
        return f"job-{job.id}" if job else None
    except Exception:
        return None


def apply_changes(obj, data: dict) -> dict:
    """Set attributes of ``obj`` from ``data``; return ``{field: (old, new)}`` for those that changed."""
    changed = {}
    for field, new in data.items():
        old = getattr(obj, field)
        if old != new:
            setattr(obj, field, new)
            changed[field] = (old, new)
    return changed
