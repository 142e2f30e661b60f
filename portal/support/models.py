"""SupportTicket and its thread of TicketMessage rows."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import UTCDateTime
from portal.extensions import db

CATEGORIES: dict[str, str] = {"loan": "Loan", "payment": "Payment", "kyc": "KYC", "other": "Other"}
STATUSES: dict[str, str] = {"open": "Open", "waiting_on_customer": "Waiting on customer",
                            "resolved": "Resolved", "closed": "Closed"}


class SupportTicket(db.Model):
    """A customer's question. ``status`` open | waiting_on_customer | resolved | closed; ``sla_due_at`` is
    when the first answer is due (business days from opening, ``portal.lending.sla``)."""

    __tablename__ = "support_tickets"
    __table_args__ = (
        CheckConstraint("category IN ('loan', 'payment', 'kyc', 'other')", name="category_known"),
        CheckConstraint("status IN ('open', 'waiting_on_customer', 'resolved', 'closed')", name="status_known"),
        Index("ix_support_tickets_queue", "institution_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(30), default="open")
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    sla_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    customer = relationship("Customer")
    assigned_to = relationship("User", foreign_keys=[assigned_to_id])
    messages = relationship("TicketMessage", back_populates="ticket", order_by="TicketMessage.id")

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)

    @property
    def category_label(self) -> str:
        return CATEGORIES.get(self.category, self.category)


class TicketMessage(db.Model):
    """One message of a ticket's thread; ``internal`` notes are for staff only. The optional attachment is
    stored under ``UPLOAD_DIR/support`` by a random ``attachment_path`` (never the customer's file name)."""

    __tablename__ = "ticket_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("support_tickets.id"), index=True)
    author_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    attachment_path: Mapped[str | None] = mapped_column(String(64))
    attachment_name: Mapped[str | None] = mapped_column(String(255))
    attachment_size: Mapped[int | None] = mapped_column(Integer)
    attachment_type: Mapped[str | None] = mapped_column(String(40))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    ticket = relationship("SupportTicket", back_populates="messages")
    author = relationship("User")
