"""Report queries (issue 7 items 1, 2 and 4): approval funnel, delinquency trend, collections efficiency,
disbursements, the loan book, vintage curves, and the filtered audit log; plus the rows their exports write.

Every query is scoped to one institution (the signed-in staff member's: the caller passes it, never a request
argument) and is a handful of set-based aggregates (``GROUP BY`` in the database, no per-loan Python). All
functions are read-only. Amounts are Decimal rupees (summed as integer paise, ``portal.ledger.services``);
ratios are percent with two decimals, half-up (``portal.reports.portfolio.percent``).

Filters (``ReportFilters``; a dimension that does not apply to a report is ignored by it, see ``FIELDS``):

* ``date_from`` / ``date_to`` (inclusive): what the date means depends on the report (``DATE_LABELS``).
* ``product_id``: the loan's or application's product (of the institution).
* ``score_band``: the band the application was scored at (AA, A, B, C, D); ``unscored`` = no scored application.
* ``status``: the application's current status (funnel) or the loan's current status (other reports).
* ``officer_id``: the staff member the application was assigned to for review or who decided it (for loans:
  of the loan's application).
* ``threshold``: the DPD a vintage counts as delinquent beyond (30, 60 or 90 — 90 being NPA).

Definitions:

* **Approval funnel** (cohort: applications of the institution submitted in the date range, by the submission
  time in ``PORTAL_TIMEZONE``): submitted (all of them) -> scored -> approved (an officer approved, including
  the straight-through API) -> accepted (the customer accepted the offer, or the straight-through sanction) ->
  disbursed. A stage counts the applications that ever reached it (their ``application_events``), whatever
  happened later. Conversion: count / previous stage's count, and count / submitted.
* **Delinquency trend**: one row per close-of-business snapshot (``portfolio_snapshots``) in the range: PAR30,
  PAR60, PAR90 and gross NPA ratio (as ``portal.reports.portfolio`` defines them), and the number of open loans
  in SMA-0, SMA-1, SMA-2 and NPA. Snapshots hold institution-wide figures only, so no other filter applies.
* **Collections efficiency** per calendar month of the range (term loans; the range ends at the business date
  at the latest): amount due = the instalment amounts (EMI: principal + interest) of the schedule rows falling
  due in the month; amount collected = the payments that succeeded and were received in the month (a payment
  that later bounced is not a collection); efficiency = collected / due.
* **Disbursements** per calendar month and product: count and amount of the disbursement and drawdown lines
  (``loan_transactions``) dated in the range.
* **Loan book**: the serviced loans (``portal.reports.exports.loan_book_query``) with balances, status, asset
  class and DPD; the date range is on ``disbursed_on``.
* **Vintage curves** (see ``vintage``): for each disbursement month (cohort), the share of the cohort's
  disbursed amount in loans more than ``threshold`` days past due at the end of months-on-book 1..N.
"""
from __future__ import annotations

import calendar
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import case, exists, extract, func, or_, select

from portal.errors import DomainError, NotFound
from portal.extensions import db
from portal.ledger.services import paise_sum, rupees
from portal.lending.models import ApplicationEvent, Installment, Loan, LoanApplication, Product
from portal.lending.schedule import add_months
from portal.lending.states import ApplicationStatus, LoanStatus
from portal.reports.portfolio import ASSET_CLASSES, SCORE_BANDS, percent
from portal.reports.writers import Column

ZERO = Decimal("0.00")
REPORTS = ("funnel", "delinquency", "collections", "disbursements", "loan_book", "vintage")
TITLES = {"funnel": "Approval funnel", "delinquency": "Delinquency trend", "collections": "Collections efficiency",
          "disbursements": "Disbursements", "loan_book": "Loan book", "vintage": "Vintage curves"}
SUMMARIES = {
    "funnel": "Applications submitted in the period and how far they went: scored, approved, accepted, disbursed.",
    "delinquency": "PAR30/60/90, gross NPA ratio and SMA counts per business date, from the close of business.",
    "collections": "Amount collected against the amount falling due, per month (term loans).",
    "disbursements": "Number and amount of disbursements and drawdowns per month and product.",
    "loan_book": "The serviced loans with their balances, status, asset class and DPD.",
    "vintage": "Share of each disbursement month's amount that went past due, by months on book.",
}
#: the filters each report takes (the institution is always the user's own)
FIELDS = {
    "funnel": ("date_from", "date_to", "product_id", "score_band", "status", "officer_id"),
    "delinquency": ("date_from", "date_to"),
    "collections": ("date_from", "date_to", "product_id", "score_band", "status", "officer_id"),
    "disbursements": ("date_from", "date_to", "product_id", "score_band", "status", "officer_id"),
    "loan_book": ("date_from", "date_to", "product_id", "score_band", "status", "officer_id"),
    "vintage": ("date_from", "date_to", "product_id", "score_band", "status", "officer_id", "threshold"),
}
DATE_LABELS = {"funnel": "Submitted", "delinquency": "Business date", "collections": "Due or received",
               "disbursements": "Disbursed", "loan_book": "Disbursed", "vintage": "Disbursed (cohorts)"}
