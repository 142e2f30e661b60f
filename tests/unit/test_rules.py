"""Unit tests for portal.lending.rules (seed 003: approved limit, credit score, slabs, eligibility)."""
from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.lending.rules import (
    SLABS,
    WEIGHTS,
    Check,
    CreditScore,
    Eligibility,
    PastLoan,
    ScoreComponent,
    Slab,
    approved_limit,
    check_eligibility,
    credit_score,
    expected_emis_due,
    slab_for,
)
from portal.lending.schedule import emi

D = Decimal
AS_OF = date(2025, 6, 30)
LIMIT = D("500000")


def loan(
    amount: str | int = "100000",
    tenure: int = 12,
    paid: int = 12,
    approved_on: date | None = date(2022, 1, 1),
    end_on: date | None = date(2023, 1, 1),
    installment: str = "8884.88",
) -> PastLoan:
    """A PastLoan with readable defaults: a finished 12-month loan of 1,00,000 paid perfectly."""
    return PastLoan(
        loan_amount=D(amount),
        tenure=tenure,
        emis_paid_on_time=paid,
        monthly_installment=D(installment),
        approved_on=approved_on,
        end_on=end_on,
    )


def points(result: CreditScore) -> dict[str, int]:
    return {component.key: component.points for component in result.components}


def component(result: CreditScore, key: str) -> ScoreComponent:
    return next(c for c in result.components if c.key == key)


# ------------------------------------------------------------------------------------------- approved limit


@pytest.mark.parametrize(
    ("salary", "expected"),
    [
        (D("5000"), D("200000")),  # 1,80,000 -> 2,00,000
        (D("12500"), D("500000")),  # 4,50,000 is exactly half: rounds up (DESIGN.md section 5)
        (D("37500"), D("1400000")),  # 13,50,000 half -> up
        (D("25000"), D("900000")),  # already whole lakhs
        (D("30000"), D("1100000")),  # 10,80,000 -> 11,00,000
        (D("1388"), D("0")),  # 49,968 -> 0 lakh
        (D("1388.89"), D("100000")),  # 50,000.04 -> 1 lakh
        (D("4166"), D("100000")),  # 1,49,976 -> 1 lakh
        (D("4167"), D("200000")),  # 1,50,012 -> 2 lakh
        (D("50000"), D("1800000")),
        (D("0.01"), D("0")),
        (12500, D("500000")),
    ],
)
def test_approved_limit_golden(salary: Decimal, expected: Decimal) -> None:
    result = approved_limit(salary)
    assert result == expected
    assert isinstance(result, Decimal)
    assert result % 100000 == 0


@pytest.mark.parametrize("salary", [D("0"), D("-1"), D("-12500"), D("NaN")])
def test_approved_limit_rejects_non_positive_salary(salary: Decimal) -> None:
    with pytest.raises(ValueError):
        approved_limit(salary)


@pytest.mark.parametrize("salary", [12500.0, "12500", None, True])
def test_approved_limit_rejects_floats_and_other_types(salary) -> None:
    with pytest.raises(TypeError):
        approved_limit(salary)


@given(st.integers(min_value=1, max_value=10**9).map(lambda paise: D(paise) / 100))
def test_approved_limit_is_within_half_a_lakh_of_36x(salary: Decimal) -> None:
    result = approved_limit(salary)
    assert result % 100000 == 0
    assert -50000 < result - 36 * salary <= 50000


# ------------------------------------------------------------------------------------------- past loans


@pytest.mark.parametrize(
    ("approved_on", "end_on", "as_of", "current"),
    [
        (date(2024, 1, 1), date(2026, 1, 1), AS_OF, True),
        (date(2024, 1, 1), AS_OF, AS_OF, False),  # ends today: no longer running
        (date(2024, 1, 1), date(2025, 7, 1), AS_OF, True),  # ends tomorrow
        (date(2024, 1, 1), date(2025, 1, 1), AS_OF, False),  # ended
        (AS_OF, date(2026, 6, 30), AS_OF, True),  # approved today
        (date(2025, 7, 1), date(2026, 7, 1), AS_OF, False),  # approved after as_of
        (None, date(2026, 1, 1), AS_OF, True),  # approval date unknown
        (date(2024, 1, 1), None, AS_OF, False),  # no end date: cannot be shown to be running
        (None, None, AS_OF, False),
    ],
)
def test_past_loan_is_current(approved_on, end_on, as_of, current) -> None:
    assert loan(approved_on=approved_on, end_on=end_on).is_current(as_of) is current


