"""Review SLA: when a decision is due and how late an application is (pure date maths).

A decision is due ``days`` business days after the (re)submission, at the same local time; business days are
Monday to Friday in the portal's time zone (public holidays are not modelled yet). Ageing:

* ``on_track``: more than a quarter of the SLA is left;
* ``due_soon``: less than a quarter of the SLA (at least 4 hours) left;
* ``overdue``: past the due time.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["Ageing", "add_business_days", "ageing"]


def add_business_days(start: datetime, days: int, tz: str = "Asia/Kolkata") -> datetime:
    """``start`` (aware) plus ``days`` business days (Mon-Fri in ``tz``), as aware UTC. A start on a weekend
    counts from the next Monday's start of day. ValueError for a naive datetime or negative days."""
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    if days < 0:
        raise ValueError("days must not be negative")
    local = start.astimezone(ZoneInfo(tz))
    if local.weekday() >= 5:
        local = (local + timedelta(days=7 - local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    remaining = days
    while remaining:
        local += timedelta(days=1)
        if local.weekday() < 5:
            remaining -= 1
    return local.astimezone(UTC)


@dataclass(frozen=True)
class Ageing:
    """``state`` on_track | due_soon | overdue; ``hours_left`` (negative when overdue), whole hours."""

    state: str
    hours_left: int

    @property
    def label(self) -> str:
        if self.state == "overdue":
            late = -self.hours_left
            return f"Overdue {late // 24}d {late % 24}h" if late >= 24 else f"Overdue {late}h"
        if self.hours_left >= 24:
            return f"Due in {self.hours_left // 24}d {self.hours_left % 24}h"
        return f"Due in {self.hours_left}h"


def ageing(due_at: datetime, now: datetime, *, sla_hours: float) -> Ageing:
    """How ``now`` stands against ``due_at`` for an SLA of ``sla_hours`` (see the module docstring)."""
    left = due_at - now
    hours = int(left.total_seconds() // 3600)
    if left.total_seconds() <= 0:
        return Ageing("overdue", hours)
    if left <= timedelta(hours=max(4.0, sla_hours / 4)):
        return Ageing("due_soon", hours)
    return Ageing("on_track", hours)
