"""Progress of a long job on its database row (import batches, scoring runs, exports), for the htmx-polled
progress bars.

The job's own data transaction commits once at the end, so progress goes to the row in short transactions of
their own (``db.engine.begin()``) and pages see it while the job runs. On SQLite a second connection cannot write
while the job's transaction holds the write lock: there progress is written only until the job sets
``writing = True`` (just before its first data write).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from portal.extensions import db


class RowProgress:
    """``progress_done`` / ``progress_total`` (and any other columns) of row ``row_id`` of ``model``.

    ``every``: write on ``advance`` only every that many rows (and at the total). ``committed=False``: the row is
    not committed yet (nothing is written)."""

    def __init__(self, model, row_id: int, total: int = 0, *, every: int = 1, committed: bool = True) -> None:
        self.model, self.row_id, self.total, self.done = model, row_id, total, 0
        self.every, self.committed = every, committed
        self.live = db.engine.dialect.name != "sqlite"
        self.writing = False

    def set(self, **values) -> None:
        """Write ``values`` to the row now (unless the row is not committed, or SQLite is locked by the job)."""
        if not self.committed or (self.writing and not self.live):
            return
        with db.engine.begin() as conn:
            conn.execute(update(self.model).where(self.model.id == self.row_id).values(**values))

    def advance(self, rows: int = 1) -> None:
        """``rows`` more done; written every ``every`` rows and at the total."""
        before, self.done = self.done, self.done + rows
        if self.every == 1 or self.done == self.total or self.done // self.every != before // self.every:
            self.set(progress_done=self.done, progress_total=self.total)


def mark_failed(model, row_id: int, message: str, *, now: datetime) -> None:
    """Mark a job's row failed with ``message`` (at most 4,000 characters) in a fresh transaction of its own,
    after the job's rollback."""
    with db.engine.begin() as conn:
        conn.execute(update(model).where(model.id == row_id)
                     .values(status="failed", error=message[:4000], finished_at=now))
