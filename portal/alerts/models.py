"""AlertRule (what raises alerts, who sees them, where to send them), Alert (one raised alert and its handling),
WebhookDelivery (the outbox row of one signed POST) and WebhookAttempt (each try of a delivery).

Amounts are Decimal rupees stored as paise (``portal.db.Money``); ``*_on`` are business dates; ``*_at`` are
aware UTC timestamps. The webhook secret is stored encrypted (``portal.crypto``) and shown back only as a hint.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.alerts.engine import KINDS, SEVERITIES, STATUSES
from portal.db import Money, UTCDateTime, utcnow
from portal.extensions import db

_KIND_SQL = "kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")"
_SEVERITY_SQL = "severity IN ('info', 'warning', 'critical')"


class AlertRule(db.Model):
    """A trigger configured by a risk officer for one institution.

    ``kind``: dpd_crossed (``threshold_days``, days) | two_bounces | kyc_mismatch | large_prepayment
    (``threshold_amount``, rupees) | promise_to_pay_broken. ``visible_roles``: the staff roles that see its
    alerts (a list of role names). ``builtin_key`` names the built-in rules (dpd_1, dpd_30, ...; unique per
    institution) so that creating them is idempotent. ``webhook_url`` + the encrypted secret: every alert of
    the rule is POSTed there, signed (``portal.alerts.webhooks``)."""

    __tablename__ = "alert_rules"
    __table_args__ = (
        UniqueConstraint("institution_id", "builtin_key"),
        CheckConstraint(_KIND_SQL, name="kind_known"),
        CheckConstraint(_SEVERITY_SQL, name="severity_known"),
        CheckConstraint("kind <> 'dpd_crossed' OR threshold_days >= 1", name="dpd_threshold"),
        CheckConstraint("kind <> 'large_prepayment' OR threshold_amount > 0", name="amount_threshold"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(30))
    threshold_days: Mapped[int | None] = mapped_column(Integer)
    threshold_amount: Mapped[Decimal | None] = mapped_column(Money)
    severity: Mapped[str] = mapped_column(String(10))
    visible_roles: Mapped[list] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    builtin_key: Mapped[str | None] = mapped_column(String(40))
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    webhook_secret_hint: Mapped[str | None] = mapped_column(String(8))  # the last 4 characters, for the page
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)

    @property
    def severity_label(self) -> str:
        return SEVERITIES.get(self.severity, self.severity)

    @property
    def has_webhook(self) -> bool:
        return bool(self.webhook_url)

    @property
    def secret_display(self) -> str | None:
        """The secret as the pages show it: masked but for its last 4 characters (never in full)."""
        return f"••••••••{self.webhook_secret_hint}" if self.webhook_secret_encrypted else None

    @property
    def trigger_label(self) -> str:
        from portal.money import format_inr

        if self.kind == "dpd_crossed":
            return f"DPD reaches {self.threshold_days} day{'s' if self.threshold_days != 1 else ''}"
        if self.kind == "large_prepayment" and self.threshold_amount is not None:
            return f"Prepayment of {format_inr(self.threshold_amount)} or more"
        return self.kind_label


class Alert(db.Model):
    """One raised alert. Status open -> acknowledged -> resolved (or open -> resolved), each change audited.

    ``kind`` and ``severity`` are copied from the rule when raised. DPD alerts carry ``threshold_days`` and the
    loan's ``dpd`` then, ``raised_on`` (the close of business date) and ``cleared_on`` (the business date the
    crossing ended: DPD back below the threshold; a later crossing raises a new alert). ``dedupe_key`` is
    unique per rule: one alert per (rule, key) even when a step or event is replayed."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("rule_id", "dedupe_key"),
        CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name="status_known"),
        CheckConstraint(_SEVERITY_SQL, name="severity_known"),
        Index("ix_alerts_queue", "institution_id", "status", "id"),
        Index("ix_alerts_rule_loan", "rule_id", "loan_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id"))
    kind: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(14), default="open")
    loan_id: Mapped[int | None] = mapped_column(ForeignKey("loans.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    threshold_days: Mapped[int | None] = mapped_column(Integer)
    dpd: Mapped[int | None] = mapped_column(Integer)
    raised_on: Mapped[date] = mapped_column(Date)
    cleared_on: Mapped[date | None] = mapped_column(Date)
    dedupe_key: Mapped[str | None] = mapped_column(String(120))
    detail: Mapped[dict | None] = mapped_column(JSON)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution_note: Mapped[str | None] = mapped_column(Text)

    rule: Mapped[AlertRule] = relationship()
    loan = relationship("Loan")
    customer = relationship("Customer")
    assigned_to = relationship("User", foreign_keys=[assigned_to_id])
    acknowledged_by = relationship("User", foreign_keys=[acknowledged_by_id])
    resolved_by = relationship("User", foreign_keys=[resolved_by_id])

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)

    @property
    def status_label(self) -> str:
        return STATUSES.get(self.status, self.status)

    @property
    def summary(self) -> str:
        """One line for the queue, e.g. "Loan 12 reached 30 DPD (now 30)"."""
        from portal.money import format_inr

        detail = self.detail or {}
        subject = f"Loan {self.loan_id}" if self.loan_id else (f"Customer {self.customer_id}"
                                                                if self.customer_id else "Portfolio")
        if self.kind == "dpd_crossed":
            return f"{subject} reached {self.threshold_days} DPD (DPD {self.dpd} on {self.raised_on:%d %b %Y})"
        if self.kind == "large_prepayment" and detail.get("amount"):
            return f"{subject}: prepayment of {format_inr(Decimal(str(detail['amount'])))}"
        if self.kind == "two_bounces":
            return f"{subject}: {detail.get('bounce_count', 2)} bounced payments, eligible for recovery"
        if self.kind == "kyc_mismatch":
            return f"{subject}: the {str(detail.get('document_kind', 'KYC document')).replace('_', ' ')} " \
                   "read by OCR does not match the typed data"
        return f"{subject}: {self.kind_label.lower()}"


class WebhookDelivery(db.Model):
    """The outbox row of one webhook POST, written in the transaction that raised the alert (or by "Send
    test"). Status pending -> delivered, or retrying (``next_attempt_at``) -> ... -> failed after
    ``max_attempts``. ``body`` is the exact JSON sent, fixed at the first attempt so every retry sends (and
    signs) the same bytes."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'retrying', 'delivered', 'failed')", name="status_known"),
        Index("ix_webhook_deliveries_rule", "rule_id", "id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    event: Mapped[str] = mapped_column(String(30))  # alert.raised | webhook.test
    url: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    body: Mapped[str | None] = mapped_column(Text)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    rule: Mapped[AlertRule] = relationship()
    alert: Mapped[Alert | None] = relationship()
    attempt_log = relationship("WebhookAttempt", back_populates="delivery", order_by="WebhookAttempt.number")


class WebhookAttempt(db.Model):
    """One try of a delivery: when, how long, the HTTP status code (None when no response) and the error."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"))
    number: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(500))

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_log")
