"""Exact money: one rounding rule in one place.

Amounts are ``Decimal`` rupees in Python and integer paise in the database (see ``portal.db.Money``).
The rounding rule is ROUND_HALF_UP to the paisa everywhere (DESIGN.md section 8).
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_decimal

PAISA = Decimal("0.01")
LAKH = Decimal("100000")


def money(value: Decimal | int | str) -> Decimal:
    """Return ``value`` as Decimal rupees rounded half-up to the paisa.

    Accepts Decimal, int or a numeric string (commas allowed: "1,00,000.50").
    Raises TypeError for float (floats are never money) and ValueError for text that is not a number.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError("money must not be a float or bool; pass a Decimal, int or str")
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not an amount: {value!r}") from None
    if not isinstance(value, (Decimal, int)):
        raise TypeError(f"cannot make money from {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"not a finite amount: {value!r}")
    return quantize(result)


def as_decimal(value: Decimal | int, name: str) -> Decimal:
    """Coerce a Decimal or int argument called ``name`` to Decimal (no rounding): TypeError for float/bool
    (floats are never money or rates), ValueError for NaN/infinity. Used by the pure maths modules."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"{name} must be a Decimal or int, not {type(value).__name__}")
    result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return result


def quantize(value: Decimal, places: Decimal = PAISA) -> Decimal:
    """Round a Decimal half-up to ``places`` (default: the paisa)."""
    return value.quantize(places, rounding=ROUND_HALF_UP)


def to_paise(amount: Decimal) -> int:
    """Rupees (Decimal) -> integer paise, rounding half-up first."""
    return int(quantize(amount) * 100)


def from_paise(paise: int) -> Decimal:
    """Integer paise -> Decimal rupees with two places."""
    return (Decimal(paise) / 100).quantize(PAISA)


def format_inr(amount: Decimal | int | None, symbol: str = "Rs ") -> str:
    """Indian digit grouping: Decimal('1234567.8') -> 'Rs 12,34,567.80' (Babel en_IN). None -> '—'."""
    if amount is None:
        return "—"
    return symbol + format_decimal(quantize(Decimal(amount)), format="#,##,##0.00", locale="en_IN")
