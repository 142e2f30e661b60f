"""The seed 004 revolving credit line: apply rules, opening, drawdowns, 30-day billing, payments, closing.

Amounts are ``Decimal`` rupees (paise in the database), rates ``Decimal`` percent per annum, dates business
dates. The first half of this module is pure math on plain values (no database); the second half are the
services (they flush and audit, never commit: the request or the job commits once).

Rules (seed 004, DESIGN.md section 5)
-------------------------------------
* Apply: the latest ``savings-balance`` score (300-900, from the savings-transactions CSV) >= product.min_score
  (450), annual income = 12 x the customer's monthly income >= product.min_annual_income_amount (1,50,000),
  product.min_amount <= limit <= product.max_amount (50,000). One open credit line per customer and product.
* Daily interest (accrued by the close of business, ``cob.py``, into ``accruals`` and
  ``loans.interest_receivable_amount``): ``daily_rate = round(APR / 365, 3)`` percent (half-up) and
  ``daily_interest = round_half_up(principal * daily_rate / 100)`` to the paisa.
* Billing every 30 days from account creation (``loans.billing_anchor_on``): on ``anchor + 30k`` (k >= 1) a
  BillingStatement is made with the principal balance, the interest accrued in the cycle (the accrual rows
  after the previous billing date, up to and including the billing date), the unpaid minimum due of the
  previous bill carried forward (``past_due_amount``) and
  ``minimum_due = round_half_up(3 % of principal) + cycle interest + past due``; due 15 days after billing.
  The carried amount and the 3 % part are capped so that a bill never asks for more than the principal plus
  the interest outstanding (``bill_amounts``).
* A payment clears the past due first, then the current due (each: interest before principal), then the excess
  reduces the principal; anything left after the principal is paid off goes to interest accrued but not yet
  billed, so the whole balance can be paid at once. A payment above principal + interest outstanding is
  refused. Payments made after a bill count against that bill (``paid_amount``); a bill's unpaid amount is
  carried into the next bill, whose ``paid_amount`` then takes the payments, and paying that carried part also
  pays the earlier bills it came from (``spread_past_payment``), so ``paid_amount < minimum_due_amount`` marks
  exactly the bills still unpaid: days past due count from the oldest (``cob.py``, ``refresh_delinquency``).
  A bounced payment is undone by ``reverse_payment`` (the repayment service reverses its journal entry).
* Closing: a revolving line stays open at a zero balance (the customer may draw again); it is closed when the
  customer asks and both the principal and the interest are zero (seed 004: "account closed at zero principal
  and zero interest"). Closed lines are not billed and take no drawdowns.

Loan columns for a credit line
------------------------------
``kind='credit_line'``, ``serviced``, ``credit_limit_amount`` = the limit, ``loan_amount`` = the limit too
(the column must be > 0), ``interest_rate`` = APR, ``billing_anchor_on`` = ``approved_on`` = ``disbursed_on`` =
the business date of opening, ``tenure`` = 1 (the product's tenure; unused: billing runs until closed),
``monthly_installment`` = 0.00 (there is no EMI: the minimum due is on each bill), ``end_on`` = the annual review
date (opening + 12 months), ``interest_method='daily'``, ``day_count='actual/365'``; ``next_due_on`` is set to the
latest bill's due date.

Journal entries: drawdown ``drawdown:<loan id>:<idempotency key>`` Dr 1100 / Cr 1000; payment
``payment:<payment id>`` Dr 1000 / Cr 1200 interest / Cr 1100 principal (and Dr 2100 / Cr 4000 for interest paid
out of suspense), every line with the loan's id.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import BigInteger, and_, case, func, or_, select, type_coerce, update

from portal.audit.services import SYSTEM, record
from portal.business_date import current_business_date
from portal.errors import DomainError, NotFound, PermissionDenied
from portal.extensions import db
from portal.money import as_decimal, format_inr, from_paise, quantize

ZERO = Decimal("0.00")
RATE_PLACES = Decimal("0.001")
DAYS_IN_YEAR = Decimal("365")
CYCLE_DAYS = 30                         #: billing every 30 days from account creation
GRACE_DAYS = 15                         #: due date = billing date + 15 days
MIN_DUE_PRINCIPAL_PERCENT = Decimal("3")  #: minimum due = 3 % of principal + cycle interest (+ past due)
REVIEW_MONTHS = 12                      #: ``loans.end_on``: the line's annual review date
SCORECARD_SLUG = "savings-balance"      #: the seed 004 score (300-900) the apply rule reads
KIND = "credit_line"
CLOSED_STATUSES = ("closed", "written_off")
KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{1,60}$")


# ================================================================================================ pure math
def daily_rate(apr: Decimal | int) -> Decimal:
    """The daily rate in percent: ``round(APR / 365, 3)``, half-up (seed 004). 24 -> 0.066; 10.5 -> 0.029.

    ``apr`` in percent per annum (Decimal or int; TypeError for float, ValueError when negative)."""
    apr = as_decimal(apr, "apr")
    if apr < 0:
        raise ValueError("the APR must not be negative")
    return quantize(apr / DAYS_IN_YEAR, RATE_PLACES)


def daily_interest(principal: Decimal | int, apr: Decimal | int) -> Decimal:
    """One day's interest in rupees on ``principal`` (rupees) at ``apr`` (% p.a.):
    ``principal * daily_rate(apr) / 100`` rounded half-up to the paisa. 10,000 at 24 % -> 6.60."""
    principal = as_decimal(principal, "principal")
    if principal < 0:
        raise ValueError("the principal must not be negative")
    return quantize(principal * daily_rate(apr) / 100)


def minimum_due_principal(principal: Decimal | int) -> Decimal:
    """The principal part of a minimum due: 3 % of ``principal`` (rupees), half-up to the paisa."""
    principal = as_decimal(principal, "principal")
    if principal < 0:
        raise ValueError("the principal must not be negative")
    return quantize(principal * MIN_DUE_PRINCIPAL_PERCENT / 100)


def minimum_due(principal: Decimal | int, cycle_interest: Decimal | int, past_due: Decimal | int = ZERO) -> Decimal:
    """Seed 004 minimum due in rupees: ``round_half_up(3 % of principal) + cycle_interest + past_due``.
    10,000 principal with 198.00 of interest in the cycle -> 498.00."""
    cycle_interest = as_decimal(cycle_interest, "cycle_interest")
    past_due = as_decimal(past_due, "past_due")
    if cycle_interest < 0 or past_due < 0:
        raise ValueError("interest and past dues must not be negative")
    return minimum_due_principal(principal) + quantize(cycle_interest) + quantize(past_due)


def is_billing_date(anchor: date, day: date) -> bool:
    """True when ``day`` is ``anchor + 30k`` days for some k >= 1 (the account was created on ``anchor``)."""
    delta = (day - anchor).days
    return delta > 0 and delta % CYCLE_DAYS == 0


def billing_dates(anchor: date, through: date) -> list[date]:
    """Every billing date after ``anchor`` up to and including ``through``: anchor + 30, + 60, ..."""
    out, day = [], anchor + timedelta(days=CYCLE_DAYS)
    while day <= through:
        out.append(day)
        day += timedelta(days=CYCLE_DAYS)
    return out


def next_billing_date(anchor: date, as_of: date) -> date:
    """The first billing date strictly after ``as_of`` (anchor + 30 when ``as_of`` is before it)."""
    if as_of < anchor:
        return anchor + timedelta(days=CYCLE_DAYS)
    cycles = (as_of - anchor).days // CYCLE_DAYS + 1
    return anchor + timedelta(days=CYCLE_DAYS * cycles)


def due_date(billed_on: date) -> date:
    """The due date of a bill: 15 days after the billing date."""
    return billed_on + timedelta(days=GRACE_DAYS)


def anchors_billing_on(as_of: date, earliest: date) -> list[date]:
    """The account-creation dates whose billing falls on ``as_of``: ``as_of - 30k`` for k >= 1, not before
    ``earliest``. Used to select the accounts to bill with an index-friendly ``IN`` list on every database."""
    out, day = [], as_of - timedelta(days=CYCLE_DAYS)
    while day >= earliest:
        out.append(day)
        day -= timedelta(days=CYCLE_DAYS)
    return out


@dataclass(frozen=True)
class BillAmounts:
    """One bill's figures (rupees): ``interest`` of the cycle, ``past_due`` carried, the 3 % principal part and
    ``minimum_due`` = past_due + interest + principal_part."""

    interest: Decimal
    past_due: Decimal
    principal_part: Decimal
    minimum_due: Decimal


def bill_amounts(*, principal: Decimal, interest_receivable: Decimal, cycle_interest: Decimal,
                 previous_unpaid: Decimal) -> BillAmounts:
    """The figures of a bill from the balances on the billing date (rupees).

    ``interest = min(cycle_interest, interest_receivable)`` (interest already paid in advance is not billed
    again); ``past_due = min(previous_unpaid, room)`` and ``principal_part = min(3 % of principal, room -
    past_due)`` with ``room = principal + interest_receivable - interest``, so a bill never asks for more than is
    owed. With ordinary balances this is exactly ``minimum_due(principal, cycle_interest, previous_unpaid)``.
    """
    principal, receivable = as_decimal(principal, "principal"), as_decimal(interest_receivable, "interest")
    cycle_interest, previous_unpaid = as_decimal(cycle_interest, "cycle"), as_decimal(previous_unpaid, "unpaid")
    if min(principal, receivable, cycle_interest, previous_unpaid) < 0:
        raise ValueError("balances must not be negative")
    interest = min(cycle_interest, receivable)
    room = principal + receivable - interest
    past_due = min(previous_unpaid, room)
    principal_part = min(minimum_due_principal(principal), room - past_due)
    return BillAmounts(interest, past_due, principal_part, past_due + interest + principal_part)


@dataclass(frozen=True)
class Bill:
    """A bill as the allocation sees it (rupees): what it carried, its cycle interest, its minimum due and
    what has been paid against that minimum due."""

    past_due: Decimal
    interest: Decimal
    minimum_due: Decimal
    paid: Decimal
    due_on: date | None = None


@dataclass(frozen=True)
class Dues:
    """What is unpaid on the latest bill (rupees), in payment order."""

    overdue_interest: Decimal = ZERO
    overdue_principal: Decimal = ZERO
    current_interest: Decimal = ZERO
    current_principal: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.overdue_interest + self.overdue_principal + self.current_interest + self.current_principal

    @property
    def past_due(self) -> Decimal:
        return self.overdue_interest + self.overdue_principal


def _bill_parts(bill: Bill, carried_interest: Decimal) -> list[Decimal]:
    past_interest = min(bill.past_due, carried_interest)
    current_principal = max(ZERO, bill.minimum_due - bill.past_due - bill.interest)
    return [past_interest, bill.past_due - past_interest, bill.interest, current_principal]


def _walk(bills: Sequence[Bill]):
    """Yield ``(bill, unpaid parts)`` oldest first; parts are [past interest, past principal, current interest,
    current principal] after what was paid while the bill was the latest (interest before principal, past
    before current). A bill's ``paid`` also grows when a later bill's past due is paid (``spread_past_payment``),
    so for every bill but the latest what it carried is read from the next bill's ``past_due`` instead."""
    carried_interest = ZERO
    for index, bill in enumerate(bills):
        paid = bill.paid if index == len(bills) - 1 else max(ZERO, bill.minimum_due - bills[index + 1].past_due)
        unpaid = []
        for part in _bill_parts(bill, carried_interest):
            take = min(part, paid)
            paid -= take
            unpaid.append(part - take)
        carried_interest = unpaid[0] + unpaid[2]
        yield bill, unpaid


