"""Time, injected: services take ``clock=`` and pure code takes ``as_of``; nothing calls date.today().

``clock()`` returns the app's clock (``app.extensions["clock"]``): SystemClock in production,
FixedClock in tests. The *business date* (the date the books are on) lives in the database
(``portal.business_date``); the clock only seeds it.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from flask import current_app


class Clock(Protocol):
    """Anything with ``now()`` (aware UTC datetime) and ``today()`` (local calendar date)."""

    def now(self) -> datetime: ...

    def today(self) -> date: ...


class SystemClock:
    """The wall clock; ``today()`` is the date in ``tz`` (Asia/Kolkata by default)."""

    def __init__(self, tz: str = "Asia/Kolkata") -> None:
        self.tz = ZoneInfo(tz)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().astimezone(self.tz).date()


class FixedClock:
    """A clock that stands still until ``advance()`` moves it (tests, replays)."""

    def __init__(self, at: datetime, tz: str = "Asia/Kolkata") -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.at = at
        self.tz = ZoneInfo(tz)

    def now(self) -> datetime:
        return self.at

    def today(self) -> date:
        return self.at.astimezone(self.tz).date()

    def advance(self, **kwargs) -> None:
        """Move forward by ``timedelta(**kwargs)``."""
        self.at = self.at + timedelta(**kwargs)


def clock() -> Clock:
    """The current app's clock."""
    return current_app.extensions["clock"]
