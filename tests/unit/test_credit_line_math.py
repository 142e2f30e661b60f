"""Seed 004 credit-line math (pure, no app): daily rate and interest, minimum due, billing dates, bills and the
payment order."""
from datetime import date
from decimal import Decimal as D

import pytest

from portal.servicing.cob import sma_class
from portal.servicing.credit_line import (
    Bill,
    Dues,
    allocate_payment,
    anchors_billing_on,
    apply_checks,
    bill_amounts,
    billing_dates,
    daily_interest,
    daily_rate,
    due_date,
    is_billing_date,
    minimum_due,
    next_billing_date,
    oldest_unpaid_due_on,
    project_next_bill,
    spread_past_payment,
    unpaid_dues,
)


@pytest.mark.parametrize(("apr", "rate"), [
    (D("24"), D("0.066")),       # 24 / 365 = 0.065753... (seed 004: round(apr / 365, 3))
    (D("10.5"), D("0.029")),     # the seed's apply-loan example rate: 0.028767...
    (D("12"), D("0.033")),       # 0.032876...
    (D("36.5"), D("0.100")),     # exact
    (D("24.2725"), D("0.067")),  # exactly 0.0665: half-up (banker's rounding would give 0.066)
    (D("0.1825"), D("0.001")),   # exactly 0.0005: half-up
    (D("0"), D("0.000")),
    (24, D("0.066")),
])
def test_daily_rate_is_apr_over_365_rounded_half_up_to_3_places(apr, rate):
    assert daily_rate(apr) == rate
    assert daily_rate(apr).as_tuple().exponent == -3


@pytest.mark.parametrize(("principal", "apr", "interest"), [
    (D("10000"), D("24"), D("6.60")),     # 10,000 x 0.066 %
    (D("50000"), D("24"), D("33.00")),    # the whole default limit
    (D("12345.67"), D("24"), D("8.15")),  # 8.1481422 -> 8.15
    (D("7575.76"), D("24"), D("5.00")),   # 5.0000016
    (D("2500"), D("10.5"), D("0.73")),    # 0.725: half-up
    (D("0"), D("24"), D("0.00")),
])
def test_daily_interest_rounds_half_up_to_the_paisa(principal, apr, interest):
    assert daily_interest(principal, apr) == interest


def test_floats_and_negatives_are_refused():
    with pytest.raises(TypeError):
        daily_rate(24.0)
    with pytest.raises(TypeError):
        daily_interest(1000.0, D("24"))
    with pytest.raises(ValueError):
        daily_rate(D("-1"))
    with pytest.raises(ValueError):
        minimum_due(D("100"), D("-1"))


@pytest.mark.parametrize(("principal", "interest", "past", "due"), [
    (D("10000"), D("198.00"), D("0"), D("498.00")),     # 3 % of 10,000 + 30 days x 6.60
    (D("50000"), D("990.00"), D("0"), D("2490.00")),    # 1,500 + 30 x 33.00
    (D("10000"), D("198.00"), D("498.00"), D("996.00")),  # an unpaid bill carried forward
    (D("333.50"), D("0"), D("0"), D("10.01")),          # 10.005: half-up
    (D("0"), D("12.34"), D("0"), D("12.34")),           # interest only
])
def test_minimum_due_is_3_percent_of_principal_plus_cycle_interest_plus_past_due(principal, interest, past, due):
    assert minimum_due(principal, interest, past) == due


def test_billing_every_30_days_from_creation_and_due_15_days_later():
    anchor = date(2026, 11, 23)
    assert billing_dates(anchor, date(2027, 2, 21)) == [date(2026, 12, 23), date(2027, 1, 22), date(2027, 2, 21)]
    assert billing_dates(anchor, date(2026, 12, 22)) == []
    assert not is_billing_date(anchor, anchor)
    assert is_billing_date(anchor, date(2026, 12, 23)) and is_billing_date(anchor, date(2027, 1, 22))
    assert not is_billing_date(anchor, date(2026, 12, 24))
    assert next_billing_date(anchor, anchor) == date(2026, 12, 23)
    assert next_billing_date(anchor, date(2026, 12, 23)) == date(2027, 1, 22)
    assert next_billing_date(anchor, date(2026, 11, 1)) == date(2026, 12, 23)
    assert due_date(date(2026, 12, 23)) == date(2027, 1, 7)
    assert anchors_billing_on(date(2027, 1, 22), date(2026, 11, 1)) == [date(2026, 12, 23), date(2026, 11, 23)]
    assert anchors_billing_on(date(2026, 12, 1), date(2026, 11, 23)) == []


