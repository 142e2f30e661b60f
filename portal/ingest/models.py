"""ImportBatch: one ingestion of a loan book, with progress and every rejected row kept."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from portal.db import Timestamped, UTCDateTime
from portal.extensions import db


class ImportBatch(Timestamped, db.Model):
    """An import of the Alemeno workbooks. The uploaded bytes are kept (so any worker can run it) with
    their SHA-256; ``rejected`` lists ``{"file", "row_number", "reason", "values"}`` dicts."""

    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(30), default="alemeno_book")
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued|running|done|failed
    customers_filename: Mapped[str] = mapped_column(String(255))
    loans_filename: Mapped[str] = mapped_column(String(255))
    customers_sha256: Mapped[str] = mapped_column(String(64))
    loans_sha256: Mapped[str] = mapped_column(String(64))
    customers_file: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    loans_file: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    customers_created: Mapped[int] = mapped_column(Integer, default=0)
    customers_updated: Mapped[int] = mapped_column(Integer, default=0)
    customers_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    loans_created: Mapped[int] = mapped_column(Integer, default=0)
    loans_updated: Mapped[int] = mapped_column(Integer, default=0)
    loans_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[list | None] = deferred(mapped_column(JSON))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by = relationship("User")

    @property
    def percent(self) -> int:
        """Progress 0..100 for the progress bar."""
        if self.status == "done":
            return 100
        return int(100 * self.progress_done / self.progress_total) if self.progress_total else 0
