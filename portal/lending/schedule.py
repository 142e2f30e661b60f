"""Pure EMI and amortization math for term loans (no Flask, no SQLAlchemy).

Units used throughout this module:

* amounts are ``Decimal`` rupees; results are rounded half-up to the paisa with ``portal.money.quantize``;
* ``annual_rate`` is a ``Decimal`` percent per annum (``Decimal("12")`` means 12 % p.a.);
* tenures are whole months (``int``); repayments are monthly on a reducing balance.

Source of the rules: seed 003 (Alemeno credit approval assignment) and DESIGN.md section 5::

    EMI = P * r * (1 + r)^n / ((1 + r)^n - 1),   r = annual_rate / 12 / 100,   0 % -> P / n

The schedule puts the rounding remainder on the last instalment so that the principal parts add up to the
principal exactly and the final balance is zero (STYLE.md, "Money").
"""
from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext

from portal.money import as_decimal, quantize

__all__ = [
    "ScheduleRow",
    "add_months",
    "amortization_schedule",
    "emi",
    "monthly_rate",
    "schedule_totals",
]

#: Working precision (significant digits) for the EMI power series; far beyond the paisa.
PRECISION = 40

_ZERO = Decimal("0.00")


_decimal = as_decimal  # the shared coercion rule (portal/money.py)


