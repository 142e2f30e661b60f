"""Pure credit rules for term loans from seed 003 (Alemeno credit approval assignment); DESIGN.md section 5.

No Flask, no SQLAlchemy: plain ``Decimal``/``date`` math on values and frozen dataclasses, so the same rules
serve the web views, the API and the importer, and can be unit-tested in isolation.

Units: amounts are ``Decimal`` rupees; rates are ``Decimal`` percent per annum; tenures are whole months;
scores are whole numbers 0..100; ``as_of`` is the business date (passed in by the caller).

Rules (seed 003):

* ``approved_limit = 36 x monthly salary``, rounded to the nearest lakh, halves up.
* Credit score 0..100 from past loans paid on time, number of past loans, loan activity in the current year
  and approved loan volume; the score is 0 if the sum of current loans exceeds the approved limit.
* Score > 50 approve; 30 < score <= 50 only at a rate >= 12 %; 10 < score <= 30 only at a rate >= 16 %;
  score <= 10 reject; a rate below the slab floor is corrected to the floor.
* Reject if the sum of all current EMIs including the new one exceeds 50 % of the monthly salary.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from portal.lending.schedule import add_months, emi
from portal.money import LAKH, as_decimal, format_inr, quantize

__all__ = [
    "APPROVED_LIMIT_MULTIPLIER",
    "EMI_BURDEN_LIMIT",
    "NEUTRAL_HISTORY_FACTOR",
    "SLABS",
    "WEIGHTS",
    "Check",
    "CreditScore",
    "Eligibility",
    "PastLoan",
    "ScoreComponent",
    "Slab",
    "approved_limit",
    "check_eligibility",
    "credit_score",
    "expected_emis_due",
    "slab_for",
]

#: Seed 003: approved limit = 36 x monthly salary (then rounded to the nearest lakh).
APPROVED_LIMIT_MULTIPLIER = 36

#: Seed 003: all current EMIs, including the new one, must be at most this share of the monthly salary.
EMI_BURDEN_LIMIT = Decimal("0.5")

#: Maximum points of each credit-score component; they sum to 100 (see ``credit_score`` for the rationale).
WEIGHTS: dict[str, int] = {
    "on_time": 40,       # (i)   past loans paid on time: payment behaviour is the strongest evidence
    "past_loans": 20,    # (ii)  number of loans taken in the past: length of the track record
    "current_year": 20,  # (iii) loan activity in the current (calendar) year: appetite for new credit
    "volume": 20,        # (iv)  approved volume of running loans relative to the approved limit: exposure
}

#: History factor used when no EMI has fallen due yet (no evidence either way): half credit.
NEUTRAL_HISTORY_FACTOR = Decimal("0.5")

#: Loans counted in full by the "number of past loans" component (5 points each at weight 20).
_FULL_TRACK_RECORD = 4
#: Points lost per loan approved in the current year (4 or more new loans -> 0 of 20).
_PER_NEW_LOAN = Decimal(5)

_PRECISION = 40
_ZERO = Decimal("0.00")


_decimal = as_decimal  # the shared coercion rule (portal/money.py)


def _int(value: int, name: str) -> int:
    """Validate a plain int (not bool); TypeError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    return value


