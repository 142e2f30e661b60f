"""Annual percentage rate (APR) of a loan for the Key Facts Statement (RBI, KFS for retail and MSME loans).

Pure ``Decimal`` maths, no Flask, no SQLAlchemy.

The APR is the annualised internal rate of return (IRR) of the borrower's cash flows: the net amount disbursed
(the sanctioned amount less the fees deducted at disbursement) paid out at month 0, and the instalments paid
back at months 1..n. The monthly IRR ``r`` solves

    net_disbursed = sum(instalment_k / (1 + r) ** k  for k = 1..n)

and is found by bisection (the present value falls as ``r`` rises, so the root is unique) to far below a
paisa. Two annualisations are reported, each rounded half-up to two decimals of a percent:

* ``apr`` = 12 x monthly IRR (the nominal annual rate: the convention of the instalment rate itself, so a loan
  without fees has an APR equal to its interest rate). This is the APR the portal shows and stores.
* ``effective_annual_rate`` = (1 + monthly IRR) ** 12 - 1 (compounded), shown beside it for reference.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from portal.money import as_decimal

__all__ = ["APR_METHOD", "Apr", "annual_percentage_rate", "monthly_irr"]

PRECISION = 50
TOLERANCE = Decimal("1e-24")
MAX_ITERATIONS = 400
_HUNDREDTH = Decimal("0.01")

APR_METHOD = ("APR = 12 x the monthly internal rate of return of the net amount disbursed (paid out at the "
              "start) and the instalments (paid back monthly), rounded to two decimals; the compounded "
              "equivalent (1 + monthly IRR)^12 - 1 is shown as the effective annual rate.")


@dataclass(frozen=True)
class Apr:
    """``monthly_irr`` (a fraction, full precision); ``apr`` and ``effective_annual_rate`` in percent per
    annum rounded half-up to two decimals; ``method`` says how."""

    monthly_irr: Decimal
    apr: Decimal
    effective_annual_rate: Decimal
    method: str = APR_METHOD


def _present_value(rate: Decimal, flows: Sequence[Decimal]) -> Decimal:
    """Present value at month 0 of ``flows`` received at months 1..n, discounted at ``rate`` per month."""
    factor = Decimal(1) / (Decimal(1) + rate)
    discount, total = Decimal(1), Decimal(0)
    for amount in flows:
        discount *= factor
        total += amount * discount
    return total


def monthly_irr(net_disbursed: Decimal | int, instalments: Sequence[Decimal | int]) -> Decimal:
    """The monthly IRR of paying out ``net_disbursed`` at month 0 and receiving ``instalments`` at months
    1..n, as a fraction (``Decimal("0.0125")`` is 1.25 % a month).

    Raises ValueError when ``net_disbursed`` is not positive, there is no instalment, an instalment is
    negative or all are zero; TypeError for floats.
    """
    outflow = as_decimal(net_disbursed, "net_disbursed")
    flows = [as_decimal(x, "instalment") for x in instalments]
    if outflow <= 0:
        raise ValueError(f"net_disbursed must be positive, got {outflow}")
    if not flows:
        raise ValueError("at least one instalment is needed")
    if any(x < 0 for x in flows):
        raise ValueError("instalments must not be negative")
    if sum(flows) <= 0:
        raise ValueError("the instalments must repay something")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        # f(r) = PV(r) - outflow falls strictly as r rises on (-1, inf): bracket the root, then bisect.
        low, high = Decimal("-0.5"), Decimal("0.1")
        while _present_value(low, flows) < outflow:  # the root is below low (instalments repay less than lent)
            low = (low - 1) / 2  # towards -1
            if low <= Decimal("-0.999999"):
                raise ValueError("the instalments repay far less than the amount lent: no meaningful IRR")
        while _present_value(high, flows) > outflow:
            high *= 2
            if high > 1000:
                raise ValueError("no IRR below 100,000 % a month")
        for _ in range(MAX_ITERATIONS):
            mid = (low + high) / 2
            if _present_value(mid, flows) > outflow:
                low = mid
            else:
                high = mid
            if high - low < TOLERANCE:
                break
        return (low + high) / 2


def annual_percentage_rate(net_disbursed: Decimal | int, instalments: Sequence[Decimal | int]) -> Apr:
    """APR of a loan that pays out ``net_disbursed`` and is repaid by monthly ``instalments`` (see the module
    docstring for the method). Same errors as ``monthly_irr``."""
    r = monthly_irr(net_disbursed, instalments)
    with localcontext() as ctx:
        ctx.prec = PRECISION
        nominal = (r * 12 * 100).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)
        effective = (((1 + r) ** 12 - 1) * 100).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)
    return Apr(monthly_irr=r, apr=nominal, effective_annual_rate=effective)
