"""KFS figures and the APR (pure): the APR against numpy-financial's ``irr``, the processing fee cap, totals."""
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy_financial as npf
import pytest

from portal.lending.apr import annual_percentage_rate, monthly_irr
from portal.lending.kfs import key_facts, processing_fee
from portal.lending.schedule import amortization_schedule, emi
from portal.lending.sla import add_business_days, ageing

START = date(2026, 11, 23)


def npf_apr(net: Decimal, instalments: list[Decimal]) -> tuple[Decimal, Decimal]:
    """(12 x IRR, (1 + IRR)^12 - 1) in percent to two decimals, from numpy-financial's float ``irr``."""
    r = npf.irr([-float(net)] + [float(x) for x in instalments])
    nominal = Decimal(repr(r * 12 * 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    effective = Decimal(repr(((1 + r) ** 12 - 1) * 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return nominal, effective


@pytest.mark.parametrize(("amount", "rate", "tenure", "fee_rate", "cap"), [
    ("250000", "14", 24, "1", "10000"),       # the standard term loan: fee 2,500
    ("100000", "12", 12, "2", None),          # seed 003 example terms with a 2 % fee
    ("5000000", "10.5", 120, "1", "10000"),   # the cap binds: fee 10,000 not 50,000
    ("12000", "0", 12, "1.5", "10000"),       # 0 % loan: the fee alone makes the APR
    ("75000", "16", 36, "0", "10000"),        # no fee: APR = the rate
    ("333333.33", "13.75", 60, "1.25", "3000"),
])
def test_apr_matches_numpy_financial_irr(amount, rate, tenure, fee_rate, cap):
    facts = key_facts(Decimal(amount), Decimal(rate), tenure, fee_rate=Decimal(fee_rate),
                      fee_cap=Decimal(cap) if cap else None, start_on=START)
    instalments = [r.installment for r in facts.schedule]
    nominal, effective = npf_apr(facts.net_disbursed, instalments)
    assert facts.apr.apr == nominal
    assert facts.apr.effective_annual_rate == effective
    flows = [-float(facts.net_disbursed)] + [float(x) for x in instalments]
    assert abs(float(facts.apr.monthly_irr) - npf.irr(flows)) < 1e-9


def test_kfs_figures_add_up():
    facts = key_facts(Decimal("250000"), Decimal("14"), 24, fee_rate=Decimal("1"), fee_cap=Decimal("10000"),
                      start_on=START)
    assert facts.processing_fee == Decimal("2500.00")
    assert facts.net_disbursed == Decimal("247500.00")
    assert facts.emi == emi(Decimal("250000"), Decimal("14"), 24) == Decimal("12003.22")
    assert len(facts.schedule) == 24
    assert sum(r.principal for r in facts.schedule) == Decimal("250000.00")
    assert facts.total_interest == sum(r.interest for r in facts.schedule)
    assert facts.total_payable == facts.amount + facts.total_interest == sum(r.installment for r in facts.schedule)
    assert facts.apr.apr == Decimal("15.02")  # 14 % plus the fee, annualised as 12 x the monthly IRR
    assert facts.apr.apr > facts.annual_rate


def test_apr_without_fees_equals_the_rate():
    rows = amortization_schedule(Decimal("100000"), Decimal("12"), 12, START)
    assert annual_percentage_rate(Decimal("100000"), [r.installment for r in rows]).apr == Decimal("12.00")


@pytest.mark.parametrize(("amount", "rate", "cap", "fee"), [
    ("250000", "1", "10000", "2500.00"), ("5000000", "1", "10000", "10000.00"), ("12345.67", "1", None, "123.46"),
    ("100000", "0", "10000", "0.00"),
])
def test_processing_fee_is_rounded_and_capped(amount, rate, cap, fee):
    assert processing_fee(Decimal(amount), Decimal(rate), Decimal(cap) if cap else None) == Decimal(fee)


def test_bad_inputs_are_refused():
    with pytest.raises(TypeError):
        monthly_irr(1000.0, [Decimal("100")])
    with pytest.raises(ValueError):
        monthly_irr(Decimal("0"), [Decimal("100")])
    with pytest.raises(ValueError):
        monthly_irr(Decimal("100"), [])
    with pytest.raises(ValueError):
        key_facts(Decimal("100"), Decimal("12"), 12, fee_rate=Decimal("100"), fee_cap=None, start_on=START)
    with pytest.raises(ValueError):
        processing_fee(Decimal("100"), Decimal("-1"), None)


def test_irr_below_zero_when_less_comes_back():
    assert monthly_irr(Decimal("1200"), [Decimal("100")] * 11) < 0


# ---- review SLA -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "days", "due"), [
    (datetime(2026, 11, 23, 4, 30, tzinfo=UTC), 2, datetime(2026, 11, 25, 4, 30, tzinfo=UTC)),   # Mon -> Wed
    (datetime(2026, 11, 26, 4, 30, tzinfo=UTC), 2, datetime(2026, 11, 30, 4, 30, tzinfo=UTC)),   # Thu -> Mon
    (datetime(2026, 11, 27, 12, 0, tzinfo=UTC), 1, datetime(2026, 11, 30, 12, 0, tzinfo=UTC)),   # Fri -> Mon
    (datetime(2026, 11, 28, 6, 0, tzinfo=UTC), 2, datetime(2026, 12, 1, 18, 30, tzinfo=UTC)),    # Sat -> Tue 00:00 IST
])
def test_sla_counts_business_days(start, days, due):
    assert add_business_days(start, days) == due


def test_ageing_states():
    due = datetime(2026, 11, 25, 4, 30, tzinfo=UTC)
    assert ageing(due, datetime(2026, 11, 23, 4, 30, tzinfo=UTC), sla_hours=48).state == "on_track"
    soon = ageing(due, datetime(2026, 11, 25, 0, 0, tzinfo=UTC), sla_hours=48)
    assert soon.state == "due_soon" and soon.label == "Due in 4h"
    late = ageing(due, datetime(2026, 11, 26, 6, 30, tzinfo=UTC), sla_hours=48)
    assert late.state == "overdue" and late.label == "Overdue 1d 2h"
