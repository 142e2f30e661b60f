"""Pure delinquency math: the DPD buckets of the collections queue and the outcome of a promise to pay.
No Flask, no SQLAlchemy: plain ints, dates and Decimal rupees.

DPD buckets (RBI IRAC, DESIGN.md section 4; the same thresholds as ``portal.servicing.cob.asset_class_for``):

    bucket   DPD      asset class stored by the close of business
    SMA-0    1-30     sma_0
    SMA-1    31-60    sma_1
    SMA-2    61-90    sma_2
    NPA      > 90     npa   (also every loan of a borrower with one NPA loan, whatever its own DPD)

The queue groups loans by the class the close of business stored on the loan (``loans.asset_class``), not by
recomputing it from DPD, because NPA is borrower-wide and upgraded only when all arrears are paid.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Bucket:
    """One DPD bucket: ``code`` is the stored asset class, ``low``..``high`` the DPD range (``high`` None:
    unbounded), ``rank`` orders the buckets from the least to the most delinquent."""

    code: str
    label: str
    low: int
    high: int | None
    rank: int

    @property
    def dpd_range(self) -> str:
        """``"1-30"`` or ``"90+"`` (days past due)."""
        return f"{self.low - 1}+" if self.high is None else f"{self.low}-{self.high}"


BUCKETS: tuple[Bucket, ...] = (
    Bucket("sma_0", "SMA-0", 1, 30, 0),
    Bucket("sma_1", "SMA-1", 31, 60, 1),
    Bucket("sma_2", "SMA-2", 61, 90, 2),
    Bucket("npa", "NPA", 91, None, 3),
)
BY_CODE: dict[str, Bucket] = {b.code: b for b in BUCKETS}
BUCKET_CODES: tuple[str, ...] = tuple(b.code for b in BUCKETS)


def bucket_for_dpd(dpd: int) -> Bucket | None:
    """The bucket of ``dpd`` days past due (None for 0: a standard loan is not in the queue).
    ValueError for a negative DPD."""
    if dpd < 0:
        raise ValueError(f"days past due cannot be negative, got {dpd}")
    for bucket in BUCKETS:
        if dpd >= bucket.low and (bucket.high is None or dpd <= bucket.high):
            return bucket
    return None


def bucket_for_class(asset_class: str | None) -> Bucket | None:
    """The bucket of a stored asset class (None for ``standard`` or an unknown class)."""
    return BY_CODE.get(asset_class or "")


@dataclass(frozen=True)
class BucketTotal:
    """Loans in one bucket and what they owe (Decimal rupees)."""

    bucket: Bucket
    loans: int
    principal: Decimal
    outstanding: Decimal  # principal + interest receivable


def bucket_totals(rows: dict[str, tuple[int, Decimal, Decimal]]) -> list[BucketTotal]:
    """Every bucket in order from ``{asset_class: (loans, principal, outstanding)}``; missing buckets are zero
    and classes that are not buckets (standard) are left out."""
    zero = Decimal("0.00")
    return [BucketTotal(b, *rows.get(b.code, (0, zero, zero))) for b in BUCKETS]


PROMISE_OPEN, PROMISE_KEPT, PROMISE_BROKEN = "open", "kept", "broken"


def promise_outcome(promised_amount: Decimal, paid: Decimal, promised_on: date, as_of: date) -> str:
    """The status of a promise to pay ``promised_amount`` rupees by business date ``promised_on``, seen on
    business date ``as_of``, when payments received since the promise was made and up to ``promised_on`` come
    to ``paid`` rupees: ``kept`` once they cover the amount, ``broken`` when ``promised_on`` has passed
    (``as_of`` after it) without that, else ``open``."""
    if paid >= promised_amount:
        return PROMISE_KEPT
    if as_of > promised_on:
        return PROMISE_BROKEN
    return PROMISE_OPEN


__all__ = ["BUCKETS", "BUCKET_CODES", "BY_CODE", "Bucket", "BucketTotal", "PROMISE_BROKEN", "PROMISE_KEPT",
           "PROMISE_OPEN", "bucket_for_class", "bucket_for_dpd", "bucket_totals", "promise_outcome"]