def unpaid_dues(bills: Sequence[Bill]) -> Dues:
    """The unpaid parts of the latest of ``bills`` (oldest first). Each bill's past due is the unpaid amount
    of the bill before it; its interest part is that bill's unpaid interest (interest is paid before
    principal within a due), so the split is rebuilt from the first bill on."""
    last = [ZERO] * 4
    for _, unpaid in _walk(bills):
        last = unpaid
    return Dues(*last)


def oldest_unpaid_due_on(bills: Sequence[Bill]) -> date | None:
    """The due date days past due count from: the earliest due date of a bill whose minimum due is not fully
    paid (``paid < minimum_due``, as the close of business reads it); None when every bill is paid."""
    return min((b.due_on for b in bills if b.paid < b.minimum_due and b.due_on is not None), default=None)


def spread_past_payment(bills: Sequence[Bill], amount: Decimal) -> list[Decimal]:
    """What each earlier bill (``bills[:-1]``, oldest first) is paid when ``amount`` pays the past due carried
    in the latest bill: the carried amount is the previous bill's unpaid minimum due, so it pays that bill; and
    of what a bill receives, its own carried part comes first (oldest dues first), which pays the bill before
    it, and so on. Keeps ``paid < minimum_due`` true exactly for the bills still unpaid."""
    increments = [ZERO] * max(0, len(bills) - 1)
    left = amount
    for index in range(len(bills) - 2, -1, -1):
        if left <= 0:
            break
        bill = bills[index]
        take = min(left, max(ZERO, bill.minimum_due - bill.paid))
        increments[index] = take
        left = min(take, max(ZERO, bill.past_due - bill.paid))
    return increments


