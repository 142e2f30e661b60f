"""Read-side queries for lending pages: Select objects and keyset pagination."""
from __future__ import annotations

from sqlalchemy import Select, and_, func, or_, select

from portal.lending.models import Loan, LoanApplication
from portal.lending.states import OPEN_FOR_REVIEW

SORTS = {
    # name: (column expression, descending?)
    "oldest": (LoanApplication.id, False),
    "newest": (LoanApplication.id, True),
    "amount_desc": (LoanApplication.amount, True),
    "score_desc": (LoanApplication.credit_score, True),
}


def review_queue(institution_id: int, *, status: str = "open", band: str = "") -> Select:
    """Applications of one institution filtered by status ('open' = waiting for a decision) and band."""
    q = select(LoanApplication).where(LoanApplication.institution_id == institution_id)
    if status == "open" or not status:
        q = q.where(LoanApplication.status.in_([s.value for s in OPEN_FOR_REVIEW]))
    elif status != "all":
        q = q.where(LoanApplication.status == status)
    if band:
        q = q.where(LoanApplication.score_band == band)
    return q


def keyset_page(query: Select, *, sort: str, after: str | None, size: int) -> Select:
    """Apply ``sort`` and the keyset cursor ``after`` ("<value>:<id>") to ``query``; fetch size + 1 rows.
    Stable under inserts: the cursor is the last row's (sort value, id)."""
    column, desc = SORTS.get(sort, SORTS["oldest"])
    if after:
        value, _, last_id = after.rpartition(":")
        last_id = int(last_id)
        if column is LoanApplication.id:
            query = query.where(LoanApplication.id < last_id if desc else LoanApplication.id > last_id)
        else:
            typed = column.type.python_type(value) if value != "" else None
            if column is LoanApplication.amount:
                from decimal import Decimal

                typed = Decimal(value)
            cmp = column < typed if desc else column > typed
            tie = LoanApplication.id > last_id
            query = query.where(or_(cmp, and_(column == typed, tie)))
    order = [column.desc() if desc else column.asc()]
    if column is not LoanApplication.id:
        order.append(LoanApplication.id.asc())
    return query.order_by(*order).limit(size + 1)


def cursor_for(app: LoanApplication, sort: str) -> str:
    """The keyset cursor of the last row shown."""
    column, _ = SORTS.get(sort, SORTS["oldest"])
    value = "" if column is LoanApplication.id else getattr(app, column.key)
    return f"{value}:{app.id}"


def status_counts(institution_id: int) -> Select:
    """(status, count) for one institution's applications."""
    return (select(LoanApplication.status, func.count()).where(LoanApplication.institution_id == institution_id)
            .group_by(LoanApplication.status))


def customer_loans(customer_id: int) -> Select:
    return select(Loan).where(Loan.customer_id == customer_id).order_by(Loan.approved_on.desc(), Loan.id.desc())
