"""Declarative base, naming convention, and exact column types.

Money is stored as integer paise (BigInteger) on every database and handed to Python as Decimal rupees,
so SQLite and PostgreSQL store the same exact values. Interest rates are stored as integer ten-thousandths
of a percent (12.5 % p.a. -> 125000) and handed to Python as Decimal percent.
"""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, TypeDecorator, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from portal.money import from_paise, to_paise

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with the naming convention every migration relies on."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Money(TypeDecorator):
    """Decimal rupees in Python <-> integer paise in the database. Refuses floats (TypeError)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money must not be a float")
        return to_paise(Decimal(value))

    def process_result_value(self, value, dialect):
        return None if value is None else from_paise(int(value))


RATE_SCALE = Decimal("10000")


class Rate(TypeDecorator):
    """Decimal percent per annum in Python <-> integer ten-thousandths of a percent in the database."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("a rate must not be a float")
        return int((Decimal(value) * RATE_SCALE).to_integral_value())

    def process_result_value(self, value, dialect):
        return None if value is None else (Decimal(int(value)) / RATE_SCALE).normalize() + Decimal("0.00")


def utcnow() -> datetime:
    """Aware UTC now (for audit timestamps only; business dates come from the clock)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on SQLite too (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use an aware UTC datetime")
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Timestamped:
    """``created_at`` / ``updated_at`` audit timestamps (not business dates)."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=func.now()
    )
