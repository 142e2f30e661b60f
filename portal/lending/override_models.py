"""LoanStatusOverride: the seed 000 loan status override, with maker-checker (issue 7 item 5).

The rules (which statuses may be overridden into which) and the services live in ``portal/lending/overrides.py``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import UTCDateTime
from portal.extensions import db

#: the partial-index predicate: at most one pending override per loan
_PENDING = "status = 'pending'"


class LoanStatusOverride(db.Model):
    """A request to change a loan's status by hand (seed 000 ``PATCH /admin/loans/{id}/override``).

    The maker (an admin) writes the target status and a mandatory reason; a different admin (the checker)
    approves or rejects it. Only an approved request changes ``loans.status`` (never a balance, never the
    ledger). ``from_status`` is the loan's status when the request was made; approval refuses a request whose
    loan has moved on since. Status: pending -> approved | rejected.

    Constraints: the checker is never the maker (``checker_is_not_maker``), a decided request has a checker and
    a pending one has none (``checker_iff_decided``), the target differs from the current status, and a loan has
    at most one pending request (partial unique index ``ix_loan_status_overrides_one_pending``)."""

    __tablename__ = "loan_status_overrides"
    __table_args__ = (
        CheckConstraint("checker_id IS NULL OR checker_id <> maker_id", name="checker_is_not_maker"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status_known"),
        CheckConstraint("(status = 'pending') = (checker_id IS NULL)", name="checker_iff_decided"),
        CheckConstraint("to_status <> from_status", name="status_changes"),
        Index("ix_loan_status_overrides_one_pending", "loan_id", unique=True, postgresql_where=text(_PENDING),
              sqlite_where=text(_PENDING)),
        Index("ix_loan_status_overrides_queue", "institution_id", "status", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    maker_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    checker_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    checker_note: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    loan = relationship("Loan")
    maker = relationship("User", foreign_keys=[maker_id])
    checker = relationship("User", foreign_keys=[checker_id])
