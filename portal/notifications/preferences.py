"""Customer notification preferences: each channel on or off per optional category.

Only ``events.OPTIONAL_CATEGORIES`` (service, reminders, marketing) can be switched; security (OTP) and legal
messages are always sent (``events`` explains the list), whatever the form posts or the table holds.
Defaults (no row): service and reminders on, marketing off (opt-in).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from portal.audit.services import record
from portal.extensions import db
from portal.notifications.events import CHANNELS, MANDATORY_CATEGORIES, OPTIONAL_CATEGORIES
from portal.notifications.models import NotificationPreference

DEFAULTS: dict[str, bool] = {"service": True, "reminders": True, "marketing": False}


def preferences_of(user) -> dict[tuple[str, str], bool]:
    """{(category, channel): enabled} for every optional category and channel, defaults filled in.
    ``user`` None (a customer without a login) gets the defaults."""
    grid = {(cat, ch): DEFAULTS[cat] for cat in OPTIONAL_CATEGORIES for ch in CHANNELS}
    if user is not None and getattr(user, "id", None) is not None:
        for row in db.session.scalars(select(NotificationPreference).where(NotificationPreference.user_id == user.id)):
            if (row.category, row.channel) in grid:
                grid[(row.category, row.channel)] = row.enabled
    return grid


def allows(grid: dict[tuple[str, str], bool], category: str, channel: str) -> bool:
    """Whether a message of ``category`` goes out on ``channel`` under ``grid``: always for security and legal
    messages; else the grid's choice (unknown categories: off)."""
    if category in MANDATORY_CATEGORIES:
        return True
    return grid.get((category, channel), False)


def save_preferences(user, enabled: set[tuple[str, str]], *, actor, now: datetime) -> dict[tuple[str, str], bool]:
    """Store ``user``'s choices: every optional (category, channel) in ``enabled`` is on, every other optional
    one off; pairs outside the optional categories or channels (a forged post asking to turn off OTP or legal
    notices) are ignored. Audited ``notification_preferences.changed`` with the switches that moved; flushes.
    Returns the new grid."""
    before = preferences_of(user)
    rows = {(r.category, r.channel): r for r in db.session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user.id))}
    changes = {}
    for cat in OPTIONAL_CATEGORIES:
        for ch in CHANNELS:
            on = (cat, ch) in enabled
            row = rows.get((cat, ch))
            if row is None:
                db.session.add(NotificationPreference(user_id=user.id, category=cat, channel=ch, enabled=on,
                                                      updated_at=now))
            elif row.enabled != on:
                row.enabled, row.updated_at = on, now
            if before[(cat, ch)] != on:
                changes[f"{cat}.{ch}"] = (before[(cat, ch)], on)
    db.session.flush()
    if changes:
        record(actor, "notification_preferences.changed", ("users", user.id), changes=changes,
               institution_id=user.institution_id)
    return preferences_of(user)
