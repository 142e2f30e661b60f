"""Seal each transaction's new audit events into the hash chain (``portal.audit.chain``) as it commits.

``record()`` inserts events as before (visible to the transaction at once, ``chain_seq``/``prev_hash``/``hash``
NULL). A ``before_commit`` hook on every ORM Session flushes, then, on PostgreSQL, takes the transaction-level
advisory lock ``CHAIN_LOCK_KEY``, reads the chain's last sealed event and gives this transaction's events, in
id order, the next ``chain_seq`` values and their hashes with one Core UPDATE (the trigger of migration
d7admin01 allows exactly this UPDATE: the three columns from NULL to a value, nothing else changed).

Why no deadlock: the lock is taken after the final flush, so the transaction already holds every row lock it
will take; while holding it, it only reads the chain head and updates its own new rows, then commits, which
releases the lock. Transactions that write no audit event never touch the lock. SQLite has one writer at a
time, so it needs no lock.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, event, inspect, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from portal.audit.chain import CONTENT_FIELDS, GENESIS, event_hash
from portal.audit.models import AuditEvent

_KEY = "portal_audit_unsealed"
#: pg_advisory_xact_lock key serialising the sealing of audit events (any constant bigint unused elsewhere).
CHAIN_LOCK_KEY = 7_020_261_123
_CHUNK = 1000

_table = AuditEvent.__table__


def _connection(session: Session):
    return session.connection(bind_arguments={"mapper": inspect(AuditEvent)})


def _lock_and_head(conn) -> tuple[int, str]:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
    head = conn.execute(
        select(_table.c.chain_seq, _table.c.hash).where(_table.c.chain_seq.is_not(None))
        .order_by(_table.c.chain_seq.desc()).limit(1)
    ).first()
    return (head.chain_seq, head.hash) if head else (0, GENESIS)


def _seal_ids(session: Session, conn, ids: Iterable[int], seq: int, prev: str) -> int:
    """Seal the still unsealed events among ``ids`` in id order after chain position ``seq`` (hash ``prev``);
    return how many were sealed. Ids of rows gone (a rolled-back savepoint) are skipped."""
    ordered = sorted(set(ids))
    content = [_table.c[name] for name in CONTENT_FIELDS]
    stmt = (update(_table).where(_table.c.id == bindparam("b_id"))
            .values(chain_seq=bindparam("b_seq"), prev_hash=bindparam("b_prev"), hash=bindparam("b_hash")))
    sealed = 0
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start:start + _CHUNK]
        rows = conn.execute(select(*content).where(_table.c.id.in_(chunk), _table.c.hash.is_(None))
                            .order_by(_table.c.id)).all()
        params = []
        for row in rows:
            seq += 1
            digest = event_hash(prev, row._mapping)
            params.append({"b_id": row.id, "b_seq": seq, "b_prev": prev, "b_hash": digest})
            prev = digest
        if not params:
            continue
        conn.execute(stmt, params)
        sealed += len(params)
        for p in params:  # keep loaded instances in step with their rows
            obj = session.identity_map.get(identity_key(AuditEvent, p["b_id"]))
            if obj is not None:
                set_committed_value(obj, "chain_seq", p["b_seq"])
                set_committed_value(obj, "prev_hash", p["b_prev"])
                set_committed_value(obj, "hash", p["b_hash"])
    return sealed


def seal_unsealed(session: Session) -> int:
    """Seal every committed-but-unsealed audit event (rows written before the chain existed, or by raw SQL
    outside the ORM session), in id order, at the end of the chain. Flushes, never commits: the caller
    commits. Returns the number of events sealed."""
    session.flush()
    conn = _connection(session)
    seq, prev = _lock_and_head(conn)
    ids = conn.execute(select(_table.c.id).where(_table.c.hash.is_(None)).order_by(_table.c.id)).scalars().all()
    session.info.pop(_KEY, None)
    return _seal_ids(session, conn, ids, seq, prev)


@event.listens_for(Session, "after_flush")
def _track_new_events(session: Session, flush_context) -> None:
    ids = [obj.id for obj in session.new if isinstance(obj, AuditEvent)]
    if ids:
        session.info.setdefault(_KEY, []).extend(ids)


@event.listens_for(Session, "before_commit")
def _seal_before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT's release: the outermost commit seals
    if not session.info.get(_KEY) and not any(isinstance(obj, AuditEvent) for obj in session.new):
        return
    session.flush()  # take every row lock before the chain lock
    ids = session.info.pop(_KEY, None)
    if not ids:
        return
    conn = _connection(session)
    seq, prev = _lock_and_head(conn)
    _seal_ids(session, conn, ids, seq, prev)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, previous_transaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_KEY, None)
