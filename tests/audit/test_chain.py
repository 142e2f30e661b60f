"""Tamper evidence of the audit trail (issue 7 item 4): every committed AuditEvent is sealed into one hash
chain; ``flask --app wsgi audit-verify`` finds a modified, deleted or unsealed row; the table stays
append-only on PostgreSQL (only the sealing UPDATE is allowed)."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from portal.audit.chain import GENESIS, event_hash, first_broken_link
from portal.audit.models import AuditEvent
from portal.audit.services import record


def _chain(db):
    db.session.expire_all()
    return db.session.scalars(select(AuditEvent).order_by(AuditEvent.chain_seq)).all()


def _verify(app):
    return app.test_cli_runner().invoke(args=["audit-verify"])


def _output(result) -> str:
    return result.output  # click 8.2+: stdout and stderr together


def _tamper(db, statement: str) -> None:
    """Run ``statement`` with the append-only trigger switched off (as a DBA with table rights could)."""
    db.session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete"))
    db.session.execute(text(statement))
    db.session.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete"))
    db.session.commit()


def _write_events(db, batches=(1, 2, 3)) -> None:
    n = 0
    for size in batches:
        for _ in range(size):
            n += 1
            record(None, "test.event", ("things", n), changes={"amount": ("1.00", "2.00"), "b": n},
                   note=f"note {n}")
        db.session.commit()


def test_hash_is_independent_of_the_connection_time_zone():
    row = {"id": 1, "occurred_at": datetime(2026, 11, 23, 4, 30, tzinfo=UTC), "institution_id": 1,
           "actor_id": None, "actor_label": "system", "action": "a", "entity_type": "t", "entity_id": "1",
           "changes": {"b": 1, "a": [1, 2]}, "note": "x", "request_id": None, "ip": None}
    ist = dict(row, occurred_at=row["occurred_at"].astimezone(timezone(timedelta(hours=5, minutes=30))),
               changes={"a": [1, 2], "b": 1})
    assert event_hash(GENESIS, row) == event_hash(GENESIS, ist)
    assert len(event_hash(GENESIS, row)) == 64
    assert event_hash(GENESIS, row) != event_hash(GENESIS, dict(row, note="y"))
    with pytest.raises(ValueError):
        event_hash("abc", row)


def test_events_of_several_transactions_form_one_unbroken_chain(app, db):
    _write_events(db, (1, 2, 3))
    events = _chain(db)
    assert [e.chain_seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert events[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    result = _verify(app)
    assert result.exit_code == 0, _output(result)
    assert "audit chain ok: 6 events" in result.output


def test_event_is_visible_before_commit_and_sealed_at_commit(db):
    event = record(None, "test.event", ("things", 1), note="x")
    db.session.flush()
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.id == event.id)) == event.id
    assert event.hash is None
    db.session.commit()
    assert event.chain_seq == 1 and event.prev_hash == GENESIS and len(event.hash) == 64


def test_events_of_a_rolled_back_savepoint_leave_no_gap(app, db):
    record(None, "test.kept", ("things", 1))
    savepoint = db.session.begin_nested()
    record(None, "test.dropped", ("things", 2))
    db.session.flush()
    savepoint.rollback()
    record(None, "test.kept", ("things", 3))
    db.session.commit()
    assert [(e.action, e.chain_seq) for e in _chain(db)] == [("test.kept", 1), ("test.kept", 2)]
    assert _verify(app).exit_code == 0


def test_a_rolled_back_transaction_seals_nothing(app, db):
    _write_events(db, (2,))
    record(None, "test.dropped", ("things", 9))
    db.session.flush()
    db.session.rollback()
    _write_events(db, (1,))
    assert [e.chain_seq for e in _chain(db)] == [1, 2, 3]
    assert _verify(app).exit_code == 0


def test_a_modified_row_is_named_by_verify(app, db):
    _write_events(db, (2, 2, 2))
    target = _chain(db)[3]
    _tamper(db, f"UPDATE audit_events SET note = 'forged' WHERE id = {target.id}")
    result = _verify(app)
    assert result.exit_code == 1
    assert f"event {target.id} (chain 4): hash does not match its content" in _output(result)


def test_a_modified_row_with_its_hash_recomputed_breaks_the_next_link(app, db):
    _write_events(db, (3, 2))
    target = _chain(db)[2]
    row = db.session.execute(select(AuditEvent.__table__).where(AuditEvent.id == target.id)).one()._mapping
    forged = event_hash(row["prev_hash"], dict(row, note="forged"))
    _tamper(db, f"UPDATE audit_events SET note = 'forged', hash = '{forged}' WHERE id = {target.id}")
    result = _verify(app)
    assert result.exit_code == 1
    assert "chain 4: prev_hash does not link to chain 3" in _output(result)


def test_a_deleted_row_is_found_as_a_gap(app, db):
    _write_events(db, (2, 3))
    target = _chain(db)[2]
    _tamper(db, f"DELETE FROM audit_events WHERE id = {target.id}")
    result = _verify(app)
    assert result.exit_code == 1
    assert "chain gap after 2" in _output(result)


def test_an_unsealed_row_fails_verify_until_sealed(app, db):
    _write_events(db, (2,))
    with db.engine.begin() as conn:  # raw SQL outside the ORM session: not sealed at commit
        conn.execute(text("INSERT INTO audit_events (occurred_at, actor_label, action, entity_type) "
                          "VALUES (now(), 'raw', 'raw.insert', 'things')"))
    result = _verify(app)
    assert result.exit_code == 1
    assert "1 committed events are not sealed (first: event 3)" in _output(result)
    seal = app.test_cli_runner().invoke(args=["audit-seal"])
    assert seal.exit_code == 0 and "sealed 1 audit events" in seal.output
    result = _verify(app)
    assert result.exit_code == 0 and "audit chain ok: 3 events" in result.output


def test_trigger_refuses_every_update_but_the_seal(db):
    _write_events(db, (1,))
    event = _chain(db)[0]
    for statement in (
        f"UPDATE audit_events SET hash = '{'f' * 64}' WHERE id = {event.id}",
        f"UPDATE audit_events SET chain_seq = 7 WHERE id = {event.id}",
        f"UPDATE audit_events SET note = 'changed' WHERE id = {event.id}",
        f"DELETE FROM audit_events WHERE id = {event.id}",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
    # an unsealed row may only be sealed, with nothing else changed
    record(None, "test.event", ("things", 2), note="n")
    db.session.flush()
    unsealed = db.session.execute(select(AuditEvent.id).where(AuditEvent.hash.is_(None))).scalar_one()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(text(f"UPDATE audit_events SET chain_seq = 2, prev_hash = '{'0' * 64}', "
                                f"hash = '{'0' * 64}', note = 'other' WHERE id = {unsealed}"))
    db.session.rollback()
    assert db.session.execute(text("SELECT count(*) FROM audit_events")).scalar_one() == 1


def test_first_broken_link_on_plain_rows():
    rows, prev = [], GENESIS
    for seq in (1, 2, 3):
        row = {"id": seq * 10, "occurred_at": datetime(2026, 11, 23, tzinfo=UTC), "institution_id": None,
               "actor_id": None, "actor_label": "system", "action": "a", "entity_type": "t", "entity_id": None,
               "changes": None, "note": None, "request_id": None, "ip": None, "chain_seq": seq,
               "prev_hash": prev}
        row["hash"] = prev = event_hash(prev, row)
        rows.append(row)
    assert first_broken_link(rows) == (3, None)
    assert first_broken_link([rows[1], rows[2]])[1] == "chain gap: the chain starts at 2, not 1"
    assert first_broken_link([rows[0], rows[2]]) == (1, "chain gap after 1")


THREADS = 10


def test_concurrent_transactions_give_one_unbroken_chain(app, db):
    from portal.extensions import db as database

    barrier = threading.Barrier(THREADS)
    errors: list = []

    def worker(i: int) -> None:
        with app.app_context():
            try:
                for j in range(3):
                    record(None, "test.concurrent", ("things", i * 100 + j), note=f"thread {i}")
                database.session.flush()
                barrier.wait(timeout=60)  # all ten transactions hold uncommitted events, then commit at once
                database.session.commit()
                record(None, "test.concurrent", ("things", i * 100 + 99), note=f"thread {i} again")
                database.session.commit()
            except Exception as exc:  # reported below
                database.session.rollback()
                errors.append(exc)
            finally:
                database.session.remove()

    threads = [threading.Thread(target=worker, args=(i,), name=f"auditor-{i}") for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    events = _chain(db)
    assert len(events) == THREADS * 4
    assert [e.chain_seq for e in events] == list(range(1, THREADS * 4 + 1))
    # each transaction's events are consecutive in the chain, in id order
    for i in range(THREADS):
        seqs = sorted(e.chain_seq for e in events if e.note == f"thread {i}")
        assert seqs == list(range(seqs[0], seqs[0] + 3))
    result = _verify(app)
    assert result.exit_code == 0, _output(result)
    assert f"audit chain ok: {THREADS * 4} events" in result.output
