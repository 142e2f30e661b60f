"""Pure instalment-schedule math for term loans (no Flask, no SQLAlchemy, ``Decimal`` only, never ``float``).

Units used throughout this module:

* amounts are ``Decimal`` rupees; results are rounded half-up to the paisa with ``portal.money.quantize``;
* ``annual_rate`` is a ``Decimal`` percent per annum (``Decimal("12")`` means 12 % p.a.);
* tenures are whole numbers of instalments (``int``): months for the default monthly frequency, weeks or
  fortnights for the weekly and fortnightly ones; a schedule always has exactly that many rows;
* days are calendar days between two ``date`` values.

Source of the rules: seed 003 (Alemeno credit approval assignment) and DESIGN.md section 5::

    EMI = P * r * (1 + r)^n / ((1 + r)^n - 1),   r = annual_rate / 12 / 100,   0 % -> P / n

Options (keyword-only arguments of ``amortization_schedule``; a loan product stores them as settings):

``method``
    ``"emi"`` (default): reducing balance, equal instalments (the formula above with the periodic rate ``r``);
    ``"flat"``: total interest ``P * annual_rate / 100 * term in years`` on the original principal, spread evenly
    over the instalments with ``P / n`` of principal each;
    ``"equal-principal"``: ``P / n`` of principal each instalment, interest on the reducing balance (instalments
    fall over time).
``frequency``
    ``"monthly"`` (default; due ``add_months(start, k)``), ``"fortnightly"`` (due ``start + 14 k`` days) or
    ``"weekly"`` (due ``start + 7 k`` days). Periods per year: 12, 26 and 52 (Fineract's
    ``DefaultPaymentPeriodsInOneYearCalculator``).
``day_count``
    ``"30/360"`` (default; Fineract: days in year 360, days in month 30, interest calculation period "same as
    repayment period"): every period is one nominal period of the year, so the periodic rate is
    ``annual_rate / 100 / periods_per_year`` (``/ 12`` monthly, which is the seed 003 ``r``; ``/ 26`` fortnightly;
    ``/ 52`` weekly) whatever the calendar length of the period.
    ``"actual/365"`` (Fineract: days in month actual, days in year 365, interest calculation period "daily"; the
    year is 365 days also in leap years, i.e. Actual/365 Fixed): a period's interest is
    ``balance * annual_rate / 100 * days / 365`` with ``days`` the actual calendar days of the period. The EMI
    is still computed with the nominal periodic rate (Fineract's PMT) and the interest of each period is then
    recomputed from its actual days, so the principal parts vary slightly and the last instalment absorbs the
    difference. For ``"flat"`` the total interest uses the actual days from ``start`` to the last due date.

Common rules: interest runs from the disbursement date ``start`` (the first period is ``start`` to the first
due date); every row's interest is rounded half-up to the paisa; the rounding remainder goes on the last
instalment, so the principal parts add up to the principal exactly and the final balance is zero (STYLE.md,
"Money"); no balance is ever negative; a zero rate gives zero interest.
"""
from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext

from portal.money import as_decimal, quantize

__all__ = [
    "DAY_COUNTS",
    "FREQUENCIES",
    "METHODS",
    "PERIODS_PER_YEAR",
    "ScheduleRow",
    "add_months",
    "amortization_schedule",
    "due_date",
    "emi",
    "flat_interest",
    "monthly_rate",
    "periodic_rate",
    "regenerate_after_prepayment",
    "schedule_totals",
]

#: Working precision (significant digits) for the EMI power series; far beyond the paisa.
PRECISION = 40

#: Interest methods accepted by ``amortization_schedule(method=...)``.
METHODS = ("emi", "flat", "equal-principal")
#: Day-count conventions accepted by ``day_count=...``.
DAY_COUNTS = ("30/360", "actual/365")
#: Repayment frequencies accepted by ``frequency=...``.
FREQUENCIES = ("monthly", "fortnightly", "weekly")
#: Repayment periods in one year per frequency (Fineract's periods-in-one-year calculator).
PERIODS_PER_YEAR = {"monthly": 12, "fortnightly": 26, "weekly": 52}
#: Length in days of the fixed-length frequencies.
_PERIOD_DAYS = {"fortnightly": 14, "weekly": 7}
#: Upper bound on a regenerated schedule's length when no ``max_periods`` is given (100 years of periods).
_MAX_YEARS = 100

_ZERO = Decimal("0.00")


