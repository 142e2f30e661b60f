"""Customer: a borrower, registered in the portal or imported from a loan book."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Money, Timestamped
from portal.extensions import db


class Customer(Timestamped, db.Model):
    """A borrower. ``id`` is the seed 003 ``customer_id``: imported customers keep the file's Customer ID,
    customers registered later get ids after the highest. Amounts in rupees (Decimal)."""

    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    age: Mapped[int | None] = mapped_column(Integer)
    phone_number: Mapped[str] = mapped_column(String(20), index=True)
    monthly_salary: Mapped[Decimal] = mapped_column(Money)
    approved_limit: Mapped[Decimal] = mapped_column(Money)
    source: Mapped[str] = mapped_column(String(20), default="portal")  # portal | import | api
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))

    user = relationship("User")

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