@dataclass(frozen=True)
class Allocation:
    """Where a credit-line payment went (rupees). ``due_paid`` is what counts against the latest bill's
    minimum due; ``prepayment`` reduced the principal beyond the dues; ``unbilled_interest`` paid interest
    accrued since the last bill (only once the principal is zero)."""

    overdue_interest: Decimal = ZERO
    overdue_principal: Decimal = ZERO
    current_interest: Decimal = ZERO
    current_principal: Decimal = ZERO
    prepayment: Decimal = ZERO
    unbilled_interest: Decimal = ZERO

    @property
    def interest(self) -> Decimal:
        return self.overdue_interest + self.current_interest + self.unbilled_interest

    @property
    def principal(self) -> Decimal:
        return self.overdue_principal + self.current_principal + self.prepayment

    @property
    def due_paid(self) -> Decimal:
        return self.overdue_interest + self.overdue_principal + self.current_interest + self.current_principal

    @property
    def total(self) -> Decimal:
        return self.interest + self.principal

    def as_dict(self) -> dict:
        """JSON-ready (strings of rupees), the shape of ``Payment.allocation``."""
        keys = ("overdue_interest", "overdue_principal", "current_interest", "current_principal", "prepayment",
                "unbilled_interest")
        out = {k: str(getattr(self, k)) for k in keys}
        out.update(interest=str(self.interest), principal=str(self.principal), due_paid=str(self.due_paid))
        return out


def allocate_payment(amount: Decimal, *, dues: Dues, principal: Decimal, interest: Decimal) -> Allocation:
    """Split ``amount`` (rupees > 0) over the unpaid ``dues`` of the latest bill and the balances: past due
    (interest, then principal), current due (interest, then principal), then the excess reduces
    ``principal``, then interest not yet billed. ValueError when ``amount`` is not positive or exceeds
    ``principal + interest`` (the balance outstanding)."""
    amount = quantize(as_decimal(amount, "amount"))
    if amount <= 0:
        raise ValueError("the payment must be a positive amount")
    if amount > principal + interest:
        raise ValueError("the payment is more than the balance outstanding")
    left, p_left, i_left = amount, principal, interest
    takes = {}
    for name, size in (("overdue_interest", dues.overdue_interest), ("overdue_principal", dues.overdue_principal),
                       ("current_interest", dues.current_interest),
                       ("current_principal", dues.current_principal)):
        is_interest = name.endswith("interest")
        take = min(left, size, i_left if is_interest else p_left)
        takes[name] = take
        left -= take
        if is_interest:
            i_left -= take
        else:
            p_left -= take
    takes["prepayment"] = min(left, p_left)
    left -= takes["prepayment"]
    takes["unbilled_interest"] = min(left, i_left)
    return Allocation(**takes)


@dataclass(frozen=True)
class Check:
    """One apply rule: its name, whether it passed and what it says to the customer."""

    name: str
    passed: bool
    detail: str


def apply_checks(*, score: int | None, annual_income: Decimal, limit: Decimal, min_score: int,
                 min_annual_income: Decimal, max_limit: Decimal, min_limit: Decimal = ZERO) -> list[Check]:
    """The seed 004 apply rules: score >= ``min_score``, ``annual_income`` >= ``min_annual_income``, and
    ``min_limit`` <= ``limit`` <= ``max_limit`` (rupees). A missing score fails with how the score is made."""
    checks = []
    if score is None:
        checks.append(Check("score", False, "You have no credit score yet. Your score (300-900) is computed from "
                                            "your savings transactions (credits minus debits) once your "
                                            "savings-transactions statement has been imported and linked to "
                                            "your profile."))
    else:
        checks.append(Check("score", score >= min_score,
                            f"Your credit score is {score}; a credit line needs at least {min_score}. The score "
                            "(300-900) is computed from your savings transactions (credits minus debits)."))
    checks.append(Check("income", annual_income >= min_annual_income,
                        f"Your annual income is {format_inr(annual_income)} (12 times your monthly income); a "
                        f"credit line needs at least {format_inr(min_annual_income)}."))
    if limit is None or limit <= 0:
        checks.append(Check("limit", False, "Enter the credit limit you want, in rupees."))
    else:
        checks.append(Check("limit", min_limit <= limit <= max_limit,
                            f"The limit asked is {format_inr(limit)}; this credit line offers "
                            f"{format_inr(min_limit)} to {format_inr(max_limit)}."))
    return checks


