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


def _book_by_class_and_bucket(institution_id: int) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """``{(asset_class, dpd bucket): (loans, principal)}`` of the open serviced loans (one GROUP BY)."""
    inner = select(Loan.asset_class.label("asset_class"), _dpd_bucket().label("bucket"),
                   type_coerce(Loan.principal_outstanding_amount, BigInteger).label("principal")) \
        .where(_open_loans(institution_id)).subquery()
    rows = db.session.execute(select(inner.c.asset_class, inner.c.bucket, func.count(),
                                     func.coalesce(func.sum(inner.c.principal), 0))
                              .group_by(inner.c.asset_class, inner.c.bucket)).all()
    return {(cls, bucket): (int(n), rupees(paise)) for cls, bucket, n, paise in rows}


def _book_by_band(institution_id: int) -> dict[str, tuple[int, Decimal]]:
    """``{score band at application: (loans, principal)}`` of the open serviced loans (one GROUP BY)."""
    rows = db.session.execute(
        select(LoanApplication.score_band, func.count(), paise_sum(Loan.principal_outstanding_amount))
        .select_from(Loan).outerjoin(LoanApplication, LoanApplication.id == Loan.application_id)
        .where(_open_loans(institution_id)).group_by(LoanApplication.score_band)).all()
    out: dict[str, tuple[int, Decimal]] = {}
    for band, n, paise in rows:
        key = band if band in SCORE_BANDS else "unscored"
        count, principal = out.get(key, (0, ZERO))
        out[key] = (count + int(n), principal + rupees(paise))
    return out


def _flows(institution_id: int, as_of: date) -> dict[str, Decimal | int]:
    """Disbursements of the month and year, collections of the month (one aggregate over loan_transactions)."""
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


def ledger_principal(institution_id: int, as_of: date) -> Decimal:
    """The balance (debits - credits, rupees) of the institution's ledger account 1100 (loans: outstanding
    principal) over the entries dated on or before ``as_of``."""
    from portal.ledger.models import Account, JournalEntry, LedgerAccount, Posting

    debit, credit = db.session.execute(
        select(paise_sum(Posting.debit_amount), paise_sum(Posting.credit_amount))
        .select_from(Posting).join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(JournalEntry.institution_id == institution_id, JournalEntry.business_date <= as_of,
               LedgerAccount.institution_id == institution_id,
               LedgerAccount.code == Account.LOAN_PRINCIPAL.value)).one()
    return rupees(int(debit or 0) - int(credit or 0))


def _other_figures(institution_id: int, as_of: date) -> dict:
    """The figures the page showed before the serviced book (customers, applications, the imported book)."""
    from portal.onboarding.models import Customer

    customers = db.session.scalar(select(func.count()).select_from(Customer)
                                  .where(Customer.institution_id == institution_id)) or 0
    apps = dict(db.session.execute(select(LoanApplication.status, func.count())
                                   .where(LoanApplication.institution_id == institution_id)
                                   .group_by(LoanApplication.status)).all())
    bands = dict(db.session.execute(select(LoanApplication.score_band, func.count())
                                    .where(LoanApplication.institution_id == institution_id,
                                           LoanApplication.score_band.is_not(None))
                                    .group_by(LoanApplication.score_band)).all())
    imported = db.session.scalar(select(func.count()).select_from(Loan).where(
        Loan.institution_id == institution_id, Loan.serviced.is_(False), Loan.end_on > as_of,
        Loan.status.not_in(("closed", "written_off")))) or 0
    return {"customers": int(customers), "applications_by_status": {str(k): int(v) for k, v in apps.items()},
            "applications_by_band": {b: int(bands.get(b, 0)) for b in SCORE_BANDS[:-1]},
            "imported_current": int(imported)}


def portfolio_figures(institution_id: int, as_of: date) -> PortfolioFigures:
    """The portfolio figures of ``institution_id`` as of business date ``as_of``, computed now from the serviced
    book (loan balances, DPD and classes as they are now: pass the current business date for live figures; past
    dates come from the snapshots of the close of business). Read-only."""
    cells = _book_by_class_and_bucket(institution_id)
    by_bucket = {b: (0, ZERO) for b in DPD_BUCKETS}
    by_class = {c: (0, ZERO) for c in ASSET_CLASSES}
    for (cls, bucket), (n, principal) in cells.items():
        for table, key in ((by_bucket, bucket), (by_class, cls)):
            count, amount = table.get(key, (0, ZERO))
            table[key] = (count + n, amount + principal)
    aum = sum((p for _, p in cells.values()), ZERO)
    open_loans = sum(n for n, _ in cells.values())
    npa = by_class.get("npa", (0, ZERO))[1]
    over = {days: sum((by_bucket[b][1] for b in DPD_BUCKETS[i:]), ZERO)
            for days, i in ((30, 2), (60, 3), (90, 4))}
    bands = _book_by_band(institution_id)
    return PortfolioFigures(
        as_of=as_of, open_loans=open_loans, aum=aum, npa_principal=npa, npa_ratio=percent(npa, aum),
        par30=percent(over[30], aum), par60=percent(over[60], aum), par90=percent(over[90], aum),
        by_dpd=tuple(Slice(b, f"{b} DPD", *by_bucket[b]) for b in DPD_BUCKETS),
        by_class=tuple(Slice(c, ASSET_CLASS_LABELS.get(c, c), *by_class[c]) for c in by_class),
        by_band=tuple(Slice(b, b.capitalize() if b == "unscored" else b, *bands.get(b, (0, ZERO)))
                      for b in SCORE_BANDS),
        ledger_principal=ledger_principal(institution_id, as_of),
        **_flows(institution_id, as_of), **_other_figures(institution_id, as_of))


__all__ = ["DPD_BUCKETS", "PortfolioFigures", "Slice", "ledger_principal", "percent", "portfolio_figures"]