@pytest.mark.parametrize(
    ("approved_on", "end_on", "tenure", "as_of", "due"),
    [
        (date(2024, 1, 15), date(2025, 1, 15), 12, date(2024, 6, 14), 4),  # Feb..May 15 have fallen due
        (date(2024, 1, 15), date(2025, 1, 15), 12, date(2024, 6, 15), 5),  # June 15 is due on the day
        (date(2024, 1, 15), date(2025, 1, 15), 12, date(2024, 1, 15), 0),  # approved today
        (date(2024, 1, 15), date(2025, 1, 15), 12, date(2030, 1, 1), 12),  # capped at tenure
        (date(2024, 1, 15), date(2024, 4, 15), 12, date(2030, 1, 1), 3),  # capped at end_on
        (date(2024, 1, 15), date(2026, 1, 15), 12, date(2030, 1, 1), 12),  # end_on after tenure: tenure
        (date(2025, 1, 31), date(2026, 1, 31), 12, date(2025, 2, 28), 1),  # month-end: due Feb 28
        (date(2024, 1, 31), date(2025, 1, 31), 12, date(2024, 2, 28), 0),  # leap year: due Feb 29
        (date(2024, 1, 31), date(2025, 1, 31), 12, date(2024, 2, 29), 1),
        (date(2025, 7, 1), date(2026, 7, 1), 12, AS_OF, 0),  # approved after as_of
        (None, date(2025, 1, 15), 12, date(2024, 7, 20), 6),  # approval inferred as end - tenure
        (None, None, 24, AS_OF, 24),  # nothing known: conservatively all due
        (date(2024, 1, 15), None, 36, date(2025, 1, 15), 12),  # no end date: count to as_of
    ],
)
def test_expected_emis_due(approved_on, end_on, tenure, as_of, due) -> None:
    assert expected_emis_due(loan(tenure=tenure, approved_on=approved_on, end_on=end_on), as_of) == due


# ------------------------------------------------------------------------------------------- credit score


def test_weights_sum_to_100_in_seed_order() -> None:
    assert WEIGHTS == {"on_time": 40, "past_loans": 20, "current_year": 20, "volume": 20}
    assert sum(WEIGHTS.values()) == 100


def test_no_loans_scores_moderate_low_40() -> None:
    result = credit_score([], LIMIT, AS_OF)
    assert result.score == 40
    assert result.zeroed_reason is None
    assert [c.key for c in result.components] == list(WEIGHTS)
    assert [c.max_points for c in result.components] == list(WEIGHTS.values())
    assert points(result) == {"on_time": 20, "past_loans": 0, "current_year": 10, "volume": 10}
    assert component(result, "on_time").detail == "No loan history; neutral 20 of 40"
    assert component(result, "current_year").label == "Loan activity in 2025"
    # 40 sits in the 31..50 slab: approvable, but only at 12 % or more
    assert slab_for(result.score).min_rate == D("12")


def test_perfect_history_scores_high() -> None:
    loans = [
        loan(approved_on=date(2021, 1, 1), end_on=date(2022, 1, 1)),
        loan(approved_on=date(2022, 3, 1), end_on=date(2023, 3, 1)),
    ]
    result = credit_score(loans, LIMIT, AS_OF)
    assert points(result) == {"on_time": 40, "past_loans": 10, "current_year": 20, "volume": 20}
    assert result.score == 90
    assert component(result, "on_time").detail == "24 of 24 EMIs paid on time (100%)"
    assert slab_for(result.score).label == "above 50"


def test_partial_history_golden_with_detail_sentence() -> None:
    loans = [loan(tenure=24, paid=18, approved_on=date(2022, 1, 1), end_on=date(2024, 1, 1))]
    result = credit_score(loans, LIMIT, AS_OF)
    on_time = component(result, "on_time")
    assert on_time.detail == "18 of 24 EMIs paid on time (75%)"
    assert on_time.points == 30
    # the other components are credited at the 75 % on-time ratio: 5 x .75 = 3.75 -> 4; 20 x .75 = 15
    assert points(result) == {"on_time": 30, "past_loans": 4, "current_year": 15, "volume": 15}
    assert result.score == 64
    assert "credited at 75% for the on-time record" in component(result, "past_loans").detail


def test_all_emis_missed_scores_zero() -> None:
    loans = [
        loan(paid=0, approved_on=date(2021, 1, 1), end_on=date(2022, 1, 1)),
        loan(paid=0, approved_on=date(2022, 3, 1), end_on=date(2023, 3, 1)),
    ]
    result = credit_score(loans, LIMIT, AS_OF)
    assert result.score == 0
    assert result.zeroed_reason is None  # zero on the merits, not by the limit rule
    assert slab_for(result.score).approvable is False