@dataclass(frozen=True)
class NextBill:
    """The next bill as it would be if nothing changed (rupees): its date, the interest expected in the cycle
    and the minimum due (unpaid dues of the current bill included)."""

    billed_on: date
    due_on: date
    interest: Decimal
    minimum_due: Decimal


def project_next_bill(*, anchor: date, as_of: date, principal: Decimal, apr: Decimal,
                      accrued_in_cycle: Decimal, unpaid_now: Decimal, accrued_through: date | None) -> NextBill:
    """Estimate the next bill: interest accrued so far in the cycle plus a day's interest on today's principal
    for every day from the day after ``accrued_through`` (the last accrual date; ``as_of - 1`` when None) to
    the billing date, 3 % of today's principal and the unpaid dues carried."""
    billed_on = next_billing_date(anchor, as_of)
    start = (accrued_through or (as_of - timedelta(days=1))) + timedelta(days=1)
    days = max(0, (billed_on - start).days + 1)
    interest = accrued_in_cycle + daily_interest(principal, apr) * days
    return NextBill(billed_on, due_date(billed_on), interest, minimum_due(principal, interest, unpaid_now))


# ================================================================================================ services
def _models():
    from portal.lending.models import Loan, Product
    from portal.servicing.models import Accrual, BillingStatement, LoanTransaction

    return Loan, Product, Accrual, BillingStatement, LoanTransaction


def latest_savings_score(customer):
    """The customer's latest ``savings-balance`` ScoreResult (seed 004, 300-900), or None."""
    from portal.scoring.models import Scorecard, ScorecardVersion, ScoreResult

    return db.session.scalar(
        select(ScoreResult).join(ScorecardVersion, ScorecardVersion.id == ScoreResult.version_id)
        .join(Scorecard, Scorecard.id == ScorecardVersion.scorecard_id)
        .where(ScoreResult.customer_id == customer.id, ScoreResult.institution_id == customer.institution_id,
               Scorecard.slug == SCORECARD_SLUG)
        .order_by(ScoreResult.as_of.desc(), ScoreResult.id.desc()).limit(1))


def credit_line_product(institution_id: int):
    """The institution's active credit-line product (the first), or None."""
    _, Product, *_ = _models()
    return db.session.scalar(select(Product).where(Product.institution_id == institution_id,
                                                   Product.kind == KIND, Product.active.is_(True))
                             .order_by(Product.id).limit(1))


def annual_income(customer) -> Decimal:
    """12 x the customer's monthly income (rupees)."""
    return quantize((customer.monthly_salary or ZERO) * 12)


def assess(customer, product, limit: Decimal | None) -> list[Check]:
    """The apply rules for ``customer`` asking ``limit`` on ``product`` (reads the latest score)."""
    score = latest_savings_score(customer)
    return apply_checks(score=None if score is None else score.score, annual_income=annual_income(customer),
                        limit=limit, min_score=product.min_score or 0,
                        min_annual_income=product.min_annual_income_amount or ZERO,
                        max_limit=product.max_amount, min_limit=product.min_amount)


def open_lines(customer) -> list:
    """The customer's credit lines that are not closed, oldest first."""
    Loan, *_ = _models()
    return list(db.session.scalars(select(Loan).where(
        Loan.customer_id == customer.id, Loan.kind == KIND, Loan.status.not_in(CLOSED_STATUSES)).order_by(Loan.id)))


def open_credit_line(customer, product, *, limit: Decimal, actor, clock):
    """Open a credit line of ``limit`` rupees for ``customer`` on ``product`` on the business date and return
    the Loan (flushes; audited ``credit_line.opened``).

    DomainError (422) with every failed rule when the score, the income or the limit fails; (409) when the
    customer already has an open line of this product; PermissionDenied when the product is another
    institution's; DomainError when the product is not an active credit line."""
    Loan, *_ = _models()
    from portal.lending.schedule import add_months
    from portal.lending.states import LoanStatus

    if product.institution_id != customer.institution_id:
        raise PermissionDenied("this product is not offered to this customer")
    if product.kind != KIND or not product.active:
        raise DomainError(f"{product.name} is not an open credit-line product")
    limit = None if limit is None else quantize(as_decimal(limit, "limit"))
    failed = [c for c in assess(customer, product, limit) if not c.passed]
    if failed:
        raise DomainError("We cannot open a credit line: " + " ".join(c.detail for c in failed))
    from portal.onboarding.models import Customer

    db.session.get(Customer, customer.id, with_for_update=True)  # two applications at once open one line
    existing = db.session.scalar(select(Loan.id).where(
        Loan.customer_id == customer.id, Loan.kind == KIND, Loan.product_id == product.id,
        Loan.status.not_in(CLOSED_STATUSES)).limit(1))
    if existing is not None:
        raise DomainError(f"You already have an open credit line (line {existing}).", 409)
    as_of = current_business_date(customer.institution_id, clock)
    loan = Loan(institution_id=customer.institution_id, customer_id=customer.id, product_id=product.id,
                loan_amount=limit, credit_limit_amount=limit, tenure=1, interest_rate=product.interest_rate,
                monthly_installment=ZERO, emis_paid_on_time=0, approved_on=as_of, disbursed_on=as_of,
                end_on=add_months(as_of, REVIEW_MONTHS), status=LoanStatus.ACTIVE.value, source="portal",
                serviced=True, kind=KIND, interest_method="daily", day_count="actual/365",
                principal_outstanding_amount=ZERO, interest_receivable_amount=ZERO, billing_anchor_on=as_of)
    db.session.add(loan)
    db.session.flush()
    score = latest_savings_score(customer)
    record(actor, "credit_line.opened", loan,
           changes={"credit_limit": limit, "apr": product.interest_rate, "billing_anchor_on": as_of,
                    "score": score.score if score else None, "annual_income": annual_income(customer)})
    return loan


