"""Unit of work: run callbacks after the session commits, drop them on rollback.

Everything that leaves the process (an RQ enqueue, an email) goes through ``after_commit`` so that a job
never starts before the rows it needs are committed.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

_KEY = "portal_after_commit"


def after_commit(fn: Callable[[], None], session: Session | None = None) -> None:
    """Queue ``fn`` to run once the current transaction of ``session`` (default: db.session) commits."""
    if session is None:
        from portal.extensions import db

        session = db.session()
    if not session.in_transaction():
        session.begin()  # so that a rollback before any SQL still drops the callback
    session.info.setdefault(_KEY, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_KEY, [])
    for fn in callbacks:
        fn()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction) -> None:
    # every rollback() of the session (even one with no SQL sent yet), but not a SAVEPOINT's
    if not previous_transaction.nested:
        session.info.pop(_KEY, None)
