"""Unit tests for portal.lending.schedule (pure EMI / amortization math, seed 003)."""
from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.lending.schedule import (
    ScheduleRow,
    add_months,
    amortization_schedule,
    emi,
    monthly_rate,
    schedule_totals,
)
from portal.money import quantize

D = Decimal


# ------------------------------------------------------------------------------------------------ add_months


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2024, 1, 31), 1, date(2024, 2, 29)),  # leap year: clamp to Feb 29
        (date(2025, 1, 31), 1, date(2025, 2, 28)),  # common year: clamp to Feb 28
        (date(2025, 1, 31), 2, date(2025, 3, 31)),  # computed from the start, not chained
        (date(2025, 1, 31), 3, date(2025, 4, 30)),
        (date(2025, 8, 31), 1, date(2025, 9, 30)),
        (date(2025, 1, 15), 0, date(2025, 1, 15)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),  # year roll-over
        (date(2025, 1, 31), 13, date(2026, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2024, 2, 29), 48, date(2028, 2, 29)),
        (date(2025, 3, 31), -1, date(2025, 2, 28)),  # negative months
        (date(2025, 1, 1), -1, date(2024, 12, 1)),
        (date(2025, 5, 31), -12, date(2024, 5, 31)),
        (date(2025, 1, 10), 240, date(2045, 1, 10)),
    ],
)
def test_add_months_golden(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


def test_add_months_rejects_non_int_and_out_of_range() -> None:
    with pytest.raises(TypeError):
        add_months(date(2025, 1, 1), 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        add_months(date(2025, 1, 1), True)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        add_months(date(9999, 12, 1), 1)
    with pytest.raises(ValueError):
        add_months(date(1, 1, 1), -1)


@given(
    start=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
    months=st.integers(min_value=-1200, max_value=1200),
)
def test_add_months_properties(start: date, months: int) -> None:
    result = add_months(start, months)
    # exactly ``months`` calendar months apart
    assert (result.year * 12 + result.month) - (start.year * 12 + start.month) == months
    # the day is kept, or clamped to the month end
    assert result.day <= start.day
    if result.day < start.day:  # clamped: the result is the last day of its month
        assert date.fromordinal(result.toordinal() + 1).day == 1


# ------------------------------------------------------------------------------------------------ emi


@pytest.mark.parametrize(
    ("principal", "rate", "months", "expected"),
    [
        (D("250000"), D("12"), 24, D("11768.37")),  # seed 003 / DESIGN.md section 5
        (D("100000"), D("12"), 12, D("8884.88")),  # seed 003 / DESIGN.md section 5
        (D("12000"), D("0"), 12, D("1000.00")),  # 0 % -> P / n
        (D("1000000"), D("10"), 240, D("9650.22")),  # textbook home loan: 10 lakh at 10 % for 20 years
        (D("500000"), D("9"), 60, D("10379.18")),
        (D("100000"), D("10"), 1, D("100833.33")),  # one month: P * (1 + r)
        (D("100"), D("0"), 3, D("33.33")),  # 0 %: rounding remainder left for the schedule
        (D("200"), D("0"), 3, D("66.67")),  # 0 %: half-up to the paisa
        (250000, 12, 24, D("11768.37")),  # ints are exact, accepted
        (D("250000.00"), D("12.00"), 24, D("11768.37")),
    ],
)
def test_emi_golden(principal: Decimal, rate: Decimal, months: int, expected: Decimal) -> None:
    result = emi(principal, rate, months)
    assert result == expected
    assert isinstance(result, Decimal)
    assert result.as_tuple().exponent == -2  # always two places


@pytest.mark.parametrize(
    ("principal", "rate", "months"),
    [
        (D("0"), D("12"), 12),
        (D("-1"), D("12"), 12),
        (D("1000"), D("12"), 0),
        (D("1000"), D("12"), -3),
        (D("1000"), D("-0.01"), 12),
        (D("NaN"), D("12"), 12),
        (D("Infinity"), D("12"), 12),
    ],
)
def test_emi_rejects_bad_terms(principal: Decimal, rate: Decimal, months: int) -> None:
    with pytest.raises(ValueError):
        emi(principal, rate, months)


@pytest.mark.parametrize(
    ("principal", "rate", "months"),
    [
        (250000.0, D("12"), 24),
        (D("250000"), 12.0, 24),
        (D("250000"), D("12"), 24.0),
        (D("250000"), D("12"), True),
        ("250000", D("12"), 24),
    ],
)
def test_emi_rejects_floats_and_other_types(principal, rate, months) -> None:
    with pytest.raises(TypeError):
        emi(principal, rate, months)


def test_monthly_rate() -> None:
    assert monthly_rate(D("12")) == D("0.01")
    assert monthly_rate(0) == 0
    assert abs(monthly_rate(D("10")) * 1200 - 10) < D("1e-35")  # 40 significant digits
    with pytest.raises(ValueError):
        monthly_rate(D("-1"))


@given(
    principal=st.integers(min_value=1, max_value=10**10).map(lambda paise: D(paise) / 100),
    rate_bp=st.integers(min_value=1, max_value=3600),
    months=st.integers(min_value=1, max_value=360),
)
def test_emi_lies_between_interest_only_and_full_principal(
    principal: Decimal, rate_bp: int, months: int
) -> None:
    rate = D(rate_bp) / 100
    result = emi(principal, rate, months)
    r = rate / 1200
    # an EMI pays at least the first month's interest and at least an even share of principal
    assert result >= quantize(principal * r)
    assert result >= quantize(principal / months)
    # and never more than principal plus a full month's interest (the 1-month case)
    assert result <= quantize(principal * (1 + r))


# ------------------------------------------------------------------------------------------------ schedule


def test_schedule_golden_250000_at_12_for_24() -> None:
    rows = amortization_schedule(D("250000"), D("12"), 24, date(2025, 1, 31))
    assert len(rows) == 24
    assert rows[0] == ScheduleRow(
        seq=1,
        due_on=date(2025, 2, 28),
        principal=D("9268.37"),
        interest=D("2500.00"),
        installment=D("11768.37"),
        balance=D("240731.63"),
    )
    assert rows[1].interest == D("2407.32")  # 1 % of 240731.63, half-up
    assert [row.due_on for row in rows[:4]] == [
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
        date(2025, 5, 31),
    ]
    assert all(row.installment == D("11768.37") for row in rows[:-1])
    # the rounding remainder lands on the last instalment
    assert rows[-1] == ScheduleRow(
        seq=24,
        due_on=date(2027, 1, 31),
        principal=D("11651.81"),
        interest=D("116.52"),
        installment=D("11768.33"),
        balance=D("0.00"),
    )
    assert schedule_totals(rows) == {
        "principal": D("250000.00"),
        "interest": D("32440.84"),
        "total": D("282440.84"),
    }


def test_schedule_golden_zero_rate_puts_remainder_last() -> None:
    rows = amortization_schedule(D("100"), D("0"), 3, date(2025, 1, 1))
    assert [(r.principal, r.interest, r.installment, r.balance) for r in rows] == [
        (D("33.33"), D("0.00"), D("33.33"), D("66.67")),
        (D("33.33"), D("0.00"), D("33.33"), D("33.34")),
        (D("33.34"), D("0.00"), D("33.34"), D("0.00")),
    ]


def test_schedule_golden_12000_at_zero_rate() -> None:
    rows = amortization_schedule(D("12000"), D("0"), 12, date(2025, 1, 1))
    assert {row.installment for row in rows} == {D("1000.00")}
    assert rows[-1].balance == 0
    assert schedule_totals(rows)["interest"] == 0


def test_schedule_single_month() -> None:
    rows = amortization_schedule(D("100000"), D("12"), 1, date(2025, 3, 15))
    assert rows == [
        ScheduleRow(1, date(2025, 4, 15), D("100000.00"), D("1000.00"), D("101000.00"), D("0.00"))
    ]


def test_schedule_given_installment_pays_off_early() -> None:
    rows = amortization_schedule(D("100000"), D("12"), 12, date(2025, 1, 31), installment=D("20000"))
    assert len(rows) == 12
    assert [row.installment for row in rows[:5]] == [D("20000.00")] * 5
    payoff = rows[5]
    assert payoff.principal == D("3080.90")
    assert payoff.interest == D("30.81")
    assert payoff.installment == D("3111.71")
    assert payoff.balance == 0
    for row in rows[6:]:
        assert (row.principal, row.interest, row.installment, row.balance) == (0, 0, 0, 0)
    assert schedule_totals(rows)["principal"] == D("100000.00")


def test_schedule_given_small_installment_is_absorbed_by_last_row() -> None:
    # 1,000 a month barely beats the 1 % monthly interest on 1,00,000: the last row takes the rest
    rows = amortization_schedule(D("100000"), D("12"), 12, date(2025, 1, 1), installment=D("1000.00"))
    assert all(row.principal == 0 and row.installment == D("1000.00") for row in rows[:-1])
    assert rows[-1].principal == D("100000.00")
    assert rows[-1].installment == D("101000.00")
    assert rows[-1].balance == 0


def test_schedule_interest_half_paisa_rounds_up() -> None:
    # 0.60 at 10 % p.a. is exactly half a paisa of interest a month: half-up gives 0.01, not 0.00
    rows = amortization_schedule(D("0.60"), D("10"), 2, date(2025, 1, 1), installment=D("0.31"))
    assert rows[0].interest == D("0.01")
    assert rows[0].principal == D("0.30")


def test_schedule_given_installment_is_rounded_to_paisa() -> None:
    rows = amortization_schedule(D("1000"), D("0"), 4, date(2025, 1, 1), installment=D("250.005"))
    assert rows[0].installment == D("250.01")
    assert schedule_totals(rows)["principal"] == D("1000.00")


def test_schedule_given_installment_matching_emi_equals_default() -> None:
    start = date(2025, 1, 1)
    assert amortization_schedule(D("250000"), D("12"), 24, start, installment=D("11768.37")) == (
        amortization_schedule(D("250000"), D("12"), 24, start)
    )


@pytest.mark.parametrize(
    ("principal", "rate", "months", "installment"),
    [
        (D("0"), D("12"), 12, None),
        (D("-100"), D("12"), 12, None),
        (D("100.001"), D("12"), 12, None),  # fractions of a paisa cannot be amortized exactly
        (D("1000"), D("12"), 0, None),
        (D("1000"), D("-1"), 12, None),
        (D("1000"), D("12"), 12, D("0")),
        (D("1000"), D("12"), 12, D("-5")),
        (D("100000"), D("12"), 12, D("999.99")),  # below the first month's interest of 1,000
    ],
)
def test_schedule_rejects_bad_terms(principal, rate, months, installment) -> None:
    with pytest.raises(ValueError):
        amortization_schedule(principal, rate, months, date(2025, 1, 1), installment=installment)


def test_schedule_rejects_float_installment() -> None:
    with pytest.raises(TypeError):
        amortization_schedule(D("1000"), D("12"), 12, date(2025, 1, 1), installment=100.0)


def test_schedule_row_as_dict_and_frozen() -> None:
    row = amortization_schedule(D("250000"), D("12"), 24, date(2025, 1, 31))[0]
    assert row.as_dict() == {
        "seq": 1,
        "due_on": "2025-02-28",
        "principal": "9268.37",
        "interest": "2500.00",
        "installment": "11768.37",
        "balance": "240731.63",
    }
    zero = ScheduleRow(7, date(2025, 8, 31), D("0.00"), D("0.00"), D("0.00"), D("0.00"))
    assert zero.as_dict()["balance"] == "0.00"
    with pytest.raises(FrozenInstanceError):
        row.balance = D("1")  # type: ignore[misc]


def test_schedule_totals_empty() -> None:
    assert schedule_totals([]) == {"principal": 0, "interest": 0, "total": 0}
    assert schedule_totals(iter([]))["total"] == D("0.00")


# ------------------------------------------------------------------------------------------------ properties

principals = st.integers(min_value=1, max_value=10**10).map(lambda paise: D(paise) / 100)  # up to 10 crore
rates = st.integers(min_value=0, max_value=3600).map(lambda bp: D(bp) / 100)  # 0 .. 36 % p.a.
tenures = st.integers(min_value=1, max_value=360)
starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


def _assert_schedule_invariants(
    rows: list[ScheduleRow], principal: Decimal, months: int, start: date
) -> None:
    assert len(rows) == months
    assert [row.seq for row in rows] == list(range(1, months + 1))
    assert all(row.due_on == add_months(start, row.seq) for row in rows)
    assert sum(row.principal for row in rows) == principal  # exact, not approximately
    assert rows[-1].balance == 0
    opening = principal
    for row in rows:
        assert row.principal >= 0
        assert row.interest >= 0
        assert row.balance >= 0
        assert row.installment == row.principal + row.interest
        assert row.balance == opening - row.principal
        assert row.balance <= opening
        for amount in (row.principal, row.interest, row.installment, row.balance):
            assert amount == quantize(amount)
        opening = row.balance
    totals = schedule_totals(rows)
    assert totals["principal"] == principal
    assert totals["total"] == sum(row.installment for row in rows)
    assert totals["total"] == principal + totals["interest"]


@settings(max_examples=300, deadline=None)
@given(principal=principals, rate=rates, months=tenures, start=starts)
def test_schedule_invariants_default_installment(principal, rate, months, start) -> None:
    rows = amortization_schedule(principal, rate, months, start)
    _assert_schedule_invariants(rows, principal, months, start)
    payment = emi(principal, rate, months)
    assert all(row.installment == payment for row in rows[:-1] if row.balance > 0)


@settings(max_examples=200, deadline=None)
@given(
    principal=principals,
    rate_bp=st.integers(min_value=1, max_value=2400),
    months=st.integers(min_value=1, max_value=120),
    start=starts,
)
def test_last_installment_differs_from_emi_only_by_rounding(principal, rate_bp, months, start) -> None:
    rate = D(rate_bp) / 100
    rows = amortization_schedule(principal, rate, months, start)
    payment = emi(principal, rate, months)
    r = rate / 1200
    # each month can be off by at most a paisa (EMI rounding + interest rounding), compounded at r
    bound = D("0.01") * (((1 + r) ** months - 1) / r) + D("0.01")
    assert abs(rows[-1].installment - payment) <= bound


@settings(max_examples=200, deadline=None)
@given(principal=principals, months=tenures, start=starts)
def test_zero_rate_schedule(principal, months, start) -> None:
    rows = amortization_schedule(principal, D("0"), months, start)
    _assert_schedule_invariants(rows, principal, months, start)
    assert all(row.interest == 0 for row in rows)
    share = quantize(principal / months)
    # every row is P/n except that the last one absorbs the rounding remainder (possibly zero)
    assert all(row.installment == min(share, row.principal + row.balance) for row in rows[:-1])
    assert schedule_totals(rows)["total"] == principal


@settings(max_examples=300, deadline=None)
@given(
    principal=principals,
    rate=rates,
    months=tenures,
    start=starts,
    multiplier=st.integers(min_value=0, max_value=300),
)
def test_schedule_invariants_given_installment(principal, rate, months, start, multiplier) -> None:
    # any payment from the first month's interest up to ~3x the EMI
    first_interest = quantize(principal * rate / 1200)
    payment = max(first_interest, D("0.01")) + emi(principal, rate, months) * multiplier / 100
    rows = amortization_schedule(principal, rate, months, start, installment=payment)
    _assert_schedule_invariants(rows, principal, months, start)
    paid_off = False
    for row in rows:
        if paid_off:
            assert row.principal == row.interest == row.installment == row.balance == 0
        paid_off = paid_off or row.balance == 0
        if row.seq < months:
            assert row.installment <= quantize(payment)