THRESHOLDS = (30, 60, 90)
OFFICER_ROLES = ("loan_officer", "risk_officer", "admin")
#: default look-back when no start date is given: days of snapshots, months of the monthly reports
DEFAULT_TREND_DAYS = 90
DEFAULT_MONTHS = 12
MAX_MOB = 24


# ---- filters -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportFilters:
    """Checked filters of a report (None = any). ``as_of``: the business date the report is computed on."""

    as_of: date
    date_from: date | None = None
    date_to: date | None = None
    product_id: int | None = None
    score_band: str | None = None
    status: str | None = None
    officer_id: int | None = None
    threshold: int = 30

    def to_json(self) -> dict:
        """A JSON-ready dict (ISO dates) that ``clean_filters`` reads back (the export's ``filters``)."""
        return {"as_of": self.as_of.isoformat(), "date_from": _iso(self.date_from), "date_to": _iso(self.date_to),
                "product_id": self.product_id, "score_band": self.score_band, "status": self.status,
                "officer_id": self.officer_id, "threshold": self.threshold}

    def query_args(self, kind: str) -> dict:
        """The non-empty filters of ``kind`` as URL arguments (strings) for links and the export form."""
        values = {k: getattr(self, k) for k in FIELDS[kind]}
        return {k: (v.isoformat() if isinstance(v, date) else str(v)) for k, v in values.items()
                if v not in (None, "")}


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _date(value, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise DomainError(f"{name} must be a date (YYYY-MM-DD).", 400) from None


def _int(value, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DomainError(f"{name} must be a whole number.", 400) from None


def statuses_for(kind: str) -> tuple[str, ...]:
    """The statuses the ``status`` filter of ``kind`` offers: application statuses for the funnel, loan
    statuses otherwise; none for the delinquency trend."""
    if "status" not in FIELDS[kind]:
        return ()
    return tuple(s.value for s in (ApplicationStatus if kind == "funnel" else LoanStatus))


def clean_filters(kind: str, institution_id: int, raw: Mapping, *, as_of: date) -> ReportFilters:
    """Checked filters of report ``kind`` from ``raw`` (request arguments or an export's stored filters; keys
    of ``FIELDS[kind]``, others ignored). ``as_of``: the business date (``raw["as_of"]`` wins when present).

    Raises NotFound (404) for an unknown report, an ``institution_id`` other than ``institution_id``, or a
    product or officer of another institution; DomainError 400 for a malformed date or number, 422 for an
    unknown status, band or threshold, or a range that ends before it starts."""
    if kind not in REPORTS:
        raise NotFound(f"There is no report {kind!r}.")
    other = raw.get("institution_id")
    if other not in (None, "") and str(other) != str(institution_id):
        raise NotFound("There is no such institution.")
    as_of = _date(raw.get("as_of"), "The business date") or as_of
    fields = FIELDS[kind]
    values: dict = {"as_of": as_of}
    if "date_from" in fields:
        values["date_from"] = _date(raw.get("date_from"), "From")
        values["date_to"] = _date(raw.get("date_to"), "To")
        if values["date_from"] and values["date_to"] and values["date_to"] < values["date_from"]:
            raise DomainError("The date range ends before it starts.")
    if "product_id" in fields and (product_id := _int(raw.get("product_id"), "Product")) is not None:
        product = db.session.get(Product, product_id)
        if product is None or product.institution_id != institution_id:
            raise NotFound("There is no such product.")
        values["product_id"] = product_id
    if "score_band" in fields and (band := raw.get("score_band") or None) is not None:
        if band not in SCORE_BANDS:
            raise DomainError(f"Unknown score band {str(band)[:10]!r}.")
        values["score_band"] = band
    if "status" in fields and (status := raw.get("status") or None) is not None:
        if status not in statuses_for(kind):
            raise DomainError(f"Unknown status {str(status)[:20]!r}.")
        values["status"] = status
    if "officer_id" in fields and (officer_id := _int(raw.get("officer_id"), "Officer")) is not None:
        from portal.auth.models import User

        officer = db.session.get(User, officer_id)
        if officer is None or officer.institution_id != institution_id or officer.role not in OFFICER_ROLES:
            raise NotFound("There is no such officer.")
        values["officer_id"] = officer_id
    if "threshold" in fields:
        threshold = _int(raw.get("threshold"), "Days past due") or 30
        if threshold not in THRESHOLDS:
            raise DomainError(f"Days past due must be one of {', '.join(map(str, THRESHOLDS))}.")
        values["threshold"] = threshold
    return ReportFilters(**values)


def officers(institution_id: int) -> list[tuple[int, str]]:
    """``[(user id, "Name (role)")]`` of the staff who review or decide applications, by name."""
    from portal.auth.models import User

    rows = db.session.execute(select(User.id, User.display_name, User.role)
                              .where(User.institution_id == institution_id, User.role.in_(OFFICER_ROLES))
                              .order_by(User.display_name, User.id)).all()
    return [(i, f"{name} ({role.replace('_', ' ')})") for i, name, role in rows]


def products(institution_id: int) -> list[tuple[int, str]]:
    """``[(product id, name)]`` of the institution, by name."""
    return [tuple(r) for r in db.session.execute(select(Product.id, Product.name)
                                                 .where(Product.institution_id == institution_id)
                                                 .order_by(Product.name)).all()]


def _application_match(f: ReportFilters) -> list:
    """Conditions on LoanApplication for the band and officer filters."""
    conds = []
    if f.score_band:
        conds.append(LoanApplication.score_band.is_(None) if f.score_band == "unscored"
                     else LoanApplication.score_band == f.score_band)
    if f.officer_id:
        conds.append(or_(LoanApplication.assigned_to_id == f.officer_id,
                         LoanApplication.decided_by_id == f.officer_id))
    return conds


def loan_conditions(institution_id: int, f: ReportFilters, *, term_only: bool = False) -> list:
    """Conditions on Loan: the institution's serviced loans, and the product, status, band and officer filters
    (band and officer through the loan's application; "unscored" also matches loans without one)."""
    conds = [Loan.institution_id == institution_id, Loan.serviced.is_(True)]
    if term_only:
        conds.append(Loan.kind != "credit_line")
    if f.product_id:
        conds.append(Loan.product_id == f.product_id)
    if f.status:
        conds.append(Loan.status == f.status)
    app_conds = _application_match(f)
    if app_conds:
        matching = Loan.application_id.in_(select(LoanApplication.id).where(*app_conds))
        if f.score_band == "unscored" and not f.officer_id:
            matching = or_(Loan.application_id.is_(None), matching)
        conds.append(matching)
    return conds


def _months_back(as_of: date, months: int) -> date:
    """The first day of the month ``months - 1`` months before ``as_of``'s month (a window of ``months``)."""
    return add_months(as_of.replace(day=1), -(months - 1))


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def _month_key(year, month) -> date:
    return date(int(year), int(month), 1)


def _range(f: ReportFilters, *, default_from: date, cap: bool = True) -> tuple[date, date]:
    """The effective (from, to) of a report: ``default_from`` when no start is given; the end defaults to (and,
    with ``cap``, never passes) the business date."""
    end = f.date_to or f.as_of
    if cap:
        end = min(end, f.as_of)
    return f.date_from or default_from, end


# ---- approval funnel ---------------------------------------------------------------------------------------
#: stage key, label, the statuses whose reaching counts as reaching the stage
FUNNEL_STAGES = (
    ("submitted", "Submitted", ("submitted",)),
    ("scored", "Scored", ("scored",)),
    ("approved", "Approved / offered", ("approved",)),
    ("accepted", "Accepted", ("accepted", "sanctioned")),
    ("disbursed", "Disbursed", ("disbursed",)),
)


@dataclass(frozen=True)
class FunnelStage:
    """One stage: applications that reached it, % of the previous stage, % of those submitted."""

    key: str
    label: str
    count: int
    from_previous: Decimal
    from_submitted: Decimal


@dataclass(frozen=True)
class Funnel:
    """The funnel of the applications submitted from ``start`` to ``end`` (inclusive; None: up to now)."""

    start: date
    end: date | None
    stages: tuple[FunnelStage, ...]


def _local_midnight(d: date) -> datetime:
    tz = ZoneInfo(current_app.config.get("PORTAL_TIMEZONE", "Asia/Kolkata"))
    return datetime.combine(d, time.min, tz).astimezone(UTC)


def funnel(institution_id: int, f: ReportFilters) -> Funnel:
    """The approval funnel (module docstring) of ``institution_id`` under ``f``; default start: the first day
    of the month ``DEFAULT_MONTHS - 1`` months before the business date's; no end unless ``date_to`` (the
    submission time is the wall clock's, which may run ahead of the business date)."""
    start, end = f.date_from or _months_back(f.as_of, DEFAULT_MONTHS), f.date_to
    conds = [LoanApplication.institution_id == institution_id, LoanApplication.submitted_at.is_not(None),
             LoanApplication.submitted_at >= _local_midnight(start), *_application_match(f)]
    if end:
        conds.append(LoanApplication.submitted_at < _local_midnight(end + timedelta(days=1)))
    if f.product_id:
        conds.append(LoanApplication.product_id == f.product_id)
    if f.status:
        conds.append(LoanApplication.status == f.status)
    cohort = select(LoanApplication.id.label("app_id")).where(*conds).subquery()
    reached = (select(ApplicationEvent.application_id.label("app_id"),
                      *[func.max(case((ApplicationEvent.to_status.in_(statuses), 1), else_=0)).label(key)
                        for key, _, statuses in FUNNEL_STAGES[1:]])
               .where(ApplicationEvent.kind == "status", ApplicationEvent.application_id.in_(select(cohort.c.app_id)))
               .group_by(ApplicationEvent.application_id).subquery())
    row = db.session.execute(
        select(func.count(cohort.c.app_id),
               *[func.coalesce(func.sum(reached.c[key]), 0) for key, _, _ in FUNNEL_STAGES[1:]])
        .select_from(cohort).outerjoin(reached, reached.c.app_id == cohort.c.app_id)).one()
    counts = [int(v or 0) for v in row]
    stages, previous = [], None
    for (key, label, _), count in zip(FUNNEL_STAGES, counts, strict=True):
        stages.append(FunnelStage(key, label, count,
                                  percent(Decimal(count), Decimal(previous if previous is not None else count)),
                                  percent(Decimal(count), Decimal(counts[0]))))
        previous = count
    return Funnel(start=start, end=end, stages=tuple(stages))


# ---- delinquency trend -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DelinquencyPoint:
    """One close-of-business snapshot: ratios in percent, counts of open loans by class, AUM in rupees."""

    on: date
    aum: Decimal
    open_loans: int
    par30: Decimal
    par60: Decimal
    par90: Decimal
    npa_ratio: Decimal
    sma_0: int
    sma_1: int
    sma_2: int
    npa: int


def delinquency(institution_id: int, f: ReportFilters) -> list[DelinquencyPoint]:
    """The snapshots of ``institution_id`` dated in the range (default: the last ``DEFAULT_TREND_DAYS`` days up
    to the business date), oldest first."""
    from portal.reports.models import PortfolioSnapshot as S

    start, end = _range(f, default_from=f.as_of - timedelta(days=DEFAULT_TREND_DAYS), cap=False)
    rows = db.session.execute(select(S.business_date, S.aum, S.figures)
                              .where(S.institution_id == institution_id, S.business_date >= start,
                                     S.business_date <= end).order_by(S.business_date)).all()
    points = []
    for on, aum, figures in rows:
        classes = {c: 0 for c in ASSET_CLASSES}
        for s in figures.get("by_class", ()):
            classes[s["key"]] = classes.get(s["key"], 0) + int(s["count"])
        points.append(DelinquencyPoint(
            on=on, aum=aum, open_loans=int(figures.get("open_loans", 0)),
            par30=Decimal(str(figures.get("par30", "0"))), par60=Decimal(str(figures.get("par60", "0"))),
            par90=Decimal(str(figures.get("par90", "0"))), npa_ratio=Decimal(str(figures.get("npa_ratio", "0"))),
            sma_0=classes["sma_0"], sma_1=classes["sma_1"], sma_2=classes["sma_2"], npa=classes["npa"]))
    return points


# ---- collections efficiency --------------------------------------------------------------------------------
@dataclass(frozen=True)
class CollectionsMonth:
    """One month: amount due, amount collected (rupees) and efficiency = collected / due (percent)."""

    month: date
    due: Decimal
    collected: Decimal
    efficiency: Decimal


@dataclass(frozen=True)
class Collections:
    """The months of the range with totals (``efficiency``: total collected / total due)."""

    start: date
    end: date
    months: tuple[CollectionsMonth, ...]
    due: Decimal
    collected: Decimal
    efficiency: Decimal


def collections(institution_id: int, f: ReportFilters) -> Collections:
    """Collections efficiency (module docstring) per month from ``date_from`` (default: the last
    ``DEFAULT_MONTHS`` months) to ``date_to`` capped at the business date; months with neither dues nor
    collections are left out."""
    from portal.servicing.models import Payment

    start, end = _range(f, default_from=_months_back(f.as_of, DEFAULT_MONTHS))
    loans = loan_conditions(institution_id, f, term_only=True)
    y, m = extract("year", Installment.due_on), extract("month", Installment.due_on)
    due = {_month_key(a, b): rupees(p) for a, b, p in db.session.execute(
        select(y, m, paise_sum(Installment.installment_amount)).join(Loan, Loan.id == Installment.loan_id)
        .where(*loans, Installment.due_on >= start, Installment.due_on <= end).group_by(y, m)).all()}
    y, m = extract("year", Payment.received_on), extract("month", Payment.received_on)
    got = {_month_key(a, b): rupees(p) for a, b, p in db.session.execute(
        select(y, m, paise_sum(Payment.amount)).join(Loan, Loan.id == Payment.loan_id)
        .where(*loans, Payment.status == "succeeded", Payment.received_on >= start, Payment.received_on <= end)
        .group_by(y, m)).all()}
    months = tuple(CollectionsMonth(k, due.get(k, ZERO), got.get(k, ZERO), percent(got.get(k, ZERO), due.get(k, ZERO)))
                   for k in sorted(set(due) | set(got)))
    total_due, total_got = sum(due.values(), ZERO), sum(got.values(), ZERO)
    return Collections(start=start, end=end, months=months, due=total_due, collected=total_got,
                       efficiency=percent(total_got, total_due))


# ---- disbursements -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DisbursementRow:
    """Disbursements (and credit line drawdowns) of one product in one month: count and amount (rupees)."""

    month: date
    product: str
    count: int
    amount: Decimal


@dataclass(frozen=True)
class Disbursements:
    """Rows by month then product, with per-month and overall totals."""

    start: date
    end: date
    rows: tuple[DisbursementRow, ...]
    by_month: tuple[tuple[date, int, Decimal], ...]
    count: int
    amount: Decimal


def disbursements(institution_id: int, f: ReportFilters) -> Disbursements:
    """Disbursements (module docstring) from ``date_from`` (default: the last ``DEFAULT_MONTHS`` months) to
    ``date_to`` (default: the business date)."""
    from portal.reports.portfolio import DISBURSEMENT_KINDS
    from portal.servicing.models import LoanTransaction as T

    start, end = _range(f, default_from=_months_back(f.as_of, DEFAULT_MONTHS), cap=False)
    y, m = extract("year", T.value_on), extract("month", T.value_on)
    name = func.coalesce(Product.name, "No product")
    result = db.session.execute(
        select(y, m, name, func.count(T.id), paise_sum(T.amount))
        .select_from(T).join(Loan, Loan.id == T.loan_id).outerjoin(Product, Product.id == Loan.product_id)
        .where(*loan_conditions(institution_id, f), T.kind.in_(DISBURSEMENT_KINDS), T.value_on >= start,
               T.value_on <= end)
        .group_by(y, m, name).order_by(y, m, name)).all()
    rows = tuple(DisbursementRow(_month_key(a, b), product, int(n), rupees(p)) for a, b, product, n, p in result)
    months: dict[date, tuple[int, Decimal]] = {}
    for r in rows:
        n, amount = months.get(r.month, (0, ZERO))
        months[r.month] = (n + r.count, amount + r.amount)
    return Disbursements(start=start, end=end, rows=rows,
                         by_month=tuple((k, n, a) for k, (n, a) in sorted(months.items())),
                         count=sum(r.count for r in rows), amount=sum((r.amount for r in rows), ZERO))


# ---- loan book ---------------------------------------------------------------------------------------------
BOOK_PAGE = 50


def loan_book_filters(f: ReportFilters) -> dict:
    """The report's filters in the loan-book export's shape (``portal.reports.exports.clean_filters``)."""
    out = {"status": f.status, "product_id": f.product_id, "disbursed_from": _iso(f.date_from),
           "disbursed_to": _iso(f.date_to)}
    if f.score_band:
        out["score_band"] = f.score_band
    if f.officer_id:
        out["officer_id"] = f.officer_id
    return out


@dataclass(frozen=True)
class LoanBook:
    """One page of the loan book (``rows``: ``loan_book_query`` rows, by loan id, after ``after``), the totals
    of every matching loan (count and rupees), the principal by status, and the id to continue after."""

    rows: list
    count: int
    loan_amount: Decimal
    principal: Decimal
    interest: Decimal
    by_status: tuple[tuple[str, int, Decimal], ...]
    next_after: int | None


def loan_book(institution_id: int, f: ReportFilters, *, after: int | None = None, limit: int = BOOK_PAGE) -> LoanBook:
    """The loan book page of up to ``limit`` loans with ids above ``after`` (keyset), and the totals."""
    from portal.reports.exports import loan_book_query

    q = loan_book_query(institution_id, loan_book_filters(f))
    page = db.session.execute(q.where(Loan.id > (after or 0)).limit(limit + 1)).all()
    inner = q.order_by(None).with_only_columns(Loan.id).scalar_subquery()
    totals = db.session.execute(
        select(Loan.status, func.count(), paise_sum(Loan.loan_amount), paise_sum(Loan.principal_outstanding_amount),
               paise_sum(Loan.interest_receivable_amount))
        .where(Loan.id.in_(inner)).group_by(Loan.status).order_by(Loan.status)).all()
    by_status = tuple((s, int(n), rupees(p)) for s, n, _, p, _ in totals)
    return LoanBook(rows=page[:limit], count=sum(int(t[1]) for t in totals),
                    loan_amount=sum((rupees(t[2]) for t in totals), ZERO),
                    principal=sum((rupees(t[3]) for t in totals), ZERO),
                    interest=sum((rupees(t[4]) for t in totals), ZERO), by_status=by_status,
                    next_after=page[limit - 1][0] if len(page) > limit else None)


# ---- vintage curves ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VintagePoint:
    """Months on book ``mob``, observed at ``on`` (the end of the mob-th month after the cohort month): the
    cohort's disbursed amount in loans then more than the threshold DPD, and its share (percent)."""

    mob: int
    on: date
    amount: Decimal
    share: Decimal


@dataclass(frozen=True)
class Cohort:
    """One disbursement month: loans, disbursed amount (rupees) and the points observed so far."""

    month: date
    loans: int
    disbursed: Decimal
    points: tuple[VintagePoint, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Vintage:
    """The cohorts (oldest first), the DPD threshold and the longest months-on-book observed."""

    threshold: int
    cohorts: tuple[Cohort, ...]
    max_mob: int


def delinquent_at(on: date, threshold: int):
    """SQL: the loan (``Loan``) was more than ``threshold`` days past due on ``on``: some schedule row fell due
    before ``on - threshold`` days and was not fully paid by ``on`` (``paid_on`` empty or later). That is the
    close of business's DPD (days since the oldest unpaid due date) rebuilt from the schedule."""
    return exists(select(Installment.id).where(
        Installment.loan_id == Loan.id, Installment.due_on < on - timedelta(days=threshold),
        or_(Installment.paid_on.is_(None), Installment.paid_on > on)))


def vintage(institution_id: int, f: ReportFilters, *, max_mob: int = MAX_MOB) -> Vintage:
    """Vintage curves of the term loans disbursed in the cohort months from ``date_from``'s month (default: the
    last ``DEFAULT_MONTHS`` months) to ``date_to``'s month (default and cap: the business date's).

    Formula: for cohort month c and months-on-book k (1..``max_mob``), observed at t = the last day of the month
    c + k, only when t is on or before the business date (complete months only):

        share(c, k) = sum(loan_amount of the cohort's loans more than ``threshold`` DPD at t)
                      / sum(loan_amount of the cohort's loans) x 100

    where "more than N DPD at t" is ``delinquent_at`` (from the schedule rows and their ``paid_on``: per-loan
    DPD history is not kept by the snapshots). A loan written off or closed keeps its schedule: a written-off
    loan still counts as delinquent. One GROUP BY query per observation date."""
    first, last = _range(f, default_from=_months_back(f.as_of, DEFAULT_MONTHS))
    first, last = first.replace(day=1), _month_end(last)
    base = [*loan_conditions(institution_id, f, term_only=True), Loan.disbursed_on >= first,
            Loan.disbursed_on <= last]
    y, m = extract("year", Loan.disbursed_on), extract("month", Loan.disbursed_on)
    sizes = {_month_key(a, b): (int(n), rupees(p)) for a, b, n, p in db.session.execute(
        select(y, m, func.count(), paise_sum(Loan.loan_amount)).where(*base).group_by(y, m)).all()}
    points: dict[date, list[VintagePoint]] = {k: [] for k in sizes}
    if sizes:
        observed = add_months(min(sizes), 1)
        while _month_end(observed) <= f.as_of and observed <= add_months(max(sizes), max_mob):
            on = _month_end(observed)
            lo = max(min(sizes), add_months(observed, -max_mob))
            bad = {_month_key(a, b): rupees(p) for a, b, p in db.session.execute(
                select(y, m, paise_sum(Loan.loan_amount))
                .where(*base, Loan.disbursed_on >= lo, Loan.disbursed_on < observed,
                       delinquent_at(on, f.threshold)).group_by(y, m)).all()}
            for cohort in sizes:
                if lo <= cohort < observed:
                    mob = (observed.year - cohort.year) * 12 + observed.month - cohort.month
                    amount = bad.get(cohort, ZERO)
                    points[cohort].append(VintagePoint(mob, on, amount, percent(amount, sizes[cohort][1])))
            observed = add_months(observed, 1)
    cohorts = tuple(Cohort(k, sizes[k][0], sizes[k][1], tuple(sorted(points[k], key=lambda p: p.mob)))
                    for k in sorted(sizes))
    return Vintage(threshold=f.threshold, cohorts=cohorts,
                   max_mob=max((len(c.points) for c in cohorts), default=0))


# ---- the audit log -----------------------------------------------------------------------------------------
AUDIT_FIELDS = ("actor", "action", "entity_type", "entity_id", "date_from", "date_to")


def clean_audit_filters(raw: Mapping) -> dict:
    """Audit log filters ``{actor, action, entity_type, entity_id, date_from, date_to}`` (stripped strings,
    ISO dates; "" = any) from ``raw``. DomainError 400 for a malformed date, 422 for a range that ends before
    it starts."""
    out = {k: str(raw.get(k) or "").strip()[:80] for k in AUDIT_FIELDS}
    start, end = _date(out["date_from"], "From"), _date(out["date_to"], "To")
    if start and end and end < start:
        raise DomainError("The date range ends before it starts.")
    out["date_from"], out["date_to"] = _iso(start) or "", _iso(end) or ""
    return out


def audit_query(institution_id: int, filters: Mapping):
    """The institution's audit events matching ``filters`` (``clean_audit_filters``), newest first (by id):
    actor: part of the actor's label (name and role, or "system"), any case; action: the action or its prefix
    (``loan.`` finds every loan action); object type exact; object id exact; dates: the day of ``occurred_at``
    in ``PORTAL_TIMEZONE``."""
    from portal.audit.models import AuditEvent as E

    q = select(E).where(E.institution_id == institution_id)
    if filters.get("actor"):
        q = q.where(E.actor_label.ilike(f"%{_like(filters['actor'])}%", escape="\\"))
    if filters.get("action"):
        q = q.where(E.action.ilike(f"{_like(filters['action'])}%", escape="\\"))
    if filters.get("entity_type"):
        q = q.where(E.entity_type == filters["entity_type"])
    if filters.get("entity_id"):
        q = q.where(E.entity_id == filters["entity_id"])
    if filters.get("date_from"):
        q = q.where(E.occurred_at >= _local_midnight(date.fromisoformat(filters["date_from"])))
    if filters.get("date_to"):
        q = q.where(E.occurred_at < _local_midnight(date.fromisoformat(filters["date_to"]) + timedelta(days=1)))
    return q.order_by(E.id.desc())


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# ---- export tables -----------------------------------------------------------------------------------------
EXPORT_KINDS = ("funnel", "delinquency", "collections", "disbursements", "vintage", "audit_log")
AUDIT_COLUMNS = (
    Column("Event ID", "int", 10), Column("Occurred at (UTC)", "text", 26), Column("Actor", "text", 30),
    Column("Action", "text", 28), Column("Object type", "text", 18), Column("Object ID", "text", 12),
    Column("Changes", "text", 60), Column("Note", "text", 40), Column("Request ID", "text", 16),
    Column("IP", "text", 16),
)


@dataclass(frozen=True)
class Table:
    """What an export writes: columns, sheet name, the row count and the rows (in column order)."""

    columns: tuple[Column, ...]
    sheet: str
    total: int
    rows: Iterator[tuple] | list


def _report_table(kind: str, institution_id: int, f: ReportFilters) -> Table:
    if kind == "funnel":
        data = funnel(institution_id, f)
        cols = (Column("Stage", "text", 22), Column("Applications", "int", 14),
                Column("% of previous stage", "money", 20), Column("% of submitted", "money", 16))
        rows = [(s.label, s.count, s.from_previous, s.from_submitted) for s in data.stages]
    elif kind == "delinquency":
        cols = (Column("Business date", "date", 14), Column("AUM", "money", 18), Column("Open loans", "int", 11),
                Column("PAR30 %", "money", 10), Column("PAR60 %", "money", 10), Column("PAR90 %", "money", 10),
                Column("Gross NPA ratio %", "money", 17), Column("SMA-0", "int", 8), Column("SMA-1", "int", 8),
                Column("SMA-2", "int", 8), Column("NPA", "int", 8))
        rows = [(p.on, p.aum, p.open_loans, p.par30, p.par60, p.par90, p.npa_ratio, p.sma_0, p.sma_1, p.sma_2,
                 p.npa) for p in delinquency(institution_id, f)]
    elif kind == "collections":
        cols = (Column("Month", "date", 12), Column("Amount due", "money", 18),
                Column("Amount collected", "money", 18), Column("Efficiency %", "money", 13))
        rows = [(c.month, c.due, c.collected, c.efficiency) for c in collections(institution_id, f).months]
    elif kind == "disbursements":
        cols = (Column("Month", "date", 12), Column("Product", "text", 28), Column("Count", "int", 8),
                Column("Amount", "money", 18))
        rows = [(r.month, r.product, r.count, r.amount) for r in disbursements(institution_id, f).rows]
    else:  # vintage
        cols = (Column("Cohort (disbursed in)", "date", 20), Column("Loans", "int", 8),
                Column("Disbursed", "money", 18), Column("Months on book", "int", 15),
                Column("Observed on", "date", 14), Column(f"Amount over {f.threshold} DPD", "money", 20),
                Column("Share %", "money", 10))
        rows = [(c.month, c.loans, c.disbursed, p.mob, p.on, p.amount, p.share)
                for c in vintage(institution_id, f).cohorts for p in c.points]
    return Table(columns=cols, sheet=TITLES[kind], total=len(rows), rows=rows)


def _mask_changes(changes: dict | None) -> dict | None:
    """Phone numbers in an audit event's changes masked (``98XXXXXX10``) for an export without PII."""
    from portal.reports.exports import mask_phone

    if not changes:
        return changes

    def mask(key: str, value):
        if "phone" in key.lower():
            if isinstance(value, list):
                return [mask_phone(str(v)) if v is not None else None for v in value]
            return mask_phone(str(value)) if value is not None else None
        if isinstance(value, dict):
            return {k: mask(k, v) for k, v in value.items()}
        return value

    return {k: mask(k, v) for k, v in changes.items()}


def _audit_rows(institution_id: int, filters: Mapping, *, pii: bool, chunk: int = 2000) -> Iterator[tuple]:
    """Audit rows for the writer in keyset chunks of plain columns (newest first, constant memory),
    ``occurred_at`` as ISO 8601 text in UTC (to the second: the exact instant, in any spreadsheet)."""
    from portal.audit.models import AuditEvent as E

    base = audit_query(institution_id, filters).with_only_columns(
        E.id, E.occurred_at, E.actor_label, E.action, E.entity_type, E.entity_id, E.changes, E.note, E.request_id,
        E.ip)
    before = None
    while True:
        q = base if before is None else base.where(E.id < before)
        events = db.session.execute(q.limit(chunk)).all()
        for event_id, at, actor, action, entity_type, entity_id, changes, note, request_id, ip in events:
            at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="seconds")
            changes = changes if pii else _mask_changes(changes)
            yield (event_id, at, actor, action, entity_type, entity_id or "",
                   json.dumps(changes, sort_keys=True, ensure_ascii=False) if changes else "", note or "",
                   request_id or "", ip or "")
        if len(events) < chunk:
            return
        before = events[-1][0]


def export_filters(kind: str, institution_id: int, raw: Mapping, *, as_of: date) -> dict:
    """The checked filters an export of ``kind`` (``EXPORT_KINDS``) stores (JSON-ready): the report's
    ``ReportFilters.to_json()`` or the audit filters. Raises as ``clean_filters`` / ``clean_audit_filters``."""
    if kind == "audit_log":
        return clean_audit_filters(raw)
    return clean_filters(kind, institution_id, raw, as_of=as_of).to_json()


def export_table(kind: str, institution_id: int, filters: Mapping, *, pii: bool) -> Table:
    """The table an export of ``kind`` writes for the stored ``filters`` (``export_filters``): the report's
    rows as the page shows them (aggregates: a few rows), or the audit events (streamed in chunks). Phone
    numbers in audit changes are masked unless ``pii``."""
    if kind == "audit_log":
        from portal.audit.models import AuditEvent as E

        total = db.session.scalar(select(func.count()).select_from(
            audit_query(institution_id, filters).order_by(None).with_only_columns(E.id).subquery()))
        return Table(columns=AUDIT_COLUMNS, sheet="Audit log", total=int(total or 0),
                     rows=_audit_rows(institution_id, filters, pii=pii))
    f = clean_filters(kind, institution_id, filters, as_of=date.fromisoformat(filters["as_of"]))
    return _report_table(kind, institution_id, f)


__all__ = ["AUDIT_COLUMNS", "Cohort", "Collections", "CollectionsMonth", "DATE_LABELS", "DelinquencyPoint",
           "DisbursementRow", "Disbursements", "EXPORT_KINDS", "FIELDS", "FUNNEL_STAGES", "Funnel", "FunnelStage",
           "LoanBook", "REPORTS", "ReportFilters", "THRESHOLDS", "TITLES", "Table", "Vintage", "VintagePoint",
           "audit_query", "clean_audit_filters", "clean_filters", "collections", "delinquency", "delinquent_at",
           "disbursements", "export_filters", "export_table", "funnel", "loan_book", "loan_book_filters",
           "loan_conditions", "officers", "products", "statuses_for", "vintage"]
