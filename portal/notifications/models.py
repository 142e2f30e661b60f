"""Notifications: the outbox (``Notification``), versioned templates, preferences and drip-campaign sends.

- ``Notification``: one message to one person on one channel (sms | email | in_app), written in the same
  transaction as the event it tells about (the transactional outbox); a job on the ``notifications`` queue sends
  SMS/email after the commit, the relay (``services.relay_pending``) re-enqueues rows whose job was lost.
- ``NotificationTemplate`` (the editable draft of one event x channel of one institution) and
  ``NotificationTemplateVersion`` (published versions: immutable, kept for history; the newest is in use).
- ``NotificationPreference``: a customer's on/off switch per category x channel (absent row = the default).
- ``CampaignDelivery``: one row per drip campaign step sent to a customer (so a step is never sent twice).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import UTCDateTime, utcnow
from portal.extensions import db


class Notification(db.Model):
    """One message, written in the same transaction as the event it tells about (the outbox); a job sends
    it after the commit. ``status``: pending (waiting for its first or next attempt at ``next_attempt_at``) |
    sent | failed (given up after ``NOTIFY_MAX_ATTEMPTS`` attempts; ``error`` holds the last error).
    In-app messages are 'sent' when written and carry ``read_at``. ``category`` is the preference category of
    the event (security | legal | service | reminders | marketing; None for rows written before templates).
    Bodies of OTP messages hold the code: never log them."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),
                      Index("ix_notifications_relay", "status", "next_attempt_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # sms | email | in_app
    recipient: Mapped[str] = mapped_column(String(254))
    event: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)  # the last delivery error (never the body)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    category: Mapped[str | None] = mapped_column(String(20))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # pending rows: when the relay may retry
    # what makes a bulk-written message unique (e.g. "emi.due:<loan>:<due date>:<channel>" from the close of
    # business): reruns insert nothing twice whatever the template says; NULL for messages written one by one
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    template_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_template_versions.id", name="fk_notifications_template_version_id"))


class NotificationTemplate(db.Model):
    """The template of one event on one channel for one institution: the draft an admin edits (``draft_subject``,
    ``draft_body``, Jinja in a sandbox) and its published ``versions`` (the newest is what ``notify_event``
    renders). SMS templates have no subject."""

    __tablename__ = "notification_templates"
    __table_args__ = (UniqueConstraint("institution_id", "event", "channel",
                                       name="uq_notification_templates_event_channel"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    event: Mapped[str] = mapped_column(String(60))
    channel: Mapped[str] = mapped_column(String(10))
    draft_subject: Mapped[str | None] = mapped_column(String(200))
    draft_body: Mapped[str] = mapped_column(Text)
    draft_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    draft_updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions: Mapped[list[NotificationTemplateVersion]] = relationship(
        back_populates="template", order_by="NotificationTemplateVersion.version")

    @property
    def current(self) -> NotificationTemplateVersion | None:
        """The published version in use (the newest), or None."""
        return self.versions[-1] if self.versions else None

    @property
    def draft_changed(self) -> bool:
        """True when the draft differs from the version in use."""
        cur = self.current
        return cur is None or (cur.subject, cur.body) != (self.draft_subject, self.draft_body)


class NotificationTemplateVersion(db.Model):
    """A published version of a template: immutable (an UPDATE raises), numbered 1, 2, ... per template."""

    __tablename__ = "notification_template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_notification_template_versions_version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("notification_templates.id", name="fk_notification_template_versions_template_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    template: Mapped[NotificationTemplate] = relationship(back_populates="versions")


@event.listens_for(NotificationTemplateVersion, "before_update")
def _versions_are_immutable(mapper, connection, target) -> None:
    raise ValueError("a published template version is immutable; publish a new version instead")


class NotificationPreference(db.Model):
    """``user_id``'s choice for one ``category`` (service | reminders | marketing) on one ``channel``; a missing
    row means the default (``preferences.DEFAULTS``). Security and legal messages ignore these rows."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "category", "channel",
                                       name="uq_notification_preferences_choice"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(10))
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignDelivery(db.Model):
    """Step ``step`` (days after registration) of drip ``campaign`` sent to ``customer_id`` on the business date
    ``sent_on``; unique per (campaign, customer, step), so a step is never sent twice."""

    __tablename__ = "campaign_deliveries"
    __table_args__ = (UniqueConstraint("campaign", "customer_id", "step", name="uq_campaign_deliveries_step"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    sent_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