def _months(value: int, name: str = "tenure_months") -> int:
    """Validate a whole number of months (int, not bool); raise TypeError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int number of months, not {type(value).__name__}")
    return value


def _validate_terms(
    principal: Decimal | int, annual_rate: Decimal | int, tenure_months: int
) -> tuple[Decimal, Decimal, int]:
    """Validate loan terms; return (Decimal, Decimal, int). ValueError/TypeError if invalid."""
    principal = _decimal(principal, "principal")
    annual_rate = _decimal(annual_rate, "annual_rate")
    tenure_months = _months(tenure_months)
    if principal <= 0:
        raise ValueError(f"principal must be positive, got {principal}")
    if tenure_months < 1:
        raise ValueError(f"tenure_months must be at least 1, got {tenure_months}")
    if annual_rate < 0:
        raise ValueError(f"annual_rate must not be negative, got {annual_rate}")
    return principal, annual_rate, tenure_months


def add_months(d: date, n: int) -> date:
    """Return the date ``n`` calendar months after ``d`` (``n`` may be negative or zero).

    The day of month is kept when it exists and clamped to the month's last day otherwise:
    2024-01-31 + 1 -> 2024-02-29, 2025-01-31 + 1 -> 2025-02-28, 2025-03-31 - 1 -> 2025-02-28.
    Each due date of a schedule is computed from the start date (not chained), so a loan started on
    Jan 31 falls due on Feb 28, Mar 31, Apr 30, ...

    Raises TypeError if ``n`` is not an int; ValueError (from ``date``) if the result leaves years 1..9999.
    """
    n = _months(n, "n")
    index = d.month - 1 + n
    year = d.year + index // 12
    month = index % 12 + 1
    if not 1 <= year <= 9999:
        raise ValueError(f"{d.isoformat()} + {n} months is outside the supported date range")
    day = min(d.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def monthly_rate(annual_rate: Decimal | int) -> Decimal:
    """Monthly rate as a fraction: ``r = annual_rate / 12 / 100`` (seed 003), at 40 significant digits.

    ``annual_rate`` is percent per annum (Decimal or int). Raises ValueError if it is negative,
    TypeError if it is a float.
    """
    annual_rate = _decimal(annual_rate, "annual_rate")
    if annual_rate < 0:
        raise ValueError(f"annual_rate must not be negative, got {annual_rate}")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return annual_rate / Decimal(1200)


def emi(principal: Decimal | int, annual_rate: Decimal | int, tenure_months: int) -> Decimal:
    """Equated monthly instalment in rupees, rounded half-up to the paisa.

    Formula (seed 003): ``EMI = P * r * (1 + r)^n / ((1 + r)^n - 1)`` with ``r = annual_rate / 12 / 100``;
    when the rate is 0 the EMI is ``P / n``. Computed in a local decimal context with 40 significant digits
    and rounded once at the end.

    * ``principal``: Decimal (or int) rupees, > 0.
    * ``annual_rate``: Decimal (or int) percent per annum, >= 0 (``Decimal("12")`` = 12 % p.a.).
    * ``tenure_months``: int >= 1.

    Examples: 2,50,000 at 12 % for 24 months -> 11768.37; 1,00,000 at 12 % for 12 -> 8884.88;
    12,000 at 0 % for 12 -> 1000.00.

    Raises ValueError for principal <= 0, tenure_months < 1 or annual_rate < 0; TypeError for floats.
    """
    principal, annual_rate, tenure_months = _validate_terms(principal, annual_rate, tenure_months)
    with localcontext() as ctx:
        ctx.prec = PRECISION
        r = annual_rate / Decimal(1200)
        if r == 0:
            exact = principal / tenure_months
        else:
            growth = (1 + r) ** tenure_months
            exact = principal * r * growth / (growth - 1)
        return quantize(exact)


@dataclass(frozen=True)
class ScheduleRow:
    """One monthly instalment of an amortization schedule.

    * ``seq``: 1-based instalment number.
    * ``due_on``: due date, ``add_months(start, seq)``.
    * ``principal``: principal part of the instalment (Decimal rupees, 2 places).
    * ``interest``: interest part, ``quantize(opening balance * r)`` (Decimal rupees).
    * ``installment``: ``principal + interest`` (Decimal rupees).
    * ``balance``: principal outstanding after this instalment (Decimal rupees, never negative).
    """

    seq: int
    due_on: date
    principal: Decimal
    interest: Decimal
    installment: Decimal
    balance: Decimal

    def as_dict(self) -> dict[str, int | str]:
        """JSON-friendly dict: ``seq`` int, ``due_on`` ISO date, amounts as plain strings ("11768.37")."""
        return {
            "seq": self.seq,
            "due_on": self.due_on.isoformat(),
            "principal": format(self.principal, "f"),
            "interest": format(self.interest, "f"),
            "installment": format(self.installment, "f"),
            "balance": format(self.balance, "f"),
        }


def amortization_schedule(
    principal: Decimal | int,
    annual_rate: Decimal | int,
    tenure_months: int,
    start: date,
    installment: Decimal | int | None = None,
) -> list[ScheduleRow]:
    """Monthly reducing-balance schedule of ``tenure_months`` rows (seed 003 EMI, STYLE.md rounding rule).

    * ``principal``: Decimal (or int) rupees, > 0, in whole paise (at most 2 decimal places).
    * ``annual_rate``: Decimal percent per annum, >= 0.
    * ``tenure_months``: int >= 1; the schedule always has exactly this many rows.
    * ``start``: disbursement date; row ``k`` (1-based) is due ``add_months(start, k)``.
    * ``installment``: the monthly payment; defaults to ``emi(principal, annual_rate, tenure_months)``.
      A caller may pass its own (e.g. the imported book's "Monthly payment"); it is rounded half-up to paise.

    For each row: ``interest = quantize(opening balance * r)``, ``principal part = installment - interest``
    capped at the opening balance, ``balance = opening - principal part``. The last row takes the whole
    remaining balance as its principal part (so a rounding remainder, or a too-small given installment, is
    absorbed there). Hence ``sum(row.principal) == principal`` exactly, the final balance is 0, every
    ``row.installment == row.principal + row.interest``, and balances never go negative. If a given
    installment pays the loan off early, the payoff row is smaller and the remaining rows are all zero.

    Raises ValueError for principal <= 0 or with fractions of a paisa, tenure_months < 1, annual_rate < 0,
    installment <= 0, or an installment smaller than the first month's interest (negative amortization is
    not supported); TypeError for floats.
    """
    principal, annual_rate, tenure_months = _validate_terms(principal, annual_rate, tenure_months)
    if quantize(principal) != principal:
        raise ValueError(f"principal must be a whole number of paise, got {principal}")
    if installment is None:
        payment = emi(principal, annual_rate, tenure_months)
    else:
        payment = quantize(_decimal(installment, "installment"))
        if payment <= 0:
            raise ValueError(f"installment must be positive, got {installment}")
    first_interest = _interest(principal, annual_rate)
    if payment < first_interest and tenure_months > 1:
        raise ValueError(
            f"installment {payment} does not cover the first month's interest {first_interest}; "
            "negative amortization is not supported"
        )

    rows: list[ScheduleRow] = []
    balance = principal
    for seq in range(1, tenure_months + 1):
        interest = _interest(balance, annual_rate)
        if seq == tenure_months:
            principal_part = balance
        else:
            principal_part = min(max(payment - interest, _ZERO), balance)
        balance = balance - principal_part
        rows.append(
            ScheduleRow(
                seq=seq,
                due_on=add_months(start, seq),
                principal=quantize(principal_part),
                interest=interest,
                installment=quantize(principal_part + interest),
                balance=quantize(balance),
            )
        )
    return rows


def _interest(balance: Decimal, annual_rate: Decimal) -> Decimal:
    """One month's interest ``balance * r`` (``r = annual_rate / 1200``), rounded half-up to the paisa.

    Multiplies before dividing so that an exact half paisa (e.g. 0.60 at 10 % -> 0.005) is seen as a tie and
    rounds up, instead of 0.00499... from a truncated ``r``.
    """
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return quantize(balance * annual_rate / Decimal(1200))


def schedule_totals(rows: Iterable[ScheduleRow]) -> dict[str, Decimal]:
    """Sum a schedule: ``{"principal": Decimal, "interest": Decimal, "total": Decimal}`` in rupees.

    ``total == principal + interest`` (the sum of the instalments). An empty iterable gives zeros ("0.00").
    """
    principal = _ZERO
    interest = _ZERO
    for row in rows:
        principal += row.principal
        interest += row.interest
    return {"principal": principal, "interest": interest, "total": principal + interest}
