"""The portfolio figures of an institution for a business date, from the serviced book (``loans.serviced``).

Every figure is a set-based aggregate (a handful of ``GROUP BY`` queries, no per-loan Python), so the live
figures stay fresh (seed 002: no cache) and their cost does not depend on Python work per loan.

Definitions (amounts in Decimal rupees, ratios in percent with two decimals, half-up):

* open loans: serviced loans whose status is active, overdue or npa (closed and written-off loans are not).
* AUM = gross outstanding principal = the sum of ``principal_outstanding_amount`` of the open loans; it equals
  the ledger's 1100 (loans: outstanding principal) balance on the date (``ledger_principal``).
* disbursed MTD / YTD: the sum and count of ``loan_transactions`` of kind disbursement or drawdown whose
  ``value_on`` is in the month / year of the date, up to the date.
* collections MTD: repayments and prepayments of the month up to the date minus reversals (bounces).
* gross NPA ratio = principal outstanding of open loans classed NPA / AUM.
* PAR30/60/90 = principal outstanding of open loans with DPD > 30 / 60 / 90 / AUM (the classic portfolio at risk).
* distributions (count and principal): by DPD bucket (0, 1-30, 31-60, 61-90, 90+), by RBI asset class, and by
  the score band the borrower's application was scored at ("unscored" when the loan has no scored application).

Two sources, one set of figures (``source``): on PostgreSQL the book, the flows, the ledger balance and the
customer and application counts are read from aggregate tables kept in the same transaction as every change by
statement-level triggers (portal/reports/models.py ``PortfolioPosition``, ``PortfolioDailyFlow``,
``LedgerDailyBalance``, ``PortfolioApplicationCount``, ``PortfolioCustomerCount``; migration f7portfolioagg01), so
the cost is the number of groups (a few dozen rows, at most 366 days of flows, one row per day with postings for
the ledger), not the size of the book. Only ``imported_current`` still counts loans (the imported book, not
serviced: history for the seed 003 score). On SQLite (the embedded ``make run``; no transition tables) the same
figures are aggregated from the book itself ("live"). tests/reports/test_portfolio_aggregates.py checks that both
give the same figures.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import BigInteger, and_, case, func, literal, select, type_coerce

from portal.extensions import db
from portal.ledger.services import paise_sum, rupees
from portal.lending.models import Loan, LoanApplication

OPEN_STATUSES = ("active", "overdue", "npa")
DPD_BUCKETS = ("0", "1-30", "31-60", "61-90", "90+")
ASSET_CLASSES = ("standard", "sma_0", "sma_1", "sma_2", "npa")
ASSET_CLASS_LABELS = {"standard": "Standard", "sma_0": "SMA-0", "sma_1": "SMA-1", "sma_2": "SMA-2", "npa": "NPA"}
SCORE_BANDS = ("AA", "A", "B", "C", "D", "unscored")
DISBURSEMENT_KINDS = ("disbursement", "drawdown")
COLLECTION_KINDS = ("repayment", "prepayment")
REVERSAL_KINDS = ("reversal",)
ZERO = Decimal("0.00")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Slice:
    """One bar of a distribution: a label, the number of open loans and their outstanding principal (rupees)."""

    key: str
    label: str
    count: int
    principal: Decimal


@dataclass(frozen=True)
class PortfolioFigures:
    """The dashboard's figures for one institution as of one business date (see the module docstring)."""

    as_of: date
    open_loans: int
    aum: Decimal
    disbursed_mtd: Decimal
    disbursed_mtd_count: int
    disbursed_ytd: Decimal
    disbursed_ytd_count: int
    collections_mtd: Decimal
    npa_principal: Decimal
    npa_ratio: Decimal                   # percent, 2 decimals
    par30: Decimal                       # percent, 2 decimals
    par60: Decimal
    par90: Decimal
    by_dpd: tuple[Slice, ...]
    by_class: tuple[Slice, ...]
    by_band: tuple[Slice, ...]
    ledger_principal: Decimal            # the ledger's 1100 balance on the date
    customers: int                       # customers of the institution (all, as the page showed before)
    applications_by_status: dict[str, int]
    applications_by_band: dict[str, int]
    imported_current: int                # imported-book loans (history, not serviced) still running on the date

    @property
    def reconciled(self) -> bool:
        """True when AUM equals the ledger's loan principal (1100) balance on the date."""
        return self.aum == self.ledger_principal

    def to_json(self) -> dict:
        """A JSON-ready dict (dates ISO, amounts and ratios as strings) that ``from_json`` reads back."""
        def plain(value):
            if isinstance(value, Decimal):
                return str(value)
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        return plain(asdict(self))

    @classmethod
    def from_json(cls, data: dict) -> PortfolioFigures:
        """The figures stored by ``to_json``. KeyError/ValueError on a malformed dict."""
        money = ("aum", "disbursed_mtd", "disbursed_ytd", "collections_mtd", "npa_principal", "npa_ratio", "par30",
                 "par60", "par90", "ledger_principal")
        values = dict(data)
        values["as_of"] = date.fromisoformat(data["as_of"])
        for key in money:
            values[key] = Decimal(data[key])
        for key in ("by_dpd", "by_class", "by_band"):
            values[key] = tuple(Slice(s["key"], s["label"], int(s["count"]), Decimal(s["principal"]))
                                for s in data[key])
        return cls(**values)