def _locked(loan):
    """``loan`` re-read under a row lock (drawdowns, payments and billing meet on it)."""
    Loan, *_ = _models()
    return db.session.get(Loan, loan.id, with_for_update=True, populate_existing=True)


def _check_kind(loan) -> None:
    if loan.kind != KIND:
        raise DomainError("This loan is not a credit line.")


def bills_of(loan, through: date | None = None) -> list[Bill]:
    """The loan's bills (oldest first) as the allocation sees them; only those billed on or before
    ``through`` when given."""
    *_, BillingStatement, _ = _models()
    q = select(BillingStatement).where(BillingStatement.loan_id == loan.id)
    if through is not None:
        q = q.where(BillingStatement.billed_on <= through)
    return [Bill(s.past_due_amount, s.interest_amount, s.minimum_due_amount, s.paid_amount, s.due_on)
            for s in db.session.scalars(q.order_by(BillingStatement.billed_on))]


def available_limit(loan) -> Decimal:
    """What can still be drawn: limit - principal outstanding (rupees, never negative)."""
    return max(ZERO, (loan.credit_limit_amount or ZERO) - loan.principal_outstanding_amount)


def amount_due_now(loan, as_of: date) -> Decimal:
    """What the customer should pay on ``as_of`` (rupees): the unpaid minimum due of the latest bill (past due
    carried included); zero when the bill is paid or there is none. The most a payment may be is
    ``principal_outstanding_amount + interest_receivable_amount``."""
    return unpaid_dues(bills_of(loan, as_of)).total


def check_drawdown(loan, amount: Decimal, *, as_of: date) -> Decimal:
    """DomainError unless ``amount`` (rupees) can be drawn from ``loan`` on ``as_of``: a positive amount within
    the available limit, on an open line with no bill unpaid past its due date. Returns the amount rounded
    to the paisa."""
    _check_kind(loan)
    amount = None if amount is None else quantize(as_decimal(amount, "amount"))
    if amount is None or amount <= 0:
        raise DomainError("Enter a positive amount to draw, in rupees.")
    if loan.status in CLOSED_STATUSES:
        raise DomainError(f"This credit line is {loan.status.replace('_', ' ')}: no more drawdowns.", 409)
    if loan.status == "npa":
        raise DomainError("Drawdowns are suspended on this credit line: it is overdue for more than 90 days.", 409)
    oldest = oldest_unpaid_due_on(bills_of(loan, as_of))
    if oldest is not None and oldest < as_of:
        raise DomainError(f"Pay the minimum due that fell due on {oldest:%d %b %Y} before drawing again.", 409)
    available = available_limit(loan)
    if amount > available:
        raise DomainError(f"You can draw at most {format_inr(available)} (limit "
                          f"{format_inr(loan.credit_limit_amount)} less {format_inr(loan.principal_outstanding_amount)}"
                          " already drawn).")
    return amount


def drawdown(loan, amount: Decimal, *, idempotency_key: str, actor, clock):
    """Draw ``amount`` rupees from the credit line on the business date: principal up, journal entry
    ``drawdown:<loan id>:<key>`` (Dr 1100 loan principal / Cr 1000 cash), a statement line and an audit event
    (flushes). The loan row is locked first. The same ``idempotency_key`` on the same line returns the first
    drawdown's LoanTransaction unchanged. DomainError: see ``check_drawdown``; a malformed key (1-60 letters,
    digits, ``. _ : -``)."""
    *_, LoanTransaction = _models()
    from portal.ledger.models import Account, JournalEntry
    from portal.ledger.services import Line, post

    _check_kind(loan)
    if not idempotency_key or not KEY_RE.match(idempotency_key):
        raise DomainError("A drawdown needs an idempotency key of 1-60 letters, digits, '.', '_', ':' or '-'.")
    loan = _locked(loan)
    reference = f"drawdown:{loan.id}:{idempotency_key}"
    entry_id = db.session.scalar(select(JournalEntry.id).where(
        JournalEntry.institution_id == loan.institution_id, JournalEntry.reference == reference))
    if entry_id is not None:
        return db.session.scalar(select(LoanTransaction).where(LoanTransaction.journal_entry_id == entry_id))
    as_of = current_business_date(loan.institution_id, clock)
    amount = check_drawdown(loan, amount, as_of=as_of)
    entry = post(loan.institution_id, kind="drawdown", reference=reference, business_date=as_of, loan_id=loan.id,
                 memo=f"Credit line {loan.id} drawdown",
                 lines=[Line(Account.LOAN_PRINCIPAL, debit=amount, loan_id=loan.id),
                        Line(Account.CASH, credit=amount, loan_id=loan.id)])
    before = loan.principal_outstanding_amount
    loan.principal_outstanding_amount = before + amount
    txn = LoanTransaction(loan_id=loan.id, kind="drawdown", value_on=as_of, amount=amount, principal_amount=amount,
                          journal_entry_id=entry.id, note="Drawdown")
    db.session.add(txn)
    db.session.flush()
    record(actor, "credit_line.drawdown", loan,
           changes={"principal_outstanding": (before, loan.principal_outstanding_amount), "amount": amount,
                    "idempotency_key": idempotency_key})
    return txn


