"""Pure allocation of a term-loan payment over the loan's dues (no Flask, no SQLAlchemy).

Order (seeds 000, 003, 004; ``portal/servicing/__init__.py``):

1. overdue interest   - rows due *before* the payment's business date, oldest first;
2. overdue principal  - the same rows, oldest first;
3. current interest   - the next row due on or after the business date (even when already paid: a later
                        instalment is never paid ahead of its period);
4. current principal  - the same row;
5. prepayment         - whatever is left reduces the principal of the rows after the current one
                        (the caller regenerates those rows with the same EMI: the tenure shortens).

All interest of the overdue rows is paid before any of their principal, and a payment clears past dues
before new ones. Amounts are ``Decimal`` rupees in whole paise.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from portal.money import as_decimal, quantize

__all__ = ["Allocation", "Due", "RowSplit", "allocate", "amount_due_now", "max_payable"]

ZERO = Decimal("0.00")
BUCKETS = ("overdue_interest", "overdue_principal", "current_interest", "current_principal", "prepayment")


@dataclass(frozen=True)
class Due:
    """What is still unpaid on one schedule row (Decimal rupees, >= 0)."""

    seq: int
    due_on: date
    interest_due: Decimal
    principal_due: Decimal

    @property
    def amount_due(self) -> Decimal:
        return self.interest_due + self.principal_due


@dataclass(frozen=True)
class RowSplit:
    """The part of a payment applied to one schedule row (Decimal rupees)."""

    seq: int
    interest: Decimal
    principal: Decimal


@dataclass(frozen=True)
class Allocation:
    """Where a payment went, by bucket and by row (rows in schedule order; the prepayment is in no row)."""

    overdue_interest: Decimal = ZERO
    overdue_principal: Decimal = ZERO
    current_interest: Decimal = ZERO
    current_principal: Decimal = ZERO
    prepayment: Decimal = ZERO
    rows: tuple[RowSplit, ...] = field(default_factory=tuple)
    #: the seq of the current row (the next one due on or after the business date), None when none is left
    current_seq: int | None = None

    @property
    def interest(self) -> Decimal:
        return self.overdue_interest + self.current_interest

    @property
    def principal(self) -> Decimal:
        """All principal paid, the prepayment included."""
        return self.overdue_principal + self.current_principal + self.prepayment

    @property
    def total(self) -> Decimal:
        return self.interest + self.principal

    def as_dict(self) -> dict:
        """JSON-friendly: bucket amounts as strings and ``rows`` as ``[[seq, interest, principal], ...]``."""
        out: dict = {name: format(getattr(self, name), "f") for name in BUCKETS}
        out["rows"] = [[r.seq, format(r.interest, "f"), format(r.principal, "f")] for r in self.rows]
        out["current_seq"] = self.current_seq
        return out


def _clean(dues: Iterable[Due]) -> list[Due]:
    rows = sorted(dues, key=lambda d: (d.due_on, d.seq))
    for d in rows:
        if d.interest_due < 0 or d.principal_due < 0:
            raise ValueError(f"row {d.seq}: dues must not be negative")
    return rows


def _split(rows: list[Due], as_of: date) -> tuple[list[Due], Due | None, list[Due]]:
    """(overdue rows with something unpaid, the current row, the unpaid rows after it).

    The current row is the first one due on or after ``as_of`` even when it is already paid: an instalment
    is never paid ahead of its period (its interest has not started to accrue), so money beyond the
    current row is a prepayment of principal."""
    overdue = [d for d in rows if d.due_on < as_of and d.amount_due > 0]
    upcoming = [d for d in rows if d.due_on >= as_of]
    current = upcoming[0] if upcoming else None
    return overdue, current, [d for d in upcoming[1:] if d.amount_due > 0]


def max_payable(dues: Iterable[Due], as_of: date) -> Decimal:
    """The most a payment on ``as_of`` may be (rupees): all overdue dues, the current row's interest, and all
    the principal still unpaid (future rows' interest is not owed: a prepayment removes it)."""
    overdue, current, later = _split(_clean(dues), as_of)
    total = sum((d.amount_due for d in overdue), ZERO)
    if current is not None:
        total += current.amount_due
    return total + sum((d.principal_due for d in later), ZERO)


def amount_due_now(dues: Iterable[Due], as_of: date) -> Decimal:
    """What the borrower should pay on ``as_of`` (rupees): the overdue dues plus what is unpaid of the current
    instalment (zero once it is paid, until the next one's period starts)."""
    overdue, current, _later = _split(_clean(dues), as_of)
    return sum((d.amount_due for d in overdue), ZERO) + (current.amount_due if current else ZERO)


def allocate(dues: Iterable[Due], *, as_of: date, amount: Decimal) -> Allocation:
    """Split ``amount`` (Decimal rupees) paid on business date ``as_of`` over ``dues`` in the allocation order
    (module docstring). Returns an Allocation whose buckets add up to ``amount`` exactly and where no row gets
    more interest or principal than it has due; the prepayment is at most the principal of the later rows.

    Raises ValueError when ``amount`` <= 0, has fractions of a paisa, or exceeds ``max_payable``; TypeError for
    floats.
    """
    amount = as_decimal(amount, "amount")
    if amount <= 0:
        raise ValueError(f"the amount must be positive, got {amount}")
    if quantize(amount) != amount:
        raise ValueError(f"the amount must be in whole paise, got {amount}")
    rows = _clean(dues)
    limit = max_payable(rows, as_of)
    if amount > limit:
        raise ValueError(f"the amount {amount} is more than the total outstanding {limit}")
    overdue, current, later = _split(rows, as_of)
    left = amount
    paid: dict[int, list[Decimal]] = {}

    def take(row: Due, kind: int, available: Decimal) -> Decimal:
        nonlocal left
        part = min(left, available)
        if part > 0:
            paid.setdefault(row.seq, [ZERO, ZERO])[kind] += part
            left -= part
        return part

    overdue_interest = sum((take(d, 0, d.interest_due) for d in overdue), ZERO)
    overdue_principal = sum((take(d, 1, d.principal_due) for d in overdue), ZERO)
    current_interest = take(current, 0, current.interest_due) if current else ZERO
    current_principal = take(current, 1, current.principal_due) if current else ZERO
    prepayment = min(left, sum((d.principal_due for d in later), ZERO))
    left -= prepayment
    assert left == 0, "max_payable guarantees that the amount fits"
    order = {d.seq: i for i, d in enumerate(rows)}
    touched = sorted(paid.items(), key=lambda kv: order[kv[0]])
    splits = tuple(RowSplit(seq, parts[0], parts[1]) for seq, parts in touched)
    return Allocation(overdue_interest=overdue_interest, overdue_principal=overdue_principal,
                      current_interest=current_interest, current_principal=current_principal, prepayment=prepayment,
                      rows=splits, current_seq=current.seq if current else None)