def test_bill_amounts_match_the_seed_formula_and_never_ask_for_more_than_is_owed():
    ordinary = bill_amounts(principal=D("10000"), interest_receivable=D("198.00"), cycle_interest=D("198.00"),
                            previous_unpaid=D("0"))
    assert (ordinary.interest, ordinary.past_due, ordinary.principal_part, ordinary.minimum_due) == (
        D("198.00"), D("0"), D("300.00"), D("498.00"))
    carried = bill_amounts(principal=D("10000"), interest_receivable=D("396.00"), cycle_interest=D("198.00"),
                           previous_unpaid=D("498.00"))
    assert carried.minimum_due == minimum_due(D("10000"), D("198.00"), D("498.00")) == D("996.00")
    # interest paid in advance is not billed again
    prepaid = bill_amounts(principal=D("0"), interest_receivable=D("50.00"), cycle_interest=D("80.00"),
                           previous_unpaid=D("0"))
    assert (prepaid.interest, prepaid.minimum_due) == (D("50.00"), D("50.00"))
    # years of unpaid 3 % parts cannot exceed the principal plus interest
    capped = bill_amounts(principal=D("1000"), interest_receivable=D("20.00"), cycle_interest=D("20.00"),
                          previous_unpaid=D("1000.00"))
    assert capped.minimum_due == D("1020.00") and capped.principal_part == D("0.00")


def bill(past, interest, due, paid, due_on=None):
    return Bill(D(past), D(interest), D(due), D(paid), due_on)


def test_unpaid_dues_split_the_carried_amount_into_interest_and_principal():
    first = bill("0", "198.00", "498.00", "0")          # unpaid: 198 interest + 300 principal
    second = bill("498.00", "198.00", "996.00", "0")
    assert unpaid_dues([first]) == Dues(D("0"), D("0"), D("198.00"), D("300.00"))
    assert unpaid_dues([first, second]) == Dues(D("198.00"), D("300.00"), D("198.00"), D("300.00"))
    # 100 paid on the first bill went to its interest: 98 interest + 300 principal carried
    part = bill("0", "198.00", "498.00", "100.00")
    assert unpaid_dues([part, bill("398.00", "198.00", "896.00", "0")]) == Dues(
        D("98.00"), D("300.00"), D("198.00"), D("300.00"))
    # 250 paid on the second bill: 198 past interest, 52 past principal
    assert unpaid_dues([first, bill("498.00", "198.00", "996.00", "250.00")]) == Dues(
        D("0"), D("248.00"), D("198.00"), D("300.00"))
    assert unpaid_dues([]) == Dues()


def test_payment_order_past_due_then_current_due_then_principal_interest_first_within_each():
    dues = Dues(D("198.00"), D("300.00"), D("198.00"), D("300.00"))
    # a small payment: past-due interest first
    small = allocate_payment(D("150.00"), dues=dues, principal=D("10000"), interest=D("396.00"))
    assert (small.overdue_interest, small.overdue_principal, small.current_interest) == (
        D("150.00"), D("0.00"), D("0.00"))
    # past due cleared, then current interest, then some current principal
    mid = allocate_payment(D("700.00"), dues=dues, principal=D("10000"), interest=D("396.00"))
    assert (mid.overdue_interest, mid.overdue_principal, mid.current_interest, mid.current_principal) == (
        D("198.00"), D("300.00"), D("198.00"), D("4.00"))
    # more than the dues: the excess reduces the principal
    big = allocate_payment(D("3000.00"), dues=dues, principal=D("10000"), interest=D("396.00"))
    assert big.due_paid == D("996.00") and big.prepayment == D("2004.00") and big.unbilled_interest == 0
    assert (big.interest, big.principal) == (D("396.00"), D("2604.00"))
    # the whole balance: principal first, then interest accrued since the bill
    payoff = allocate_payment(D("10450.00"), dues=dues, principal=D("10000"), interest=D("450.00"))
    assert payoff.principal == D("10000") and payoff.interest == D("450.00") and payoff.unbilled_interest == D("54.00")
    assert payoff.as_dict()["prepayment"] == "9400.00"
    with pytest.raises(ValueError):
        allocate_payment(D("10450.01"), dues=dues, principal=D("10000"), interest=D("450.00"))
    with pytest.raises(ValueError):
        allocate_payment(D("0"), dues=dues, principal=D("10000"), interest=D("450.00"))


