"""The figures of a Key Facts Statement (RBI's KFS for retail and MSME loans): pure ``Decimal`` maths.

For a sanctioned amount, a fixed annual rate, a tenure and the product's processing fee:

* processing fee = fee rate x sanctioned amount, rounded to the paisa, at most the cap; deducted from the
  disbursement, so net amount disbursed = sanctioned amount - processing fee;
* EMI and the full amortization schedule (``schedule.amortization_schedule``: reducing balance, the rounding
  remainder on the last instalment);
* total interest = sum of the interest parts; total amount to be paid = sanctioned amount + total interest
  (= the sum of the instalments);
* APR from the net disbursement and the instalments (``apr.annual_percentage_rate``).

The schedule's due dates count from ``start_on`` (the disbursement date); the KFS shows instalment numbers
("one month after disbursement, then monthly") because the disbursement happens on acceptance.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from portal.lending.apr import Apr, annual_percentage_rate
from portal.lending.schedule import ScheduleRow, amortization_schedule
from portal.money import as_decimal, quantize

__all__ = ["KeyFacts", "key_facts", "processing_fee"]


def processing_fee(amount: Decimal | int, fee_rate: Decimal | int, cap: Decimal | int | None) -> Decimal:
    """``fee_rate`` percent of ``amount`` rounded half-up to the paisa, at most ``cap`` (None: no cap).
    ValueError for a negative rate or cap; TypeError for floats."""
    amount, fee_rate = as_decimal(amount, "amount"), as_decimal(fee_rate, "fee_rate")
    if fee_rate < 0:
        raise ValueError(f"fee_rate must not be negative, got {fee_rate}")
    fee = quantize(amount * fee_rate / 100)
    if cap is not None:
        cap = as_decimal(cap, "cap")
        if cap < 0:
            raise ValueError(f"cap must not be negative, got {cap}")
        fee = min(fee, quantize(cap))
    return fee


@dataclass(frozen=True)
class KeyFacts:
    """The figures of one KFS (rupees, % p.a., months)."""

    amount: Decimal
    annual_rate: Decimal
    tenure: int
    processing_fee: Decimal
    net_disbursed: Decimal
    emi: Decimal
    schedule: tuple[ScheduleRow, ...]
    total_interest: Decimal
    total_payable: Decimal
    apr: Apr


def key_facts(amount: Decimal | int, annual_rate: Decimal | int, tenure: int, *, fee_rate: Decimal | int,
              fee_cap: Decimal | int | None, start_on: date) -> KeyFacts:
    """The KFS figures of a loan of ``amount`` at ``annual_rate`` % p.a. (fixed) over ``tenure`` months, with a
    processing fee of ``fee_rate`` % capped at ``fee_cap``, disbursed on ``start_on``.

    Raises ValueError when the fee would swallow the whole amount, and the errors of the schedule."""
    amount = quantize(as_decimal(amount, "amount"))
    rows = tuple(amortization_schedule(amount, annual_rate, tenure, start_on))
    fee = processing_fee(amount, fee_rate, fee_cap)
    net = amount - fee
    if net <= 0:
        raise ValueError("the processing fee must be less than the sanctioned amount")
    total_interest = sum((r.interest for r in rows), Decimal("0.00"))
    instalments = [r.installment for r in rows]
    return KeyFacts(amount=amount, annual_rate=as_decimal(annual_rate, "annual_rate"), tenure=tenure,
                    processing_fee=fee, net_disbursed=net, emi=rows[0].installment, schedule=rows,
                    total_interest=total_interest, total_payable=sum(instalments, Decimal("0.00")),
                    apr=annual_percentage_rate(net, instalments))