def percent(part: Decimal, whole: Decimal) -> Decimal:
    """``part / whole`` in percent, two decimals half-up; 0.00 when ``whole`` is zero."""
    if not whole:
        return ZERO
    return (Decimal(100) * part / whole).quantize(CENT, rounding=ROUND_HALF_UP)


def _open_loans(institution_id: int):
    return and_(Loan.institution_id == institution_id, Loan.serviced.is_(True), Loan.status.in_(OPEN_STATUSES))


def _dpd_bucket():
    return case((Loan.dpd <= 0, literal("0")), (Loan.dpd <= 30, literal("1-30")), (Loan.dpd <= 60, literal("31-60")),
                (Loan.dpd <= 90, literal("61-90")), else_=literal("90+"))


#: where the figures come from: "aggregates" (the trigger-maintained tables, PostgreSQL only) or "live" (the book)
SOURCES = ("aggregates", "live")

Cells = dict[tuple[str, str, str], tuple[int, Decimal]]


def default_source() -> str:
    """"aggregates" on PostgreSQL (the tables are kept by its triggers), "live" elsewhere (SQLite has no
    transition tables: the migration creates the tables but nothing fills them)."""
    return "aggregates" if db.session.get_bind().dialect.name == "postgresql" else "live"


def book_cells(institution_id: int, source: str | None = None) -> Cells:
    """``{(asset_class, dpd bucket, score band): (loans, principal rupees)}`` of the open serviced loans (status
    active, overdue or npa), groups with no loans left out. ``source``: see ``SOURCES`` (default
    ``default_source()``); ValueError for another."""
    source = source or default_source()
    if source == "aggregates":
        from portal.reports.models import PortfolioPosition as P

        rows = db.session.execute(
            select(P.asset_class, P.dpd_bucket, P.score_band, func.sum(P.loans_count),
                   paise_sum(P.principal_outstanding_amount))
            .where(P.institution_id == institution_id, P.status.in_(OPEN_STATUSES))
            .group_by(P.asset_class, P.dpd_bucket, P.score_band)).all()
    elif source == "live":
        band = case((LoanApplication.score_band.in_(SCORE_BANDS[:-1]), LoanApplication.score_band),
                    else_=literal("unscored"))
        inner = select(Loan.asset_class.label("asset_class"), _dpd_bucket().label("bucket"), band.label("band"),
                       type_coerce(Loan.principal_outstanding_amount, BigInteger).label("principal")) \
            .select_from(Loan).outerjoin(LoanApplication, LoanApplication.id == Loan.application_id) \
            .where(_open_loans(institution_id)).subquery()
        rows = db.session.execute(select(inner.c.asset_class, inner.c.bucket, inner.c.band, func.count(),
                                         func.coalesce(func.sum(inner.c.principal), 0))
                                  .group_by(inner.c.asset_class, inner.c.bucket, inner.c.band)).all()
    else:
        raise ValueError(f"unknown source {source!r}: one of {SOURCES}")
    return {(cls, bucket, band): (int(n), rupees(paise)) for cls, bucket, band, n, paise in rows if int(n)}


