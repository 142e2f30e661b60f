"""The pure DPD bucket and promise rules (portal/delinquency/aging.py): no database."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from portal.delinquency import aging
from portal.servicing.cob import asset_class_for


@pytest.mark.parametrize(("dpd", "bucket"), [
    (0, None), (1, "sma_0"), (30, "sma_0"), (31, "sma_1"), (60, "sma_1"), (61, "sma_2"), (90, "sma_2"),
    (91, "npa"), (400, "npa"),
])
def test_bucket_boundaries(dpd, bucket):
    found = aging.bucket_for_dpd(dpd)
    assert (found.code if found else None) == bucket


def test_buckets_agree_with_the_close_of_business_classes():
    for dpd in range(0, 200):
        found = aging.bucket_for_dpd(dpd)
        assert (found.code if found else "standard") == asset_class_for(dpd)


def test_negative_dpd_is_refused():
    with pytest.raises(ValueError):
        aging.bucket_for_dpd(-1)


def test_labels_ranges_and_class_lookup():
    assert [(b.label, b.dpd_range) for b in aging.BUCKETS] == [
        ("SMA-0", "1-30"), ("SMA-1", "31-60"), ("SMA-2", "61-90"), ("NPA", "90+")]
    assert aging.bucket_for_class("npa").label == "NPA"
    assert aging.bucket_for_class("standard") is None and aging.bucket_for_class(None) is None


def test_bucket_totals_fill_missing_buckets_with_zero_and_drop_standard():
    totals = aging.bucket_totals({"sma_1": (2, Decimal("10.00"), Decimal("12.00")),
                                  "standard": (9, Decimal("1.00"), Decimal("1.00"))})
    assert [(t.bucket.code, t.loans, t.outstanding) for t in totals] == [
        ("sma_0", 0, Decimal("0.00")), ("sma_1", 2, Decimal("12.00")), ("sma_2", 0, Decimal("0.00")),
        ("npa", 0, Decimal("0.00"))]


BY = date(2026, 12, 1)


@pytest.mark.parametrize(("paid", "as_of", "outcome"), [
    ("5000.00", date(2026, 11, 25), "kept"),     # covered before the date
    ("6000.00", BY, "kept"),                     # more than promised
    ("4999.99", BY, "open"),                     # the promised date itself: still time
    ("4999.99", date(2026, 12, 2), "broken"),    # the date passed, a paisa short
    ("0.00", date(2026, 12, 2), "broken"),
    ("5000.00", date(2026, 12, 9), "kept"),      # evaluated late, but covered (up to the date)
])
def test_promise_outcome(paid, as_of, outcome):
    assert aging.promise_outcome(Decimal("5000.00"), Decimal(paid), BY, as_of) == outcome