def bill_due_accounts(institution_id: int, as_of: date, *, chunk: int = 5000) -> int:
    """The close-of-business billing step: bill every open credit line of the institution whose billing date
    is ``as_of`` (``billing_anchor_on + 30k``, k >= 1) and return how many bills were made.

    Per line: principal balance, interest of the cycle (accrual rows after the previous bill up to and
    including ``as_of``; from the opening for the first bill), the previous bill's unpaid minimum due carried
    forward, minimum due (``bill_amounts``) and due date ``as_of + 15``; ``loans.next_due_on`` becomes that due
    date. Lines owing nothing get no bill. Idempotent (unique loan + billing date; running it again makes
    nothing). Set-based in chunks of ``chunk`` lines: the lines are locked (FOR UPDATE, id order) so that a
    payment cannot change the previous bill while it is carried, their inputs are read in three queries and
    the bills written in one INSERT ... ON CONFLICT DO NOTHING. Flushes; the caller commits."""
    Loan, _, Accrual, BillingStatement, _ = _models()
    base = and_(Loan.institution_id == institution_id, Loan.kind == KIND, Loan.serviced.is_(True),
                Loan.status.not_in(CLOSED_STATUSES), Loan.billing_anchor_on < as_of)
    earliest = db.session.scalar(select(func.min(Loan.billing_anchor_on)).where(base))
    if earliest is None:
        return 0
    anchors = anchors_billing_on(as_of, earliest)
    if not anchors:
        return 0
    billed = 0
    last_id = 0
    paise = lambda col: type_coerce(col, BigInteger)  # noqa: E731  (sum the stored paise exactly)
    while True:
        already = select(BillingStatement.id).where(BillingStatement.loan_id == Loan.id,
                                                    BillingStatement.billed_on == as_of).exists()
        rows = db.session.execute(
            select(Loan.id, Loan.billing_anchor_on, paise(Loan.principal_outstanding_amount),
                   paise(Loan.interest_receivable_amount))
            .where(base, Loan.billing_anchor_on.in_(anchors), Loan.id > last_id, ~already)
            .order_by(Loan.id).limit(chunk).with_for_update(of=Loan)).all()
        if not rows:
            break
        last_id = rows[-1][0]
        ids = [r[0] for r in rows]
        latest = (select(BillingStatement.loan_id, func.max(BillingStatement.billed_on).label("billed_on"))
                  .where(BillingStatement.loan_id.in_(ids), BillingStatement.billed_on < as_of)
                  .group_by(BillingStatement.loan_id).subquery())
        previous = {loan_id: (billed_on, from_paise(int(due)), from_paise(int(paid))) for loan_id, billed_on, due, paid
                    in db.session.execute(
                        select(BillingStatement.loan_id, BillingStatement.billed_on,
                               paise(BillingStatement.minimum_due_amount), paise(BillingStatement.paid_amount))
                        .join(latest, and_(latest.c.loan_id == BillingStatement.loan_id,
                                           latest.c.billed_on == BillingStatement.billed_on)))}
        cycle = dict(db.session.execute(
            select(Accrual.loan_id, func.sum(paise(Accrual.amount)))
            .outerjoin(latest, latest.c.loan_id == Accrual.loan_id)
            .where(Accrual.loan_id.in_(ids), Accrual.accrued_on <= as_of,
                   or_(latest.c.billed_on.is_(None), Accrual.accrued_on > latest.c.billed_on))
            .group_by(Accrual.loan_id)).all())
        values = []
        for loan_id, anchor, principal_paise, receivable_paise in rows:
            principal, receivable = from_paise(int(principal_paise)), from_paise(int(receivable_paise))
            prev = previous.get(loan_id)
            unpaid = max(ZERO, prev[1] - prev[2]) if prev else ZERO
            amounts = bill_amounts(principal=principal, interest_receivable=receivable,
                                   cycle_interest=from_paise(int(cycle.get(loan_id) or 0)), previous_unpaid=unpaid)
            if principal == 0 and amounts.minimum_due == 0:
                continue  # nothing owed: no bill
            values.append({"loan_id": loan_id, "cycle_start_on": prev[0] if prev else anchor, "billed_on": as_of,
                           "due_on": due_date(as_of), "principal_balance_amount": principal,
                           "interest_amount": amounts.interest, "past_due_amount": amounts.past_due,
                           "minimum_due_amount": amounts.minimum_due, "paid_amount": ZERO})
        if values:
            made = _insert_bills(BillingStatement, values)
            if made:
                db.session.execute(update(Loan).where(Loan.id.in_(made)).values(next_due_on=due_date(as_of))
                                   .execution_options(synchronize_session=False))
            billed += len(made)
        if len(rows) < chunk:
            break
    if billed:
        record(SYSTEM, "credit_lines.billed", ("institutions", institution_id), institution_id=institution_id,
               changes={"billed_on": as_of, "bills": billed, "due_on": due_date(as_of)})
    db.session.flush()
    return billed