def _flows(institution_id: int, as_of: date, source: str | None = None) -> dict[str, Decimal | int]:
    """Disbursements of the month and year, collections of the month: from the daily flows (at most 366 rows)
    or, ``source`` "live", one aggregate over loan_transactions."""
    if (source or default_source()) == "aggregates":
        return _flows_from_days(institution_id, as_of)
    from portal.servicing.models import LoanTransaction as T

    month_start, year_start = as_of.replace(day=1), as_of.replace(month=1, day=1)
    in_month = T.value_on >= month_start
    disbursed = T.kind.in_(DISBURSEMENT_KINDS)
    amount = type_coerce(T.amount, BigInteger)
    row = db.session.execute(
        select(func.coalesce(func.sum(case((disbursed, 1), else_=0)), 0),
               func.coalesce(func.sum(case((disbursed, amount), else_=0)), 0),
               func.coalesce(func.sum(case((and_(disbursed, in_month), 1), else_=0)), 0),
               func.coalesce(func.sum(case((and_(disbursed, in_month), amount), else_=0)), 0),
               func.coalesce(func.sum(case((and_(T.kind.in_(COLLECTION_KINDS), in_month), amount),
                                           (and_(T.kind.in_(REVERSAL_KINDS), in_month), -amount), else_=0)), 0))
        .select_from(T).join(Loan, Loan.id == T.loan_id)
        .where(Loan.institution_id == institution_id, Loan.serviced.is_(True), T.value_on >= year_start,
               T.value_on <= as_of,
               T.kind.in_(DISBURSEMENT_KINDS + COLLECTION_KINDS + REVERSAL_KINDS))).one()
    ytd_n, ytd, mtd_n, mtd, collected = row
    return {"disbursed_ytd_count": int(ytd_n), "disbursed_ytd": rupees(ytd), "disbursed_mtd_count": int(mtd_n),
            "disbursed_mtd": rupees(mtd), "collections_mtd": rupees(collected)}


def _flows_from_days(institution_id: int, as_of: date) -> dict[str, Decimal | int]:
    """``_flows`` from ``portfolio_daily_flows`` (the days of the year up to ``as_of``)."""
    from portal.reports.models import PortfolioDailyFlow as F

    in_month = F.value_on >= as_of.replace(day=1)
    row = db.session.execute(
        select(func.coalesce(func.sum(F.disbursed_count), 0), paise_sum(F.disbursed_amount),
               func.coalesce(func.sum(case((in_month, F.disbursed_count), else_=0)), 0),
               paise_sum(case((in_month, type_coerce(F.disbursed_amount, BigInteger)), else_=0)),
               paise_sum(case((in_month, type_coerce(F.collected_amount, BigInteger)), else_=0)))
        .where(F.institution_id == institution_id, F.value_on >= as_of.replace(month=1, day=1),
               F.value_on <= as_of)).one()
    ytd_n, ytd, mtd_n, mtd, collected = row
    return {"disbursed_ytd_count": int(ytd_n), "disbursed_ytd": rupees(ytd), "disbursed_mtd_count": int(mtd_n),
            "disbursed_mtd": rupees(mtd), "collections_mtd": rupees(collected)}


def ledger_principal(institution_id: int, as_of: date, source: str | None = None) -> Decimal:
    """The balance (debits - credits, rupees) of the institution's ledger account 1100 (loans: outstanding
    principal) over the entries dated on or before ``as_of``: from the daily balances (one row per day with
    postings) or, ``source`` "live", from every posting."""
    from portal.ledger.models import Account, JournalEntry, LedgerAccount, Posting

    if (source or default_source()) == "aggregates":
        from portal.reports.models import LedgerDailyBalance as B

        debit, credit = db.session.execute(
            select(paise_sum(B.debit_amount), paise_sum(B.credit_amount))
            .join(LedgerAccount, LedgerAccount.id == B.account_id)
            .where(LedgerAccount.institution_id == institution_id,
                   LedgerAccount.code == Account.LOAN_PRINCIPAL.value, B.business_date <= as_of)).one()
        return rupees(int(debit or 0) - int(credit or 0))

    debit, credit = db.session.execute(
        select(paise_sum(Posting.debit_amount), paise_sum(Posting.credit_amount))
        .select_from(Posting).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(JournalEntry.institution_id == institution_id, JournalEntry.business_date <= as_of,
               LedgerAccount.institution_id == institution_id,
               LedgerAccount.code == Account.LOAN_PRINCIPAL.value)).one()
    return rupees(int(debit or 0) - int(credit or 0))