_decimal = as_decimal  # the shared coercion rule (portal/money.py)


def _months(value: int, name: str = "tenure_months") -> int:
    """Validate a whole number of months (int, not bool); raise TypeError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int number of months, not {type(value).__name__}")
    return value


def _choice(value: str, allowed: tuple[str, ...], name: str) -> str:
    """Return ``value`` if it is one of ``allowed``; ValueError naming the accepted values otherwise."""
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _validate_terms(
    principal: Decimal | int, annual_rate: Decimal | int, tenure_months: int
) -> tuple[Decimal, Decimal, int]:
    """Validate loan terms; return (Decimal, Decimal, int). ValueError/TypeError if invalid."""
    principal = _decimal(principal, "principal")
    annual_rate = _decimal(annual_rate, "annual_rate")
    tenure_months = _months(tenure_months)
    if principal <= 0:
        raise ValueError(f"principal must be positive, got {principal}")
    if tenure_months < 1:
        raise ValueError(f"tenure_months must be at least 1, got {tenure_months}")
    if annual_rate < 0:
        raise ValueError(f"annual_rate must not be negative, got {annual_rate}")
    return principal, annual_rate, tenure_months


def _whole_paise(amount: Decimal, name: str) -> Decimal:
    if quantize(amount) != amount:
        raise ValueError(f"{name} must be a whole number of paise, got {amount}")
    return amount


def add_months(d: date, n: int) -> date:
    """Return the date ``n`` calendar months after ``d`` (``n`` may be negative or zero).

    The day of month is kept when it exists and clamped to the month's last day otherwise:
    2024-01-31 + 1 -> 2024-02-29, 2025-01-31 + 1 -> 2025-02-28, 2025-03-31 - 1 -> 2025-02-28.
    Each due date of a schedule is computed from the start date (not chained), so a loan started on
    Jan 31 falls due on Feb 28, Mar 31, Apr 30, ...

    Raises TypeError if ``n`` is not an int; ValueError (from ``date``) if the result leaves years 1..9999.
    """
    n = _months(n, "n")
    index = d.month - 1 + n
    year = d.year + index // 12
    month = index % 12 + 1
    if not 1 <= year <= 9999:
        raise ValueError(f"{d.isoformat()} + {n} months is outside the supported date range")
    day = min(d.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def due_date(start: date, seq: int, frequency: str = "monthly") -> date:
    """Due date of instalment ``seq`` (1-based; 0 gives ``start``) of a schedule starting on ``start``.

    Monthly: ``add_months(start, seq)`` (computed from the start, never chained, month-end clamped);
    fortnightly: ``start + 14 * seq`` days; weekly: ``start + 7 * seq`` days.

    Raises ValueError for an unknown frequency or a date outside years 1..9999; TypeError if ``seq`` is not an int.
    """
    frequency = _choice(frequency, FREQUENCIES, "frequency")
    seq = _months(seq, "seq")
    if frequency == "monthly":
        return add_months(start, seq)
    try:
        return start + timedelta(days=_PERIOD_DAYS[frequency] * seq)
    except OverflowError:
        raise ValueError(f"{start.isoformat()} + {seq} {frequency} periods is outside the supported dates") from None


def periodic_rate(annual_rate: Decimal | int, frequency: str = "monthly") -> Decimal:
    """Nominal rate of one repayment period as a fraction: ``annual_rate / 100 / periods_per_year``.

    ``periods_per_year`` is 12 (monthly), 26 (fortnightly) or 52 (weekly); computed at 40 significant digits.
    ``annual_rate`` is percent per annum (Decimal or int). Raises ValueError if it is negative or the frequency is
    unknown, TypeError if it is a float.
    """
    annual_rate = _decimal(annual_rate, "annual_rate")
    frequency = _choice(frequency, FREQUENCIES, "frequency")
    if annual_rate < 0:
        raise ValueError(f"annual_rate must not be negative, got {annual_rate}")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return annual_rate / Decimal(100 * PERIODS_PER_YEAR[frequency])


def monthly_rate(annual_rate: Decimal | int) -> Decimal:
    """Monthly rate as a fraction: ``r = annual_rate / 12 / 100`` (seed 003), at 40 significant digits.

    ``annual_rate`` is percent per annum (Decimal or int). Raises ValueError if it is negative,
    TypeError if it is a float.
    """
    return periodic_rate(annual_rate, "monthly")


def emi(
    principal: Decimal | int, annual_rate: Decimal | int, tenure_months: int, *, frequency: str = "monthly"
) -> Decimal:
    """Equated instalment in rupees (monthly by default), rounded half-up to the paisa.

    Formula (seed 003): ``EMI = P * r * (1 + r)^n / ((1 + r)^n - 1)`` with ``r = annual_rate / 12 / 100``
    (``/ 26`` fortnightly, ``/ 52`` weekly: ``periodic_rate``); when the rate is 0 the EMI is ``P / n``.
    Computed in a local decimal context with 40 significant digits and rounded once at the end.

    * ``principal``: Decimal (or int) rupees, > 0.
    * ``annual_rate``: Decimal (or int) percent per annum, >= 0 (``Decimal("12")`` = 12 % p.a.).
    * ``tenure_months``: int >= 1, the number of instalments (months when monthly).
    * ``frequency``: ``"monthly"`` (default), ``"fortnightly"`` or ``"weekly"``.

    Examples: 2,50,000 at 12 % for 24 months -> 11768.37; 1,00,000 at 12 % for 12 -> 8884.88;
    12,000 at 0 % for 12 -> 1000.00; 100 at 7 % for 6 -> 17.01 (Fineract).

    Raises ValueError for principal <= 0, tenure_months < 1, annual_rate < 0 or an unknown frequency;
    TypeError for floats.
    """
    principal, annual_rate, tenure_months = _validate_terms(principal, annual_rate, tenure_months)
    r = periodic_rate(annual_rate, frequency)
    with localcontext() as ctx:
        ctx.prec = PRECISION
        if r == 0:
            exact = principal / tenure_months
        else:
            growth = (1 + r) ** tenure_months
            exact = principal * r * growth / (growth - 1)
        return quantize(exact)


@dataclass(frozen=True)
class ScheduleRow:
    """One instalment of an amortization schedule.

    * ``seq``: 1-based instalment number.
    * ``due_on``: due date, ``due_date(start, seq, frequency)`` (``add_months(start, seq)`` when monthly).
    * ``principal``: principal part of the instalment (Decimal rupees, 2 places).
    * ``interest``: interest part of the period ending on ``due_on`` (Decimal rupees, 2 places).
    * ``installment``: ``principal + interest`` (Decimal rupees).
    * ``balance``: principal outstanding after this instalment (Decimal rupees, never negative).
    """

    seq: int
    due_on: date
    principal: Decimal
    interest: Decimal
    installment: Decimal
    balance: Decimal

    def as_dict(self) -> dict[str, int | str]:
        """JSON-friendly dict: ``seq`` int, ``due_on`` ISO date, amounts as plain strings ("11768.37")."""
        return {
            "seq": self.seq,
            "due_on": self.due_on.isoformat(),
            "principal": format(self.principal, "f"),
            "interest": format(self.interest, "f"),
            "installment": format(self.installment, "f"),
            "balance": format(self.balance, "f"),
        }


def _period_interest(balance: Decimal, annual_rate: Decimal, frequency: str, day_count: str, days: int) -> Decimal:
    """Interest of one period on ``balance``, rounded half-up to the paisa.

    30/360: ``balance * annual_rate / (100 * periods_per_year)``; actual/365:
    ``balance * annual_rate * days / 36500``. Multiplies before dividing so that an exact half paisa (e.g. 0.60
    at 10 % a month -> 0.005) is seen as a tie and rounds up, instead of 0.00499... from a truncated rate.
    """
    with localcontext() as ctx:
        ctx.prec = PRECISION
        if day_count == "30/360":
            return quantize(balance * annual_rate / Decimal(100 * PERIODS_PER_YEAR[frequency]))
        return quantize(balance * annual_rate * days / Decimal(36500))


def _row(seq: int, due_on: date, principal_part: Decimal, interest: Decimal, balance: Decimal) -> ScheduleRow:
    return ScheduleRow(
        seq=seq,
        due_on=due_on,
        principal=quantize(principal_part),
        interest=quantize(interest),
        installment=quantize(principal_part + interest),
        balance=quantize(balance),
    )


def _amortize(
    balance: Decimal,
    annual_rate: Decimal,
    payment: Decimal,
    *,
    first_seq: int,
    count: int,
    period_start: date,
    due_on: Callable[[int], date],
    day_count: str,
    frequency: str,
    stop_when_paid: bool,
    last_takes_rest: bool = True,
) -> list[ScheduleRow]:
    """Reducing-balance rows with a level ``payment``: at most ``count`` rows from ``first_seq``.

    Each row: interest on the opening balance for the period (``period_start`` to the row's due date for the
    first row), principal part ``payment - interest`` kept within 0..opening balance. The ``count``-th row takes
    the whole remaining balance (unless ``last_takes_rest`` is false: then it may leave a balance). With
    ``stop_when_paid`` the list ends at the payoff row; otherwise the rows after it are all zero.
    """
    rows: list[ScheduleRow] = []
    opened_on = period_start
    for index in range(count):
        seq = first_seq + index
        due = due_on(seq)
        interest = _period_interest(balance, annual_rate, frequency, day_count, (due - opened_on).days)
        if index == count - 1 and last_takes_rest:
            principal_part = balance
        else:
            principal_part = min(max(payment - interest, _ZERO), balance)
        balance = balance - principal_part
        rows.append(_row(seq, due, principal_part, interest, balance))
        if stop_when_paid and balance == 0:
            break
        opened_on = due
    return rows


def _even_split(total: Decimal, parts: int) -> Decimal:
    """``total / parts`` rounded half-up to the paisa (the last part takes the remainder)."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return quantize(total / parts)