def _insert_bills(model, values: list[dict]) -> list[int]:
    """INSERT the bills, skipping any (loan, billing date) already billed; the loan ids actually billed."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(model).on_conflict_do_nothing(index_elements=["loan_id", "billed_on"]).returning(model.loan_id)
    return list(db.session.scalars(stmt, values).all())


def apply_payment(loan, payment, *, as_of: date, actor) -> dict:
    """Allocate a credit-line payment (seed 004) and post it; called by the repayment service after it has
    created ``payment`` and locked ``loan``.

    Order: the latest bill's past due (interest, then principal), its current due (interest, then principal),
    then the excess reduces the principal, then interest accrued since the bill. Updates the bill's
    ``paid_amount``, the loan's principal and interest (and suspense), posts ``payment:<payment id>`` (Dr 1000
    / Cr 1200 interest / Cr 1100 principal; Dr 2100 / Cr 4000 for interest paid out of suspense), writes a
    ``repayment`` LoanTransaction with the split and an audit event, stores the allocation on
    ``payment.allocation`` and returns it (rupee strings). DomainError (422) when the payment is not positive or
    is more than principal + interest outstanding, or when the line is closed."""
    *_, BillingStatement, LoanTransaction = _models()
    from portal.ledger.models import Account
    from portal.ledger.services import Line, post

    _check_kind(loan)
    if loan.status in CLOSED_STATUSES:
        raise DomainError(f"This credit line is {loan.status.replace('_', ' ')}; it takes no payments.", 409)
    amount = quantize(as_decimal(payment.amount, "amount"))
    principal, interest = loan.principal_outstanding_amount, loan.interest_receivable_amount
    if amount <= 0:
        raise DomainError("The payment must be a positive amount.")
    if amount > principal + interest:
        raise DomainError(f"This payment is more than the balance outstanding: at most "
                          f"{format_inr(principal + interest)} ({format_inr(principal)} principal and "
                          f"{format_inr(interest)} interest).")
    statements = list(db.session.scalars(select(BillingStatement).where(
        BillingStatement.loan_id == loan.id, BillingStatement.billed_on <= as_of)
        .order_by(BillingStatement.billed_on)))
    bills = [Bill(s.past_due_amount, s.interest_amount, s.minimum_due_amount, s.paid_amount, s.due_on)
             for s in statements]
    dues = unpaid_dues(bills)
    split = allocate_payment(amount, dues=dues, principal=principal, interest=interest)
    latest = statements[-1] if statements else None
    paid_to = []  # [[statement id, rupees]]: what each bill was paid (undone by reverse_payment)
    if latest is not None and split.due_paid:
        past_paid = split.overdue_interest + split.overdue_principal
        for statement, extra in zip(statements[:-1], spread_past_payment(bills, past_paid), strict=True):
            if extra:
                statement.paid_amount = statement.paid_amount + extra
                paid_to.append([statement.id, str(extra)])
        latest.paid_amount = latest.paid_amount + split.due_paid
        paid_to.append([latest.id, str(split.due_paid)])
    recognised = interest - loan.interest_suspense_amount  # income already recognised: paid first
    from_suspense = max(ZERO, split.interest - max(ZERO, recognised))
    loan.principal_outstanding_amount = principal - split.principal
    loan.interest_receivable_amount = interest - split.interest
    loan.interest_suspense_amount = loan.interest_suspense_amount - from_suspense
    entry = post(loan.institution_id, kind="repayment", reference=f"payment:{payment.id}", business_date=as_of,
                 loan_id=loan.id, memo=f"Credit line {loan.id} payment {payment.id}",
                 lines=[Line(Account.CASH, debit=amount, loan_id=loan.id),
                        Line(Account.INTEREST_RECEIVABLE, credit=split.interest, loan_id=loan.id),
                        Line(Account.LOAN_PRINCIPAL, credit=split.principal, loan_id=loan.id),
                        Line(Account.INTEREST_SUSPENSE, debit=from_suspense, loan_id=loan.id),
                        Line(Account.INTEREST_INCOME, credit=from_suspense, loan_id=loan.id)])
    allocation = split.as_dict()
    allocation.update(kind=KIND, statement_id=latest.id if latest else None, statements=paid_to,
                      interest_from_suspense=str(from_suspense))
    db.session.add(LoanTransaction(loan_id=loan.id, kind="repayment", value_on=as_of, amount=amount,
                                   principal_amount=split.principal, interest_amount=split.interest,
                                   payment_id=payment.id, journal_entry_id=entry.id,
                                   note="Payment" + (f" against the bill of {latest.billed_on:%d %b %Y}"
                                                     if latest is not None and split.due_paid else "")))
    payment.allocation = allocation
    db.session.flush()
    refresh_delinquency(loan, as_of)
    record(actor, "credit_line.payment", loan,
           changes={"principal_outstanding": (principal, loan.principal_outstanding_amount),
                    "interest_receivable": (interest, loan.interest_receivable_amount), "payment_id": payment.id,
                    "amount": amount})
    return allocation


def refresh_delinquency(loan, as_of: date) -> None:
    """DPD of the line on ``as_of`` from its oldest unpaid bill (due before ``as_of``); the SMA class and the
    status (active / overdue) follow, except for NPA and closed lines, left to the close of business (an NPA
    borrower is upgraded only when all arrears are paid)."""
    oldest = oldest_unpaid_due_on(bills_of(loan, as_of))
    loan.dpd = (as_of - oldest).days if oldest is not None and oldest < as_of else 0
    if loan.asset_class == "npa" or loan.status not in ("active", "overdue"):
        return
    from portal.servicing.cob import sma_class

    loan.asset_class = sma_class(loan.dpd)
    loan.status = "overdue" if loan.dpd else "active"


def reverse_payment(loan, payment, *, as_of: date, actor) -> None:
    """Undo what ``apply_payment`` did to the bills and the suspense balance when ``payment`` bounces; the
    repayment service reverses the journal entry (``reversal:<payment id>``), restores the principal and the
    interest, writes the statement line and counts the bounce. The bills' ``paid_amount`` go back down; a bill
    made since the payment carried that much too little, so it (and every later bill) carries it now
    (``past_due_amount`` and ``minimum_due_amount`` go up by the due part paid). Flushes; audited."""
    *_, BillingStatement, _ = _models()
    _check_kind(loan)
    data = payment.allocation or {}
    for statement_id, paid in data.get("statements", []):
        statement = db.session.get(BillingStatement, statement_id)
        statement.paid_amount = statement.paid_amount - Decimal(paid)
    due_paid = Decimal(data.get("due_paid", "0"))
    paid_bill = db.session.get(BillingStatement, data["statement_id"]) if data.get("statement_id") else None
    later = []
    if paid_bill is not None and due_paid:
        later = list(db.session.scalars(select(BillingStatement).where(
            BillingStatement.loan_id == loan.id, BillingStatement.billed_on > paid_bill.billed_on)))
        for statement in later:
            statement.past_due_amount = statement.past_due_amount + due_paid
            statement.minimum_due_amount = statement.minimum_due_amount + due_paid
    loan.interest_suspense_amount = loan.interest_suspense_amount + Decimal(data.get("interest_from_suspense", "0"))
    db.session.flush()
    refresh_delinquency(loan, as_of)
    record(actor, "credit_line.payment_reversed", loan,
           changes={"payment_id": payment.id, "due_paid": due_paid, "bills_recarried": [s.id for s in later]})


def close_credit_line(loan, *, actor, clock) -> None:
    """Close the line at the customer's request (flushes; audited ``credit_line.closed``). DomainError (409)
    unless the principal and the interest are both zero, or when it is already closed."""
    _check_kind(loan)
    loan = _locked(loan)
    if loan.status in CLOSED_STATUSES:
        raise DomainError(f"This credit line is already {loan.status.replace('_', ' ')}.", 409)
    balance = loan.principal_outstanding_amount + loan.interest_receivable_amount
    if loan.principal_outstanding_amount or loan.interest_receivable_amount:
        raise DomainError(f"Pay the balance of {format_inr(balance)} (principal and interest) before closing the "
                          "credit line.", 409)
    as_of = current_business_date(loan.institution_id, clock)
    old = loan.status
    loan.status, loan.closed_on = "closed", as_of
    db.session.flush()
    record(actor, "credit_line.closed", loan, changes={"status": (old, "closed"), "closed_on": as_of})


# ------------------------------------------------------------------------------------------------ read side
@dataclass(frozen=True)
class LineView:
    """Everything the credit-line page shows (rupees, business dates)."""

    as_of: date
    limit: Decimal
    available: Decimal
    principal: Decimal
    interest: Decimal
    payoff: Decimal
    latest: object | None                 # the latest BillingStatement
    dues: Dues
    oldest_unpaid_due_on: date | None
    next_bill: NextBill | None
    statements: list = field(default_factory=list)    # BillingStatement rows, newest first
    transactions: list = field(default_factory=list)  # LoanTransaction rows, newest first
    daily_rate: Decimal = ZERO


def line_view(loan, as_of: date) -> LineView:
    """The page data of a credit line on ``as_of``: balances, the latest bill and what is unpaid on it, the
    next bill (projected), all bills and the statement lines."""
    _, _, Accrual, BillingStatement, LoanTransaction = _models()
    statements = list(db.session.scalars(select(BillingStatement).where(BillingStatement.loan_id == loan.id)
                                         .order_by(BillingStatement.billed_on)))
    bills = [Bill(s.past_due_amount, s.interest_amount, s.minimum_due_amount, s.paid_amount, s.due_on)
             for s in statements]
    latest = statements[-1] if statements else None
    dues = unpaid_dues(bills)
    transactions = list(db.session.scalars(select(LoanTransaction).where(LoanTransaction.loan_id == loan.id)
                                           .order_by(LoanTransaction.value_on.desc(), LoanTransaction.id.desc())))
    next_bill = None
    if loan.status not in CLOSED_STATUSES and loan.billing_anchor_on is not None:
        since = latest.billed_on if latest else date.min
        in_cycle = case((Accrual.accrued_on > since, type_coerce(Accrual.amount, BigInteger)), else_=0)
        total, through = db.session.execute(select(func.sum(in_cycle), func.max(Accrual.accrued_on))
                                            .where(Accrual.loan_id == loan.id)).one()
        next_bill = project_next_bill(anchor=loan.billing_anchor_on, as_of=as_of,
                                      principal=loan.principal_outstanding_amount, apr=loan.interest_rate,
                                      accrued_in_cycle=from_paise(int(total or 0)), unpaid_now=dues.total,
                                      accrued_through=through)
    principal, interest = loan.principal_outstanding_amount, loan.interest_receivable_amount
    return LineView(as_of=as_of, limit=loan.credit_limit_amount or ZERO, available=available_limit(loan),
                    principal=principal, interest=interest, payoff=principal + interest, latest=latest, dues=dues,
                    oldest_unpaid_due_on=oldest_unpaid_due_on(bills), next_bill=next_bill,
                    statements=list(reversed(statements)), transactions=transactions,
                    daily_rate=daily_rate(loan.interest_rate))


def get_line(loan_id: int, *, customer=None, institution_id: int | None = None):
    """The credit line ``loan_id`` as seen by ``customer`` (their own only) or by staff of
    ``institution_id``; NotFound (404) otherwise."""
    Loan, *_ = _models()
    loan = db.session.get(Loan, loan_id)
    if loan is None or loan.kind != KIND:
        raise NotFound("There is no such credit line.")
    if customer is not None and loan.customer_id != customer.id:
        raise NotFound("There is no such credit line.")
    if institution_id is not None and loan.institution_id != institution_id:
        raise NotFound("There is no such credit line.")
    return loan


def lines_of(customer) -> list:
    """All the customer's credit lines, newest first."""
    Loan, *_ = _models()
    return list(db.session.scalars(select(Loan).where(Loan.customer_id == customer.id, Loan.kind == KIND)
                                   .order_by(Loan.id.desc())))


__all__ = ["Allocation", "Bill", "BillAmounts", "Check", "Dues", "LineView", "NextBill", "allocate_payment",
           "amount_due_now",
           "anchors_billing_on", "annual_income", "apply_checks", "apply_payment", "assess", "available_limit",
           "bill_amounts", "bill_due_accounts", "billing_dates", "bills_of", "check_drawdown", "close_credit_line",
           "credit_line_product", "daily_interest", "daily_rate", "drawdown", "due_date", "get_line",
           "is_billing_date", "latest_savings_score", "line_view", "lines_of", "minimum_due",
           "minimum_due_principal", "next_billing_date", "oldest_unpaid_due_on", "open_credit_line", "open_lines",
           "project_next_bill", "refresh_delinquency", "reverse_payment", "spread_past_payment",
           "unpaid_dues"]