@pytest.mark.parametrize(
    ("paid", "expected_score"),
    [
        (12, 85),  # 40 + 5 + 20 + 20
        (9, 64),  # .75: 30 + 4 + 15 + 15
        (6, 43),  # .5: 20 + 3 + 10 + 10
        (3, 21),  # .25: 10 + 1 + 5 + 5
        (0, 0),
    ],
)
def test_missing_emis_lowers_the_score(paid: int, expected_score: int) -> None:
    result = credit_score([loan(paid=paid)], LIMIT, AS_OF)
    assert result.score == expected_score


def test_good_history_beats_no_history_beats_bad_history() -> None:
    none = credit_score([], LIMIT, AS_OF).score
    good = credit_score([loan(paid=12)], LIMIT, AS_OF).score
    bad = credit_score([loan(paid=3)], LIMIT, AS_OF).score
    assert bad < none < good


def test_paid_on_time_is_capped_per_loan() -> None:
    # 30 "paid" on a loan with 12 due cannot hide 12 misses on another loan: 12 of 24, not 24 of 24
    loans = [
        loan(paid=30, approved_on=date(2021, 1, 1), end_on=date(2022, 1, 1)),
        loan(paid=0, approved_on=date(2022, 3, 1), end_on=date(2023, 3, 1)),
    ]
    result = credit_score(loans, LIMIT, AS_OF)
    assert component(result, "on_time").detail == "12 of 24 EMIs paid on time (50%)"
    assert component(result, "on_time").points == 20


def test_loan_with_nothing_due_yet_is_neutral() -> None:
    fresh = loan(amount="100000", paid=0, approved_on=date(2025, 6, 15), end_on=date(2026, 6, 15))
    result = credit_score([fresh], LIMIT, AS_OF)
    assert component(result, "on_time").points == 20
    assert component(result, "on_time").detail == "No EMIs have fallen due yet; neutral 20 of 40"
    # 1 loan -> base 5, 1 new loan this year -> base 15, 20 % of the limit used -> base 16; all at half credit
    assert points(result) == {"on_time": 20, "past_loans": 3, "current_year": 8, "volume": 8}


@pytest.mark.parametrize(("count", "base"), [(0, 0), (1, 5), (2, 10), (3, 15), (4, 20), (9, 20)])
def test_past_loans_base_points(count: int, base: int) -> None:
    loans = [loan(approved_on=date(2020, 1, 1), end_on=date(2021, 1, 1)) for _ in range(count)]
    assert component(credit_score(loans, LIMIT, AS_OF), "past_loans").points == base


@pytest.mark.parametrize(("count", "base"), [(0, 20), (1, 15), (2, 10), (3, 5), (4, 0), (6, 0)])
def test_current_year_activity_points(count: int, base: int) -> None:
    # loans approved Jan 2025, ended within the year, all paid: ratio 1, so points == base
    this_year = [loan(tenure=3, paid=3, approved_on=date(2025, 1, 2), end_on=date(2025, 4, 2))] * count
    last_year = [loan(approved_on=date(2024, 1, 2), end_on=date(2025, 1, 2))]  # not counted
    result = credit_score(this_year + last_year, LIMIT, AS_OF)
    assert component(result, "current_year").points == base
    assert component(result, "current_year").label == "Loan activity in 2025"


def test_loans_approved_after_as_of_are_ignored() -> None:
    future = loan(amount="900000", paid=0, approved_on=date(2025, 7, 1), end_on=date(2026, 7, 1))
    assert credit_score([future], LIMIT, AS_OF) == credit_score([], LIMIT, AS_OF)


@pytest.mark.parametrize(
    ("current_amount", "base"),
    [("0", 20), ("125000", 15), ("250000", 10), ("375000", 5), ("500000", 0)],
)
def test_volume_points_follow_utilisation_of_the_limit(current_amount: str, base: int) -> None:
    finished = loan(approved_on=date(2023, 1, 1), end_on=date(2024, 1, 1))  # ratio 1 from this one
    loans = [finished]
    if D(current_amount):
        loans.append(loan(amount=current_amount, tenure=36, paid=5, approved_on=date(2025, 1, 1),
                          end_on=date(2028, 1, 1)))
    result = credit_score(loans, LIMIT, AS_OF)
    assert component(result, "volume").points == base
    assert result.zeroed_reason is None


