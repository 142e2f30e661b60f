"""Portfolio figures computed live from the book (no cache: seed 002 asks for fresh data)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from portal.extensions import db
from portal.lending.models import Loan, LoanApplication
from portal.onboarding.models import Customer


@dataclass(frozen=True)
class Portfolio:
    """Headline figures as of a business date. Amounts in rupees."""

    as_of: date
    customers: int
    active_loans: int
    aum: Decimal                 # outstanding principal of current loans
    disbursed_ytd: Decimal       # loan amounts approved/disbursed in the business year
    disbursed_ytd_count: int
    loans_by_status: dict[str, int]
    applications_by_status: dict[str, int]
    applications_by_band: dict[str, int]
    loans_by_band: dict[str, int]        # current loans by their borrower's current score band


def outstanding_principal(loan: Loan, as_of: date) -> Decimal:
    """Principal still owed on ``loan`` at ``as_of`` from its schedule: the balance after the last row due
    by ``as_of`` (stored rows for portal loans, the projected schedule for imported ones)."""
    from portal.lending.services import loan_schedule

    if not loan.is_current(as_of):
        return Decimal("0.00")
    rows, _ = loan_schedule(loan, as_of)
    balance = loan.loan_amount
    for row in rows:
        if row.due_on <= as_of:
            balance = row.balance
    return balance


def portfolio(institution_id: int, as_of: date) -> Portfolio:
    """The portfolio page's figures for one institution as of ``as_of``."""
    customers = db.session.scalar(select(func.count()).select_from(Customer)
                                  .where(Customer.institution_id == institution_id))
    current = db.session.scalars(select(Loan).where(Loan.institution_id == institution_id, Loan.end_on > as_of,
                                                    Loan.status.in_(["active", "overdue", "npa"]))).all()
    loans_by_band = _loans_by_band(institution_id, current, as_of)
    aum = sum((outstanding_principal(ln, as_of) for ln in current), Decimal("0.00"))
    year_start = date(as_of.year, 1, 1)
    ytd = db.session.execute(select(func.count(), func.coalesce(func.sum(Loan.loan_amount), 0))
                             .where(Loan.institution_id == institution_id, Loan.approved_on >= year_start,
                                    Loan.approved_on <= as_of)).one()
    loans_by_status = {"current": len(current)}
    ended = db.session.scalar(select(func.count()).select_from(Loan).where(
        Loan.institution_id == institution_id, Loan.end_on <= as_of))
    loans_by_status["ended"] = ended
    apps = dict(db.session.execute(select(LoanApplication.status, func.count())
                                   .where(LoanApplication.institution_id == institution_id)
                                   .group_by(LoanApplication.status)).all())
    bands = dict(db.session.execute(select(LoanApplication.score_band, func.count())
                                    .where(LoanApplication.institution_id == institution_id,
                                           LoanApplication.score_band.is_not(None))
                                    .group_by(LoanApplication.score_band)).all())
    from portal.money import from_paise

    ytd_amount = ytd[1] if isinstance(ytd[1], Decimal) else from_paise(int(ytd[1]))
    return Portfolio(as_of, customers, len(current), aum, ytd_amount, ytd[0], loans_by_status, apps,
                     {b: bands.get(b, 0) for b in ("AA", "A", "B", "C", "D")}, loans_by_band)


def _loans_by_band(institution_id: int, current: list[Loan], as_of: date) -> dict[str, int]:
    """Count current loans by the seed 003 score band of their borrower today (one query for the history)."""
    from collections import defaultdict

    from portal.lending import rules
    from portal.lending.services import past_loan, score_band

    borrowers = {ln.customer_id for ln in current}
    if not borrowers:
        return {b: 0 for b in ("AA", "A", "B", "C", "D")}
    history: dict[int, list[rules.PastLoan]] = defaultdict(list)
    for ln in db.session.scalars(select(Loan).where(Loan.institution_id == institution_id,
                                                    Loan.customer_id.in_(borrowers))):
        history[ln.customer_id].append(past_loan(ln))
    limits = dict(db.session.execute(select(Customer.id, Customer.approved_limit)
                                     .where(Customer.id.in_(borrowers))).all())
    band_of = {cid: score_band(rules.credit_score(history[cid], limits[cid], as_of).score) for cid in borrowers}
    counts = {b: 0 for b in ("AA", "A", "B", "C", "D")}
    for ln in current:
        counts[band_of[ln.customer_id]] += 1
    return counts
