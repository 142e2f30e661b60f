"""Unit of work: run callbacks after the session commits, drop them on rollback.

Everything that leaves the process (an RQ enqueue, an email) goes through ``after_commit`` so that a job
never starts before the rows it needs are committed.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

_KEY = "portal_after_commit"
_COMMITTED = "portal_committed"  # set by a commit, consumed when the root transaction ends


def after_commit(fn: Callable[[], None], session: Session | None = None) -> None:
    """Queue ``fn`` to run once the current transaction of ``session`` (default: db.session) commits."""
    if session is None:
        from portal.extensions import db

        session = db.session()
    if not session.in_transaction():
        session.begin()  # so that a rollback before any SQL still drops the callback
    session.info.setdefault(_KEY, []).append(fn)


@event.listens_for(Session, "after_commit")
def _mark_committed(session: Session) -> None:
    # Fires while the connection is still checked out (and for a SAVEPOINT's release too, which is not the
    # commit): only note a root commit here.
    if not session.in_nested_transaction():
        session.info[_COMMITTED] = True


@event.listens_for(Session, "after_transaction_end")
def _run_after_commit(session: Session, transaction) -> None:
    # The root transaction has ended and its connection is back in the pool, so a callback that needs a
    # connection of its own (an eager job in tests, a thread) cannot starve the pool while this one is held.
    if transaction.parent is not None or transaction.nested or not session.info.pop(_COMMITTED, False):
        return
    callbacks = session.info.pop(_KEY, [])
    for fn in callbacks:
        fn()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction) -> None:
    # every rollback() of the session (even one with no SQL sent yet), but not a SAVEPOINT's
    if not previous_transaction.nested:
        session.info.pop(_KEY, None)
        session.info.pop(_COMMITTED, None)