def test_score_is_zero_when_current_loans_exceed_the_limit() -> None:
    loans = [
        loan(amount="300000", tenure=24, paid=17, approved_on=date(2024, 1, 1), end_on=date(2026, 1, 1)),
        loan(amount="200001", tenure=24, paid=11, approved_on=date(2024, 7, 1), end_on=date(2026, 7, 1)),
    ]
    result = credit_score(loans, LIMIT, AS_OF)
    assert result.score == 0
    assert result.zeroed_reason == (
        "Current loans total Rs 5,00,001.00, more than the approved limit Rs 5,00,000.00, "
        "so the credit score is 0."
    )
    # the components are still there for a person to read
    assert len(result.components) == 4
    assert result.points_total > 0
    assert component(result, "on_time").points == 40


def test_score_is_not_zeroed_when_current_loans_equal_the_limit() -> None:
    loans = [loan(amount="500000", tenure=24, paid=17, approved_on=date(2024, 1, 1), end_on=date(2026, 1, 1))]
    result = credit_score(loans, LIMIT, AS_OF)
    assert result.zeroed_reason is None
    assert result.score == result.points_total > 0


def test_finished_loans_above_the_limit_do_not_zero_the_score() -> None:
    big_finished = loan(amount="2000000", approved_on=date(2020, 1, 1), end_on=date(2021, 1, 1))
    result = credit_score([big_finished], LIMIT, AS_OF)
    assert result.zeroed_reason is None
    assert result.score > 50


def test_zero_limit() -> None:
    assert credit_score([], D("0"), AS_OF).score == 40
    running = loan(amount="1", tenure=12, paid=5, approved_on=date(2025, 1, 1), end_on=date(2026, 1, 1))
    result = credit_score([running], D("0"), AS_OF)
    assert result.score == 0
    assert component(result, "volume").points == 0


def test_credit_score_rejects_bad_limit() -> None:
    with pytest.raises(ValueError):
        credit_score([], D("-1"), AS_OF)
    with pytest.raises(TypeError):
        credit_score([], 500000.0, AS_OF)


def test_credit_score_values_are_frozen() -> None:
    result = credit_score([loan()], LIMIT, AS_OF)
    with pytest.raises(FrozenInstanceError):
        result.score = 100  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        result.components[0].points = 40  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        loan().tenure = 3  # type: ignore[misc]


# -- properties

past_loans = st.builds(
    lambda amount, tenure, paid, approved, length: PastLoan(
        loan_amount=D(amount),
        tenure=tenure,
        emis_paid_on_time=paid,
        monthly_installment=D("1000"),
        approved_on=approved,
        end_on=None if length is None else date.fromordinal(approved.toordinal() + length),
    ),
    amount=st.integers(min_value=1000, max_value=5_000_000),
    tenure=st.integers(min_value=1, max_value=240),
    paid=st.integers(min_value=0, max_value=260),
    approved=st.dates(min_value=date(2010, 1, 1), max_value=date(2026, 12, 31)),
    length=st.none() | st.integers(min_value=0, max_value=365 * 20),
)
limits = st.integers(min_value=0, max_value=50).map(lambda lakhs: D(lakhs) * 100000)
as_ofs = st.dates(min_value=date(2015, 1, 1), max_value=date(2027, 12, 31))


@settings(max_examples=300, deadline=None)
@given(loans=st.lists(past_loans, max_size=12), limit=limits, as_of=as_ofs)
def test_score_shape_properties(loans, limit, as_of) -> None:
    result = credit_score(loans, limit, as_of)
    assert isinstance(result.score, int)
    assert 0 <= result.score <= 100
    assert [c.key for c in result.components] == list(WEIGHTS)
    for c in result.components:
        assert isinstance(c.points, int)
        assert 0 <= c.points <= c.max_points == WEIGHTS[c.key]
        assert c.detail
    current_total = sum(ln.loan_amount for ln in loans if ln.is_current(as_of))
    if current_total > limit:
        assert result.score == 0
        assert result.zeroed_reason
    else:
        assert result.zeroed_reason is None
        assert result.score == result.points_total
    # deterministic and independent of the order of the loans
    assert credit_score(list(loans), limit, as_of) == result
    assert credit_score(list(reversed(loans)), limit, as_of) == result