def _other_figures(institution_id: int, as_of: date, source: str | None = None) -> dict:
    """The figures the page showed before the serviced book (customers, applications, the imported book):
    customers and applications from their counters or, ``source`` "live", counted over the tables."""
    from portal.onboarding.models import Customer
    from portal.reports.models import PortfolioApplicationCount as A
    from portal.reports.models import PortfolioCustomerCount as C

    if (source or default_source()) == "aggregates":
        customers = db.session.scalar(select(C.customers_count).where(C.institution_id == institution_id)) or 0
        rows = db.session.execute(select(A.status, A.score_band, A.applications_count)
                                  .where(A.institution_id == institution_id, A.applications_count != 0)).all()
    else:
        customers = db.session.scalar(select(func.count()).select_from(Customer)
                                      .where(Customer.institution_id == institution_id)) or 0
        rows = db.session.execute(select(LoanApplication.status, LoanApplication.score_band, func.count())
                                  .where(LoanApplication.institution_id == institution_id)
                                  .group_by(LoanApplication.status, LoanApplication.score_band)).all()
    apps: dict[str, int] = {}
    bands: dict[str, int] = {}
    for status, band, n in rows:
        apps[str(status)] = apps.get(str(status), 0) + int(n)
        if band:
            bands[band] = bands.get(band, 0) + int(n)
    # the imported book is history (seed 003), not serviced: counted over its loans (index on end_on)
    imported = db.session.scalar(select(func.count()).select_from(Loan).where(
        Loan.institution_id == institution_id, Loan.serviced.is_(False), Loan.end_on > as_of,
        Loan.status.not_in(("closed", "written_off")))) or 0
    return {"customers": int(customers), "applications_by_status": apps,
            "applications_by_band": {b: int(bands.get(b, 0)) for b in SCORE_BANDS[:-1]},
            "imported_current": int(imported)}


def portfolio_figures(institution_id: int, as_of: date, source: str | None = None) -> PortfolioFigures:
    """The portfolio figures of ``institution_id`` as of business date ``as_of``, computed now from the serviced
    book (loan balances, DPD and classes as they are now: pass the current business date for live figures; past
    dates come from the snapshots of the close of business). ``source``: "aggregates" (the trigger-maintained
    tables) or "live" (the book itself); default ``default_source()``. Read-only."""
    source = source or default_source()
    cells = book_cells(institution_id, source)
    by_bucket = {b: (0, ZERO) for b in DPD_BUCKETS}
    by_class = {c: (0, ZERO) for c in ASSET_CLASSES}
    bands: dict[str, tuple[int, Decimal]] = {}
    for (cls, bucket, band), (n, principal) in cells.items():
        for table, key in ((by_bucket, bucket), (by_class, cls), (bands, band)):
            count, amount = table.get(key, (0, ZERO))
            table[key] = (count + n, amount + principal)
    aum = sum((p for _, p in cells.values()), ZERO)
    open_loans = sum(n for n, _ in cells.values())
    npa = by_class.get("npa", (0, ZERO))[1]
    over = {days: sum((by_bucket[b][1] for b in DPD_BUCKETS[i:]), ZERO)
            for days, i in ((30, 2), (60, 3), (90, 4))}
    return PortfolioFigures(
        as_of=as_of, open_loans=open_loans, aum=aum, npa_principal=npa, npa_ratio=percent(npa, aum),
        par30=percent(over[30], aum), par60=percent(over[60], aum), par90=percent(over[90], aum),
        by_dpd=tuple(Slice(b, f"{b} DPD", *by_bucket[b]) for b in DPD_BUCKETS),
        by_class=tuple(Slice(c, ASSET_CLASS_LABELS.get(c, c), *by_class[c]) for c in by_class),
        by_band=tuple(Slice(b, b.capitalize() if b == "unscored" else b, *bands.get(b, (0, ZERO)))
                      for b in SCORE_BANDS),
        ledger_principal=ledger_principal(institution_id, as_of, source),
        **_flows(institution_id, as_of, source), **_other_figures(institution_id, as_of, source))


__all__ = ["DPD_BUCKETS", "SOURCES", "PortfolioFigures", "Slice", "book_cells", "default_source", "ledger_principal",
           "percent", "portfolio_figures"]
