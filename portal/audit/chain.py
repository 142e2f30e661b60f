"""The audit hash chain: pure hashing, no database.

Each sealed AuditEvent carries ``chain_seq`` (1, 2, 3, ... with no gap), ``prev_hash`` (the ``hash`` of the
event at ``chain_seq - 1``; ``GENESIS`` for the first) and ``hash`` = SHA-256 (hex, 64 characters) of
``prev_hash`` followed by the canonical JSON of the event's content (``canonical_content``). Changing,
removing or inserting an event breaks the link at that point, which ``flask --app wsgi audit-verify`` names.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

GENESIS = "0" * 64

#: The columns the hash covers, in the order they appear in the canonical JSON (keys are sorted anyway).
CONTENT_FIELDS = ("id", "occurred_at", "institution_id", "actor_id", "actor_label", "action", "entity_type",
                  "entity_id", "changes", "note", "request_id", "ip")


def _iso_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def canonical_content(row: Mapping) -> str:
    """The canonical JSON text of an audit event's content: the ``CONTENT_FIELDS`` of ``row`` (a mapping, e.g.
    a Core row's ``_mapping``), ``occurred_at`` as ISO 8601 in UTC, keys sorted at every level, no spaces,
    non-ASCII kept as ``\\u`` escapes. The same row read on any connection (any time zone) gives the same text.
    Raises KeyError if a field is missing and TypeError if ``changes`` holds something JSON cannot encode."""
    content = {name: row[name] for name in CONTENT_FIELDS}
    content["occurred_at"] = _iso_utc(content["occurred_at"])
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def event_hash(prev_hash: str, row: Mapping) -> str:
    """SHA-256 hex digest (64 lowercase hex characters) of ``prev_hash`` (64 hex characters, ``GENESIS`` for
    the first event) followed by ``canonical_content(row)``, both UTF-8 encoded. Raises ValueError if
    ``prev_hash`` is not 64 characters long."""
    if prev_hash is None or len(prev_hash) != 64:
        raise ValueError("prev_hash must be 64 hex characters")
    return hashlib.sha256((prev_hash + canonical_content(row)).encode("utf-8")).hexdigest()


def first_broken_link(rows: Iterable[Mapping]) -> tuple[int, str | None]:
    """Walk sealed audit events (mappings with ``chain_seq``, ``prev_hash``, ``hash`` and the
    ``CONTENT_FIELDS``), given in ascending ``chain_seq`` order. Returns ``(count, None)`` when the chain is
    whole (1, 2, ... with no gap, each ``prev_hash`` the previous ``hash``, each ``hash`` recomputed equal),
    else ``(count walked, message)`` naming the first broken link, e.g. ``"chain gap after 45"``,
    ``"chain 46: prev_hash does not link to chain 45"`` or
    ``"event 123 (chain 45): hash does not match its content"``."""
    expected, prev, count = 1, GENESIS, 0
    for row in rows:
        seq = row["chain_seq"]
        if seq != expected:
            return count, (f"chain gap after {expected - 1}" if expected > 1 else f"chain gap: the chain starts "
                                                                              f"at {seq}, not 1")
        if row["prev_hash"] != prev:
            return count, (f"chain {seq}: prev_hash does not link to chain {seq - 1}" if seq > 1
                           else "chain 1: prev_hash is not the genesis hash")
        if event_hash(prev, row) != row["hash"]:
            return count, f"event {row['id']} (chain {seq}): hash does not match its content"
        count += 1
        expected, prev = seq + 1, row["hash"]
    return count, None