@settings(max_examples=300, deadline=None)
@given(
    loans=st.lists(past_loans, min_size=1, max_size=8),
    limit=limits,
    as_of=as_ofs,
    index=st.integers(min_value=0, max_value=7),
    extra=st.integers(min_value=1, max_value=24),
)
def test_paying_more_emis_on_time_never_lowers_the_score(loans, limit, as_of, index, extra) -> None:
    index %= len(loans)
    better = list(loans)
    better[index] = replace(loans[index], emis_paid_on_time=loans[index].emis_paid_on_time + extra)
    assert credit_score(better, limit, as_of).score >= credit_score(loans, limit, as_of).score


@settings(max_examples=200, deadline=None)
@given(loans=st.lists(past_loans, min_size=1, max_size=8), limit=limits, as_of=as_ofs)
def test_a_perfect_record_never_scores_below_no_history(loans, limit, as_of) -> None:
    perfect = [replace(ln, emis_paid_on_time=ln.tenure) for ln in loans]
    result = credit_score(perfect, limit, as_of)
    some_emis_due = sum(expected_emis_due(ln, as_of) for ln in perfect) > 0
    if result.zeroed_reason is None and some_emis_due:
        assert result.score >= credit_score([], limit, as_of).score


# ------------------------------------------------------------------------------------------- slabs


@pytest.mark.parametrize(
    ("score", "approvable", "min_rate", "label"),
    [
        (0, False, None, "10 or below"),
        (10, False, None, "10 or below"),
        (11, True, D("16"), "11 to 30"),
        (30, True, D("16"), "11 to 30"),
        (31, True, D("12"), "31 to 50"),
        (50, True, D("12"), "31 to 50"),
        (51, True, None, "above 50"),
        (100, True, None, "above 50"),
    ],
)
def test_slab_boundaries(score: int, approvable: bool, min_rate: Decimal | None, label: str) -> None:
    slab = slab_for(score)
    assert slab.approvable is approvable
    assert slab.min_rate == min_rate
    assert slab.label == label
    assert score > slab.min_score_exclusive


def test_slabs_table() -> None:
    assert SLABS[0] == Slab(50, None, True, "above 50")
    bounds = [s.min_score_exclusive for s in SLABS]
    assert bounds == sorted(bounds, reverse=True)


@pytest.mark.parametrize("score", [-1, 101, 1000])
def test_slab_for_rejects_out_of_range(score: int) -> None:
    with pytest.raises(ValueError):
        slab_for(score)


@pytest.mark.parametrize("score", [50.0, D("50"), True, "50"])
def test_slab_for_rejects_non_int(score) -> None:
    with pytest.raises(TypeError):
        slab_for(score)


# ------------------------------------------------------------------------------------------- eligibility


def decide(**overrides) -> Eligibility:
    terms = {
        "credit_score": 80,
        "monthly_salary": D("100000"),
        "current_emis": D("0"),
        "loan_amount": D("250000"),
        "interest_rate": D("12"),
        "tenure": 24,
    }
    terms.update(overrides)
    return check_eligibility(**terms)


@pytest.mark.parametrize(
    ("score", "rate", "corrected", "approval"),
    [
        (80, D("8"), D("8"), True),  # > 50: any rate
        (51, D("0"), D("0"), True),
        (50, D("8"), D("12"), True),  # 31..50: raised to 12
        (45, D("12"), D("12"), True),
        (45, D("14.5"), D("14.5"), True),
        (31, D("11.99"), D("12"), True),
        (30, D("12"), D("16"), True),  # 11..30: raised to 16
        (20, D("16"), D("16"), True),
        (11, D("18"), D("18"), True),
        (10, D("8"), D("8"), False),  # <= 10: reject, rate left alone
        (0, D("20"), D("20"), False),
    ],
)
def test_corrected_interest_rate_by_slab(
    score: int, rate: Decimal, corrected: Decimal, approval: bool
) -> None:
    result = decide(credit_score=score, interest_rate=rate)
    assert result.interest_rate == rate
    assert result.corrected_interest_rate == corrected
    assert result.monthly_installment == emi(D("250000"), corrected, 24)
    assert result.approval is approval
    assert result.slab == slab_for(score)
    assert result.credit_score == score
    assert result.tenure == 24


def test_installment_uses_corrected_rate_golden() -> None:
    result = decide(credit_score=45, interest_rate=D("10"))
    assert result.corrected_interest_rate == D("12")
    assert result.monthly_installment == D("11768.37")  # seed 003 golden: 2,50,000 at 12 % for 24 months
    assert result.approval is True
    assert result.reasons == ()
    score_check = result.checks[0]
    assert score_check == Check(
        "credit_score",
        True,
        "Credit score 45 (slab 31 to 50): approvable only at 12% p.a. or more, "
        "so the requested 10% is corrected to 12%.",
    )