def test_a_payment_with_no_bill_reduces_the_principal():
    split = allocate_payment(D("500.00"), dues=Dues(), principal=D("10000"), interest=D("40.00"))
    assert (split.prepayment, split.interest, split.due_paid) == (D("500.00"), D("0.00"), D("0.00"))


def test_oldest_unpaid_due_date_follows_the_carried_dues():
    jan, feb = date(2027, 1, 7), date(2027, 2, 6)
    assert oldest_unpaid_due_on([]) is None
    assert oldest_unpaid_due_on([bill("0", "198.00", "498.00", "0", jan)]) == jan
    assert oldest_unpaid_due_on([bill("0", "198.00", "498.00", "498.00", jan)]) is None
    unpaid_then_carried = [bill("0", "198.00", "498.00", "0", jan), bill("498.00", "198.00", "996.00", "0", feb)]
    assert oldest_unpaid_due_on(unpaid_then_carried) == jan
    # the carried part paid (which paid the first bill too), the current part not: the newer due date
    paid_past = [bill("0", "198.00", "498.00", "498.00", jan), bill("498.00", "198.00", "996.00", "498.00", feb)]
    assert oldest_unpaid_due_on(paid_past) == feb


def test_paying_a_carried_due_pays_the_bills_it_came_from_oldest_first():
    first = bill("0", "198.00", "498.00", "0")                # nothing paid
    second = bill("498.00", "198.00", "996.00", "100.00")      # 100 paid while it was the latest
    third = bill("896.00", "198.00", "1394.00", "0")
    # 500 paid on the third bill's past due: the second bill gets 500; of that, its own carried part (498,
    # of which 100 was already paid) comes first: 398 to the first bill
    assert spread_past_payment([first, second, third], D("500.00")) == [D("398.00"), D("500.00")]
    assert spread_past_payment([first, second, third], D("50.00")) == [D("50.00"), D("50.00")]
    assert spread_past_payment([first], D("10.00")) == []
    assert spread_past_payment([], D("10.00")) == []
    # the interest/principal split still follows what each bill carried, whatever was spread back later
    spread_first = bill("0", "198.00", "498.00", "498.00")
    assert unpaid_dues([spread_first, bill("498.00", "198.00", "996.00", "498.00")]) == Dues(
        D("0"), D("0"), D("198.00"), D("300.00"))


def test_apply_rules_at_their_boundaries():
    rules = {"min_score": 450, "min_annual_income": D("150000.00"), "max_limit": D("50000.00"),
             "min_limit": D("1000.00")}
    ok = apply_checks(score=450, annual_income=D("150000.00"), limit=D("50000.00"), **rules)
    assert all(c.passed for c in ok)
    failed = apply_checks(score=449, annual_income=D("149999.99"), limit=D("50000.01"), **rules)
    assert [c.name for c in failed if not c.passed] == ["score", "income", "limit"]
    none = apply_checks(score=None, annual_income=D("200000"), limit=D("1000"), **rules)
    assert not none[0].passed and "savings transactions" in none[0].detail


def test_next_bill_projection_adds_a_days_interest_for_each_day_left():
    projected = project_next_bill(anchor=date(2026, 11, 23), as_of=date(2026, 12, 3), principal=D("10000"),
                                  apr=D("24"), accrued_in_cycle=D("66.00"), unpaid_now=D("0"),
                                  accrued_through=date(2026, 12, 2))
    # 3 Dec .. 23 Dec = 21 more days of 6.60
    assert projected.billed_on == date(2026, 12, 23) and projected.due_on == date(2027, 1, 7)
    assert projected.interest == D("66.00") + 21 * D("6.60")
    assert projected.minimum_due == D("300.00") + projected.interest


@pytest.mark.parametrize(("dpd", "klass"), [(0, "standard"), (1, "sma_0"), (30, "sma_0"), (31, "sma_1"),
                                            (60, "sma_1"), (61, "sma_2"), (90, "sma_2")])
def test_sma_classes(dpd, klass):
    assert sma_class(dpd) == klass