def flat_interest(
    principal: Decimal | int,
    annual_rate: Decimal | int,
    tenure: int,
    start: date,
    *,
    day_count: str = "30/360",
    frequency: str = "monthly",
) -> Decimal:
    """Total interest of a flat-rate loan in rupees, rounded half-up to the paisa.

    30/360: ``P * annual_rate / 100 * tenure / periods_per_year`` (``* months / 12`` when monthly);
    actual/365: ``P * annual_rate / 100 * days / 365`` with ``days`` from ``start`` to the last due date.
    Raises like ``amortization_schedule``.
    """
    principal, annual_rate, tenure = _validate_terms(principal, annual_rate, tenure)
    day_count = _choice(day_count, DAY_COUNTS, "day_count")
    frequency = _choice(frequency, FREQUENCIES, "frequency")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        if day_count == "30/360":
            return quantize(principal * annual_rate * tenure / Decimal(100 * PERIODS_PER_YEAR[frequency]))
        days = (due_date(start, tenure, frequency) - start).days
        return quantize(principal * annual_rate * days / Decimal(36500))


def amortization_schedule(
    principal: Decimal | int,
    annual_rate: Decimal | int,
    tenure_months: int,
    start: date,
    installment: Decimal | int | None = None,
    *,
    method: str = "emi",
    day_count: str = "30/360",
    frequency: str = "monthly",
) -> list[ScheduleRow]:
    """Instalment schedule of exactly ``tenure_months`` rows (see the module docstring for the conventions).

    * ``principal``: Decimal (or int) rupees, > 0, in whole paise (at most 2 decimal places).
    * ``annual_rate``: Decimal percent per annum, >= 0.
    * ``tenure_months``: int >= 1, the number of instalments (months when monthly, weeks when weekly,
      fortnights when fortnightly); the schedule always has exactly this many rows.
    * ``start``: disbursement date; interest runs from it; row ``k`` (1-based) is due
      ``due_date(start, k, frequency)`` (``add_months(start, k)`` when monthly).
    * ``installment``: ``method="emi"`` only: the level payment; defaults to
      ``emi(principal, annual_rate, tenure_months, frequency=frequency)``. A caller may pass its own (e.g. the
      imported book's "Monthly payment"); it is rounded half-up to paise.
    * ``method``: ``"emi"`` (default), ``"flat"`` or ``"equal-principal"``.
    * ``day_count``: ``"30/360"`` (default) or ``"actual/365"``.
    * ``frequency``: ``"monthly"`` (default), ``"fortnightly"`` or ``"weekly"``.

    EMI: for each row ``interest`` is the period's interest on the opening balance, ``principal part =
    installment - interest`` kept within 0..opening balance, ``balance = opening - principal part``. If a given
    installment pays the loan off early, the payoff row is smaller and the remaining rows are all zero.
    Flat: principal ``P / n`` and interest ``flat_interest(...) / n`` per row (half-up), each capped at what is
    left. Equal-principal: principal ``P / n`` per row (half-up, capped at the balance), interest on the opening
    balance. In every method the last row takes the whole remaining principal (and, for flat, the remaining
    interest), which absorbs the rounding remainder. Hence ``sum(row.principal) == principal`` exactly, the final
    balance is 0, every ``row.installment == row.principal + row.interest`` and balances never go negative. With
    the 30/360 defaults the result is the seed 003 schedule, unchanged.

    With actual/365 the last instalment absorbs the difference between nominal and actual-day interest (e.g.
    10,00,000 at 10 % for 240 months from 15 Jan 2025: EMI 9,650.22, last instalment 10,927.60). A long period's
    interest may exceed the EMI (high rates over long tenures); that row then repays no principal and its
    ``installment`` is the interest alone (the balance never grows), and the loan may be repaid before the last
    row, whose remaining rows are then zero.

    Raises ValueError for principal <= 0 or with fractions of a paisa, tenure_months < 1, annual_rate < 0,
    an unknown method/day_count/frequency, an installment with a method other than "emi", installment <= 0, a
    given installment smaller than one nominal period's interest on the principal (``principal * annual_rate /
    100 / periods_per_year``; negative amortization is not supported), or due dates beyond year 9999; TypeError
    for floats.
    """
    principal, annual_rate, tenure_months = _validate_terms(principal, annual_rate, tenure_months)
    method = _choice(method, METHODS, "method")
    day_count = _choice(day_count, DAY_COUNTS, "day_count")
    frequency = _choice(frequency, FREQUENCIES, "frequency")
    _whole_paise(principal, "principal")
    if installment is not None and method != "emi":
        raise ValueError(f"installment can only be given with method='emi', not method={method!r}")
    dues = [due_date(start, seq, frequency) for seq in range(tenure_months + 1)]

    if method == "emi":
        if installment is None:
            payment = emi(principal, annual_rate, tenure_months, frequency=frequency)
        else:
            payment = quantize(_decimal(installment, "installment"))
            if payment <= 0:
                raise ValueError(f"installment must be positive, got {installment}")
            first_interest = _period_interest(principal, annual_rate, frequency, "30/360", 0)
            if payment < first_interest and tenure_months > 1:
                raise ValueError(
                    f"installment {payment} does not cover one period's interest {first_interest}; "
                    "negative amortization is not supported"
                )
        return _amortize(principal, annual_rate, payment, first_seq=1, count=tenure_months, period_start=start,
                         due_on=dues.__getitem__, day_count=day_count, frequency=frequency, stop_when_paid=False)

    principal_share = _even_split(principal, tenure_months)
    if method == "flat":
        interest_left = flat_interest(principal, annual_rate, tenure_months, start, day_count=day_count,
                                      frequency=frequency)
        interest_share = _even_split(interest_left, tenure_months)
    rows: list[ScheduleRow] = []
    balance = principal
    for seq in range(1, tenure_months + 1):
        last = seq == tenure_months
        if method == "flat":
            interest = interest_left if last else min(interest_share, interest_left)
            interest_left -= interest
        else:
            interest = _period_interest(balance, annual_rate, frequency, day_count, (dues[seq] - dues[seq - 1]).days)
        principal_part = balance if last else min(principal_share, balance)
        balance -= principal_part
        rows.append(_row(seq, dues[seq], principal_part, interest, balance))
    return rows