@pytest.mark.parametrize(
    ("salary", "current", "passed"),
    [
        (D("23536.74"), D("0"), True),  # 11768.37 is exactly 50 %: passes
        (D("23536.73"), D("0"), False),  # one paisa less salary: over 50 %
        (D("50000"), D("13231.63"), True),  # 13231.63 + 11768.37 = 25000.00 = exactly 50 %
        (D("50000"), D("13231.64"), False),  # one paisa over
        (D("100000"), D("0"), True),
        (D("10000"), D("0"), False),
    ],
)
def test_emi_burden_fifty_percent_boundary(salary: Decimal, current: Decimal, passed: bool) -> None:
    result = decide(monthly_salary=salary, current_emis=current)
    burden = next(c for c in result.checks if c.name == "emi_burden")
    assert burden.passed is passed
    assert result.approval is passed  # score 80 passes, so the burden decides
    assert (burden.detail in result.reasons) is not passed


def test_emi_burden_detail_golden() -> None:
    result = decide(monthly_salary=D("50000"), current_emis=D("10000"))
    assert result.checks[1] == Check(
        "emi_burden",
        True,
        "EMIs would total Rs 21,768.37 a month (Rs 10,000.00 current + Rs 11,768.37 new), 44% of the "
        "monthly salary Rs 50,000.00; the limit is 50% (Rs 25,000.00).",
    )


def test_reject_lists_every_failed_check_in_order() -> None:
    result = decide(credit_score=5, monthly_salary=D("20000"), current_emis=D("10000"))
    assert result.approval is False
    assert [c.name for c in result.checks] == ["credit_score", "emi_burden"]
    assert len(result.reasons) == 2
    assert result.reasons[0] == "Credit score 5 (slab 10 or below): the loan cannot be approved."
    assert result.reasons[1].startswith("Too much of the salary goes to EMIs: ")


def test_only_the_score_fails() -> None:
    result = decide(credit_score=10)
    assert result.approval is False
    assert result.reasons == ("Credit score 10 (slab 10 or below): the loan cannot be approved.",)


@pytest.mark.parametrize(
    "overrides",
    [
        {"loan_amount": D("0")},
        {"loan_amount": D("-1")},
        {"tenure": 0},
        {"tenure": -12},
        {"interest_rate": D("-0.5")},
        {"monthly_salary": D("0")},
        {"current_emis": D("-1")},
        {"credit_score": 101},
        {"credit_score": -1},
    ],
)
def test_check_eligibility_rejects_bad_input(overrides) -> None:
    with pytest.raises(ValueError):
        decide(**overrides)


@pytest.mark.parametrize(
    "overrides",
    [{"loan_amount": 250000.0}, {"interest_rate": 12.0}, {"tenure": 24.0}, {"monthly_salary": 1e5}],
)
def test_check_eligibility_rejects_floats(overrides) -> None:
    with pytest.raises(TypeError):
        decide(**overrides)


def test_check_eligibility_is_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        check_eligibility(80, D("100000"), D("0"), D("250000"), D("12"), 24)  # type: ignore[misc]
    result = decide()
    with pytest.raises(FrozenInstanceError):
        result.approval = False  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(
    score=st.integers(min_value=0, max_value=100),
    rate=st.integers(min_value=0, max_value=3000).map(lambda bp: D(bp) / 100),
    amount=st.integers(min_value=1000, max_value=10_000_000).map(D),
    tenure=st.integers(min_value=1, max_value=360),
    salary=st.integers(min_value=1000, max_value=1_000_000).map(D),
    current=st.integers(min_value=0, max_value=500_000).map(D),
)
def test_eligibility_properties(score, rate, amount, tenure, salary, current) -> None:
    result = check_eligibility(
        credit_score=score,
        monthly_salary=salary,
        current_emis=current,
        loan_amount=amount,
        interest_rate=rate,
        tenure=tenure,
    )
    slab = slab_for(score)
    assert result.corrected_interest_rate >= rate
    if slab.min_rate is None:
        assert result.corrected_interest_rate == rate
    else:
        assert result.corrected_interest_rate == max(rate, slab.min_rate)
    assert result.monthly_installment == emi(amount, result.corrected_interest_rate, tenure)
    assert result.approval is (slab.approvable and current + result.monthly_installment <= salary / 2)
    assert result.approval is (result.reasons == ())