def _round_int(value: Decimal) -> int:
    """Round half-up to a whole number (the one rounding rule, applied to points and percentages)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _percent(value: Decimal) -> str:
    """A fraction as a whole percent string: Decimal("0.755") -> "76%"."""
    return f"{_round_int(value * 100)}%"


def _rate_text(rate: Decimal) -> str:
    """A rate in percent per annum without trailing zeros: Decimal("12.00") -> "12%"."""
    text = format(rate.normalize(), "f") if rate != 0 else "0"
    return f"{text}%"


def _plural(count: int, word: str) -> str:
    """ "No loans", "1 loan", "3 loans"."""
    if count == 0:
        return f"No {word}s"
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# --------------------------------------------------------------------------------------------------- limit


def approved_limit(monthly_salary: Decimal | int) -> Decimal:
    """Approved credit limit in rupees: 36 x ``monthly_salary``, rounded to the nearest lakh, halves up.

    Source: seed 003 (``approved_limit = 36 * monthly_salary``, rounded to the nearest lakh).
    ``monthly_salary`` is Decimal (or int) rupees per month. Returns Decimal rupees with 2 places:
    5,000 -> 2,00,000 (1,80,000 rounds up); 12,500 -> 5,00,000 (4,50,000 is a half, rounds up);
    1,000 -> 0 (36,000 rounds down to zero lakh).

    Raises ValueError if ``monthly_salary`` <= 0; TypeError for floats.
    """
    salary = _decimal(monthly_salary, "monthly_salary")
    if salary <= 0:
        raise ValueError(f"monthly_salary must be positive, got {salary}")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        lakhs = (salary * APPROVED_LIMIT_MULTIPLIER / LAKH).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return quantize(lakhs * LAKH)


# --------------------------------------------------------------------------------------------------- score


@dataclass(frozen=True)
class PastLoan:
    """A loan from the customer's history, as the credit score sees it (seed 003's loan data).

    * ``loan_amount``: Decimal rupees sanctioned.
    * ``tenure``: whole months.
    * ``emis_paid_on_time``: number of EMIs paid on time so far (int >= 0).
    * ``monthly_installment``: Decimal rupees per month (the EMI).
    * ``approved_on`` / ``end_on``: approval date and scheduled end date; either may be unknown (None).
    """

    loan_amount: Decimal
    tenure: int
    emis_paid_on_time: int
    monthly_installment: Decimal
    approved_on: date | None = None
    end_on: date | None = None

    def is_current(self, as_of: date) -> bool:
        """True if the loan is running on ``as_of``: it ends after ``as_of`` and was approved on or before it.

        Rule: ``end_on is not None and end_on > as_of and (approved_on is None or approved_on <= as_of)``.
        A loan without an end date is never current (it cannot be shown to be running).
        """
        if self.end_on is None or self.end_on <= as_of:
            return False
        return self.approved_on is None or self.approved_on <= as_of

    def is_taken_by(self, as_of: date) -> bool:
        """True if the loan was taken by ``as_of`` (approved on or before it, or approval date unknown)."""
        return self.approved_on is None or self.approved_on <= as_of


def _months_elapsed(start: date, end: date) -> int:
    """Whole months k >= 0 with ``add_months(start, k) <= end`` (0 if ``end`` < ``start``)."""
    if end < start:
        return 0
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if add_months(start, months) > end:
        months -= 1
    return max(months, 0)


def expected_emis_due(loan: PastLoan, as_of: date) -> int:
    """Number of the loan's EMIs that had fallen due by ``as_of`` (whole EMIs, 0..tenure).

    The first EMI falls due one month after approval (as in ``schedule.amortization_schedule``), so
    ``expected = min(tenure, whole months from approved_on to min(as_of, end_on))``.
    If ``approved_on`` is unknown but ``end_on`` is known, approval is taken as ``end_on - tenure months``;
    if both are unknown, all ``tenure`` EMIs are taken as due (the conservative reading).
    A loan approved after ``as_of`` has 0 EMIs due.
    """
    tenure = max(_int(loan.tenure, "tenure"), 0)
    approved_on = loan.approved_on
    if approved_on is None:
        if loan.end_on is None:
            return tenure
        approved_on = add_months(loan.end_on, -tenure)
    cutoff = as_of if loan.end_on is None else min(as_of, loan.end_on)
    return min(tenure, _months_elapsed(approved_on, cutoff))


@dataclass(frozen=True)
class ScoreComponent:
    """One line of the credit score breakdown, for people to read.

    * ``key``: stable identifier (a key of ``WEIGHTS``: "on_time", "past_loans", "current_year", "volume").
    * ``label``: short heading, e.g. "Past loans paid on time".
    * ``points``: whole points earned, 0..``max_points``.
    * ``max_points``: the component's weight (``WEIGHTS[key]``).
    * ``detail``: a sentence explaining the points, e.g. "18 of 24 EMIs paid on time (75%)".
    """

    key: str
    label: str
    points: int
    max_points: int
    detail: str


@dataclass(frozen=True)
class CreditScore:
    """A credit score (seed 003) with its breakdown.

    * ``score``: whole number 0..100; equals ``sum(c.points for c in components)`` unless zeroed.
    * ``components``: the four ``ScoreComponent`` lines in ``WEIGHTS`` order (present even when zeroed).
    * ``zeroed_reason``: None, or why the score was forced to 0 (current loans exceed the approved limit).
    """

    score: int
    components: tuple[ScoreComponent, ...]
    zeroed_reason: str | None = None

    @property
    def points_total(self) -> int:
        """Sum of the component points (what the score would be if it had not been zeroed)."""
        return sum(component.points for component in self.components)


def credit_score(loans: Sequence[PastLoan], approved_limit: Decimal | int, as_of: date) -> CreditScore:
    """Score a customer's loan history 0..100 (seed 003); deterministic, whole number.

    Inputs: ``loans`` (the customer's ``PastLoan`` records, any order), ``approved_limit`` in Decimal rupees
    (>= 0, see ``approved_limit()``), ``as_of`` the business date. Loans approved after ``as_of`` are ignored.

    Components (maximum points in ``WEIGHTS``, 40 + 20 + 20 + 20 = 100):

    (i) ``on_time`` (40), past loans paid on time. ``ratio = sum(min(paid_i, due_i)) / sum(due_i)`` where
        ``due_i = expected_emis_due(loan_i, as_of)``, i.e. ``min(tenure, whole months from approved_on to
        min(as_of, end_on))``; paid EMIs are capped per loan at the EMIs due, so paying ahead (or a data
        quirk) on one loan cannot hide misses on another, and the ratio is at most 1. Points = ``40 x ratio``.
        If no EMI has fallen due yet there is no evidence either way: ratio is neutral (0.5) -> 20 points.
    (ii) ``past_loans`` (20), number of loans taken: length of the track record, 5 points per loan up to 4
        loans. Credited at the history factor (below).
    (iii) ``current_year`` (20), loans approved in the calendar year of ``as_of``: seeking several new loans
        in one year signals credit hunger, so 20 points with none, minus 5 per new loan (4 or more -> 0).
        Credited at the history factor.
    (iv) ``volume`` (20), sum of the loan amounts of the *current* loans relative to the approved limit:
        ``20 x (1 - min(1, current / limit))`` (no running loans -> 20; at or over the limit -> 0).
        Credited at the history factor.

    History factor: components (ii)-(iv) are multiplied by the on-time ratio (0.5 when nothing has fallen due,
    ``NEUTRAL_HISTORY_FACTOR``), because few loans and low exposure say little about a borrower who missed the
    EMIs that were due. So missing EMIs lowers the score on every line and a perfect record earns full credit.
    Each component is rounded half-up to whole points and the score is their sum.

    Reference points: no loans at all -> 20 + 0 + 10 + 10 = 40 ("moderate-low": slab 30 < score <= 50,
    approvable only at >= 12 %). Two finished loans paid perfectly, none this year -> 40 + 10 + 20 + 20 = 90.
    Any history with every due EMI missed -> 0.

    Zero rule (seed 003): if the sum of ``loan_amount`` over current loans (``PastLoan.is_current(as_of)``) is
    greater than ``approved_limit``, ``score`` is 0 and ``zeroed_reason`` says why; the components are still
    returned so a person can see them.

    Raises ValueError if ``approved_limit`` is negative; TypeError for float amounts.
    """
    limit = _decimal(approved_limit, "approved_limit")
    if limit < 0:
        raise ValueError(f"approved_limit must not be negative, got {limit}")
    taken = [loan for loan in loans if loan.is_taken_by(as_of)]
    current = [loan for loan in taken if loan.is_current(as_of)]
    current_total = sum((_decimal(loan.loan_amount, "loan_amount") for loan in current), _ZERO)

    with localcontext() as ctx:
        ctx.prec = _PRECISION
        on_time, factor = _on_time_component(taken, as_of)
        components = (
            on_time,
            _past_loans_component(len(taken), factor),
            _current_year_component(taken, as_of, factor),
            _volume_component(current_total, limit, factor),
        )

    zeroed_reason = None
    if current_total > limit:
        zeroed_reason = (
            f"Current loans total {format_inr(current_total)}, more than the approved limit "
            f"{format_inr(limit)}, so the credit score is 0."
        )
    score = 0 if zeroed_reason else sum(component.points for component in components)
    return CreditScore(score=score, components=components, zeroed_reason=zeroed_reason)


def _factor_note(factor: Decimal) -> str:
    if factor == 1:
        return ""
    if factor == NEUTRAL_HISTORY_FACTOR:
        return "; half credit until EMIs fall due"
    return f"; credited at {_percent(factor)} for the on-time record"


def _on_time_component(taken: Sequence[PastLoan], as_of: date) -> tuple[ScoreComponent, Decimal]:
    weight = WEIGHTS["on_time"]
    due = 0
    paid = 0
    for loan in taken:
        loan_due = expected_emis_due(loan, as_of)
        due += loan_due
        paid += min(max(_int(loan.emis_paid_on_time, "emis_paid_on_time"), 0), loan_due)
    if due == 0:
        factor = NEUTRAL_HISTORY_FACTOR
        points = _round_int(weight * factor)
        if taken:
            detail = f"No EMIs have fallen due yet; neutral {points} of {weight}"
        else:
            detail = f"No loan history; neutral {points} of {weight}"
    else:
        factor = min(Decimal(paid) / Decimal(due), Decimal(1))
        points = _round_int(weight * factor)
        detail = f"{paid} of {due} EMIs paid on time ({_percent(factor)})"
    component = ScoreComponent("on_time", "Past loans paid on time", points, weight, detail)
    return component, factor


def _past_loans_component(count: int, factor: Decimal) -> ScoreComponent:
    weight = WEIGHTS["past_loans"]
    base = Decimal(weight) * min(count, _FULL_TRACK_RECORD) / _FULL_TRACK_RECORD
    points = _round_int(base * factor)
    if count == 0:
        detail = "No loans taken yet"
    else:
        detail = f"{_plural(count, 'loan')} taken (base {_round_int(base)} of {weight}{_factor_note(factor)})"
    return ScoreComponent("past_loans", "Number of past loans", points, weight, detail)


def _current_year_component(taken: Sequence[PastLoan], as_of: date, factor: Decimal) -> ScoreComponent:
    weight = WEIGHTS["current_year"]
    year = as_of.year
    count = sum(1 for loan in taken if loan.approved_on is not None and loan.approved_on.year == year)
    base = max(Decimal(weight) - _PER_NEW_LOAN * count, Decimal(0))
    points = _round_int(base * factor)
    detail = (
        f"{_plural(count, 'loan')} approved in {year} "
        f"(base {_round_int(base)} of {weight}{_factor_note(factor)})"
    )
    return ScoreComponent("current_year", f"Loan activity in {year}", points, weight, detail)


def _volume_component(current_total: Decimal, limit: Decimal, factor: Decimal) -> ScoreComponent:
    weight = WEIGHTS["volume"]
    if current_total == 0:
        used = Decimal(0)
    elif limit == 0:
        used = Decimal(1)
    else:
        used = min(current_total / limit, Decimal(1))
    base = Decimal(weight) * (1 - used)
    points = _round_int(base * factor)
    if current_total == 0:
        what = "No running loans"
    elif limit == 0:
        what = (
            f"Running loans total {format_inr(current_total)} against an approved limit of "
            f"{format_inr(limit)}"
        )
    else:
        what = (
            f"Running loans total {format_inr(current_total)}, "
            f"{_percent(current_total / limit)} of the approved limit {format_inr(limit)}"
        )
    detail = f"{what} (base {_round_int(base)} of {weight}{_factor_note(factor)})"
    return ScoreComponent("volume", "Approved loan volume", points, weight, detail)


# --------------------------------------------------------------------------------------------------- slabs


@dataclass(frozen=True)
class Slab:
    """An approval band of credit scores (seed 003).

    * ``min_score_exclusive``: the slab holds scores strictly greater than this (and not above the next slab).
    * ``min_rate``: the lowest interest rate (percent per annum) the slab allows, or None for no floor.
    * ``approvable``: False for the reject band.
    * ``label``: human text, e.g. "above 50".
    """

    min_score_exclusive: int
    min_rate: Decimal | None
    approvable: bool
    label: str


#: Seed 003 slabs, highest first: > 50 any rate; 30 < s <= 50 at >= 12 %; 10 < s <= 30 at >= 16 %;
#: <= 10 reject.
SLABS: tuple[Slab, ...] = (
    Slab(50, None, True, "above 50"),
    Slab(30, Decimal("12"), True, "31 to 50"),
    Slab(10, Decimal("16"), True, "11 to 30"),
    Slab(-1, None, False, "10 or below"),
)


def slab_for(score: int) -> Slab:
    """The ``Slab`` for a credit score 0..100 (seed 003).

    score > 50 -> approve at any rate ("above 50"); 30 < score <= 50 -> approve only at >= 12 % p.a.;
    10 < score <= 30 -> approve only at >= 16 % p.a.; score <= 10 -> reject.
    Raises ValueError if ``score`` is outside 0..100; TypeError if it is not an int.
    """
    score = _int(score, "score")
    if not 0 <= score <= 100:
        raise ValueError(f"credit score must be 0..100, got {score}")
    for slab in SLABS:
        if score > slab.min_score_exclusive:
            return slab
    raise AssertionError("unreachable: the last slab holds every score >= 0")  # pragma: no cover


# ------------------------------------------------------------------------------------------------ eligibility


@dataclass(frozen=True)
class Check:
    """One eligibility check: ``name`` ("credit_score" or "emi_burden"), ``passed``, ``detail`` sentence."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Eligibility:
    """Outcome of ``check_eligibility`` (the fields of seed 003's /check-eligibility response, plus reasons).

    * ``approval``: True if every check passed.
    * ``credit_score``: the score used (0..100).
    * ``interest_rate``: the requested rate, percent per annum.
    * ``corrected_interest_rate``: the rate raised to the slab floor (12 or 16) when the slab has one and the
      requested rate is lower; otherwise the requested rate.
    * ``tenure``: months.
    * ``monthly_installment``: ``emi(loan_amount, corrected_interest_rate, tenure)``, Decimal rupees.
    * ``slab``: the credit score's ``Slab``.
    * ``checks``: the ``Check`` results, credit score slab first, then EMI burden.
    """

    approval: bool
    credit_score: int
    interest_rate: Decimal
    corrected_interest_rate: Decimal
    tenure: int
    monthly_installment: Decimal
    slab: Slab
    checks: tuple[Check, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        """Details of the failed checks, in check order (empty when approved)."""
        return tuple(check.detail for check in self.checks if not check.passed)


def check_eligibility(
    *,
    credit_score: int,
    monthly_salary: Decimal | int,
    current_emis: Decimal | int,
    loan_amount: Decimal | int,
    interest_rate: Decimal | int,
    tenure: int,
) -> Eligibility:
    """Decide a loan request by seed 003's rules; returns an ``Eligibility``.

    Inputs: ``credit_score`` 0..100 (from ``credit_score()``); ``monthly_salary`` Decimal rupees per month;
    ``current_emis`` Decimal rupees per month, the sum of the EMIs of the customer's current loans;
    ``loan_amount`` Decimal rupees; ``interest_rate`` percent per annum; ``tenure`` months.

    * ``corrected_interest_rate = max(interest_rate, slab.min_rate)`` if the slab has a floor, else the rate.
    * ``monthly_installment = emi(loan_amount, corrected_interest_rate, tenure)``.
    * Check "credit_score": fails when the score is 10 or below (the reject slab).
    * Check "emi_burden": ``current_emis + monthly_installment`` must be at most 50 % of ``monthly_salary``
      (exactly 50 % passes; more fails).
    * ``approval`` = every check passed.

    Raises ValueError for loan_amount <= 0, tenure < 1, interest_rate < 0, monthly_salary <= 0,
    current_emis < 0 or a score outside 0..100; TypeError for floats.
    """
    salary = _decimal(monthly_salary, "monthly_salary")
    existing = _decimal(current_emis, "current_emis")
    amount = _decimal(loan_amount, "loan_amount")
    rate = _decimal(interest_rate, "interest_rate")
    tenure = _int(tenure, "tenure")
    if amount <= 0:
        raise ValueError(f"loan_amount must be positive, got {amount}")
    if tenure < 1:
        raise ValueError(f"tenure must be at least 1 month, got {tenure}")
    if rate < 0:
        raise ValueError(f"interest_rate must not be negative, got {rate}")
    if salary <= 0:
        raise ValueError(f"monthly_salary must be positive, got {salary}")
    if existing < 0:
        raise ValueError(f"current_emis must not be negative, got {existing}")
    slab = slab_for(credit_score)

    corrected = rate
    if slab.min_rate is not None and rate < slab.min_rate:
        corrected = slab.min_rate
    installment = emi(amount, corrected, tenure)

    if not slab.approvable:
        score_detail = f"Credit score {credit_score} (slab {slab.label}): the loan cannot be approved."
    elif slab.min_rate is None:
        score_detail = f"Credit score {credit_score} (slab {slab.label}): approvable at the requested rate."
    elif corrected != rate:
        score_detail = (
            f"Credit score {credit_score} (slab {slab.label}): approvable only at "
            f"{_rate_text(slab.min_rate)} p.a. or more, so the requested {_rate_text(rate)} is corrected to "
            f"{_rate_text(corrected)}."
        )
    else:
        score_detail = (
            f"Credit score {credit_score} (slab {slab.label}): approvable at "
            f"{_rate_text(slab.min_rate)} p.a. or more."
        )

    total_emis = existing + installment
    ceiling = salary * EMI_BURDEN_LIMIT
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        share = _percent(total_emis / salary)
    burden_passed = total_emis <= ceiling
    burden_detail = (
        f"EMIs would total {format_inr(total_emis)} a month ({format_inr(existing)} current + "
        f"{format_inr(installment)} new), {share} of the monthly salary {format_inr(salary)}; "
        f"the limit is 50% ({format_inr(ceiling)})."
    )
    if not burden_passed:
        burden_detail = "Too much of the salary goes to EMIs: " + burden_detail

    checks = (
        Check("credit_score", slab.approvable, score_detail),
        Check("emi_burden", burden_passed, burden_detail),
    )
    return Eligibility(
        approval=all(check.passed for check in checks),
        credit_score=credit_score,
        interest_rate=rate,
        corrected_interest_rate=corrected,
        tenure=tenure,
        monthly_installment=installment,
        slab=slab,
        checks=checks,
    )