def regenerate_after_prepayment(
    balance: Decimal | int,
    annual_rate: Decimal | int,
    installment: Decimal | int,
    start_seq: int,
    start_date: date,
    *,
    disbursed_on: date | None = None,
    day_count: str = "30/360",
    frequency: str = "monthly",
    max_periods: int | None = None,
) -> list[ScheduleRow]:
    """The remaining reducing-balance (EMI) schedule after a prepayment, keeping the instalment: the tenure shrinks.

    * ``balance``: principal outstanding (Decimal rupees, whole paise, >= 0) at ``start_date``, i.e. after
      instalment ``start_seq - 1`` and the prepayment. 0 gives ``[]`` (the prepayment closed the loan).
    * ``annual_rate``: Decimal percent per annum, >= 0.
    * ``installment``: the unchanged level payment (Decimal rupees, > 0, rounded half-up to paise).
    * ``start_seq``: int >= 1, the number of the first regenerated instalment (rows are numbered from it).
    * ``start_date``: the date interest runs from for row ``start_seq``: the due date of instalment
      ``start_seq - 1`` (or the disbursement date when ``start_seq == 1``).
    * ``disbursed_on``: the original schedule's start date; when given, row ``k`` is due
      ``due_date(disbursed_on, k, frequency)``, so month-end clamping matches the original schedule (a loan
      disbursed on Jan 31 stays due on the 31st where the month has one). Without it, row ``k`` is due
      ``due_date(start_date, k - start_seq + 1, frequency)``.
    * ``day_count``, ``frequency``: as for ``amortization_schedule``.
    * ``max_periods``: optional int >= 1, the remaining tenure; if the balance is not repaid within it, the
      ``max_periods``-th row takes all that is left (as in ``amortization_schedule``).

    The rows follow the EMI rules of ``amortization_schedule`` and stop at the row that repays the balance
    (smaller than the instalment, taking the remainder), so ``sum(row.principal) == balance`` exactly, the final
    balance is 0, every row's ``installment == principal + interest`` and no balance is negative. Without a
    prepayment (``balance`` = the scheduled balance after row ``start_seq - 1``), ``disbursed_on=start`` and
    ``max_periods`` = the remaining tenure, the rows equal the tail of the original ``amortization_schedule``;
    the repayment service should pass ``max_periods`` so that a rounding remainder never adds a period.

    Raises ValueError for balance < 0 or with fractions of a paisa, annual_rate < 0, installment <= 0, an
    installment below one nominal period's interest on ``balance`` (``balance * annual_rate / 100 /
    periods_per_year``; equal to it is also refused without ``max_periods``, as the balance would never fall;
    ``max_periods=1`` accepts any), start_seq < 1,
    max_periods < 1, a first due date not after ``start_date``, ``disbursed_on`` after ``start_date``, an unknown
    day_count/frequency, or (without ``max_periods``) a balance not repaid within 100 years; TypeError for floats
    and non-int counts.
    """
    balance = _whole_paise(_decimal(balance, "balance"), "balance")
    annual_rate = _decimal(annual_rate, "annual_rate")
    payment = quantize(_decimal(installment, "installment"))
    start_seq = _months(start_seq, "start_seq")
    day_count = _choice(day_count, DAY_COUNTS, "day_count")
    frequency = _choice(frequency, FREQUENCIES, "frequency")
    if balance < 0:
        raise ValueError(f"balance must not be negative, got {balance}")
    if annual_rate < 0:
        raise ValueError(f"annual_rate must not be negative, got {annual_rate}")
    if payment <= 0:
        raise ValueError(f"installment must be positive, got {installment}")
    if start_seq < 1:
        raise ValueError(f"start_seq must be at least 1, got {start_seq}")
    if max_periods is not None and _months(max_periods, "max_periods") < 1:
        raise ValueError(f"max_periods must be at least 1, got {max_periods}")
    if disbursed_on is not None and disbursed_on > start_date:
        raise ValueError(f"disbursed_on {disbursed_on} is after start_date {start_date}")
    if balance == 0:
        return []

    if disbursed_on is None:
        def due_on(seq: int) -> date:
            return due_date(start_date, seq - start_seq + 1, frequency)
    else:
        def due_on(seq: int) -> date:
            return due_date(disbursed_on, seq, frequency)

    first_due = due_on(start_seq)
    if first_due <= start_date:
        raise ValueError(f"instalment {start_seq} falls due on {first_due}, not after start_date {start_date}")
    nominal_interest = _period_interest(balance, annual_rate, frequency, "30/360", 0)
    if payment < nominal_interest and max_periods != 1 or payment == nominal_interest and max_periods is None:
        raise ValueError(
            f"installment {payment} does not exceed one period's interest {nominal_interest}; "
            "the balance would never be repaid"
        )
    limit = max_periods if max_periods is not None else _MAX_YEARS * PERIODS_PER_YEAR[frequency]
    rows = _amortize(balance, annual_rate, payment, first_seq=start_seq, count=limit, period_start=start_date,
                     due_on=due_on, day_count=day_count, frequency=frequency, stop_when_paid=True,
                     last_takes_rest=max_periods is not None)
    if rows[-1].balance != 0:
        raise ValueError(f"installment {payment} does not repay {balance} within {_MAX_YEARS} years")
    return rows


def schedule_totals(rows: Iterable[ScheduleRow]) -> dict[str, Decimal]:
    """Sum a schedule: ``{"principal": Decimal, "interest": Decimal, "total": Decimal}`` in rupees.

    ``total == principal + interest`` (the sum of the instalments). An empty iterable gives zeros ("0.00").
    """
    principal = _ZERO
    interest = _ZERO
    for row in rows:
        principal += row.principal
        interest += row.interest
    return {"principal": principal, "interest": interest, "total": principal + interest}
