"""Unit tests for the interest methods, day counts, repayment frequencies and prepayment regeneration of
portal.lending.schedule (issue 5 item 1). The seed 003 behaviour itself is covered by test_schedule.py."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from portal.lending.schedule import (
    DAY_COUNTS,
    FREQUENCIES,
    METHODS,
    PERIODS_PER_YEAR,
    ScheduleRow,
    amortization_schedule,
    due_date,
    emi,
    flat_interest,
    periodic_rate,
    regenerate_after_prepayment,
    schedule_totals,
)
from portal.money import quantize

D = Decimal
START = date(2025, 1, 1)
COMBOS = [(m, dc, f) for m in METHODS for dc in DAY_COUNTS for f in FREQUENCIES]


def _combo_id(combo: tuple[str, str, str]) -> str:
    return "-".join(combo)


# ------------------------------------------------------------------------------------------------ goldens


def test_fineract_100_at_7_percent_for_6_months() -> None:
    # Apache Fineract's published declining-balance case (30/360, equal instalments)
    rows = amortization_schedule(D("100"), D("7"), 6, START, method="emi", day_count="30/360")
    assert emi(D("100"), D("7"), 6) == D("17.01")
    assert [row.installment for row in rows] == [D("17.01")] * 5 + [D("17.00")]
    assert [row.interest for row in rows] == [D(x) for x in ("0.58", "0.49", "0.39", "0.29", "0.20", "0.10")]
    assert schedule_totals(rows) == {"principal": D("100.00"), "interest": D("2.05"), "total": D("102.05")}


def test_fineract_100_at_9_4822_percent_for_6_months() -> None:
    rows = amortization_schedule(D("100"), D("9.4822"), 6, START)
    assert emi(D("100"), D("9.4822"), 6) == D("17.13")
    assert [row.interest for row in rows] == [D(x) for x in ("0.79", "0.66", "0.53", "0.40", "0.27", "0.13")]
    assert {row.installment for row in rows} == {D("17.13")}
    assert rows[-1].balance == 0


@pytest.mark.parametrize(
    ("principal", "rate", "months", "expected"),
    [
        (D("250000"), D("12"), 24, D("11768.37")),
        (D("100000"), D("12"), 12, D("8884.88")),
        (D("12000"), D("0"), 12, D("1000.00")),
    ],
)
def test_seed_003_goldens_with_explicit_defaults(principal, rate, months, expected) -> None:
    explicit = amortization_schedule(principal, rate, months, START, method="emi", day_count="30/360",
                                     frequency="monthly")
    assert explicit == amortization_schedule(principal, rate, months, START)
    assert explicit[0].installment == expected
    assert emi(principal, rate, months, frequency="monthly") == expected


def test_flat_golden() -> None:
    # 100 at 7 % flat for 6 months: 100 * 7 % * 6/12 = 3.50 of interest, 0.58 a month, remainder last
    rows = amortization_schedule(D("100"), D("7"), 6, START, method="flat")
    assert [row.principal for row in rows] == [D("16.67")] * 5 + [D("16.65")]
    assert [row.interest for row in rows] == [D("0.58")] * 5 + [D("0.60")]
    assert [row.installment for row in rows] == [D("17.25")] * 5 + [D("17.25")]
    assert schedule_totals(rows) == {"principal": D("100.00"), "interest": D("3.50"), "total": D("103.50")}
    assert flat_interest(D("100"), D("7"), 6, START) == D("3.50")


def test_flat_interest_is_capped_when_the_share_rounds_up() -> None:
    # 100 * 0.06 % * 10/12 = 0.05 of interest over 10 rows: 0.005 rounds up to 0.01, so it runs out after 5
    rows = amortization_schedule(D("100"), D("0.06"), 10, START, method="flat")
    assert [row.interest for row in rows] == [D("0.01")] * 5 + [D("0.00")] * 5
    # 100 * 1 % * 10/52 = 0.19 over 10 weekly rows: 0.019 -> 0.02 for nine, the last gets the 0.01 left
    weekly = amortization_schedule(D("100"), D("1"), 10, START, method="flat", frequency="weekly")
    assert flat_interest(D("100"), D("1"), 10, START, frequency="weekly") == D("0.19")
    assert [row.interest for row in weekly] == [D("0.02")] * 9 + [D("0.01")]
    # 100 * 0.048 % * 10/12 = 0.04 over 10 rows: 0.004 rounds down to 0.00, so the last row takes it all
    low = amortization_schedule(D("100"), D("0.048"), 10, START, method="flat")
    assert [row.interest for row in low] == [D("0.00")] * 9 + [D("0.04")]
    tiny = amortization_schedule(D("0.05"), D("0"), 10, START, method="flat")
    assert [row.principal for row in tiny] == [D("0.01")] * 5 + [D("0.00")] * 5
    assert all(row.balance >= 0 for row in tiny) and tiny[-1].balance == 0


def test_equal_principal_golden() -> None:
    rows = amortization_schedule(D("100"), D("7"), 6, START, method="equal-principal")
    assert [row.principal for row in rows] == [D("16.67")] * 5 + [D("16.65")]
    # interest on the reducing balance at 7/1200 a month: 100, 83.33, 66.66, 49.99, 33.32, 16.65
    assert [row.interest for row in rows] == [D(x) for x in ("0.58", "0.49", "0.39", "0.29", "0.19", "0.10")]
    assert [row.balance for row in rows] == [D(x) for x in ("83.33", "66.66", "49.99", "33.32", "16.65", "0.00")]
    assert schedule_totals(rows)["interest"] == D("2.04")


def test_actual_365_emi_golden() -> None:
    # EMI from the nominal monthly rate; each period's interest from its actual days (Jan 31 -> Feb 28 = 28 days)
    rows = amortization_schedule(D("100000"), D("12"), 6, date(2025, 1, 31), day_count="actual/365")
    assert rows[0].installment == emi(D("100000"), D("12"), 6) == D("17254.84")
    assert rows[0].interest == D("920.55")  # 100000 * 12 % * 28 / 365
    assert rows[0].balance == D("83665.71")
    assert rows[1].due_on == date(2025, 3, 31)
    assert rows[1].interest == D("852.70")  # 83665.71 * 12 % * 31 / 365
    assert all(row.installment == D("17254.84") for row in rows[:-1])
    assert rows[-1].balance == 0
    assert schedule_totals(rows)["principal"] == D("100000.00")


def test_actual_365_long_tenures() -> None:
    # the last instalment absorbs 20 years of nominal-versus-actual-day differences (leap years included)
    rows = amortization_schedule(D("1000000"), D("10"), 240, date(2025, 1, 15), day_count="actual/365")
    assert rows[0].installment == D("9650.22") and rows[-1].installment == D("10927.60")
    # 36 % over 20 years: a 31-day month's interest exceeds the EMI; such rows repay no principal, the
    # balance never grows, and the shorter months repay the loan early (the remaining rows are zero)
    steep = amortization_schedule(D("100000"), D("36"), 240, date(2025, 1, 1), day_count="actual/365")
    over = [row for row in steep if row.interest > D("3002.49")]
    assert over and all(row.principal == 0 and row.installment == row.interest for row in over)
    assert all(later.balance <= earlier.balance for earlier, later in zip(steep, steep[1:], strict=False))
    assert steep[-1].installment == 0 and sum(row.principal for row in steep) == D("100000")


def test_actual_365_equal_principal_and_flat_goldens() -> None:
    ep = amortization_schedule(D("36500"), D("10"), 2, date(2025, 1, 1), method="equal-principal",
                               day_count="actual/365")
    # 31 days of January on 36,500 at 10 % = 310.00; 28 days of February on 18,250 = 140.00
    assert [(row.principal, row.interest) for row in ep] == [(D("18250.00"), D("310.00")),
                                                              (D("18250.00"), D("140.00"))]
    flat = amortization_schedule(D("36500"), D("10"), 2, date(2025, 1, 1), method="flat", day_count="actual/365")
    # 59 days (Jan 1 -> Mar 1) on the original 36,500 at 10 % = 590.00, spread evenly
    assert [row.interest for row in flat] == [D("295.00"), D("295.00")]
    assert flat_interest(D("36500"), D("10"), 2, date(2025, 1, 1), day_count="actual/365") == D("590.00")


def test_weekly_and_fortnightly_goldens() -> None:
    weekly = amortization_schedule(D("100000"), D("12"), 6, date(2025, 1, 31), frequency="weekly")
    assert [row.due_on for row in weekly[:3]] == [date(2025, 2, 7), date(2025, 2, 14), date(2025, 2, 21)]
    assert weekly[0].interest == D("230.77")  # 100000 * 12 % / 52
    assert weekly[0].installment == emi(D("100000"), D("12"), 6, frequency="weekly")
    fortnightly = amortization_schedule(D("100000"), D("12"), 6, date(2025, 1, 31), frequency="fortnightly")
    assert [row.due_on for row in fortnightly[:2]] == [date(2025, 2, 14), date(2025, 2, 28)]
    assert fortnightly[0].interest == D("461.54")  # 100000 * 12 % / 26
    weekly_actual = amortization_schedule(D("36500"), D("10"), 2, START, frequency="weekly", day_count="actual/365")
    assert weekly_actual[0].interest == D("70.00")  # 36500 * 10 % * 7 / 365


def test_weekly_emi_matches_the_formula() -> None:
    r = D("12") / 5200
    growth = (1 + r) ** 52
    assert emi(D("52000"), D("12"), 52, frequency="weekly") == quantize(D("52000") * r * growth / (growth - 1))
    assert emi(D("52000"), D("0"), 52, frequency="weekly") == D("1000.00")


def test_periodic_rate_and_due_date() -> None:
    assert periodic_rate(D("12")) == D("0.01")
    assert periodic_rate(D("26"), "fortnightly") == D("0.01")
    assert periodic_rate(D("52"), "weekly") == D("0.01")
    assert PERIODS_PER_YEAR == {"monthly": 12, "fortnightly": 26, "weekly": 52}
    assert due_date(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert due_date(date(2025, 1, 31), 2, "monthly") == date(2025, 3, 31)
    assert due_date(date(2025, 1, 31), 2, "fortnightly") == date(2025, 2, 28)
    assert due_date(date(2025, 1, 31), 3, "weekly") == date(2025, 2, 21)
    assert due_date(date(2025, 1, 31), 0, "weekly") == date(2025, 1, 31)
    with pytest.raises(ValueError, match="frequency must be one of"):
        due_date(START, 1, "daily")
    with pytest.raises(ValueError):
        due_date(date(9999, 12, 1), 10, "weekly")
    with pytest.raises(ValueError):
        periodic_rate(D("-1"), "weekly")


# ------------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"method": "declining"}, "method must be one of 'emi', 'flat', 'equal-principal'"),
        ({"method": "EMI"}, "method must be one of"),
        ({"day_count": "actual/360"}, "day_count must be one of '30/360', 'actual/365'"),
        ({"day_count": None}, "day_count must be one of"),
        ({"frequency": "daily"}, "frequency must be one of 'monthly', 'fortnightly', 'weekly'"),
    ],
)
def test_unknown_options_are_rejected(options, message) -> None:
    with pytest.raises(ValueError, match=message):
        amortization_schedule(D("1000"), D("12"), 12, START, **options)


@pytest.mark.parametrize("method", ["flat", "equal-principal"])
def test_installment_only_with_emi(method) -> None:
    with pytest.raises(ValueError, match="installment can only be given with method='emi'"):
        amortization_schedule(D("1000"), D("12"), 12, START, installment=D("100"), method=method)


@pytest.mark.parametrize("combo", COMBOS, ids=_combo_id)
def test_bad_terms_rejected_for_every_combination(combo) -> None:
    method, day_count, frequency = combo
    options = {"method": method, "day_count": day_count, "frequency": frequency}
    for principal, rate, tenure in [(D("0"), D("12"), 12), (D("100.001"), D("12"), 12), (D("100"), D("-1"), 12),
                                    (D("100"), D("12"), 0)]:
        with pytest.raises(ValueError):
            amortization_schedule(principal, rate, tenure, START, **options)
    with pytest.raises(TypeError):
        amortization_schedule(100.0, D("12"), 12, START, **options)
    with pytest.raises(TypeError):
        amortization_schedule(D("100"), D("12"), 12.0, START, **options)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        amortization_schedule(D("1000"), D("12"), 12, START, None, "flat")  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------ properties

principals = st.integers(min_value=1, max_value=10**10).map(lambda paise: D(paise) / 100)  # up to 10 crore
rates = st.integers(min_value=0, max_value=3600).map(lambda bp: D(bp) / 100)  # 0 .. 36 % p.a.
tenures = st.integers(min_value=1, max_value=240)
starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2080, 12, 31))


def _assert_invariants(rows, principal, tenure, start, frequency) -> None:
    assert len(rows) == tenure
    assert [row.seq for row in rows] == list(range(1, tenure + 1))
    assert [row.due_on for row in rows] == [due_date(start, seq, frequency) for seq in range(1, tenure + 1)]
    assert sum(row.principal for row in rows) == principal  # exact
    assert rows[-1].balance == 0
    opening = principal
    for row in rows:
        assert row.principal >= 0 and row.interest >= 0 and row.balance >= 0
        assert row.installment == row.principal + row.interest
        assert row.balance == opening - row.principal
        for amount in (row.principal, row.interest, row.installment, row.balance):
            assert amount == quantize(amount)
        opening = row.balance
    totals = schedule_totals(rows)
    assert totals["principal"] == principal
    assert totals["total"] == sum(row.installment for row in rows) == principal + totals["interest"]


@pytest.mark.parametrize("combo", COMBOS, ids=_combo_id)
@settings(max_examples=40, deadline=None)
@given(principal=principals, rate=rates, tenure=tenures, start=starts)
def test_schedule_invariants_for_every_combination(combo, principal, rate, tenure, start) -> None:
    method, day_count, frequency = combo
    rows = amortization_schedule(principal, rate, tenure, start, method=method, day_count=day_count,
                                 frequency=frequency)
    _assert_invariants(rows, principal, tenure, start, frequency)
    # every row's interest follows the documented day-count rule
    opening, opened_on = principal, start
    ppy = PERIODS_PER_YEAR[frequency]
    for row in rows:
        days = (row.due_on - opened_on).days
        if day_count == "30/360":
            expected = quantize(opening * rate / (100 * ppy))
        else:
            expected = quantize(opening * rate * days / 36500)
        if method != "flat":
            assert row.interest == expected
        opening, opened_on = row.balance, row.due_on
    if method == "flat":
        assert schedule_totals(rows)["interest"] == flat_interest(principal, rate, tenure, start,
                                                                  day_count=day_count, frequency=frequency)
    if method == "emi" and day_count == "30/360":
        payment = emi(principal, rate, tenure, frequency=frequency)
        assert all(row.installment == payment for row in rows[:-1] if row.balance > 0)
    if method != "emi":
        share = quantize(principal / tenure)
        assert all(row.principal <= share for row in rows[:-1])


@pytest.mark.parametrize("combo", COMBOS, ids=_combo_id)
@settings(max_examples=25, deadline=None)
@given(principal=principals, tenure=tenures, start=starts)
def test_zero_rate_for_every_combination(combo, principal, tenure, start) -> None:
    method, day_count, frequency = combo
    rows = amortization_schedule(principal, D("0"), tenure, start, method=method, day_count=day_count,
                                 frequency=frequency)
    _assert_invariants(rows, principal, tenure, start, frequency)
    assert all(row.interest == 0 for row in rows)
    assert schedule_totals(rows)["total"] == principal


@settings(max_examples=150, deadline=None)
@given(principal=principals, rate=rates, tenure=tenures, start=starts)
def test_defaults_are_the_seed_003_schedule(principal, rate, tenure, start) -> None:
    explicit = amortization_schedule(principal, rate, tenure, start, method="emi", day_count="30/360",
                                     frequency="monthly")
    assert explicit == amortization_schedule(principal, rate, tenure, start)


# ------------------------------------------------------------------------------------------------ prepayment


def test_prepayment_shortens_the_tenure() -> None:
    start = date(2025, 1, 31)
    rows = amortization_schedule(D("100000"), D("12"), 12, start)
    payment = rows[0].installment
    assert payment == D("8884.88")
    balance = rows[2].balance - D("20000.00")  # after the third instalment the customer prepays 20,000
    tail = regenerate_after_prepayment(balance, D("12"), payment, 4, rows[2].due_on, disbursed_on=start)
    assert len(tail) == 7  # instead of the 9 instalments left
    assert [row.seq for row in tail] == list(range(4, 11))
    assert [row.due_on for row in tail] == [r.due_on for r in rows[3:10]]
    assert tail[0].interest == quantize(balance * D("0.01"))
    assert all(row.installment == payment for row in tail[:-1])
    assert 0 < tail[-1].installment <= payment
    assert sum(row.principal for row in tail) == balance
    assert tail[-1].balance == 0


def test_prepayment_without_disbursed_on_chains_from_start_date() -> None:
    tail = regenerate_after_prepayment(D("1000"), D("12"), D("400"), 2, date(2025, 2, 28))
    assert [row.due_on for row in tail] == [date(2025, 3, 28), date(2025, 4, 28), date(2025, 5, 28)]
    anchored = regenerate_after_prepayment(D("1000"), D("12"), D("400"), 2, date(2025, 2, 28),
                                           disbursed_on=date(2025, 1, 31))
    assert [row.due_on for row in anchored] == [date(2025, 3, 31), date(2025, 4, 30), date(2025, 5, 31)]
    assert [row.seq for row in anchored] == [2, 3, 4]


def test_prepayment_that_closes_the_loan_and_a_single_row() -> None:
    assert regenerate_after_prepayment(D("0.00"), D("12"), D("500"), 5, START) == []
    rows = regenerate_after_prepayment(D("300"), D("12"), D("500"), 5, START)
    assert rows == [ScheduleRow(5, date(2025, 2, 1), D("300.00"), D("3.00"), D("303.00"), D("0.00"))]


def test_prepayment_max_periods_puts_the_rest_on_the_last_row() -> None:
    rows = regenerate_after_prepayment(D("10000"), D("12"), D("1000"), 1, START, max_periods=3)
    assert len(rows) == 3
    assert rows[-1].principal == D("10000") - rows[0].principal - rows[1].principal
    assert rows[-1].balance == 0


@pytest.mark.parametrize(
    ("args", "options"),
    [
        ((D("-1"), D("12"), D("100"), 1, START), {}),
        ((D("100.001"), D("12"), D("100"), 1, START), {}),
        ((D("1000"), D("-1"), D("100"), 1, START), {}),
        ((D("1000"), D("12"), D("0"), 1, START), {}),
        ((D("1000"), D("12"), D("100"), 0, START), {}),
        ((D("100000"), D("12"), D("1000"), 1, START), {}),  # equals the interest: never repaid
        ((D("100000"), D("12"), D("999.99"), 1, START), {"max_periods": 5}),  # below the interest
        ((D("1000"), D("12"), D("100"), 1, START), {"max_periods": 0}),
        ((D("1000"), D("12"), D("100"), 1, START), {"disbursed_on": date(2025, 2, 1)}),
        ((D("1000"), D("12"), D("100"), 1, START), {"day_count": "actual/360"}),
        ((D("1000"), D("12"), D("100"), 1, START), {"frequency": "daily"}),
        ((D("1000"), D("12"), D("100"), 3, date(2025, 4, 1)), {"disbursed_on": START}),  # due Apr 1, not after
    ],
)
def test_prepayment_rejects_bad_input(args, options) -> None:
    with pytest.raises(ValueError):
        regenerate_after_prepayment(*args, **options)


def test_prepayment_rejects_floats() -> None:
    with pytest.raises(TypeError):
        regenerate_after_prepayment(1000.0, D("12"), D("100"), 1, START)
    with pytest.raises(TypeError):
        regenerate_after_prepayment(D("1000"), D("12"), 100.0, 1, START)


@pytest.mark.parametrize(("day_count", "frequency"), [(dc, f) for dc in DAY_COUNTS for f in FREQUENCIES])
@settings(max_examples=40, deadline=None)
@given(principal=principals, rate=rates, tenure=st.integers(min_value=2, max_value=120), start=starts,
       data=st.data())
def test_regenerating_without_prepayment_reproduces_the_tail(day_count, frequency, principal, rate, tenure, start,
                                                             data) -> None:
    rows = amortization_schedule(principal, rate, tenure, start, day_count=day_count, frequency=frequency)
    payment = emi(principal, rate, tenure, frequency=frequency)
    assume(payment > 0)  # under half a paisa per instalment: nothing to regenerate with
    k = data.draw(st.integers(min_value=1, max_value=tenure - 1), label="instalments paid")
    balance = rows[k - 1].balance
    tail = regenerate_after_prepayment(balance, rate, payment, k + 1,
                                       rows[k - 1].due_on, disbursed_on=start, day_count=day_count,
                                       frequency=frequency, max_periods=tenure - k)
    if balance == 0:  # a rounded-up EMI can repay the loan early: the original's remaining rows are all zero
        assert tail == [] and all(row.installment == 0 for row in rows[k:])
    else:
        assert tail == rows[k:k + len(tail)]
        assert all(row.installment == 0 for row in rows[k + len(tail):])


@pytest.mark.parametrize(("day_count", "frequency"), [(dc, f) for dc in DAY_COUNTS for f in FREQUENCIES])
@settings(max_examples=40, deadline=None)
@given(principal=principals.filter(lambda p: p >= 100), rate=rates, tenure=st.integers(min_value=2, max_value=120),
       start=starts, data=st.data())
def test_prepayment_properties(day_count, frequency, principal, rate, tenure, start, data) -> None:
    rows = amortization_schedule(principal, rate, tenure, start, day_count=day_count, frequency=frequency)
    payment = emi(principal, rate, tenure, frequency=frequency)
    assume(payment > 0)
    k = data.draw(st.integers(min_value=1, max_value=tenure - 1), label="instalments paid")
    scheduled = rows[k - 1].balance
    prepaid = data.draw(st.integers(min_value=0, max_value=int(scheduled * 100)), label="prepaid paise")
    balance = scheduled - D(prepaid) / 100
    tail = regenerate_after_prepayment(balance, rate, payment, k + 1, rows[k - 1].due_on, disbursed_on=start,
                                       day_count=day_count, frequency=frequency, max_periods=tenure - k)
    if balance == 0:
        assert tail == []
        return
    assert 1 <= len(tail) <= tenure - k  # prepayment never lengthens the loan
    assert [row.seq for row in tail] == list(range(k + 1, k + 1 + len(tail)))
    assert [row.due_on for row in tail] == [r.due_on for r in rows[k:k + len(tail)]]
    assert sum(row.principal for row in tail) == balance
    assert tail[-1].balance == 0
    opening = balance
    for row in tail:
        assert row.principal >= 0 and row.interest >= 0 and row.balance >= 0
        assert row.installment == row.principal + row.interest
        assert row.balance == opening - row.principal
        opening = row.balance
    if day_count == "30/360":
        assert all(row.installment == payment for row in tail[:-1])
    # the remaining interest never exceeds what the original schedule would have charged
    assert sum(row.interest for row in tail) <= sum(row.interest for row in rows[k:])


def test_weekly_prepayment_dates() -> None:
    tail = regenerate_after_prepayment(D("1000"), D("52"), D("300"), 3, date(2025, 1, 15), frequency="weekly",
                                       disbursed_on=date(2025, 1, 1))
    assert [row.due_on for row in tail] == [date(2025, 1, 22) + timedelta(days=7 * i) for i in range(len(tail))]
    assert tail[0].interest == D("10.00")  # 1000 * 52 % / 52
