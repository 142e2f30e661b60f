"""Read-side queries for lending pages: Select objects and keyset pagination."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import Select, and_, func, or_, select

from portal.lending.models import Loan, LoanApplication, Override
from portal.lending.states import OPEN_FOR_REVIEW, WAITING_FOR_CUSTOMER
from portal.lending.states import ApplicationStatus as S
from portal.onboarding.models import Customer

SORTS = {
    # name: (column expression, descending?)
    "oldest": (LoanApplication.id, False),
    "newest": (LoanApplication.id, True),
    "sla": (LoanApplication.sla_due_at, False),
    "amount_desc": (LoanApplication.amount, True),
    "amount_asc": (LoanApplication.amount, False),
    "score_desc": (LoanApplication.credit_score, True),
}

#: Named status filters of the queue besides the single statuses.
STATUS_GROUPS = {
    "open": OPEN_FOR_REVIEW,
    "waiting": WAITING_FOR_CUSTOMER,
    "escalated": (S.ESCALATED,),
}


@dataclass(frozen=True)
class QueueFilters:
    """What the officer's queue is filtered by (None / "" = any)."""

    status: str = "open"
    band: str = ""
    product_id: int | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    min_age: int | None = None
    max_age: int | None = None
    assigned: str = ""  # "" any | "me" | "unassigned"


def review_queue(institution_id: int, *, status: str = "open", band: str = "", filters: QueueFilters | None = None,
                 user_id: int | None = None) -> Select:
    """Applications of one institution filtered by status ('open' = waiting for a decision, 'waiting' = for the
    customer, 'all', or one status), band, product, amount range, customer age and assignment."""
    f = filters or QueueFilters(status=status, band=band)
    q = select(LoanApplication).where(LoanApplication.institution_id == institution_id,
                                      LoanApplication.status != S.DRAFT.value)
    status = f.status or "open"
    if status in STATUS_GROUPS:
        q = q.where(LoanApplication.status.in_([s.value for s in STATUS_GROUPS[status]]))
    elif status != "all":
        q = q.where(LoanApplication.status == status)
    if f.band:
        q = q.where(LoanApplication.score_band == f.band)
    if f.product_id:
        q = q.where(LoanApplication.product_id == f.product_id)
    if f.min_amount is not None:
        q = q.where(LoanApplication.amount >= f.min_amount)
    if f.max_amount is not None:
        q = q.where(LoanApplication.amount <= f.max_amount)
    if f.min_age is not None or f.max_age is not None:
        ages = select(Customer.id).where(Customer.institution_id == institution_id)
        if f.min_age is not None:
            ages = ages.where(Customer.age >= f.min_age)
        if f.max_age is not None:
            ages = ages.where(Customer.age <= f.max_age)
        q = q.where(LoanApplication.customer_id.in_(ages))
    if f.assigned == "me" and user_id is not None:
        q = q.where(LoanApplication.assigned_to_id == user_id)
    elif f.assigned == "unassigned":
        q = q.where(LoanApplication.assigned_to_id.is_(None))
    return q


def _cursor_value(column, value: str):
    """The typed value of a keyset cursor part (ValueError for a tampered cursor)."""
    if column is LoanApplication.amount:
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError(value) from None
    if column is LoanApplication.sla_due_at:
        return datetime.fromisoformat(value)
    return int(value)


def keyset_page(query: Select, *, sort: str, after: str | None, size: int) -> Select:
    """Apply ``sort`` and the keyset cursor ``after`` ("<value>:<id>", "~:<id>" for a NULL value) to ``query``;
    fetch size + 1 rows. Stable under inserts: the cursor is the last row's (sort value, id). NULL sort values
    come last in either direction. A malformed cursor starts from the beginning."""
    column, desc = SORTS.get(sort, SORTS["oldest"])
    if after:
        value, _, last_id = after.rpartition(":")
        try:
            last_id = int(last_id)
            typed = None if value in ("", "~") else _cursor_value(column, value)
        except ValueError:
            after = None
        else:
            if column is LoanApplication.id:
                query = query.where(LoanApplication.id < last_id if desc else LoanApplication.id > last_id)
            elif typed is None:  # among the NULLs at the end: by id
                query = query.where(column.is_(None), LoanApplication.id > last_id)
            else:
                cmp = column < typed if desc else column > typed
                query = query.where(or_(cmp, and_(column == typed, LoanApplication.id > last_id), column.is_(None)))
    if column is LoanApplication.id:
        order = [column.desc() if desc else column.asc()]
    else:
        order = [column.is_(None).asc(), column.desc() if desc else column.asc(), LoanApplication.id.asc()]
    return query.order_by(*order).limit(size + 1)


def cursor_for(app: LoanApplication, sort: str) -> str:
    """The keyset cursor of the last row shown."""
    column, _ = SORTS.get(sort, SORTS["oldest"])
    if column is LoanApplication.id:
        return f":{app.id}"
    value = getattr(app, column.key)
    if value is None:
        return f"~:{app.id}"
    return f"{value.isoformat() if isinstance(value, datetime) else value}:{app.id}"


def status_counts(institution_id: int) -> Select:
    """(status, count) of one institution's applications waiting for a decision (states.OPEN_FOR_REVIEW; a
    status with none is absent). Only these, so the work follows the size of the queue, not of the book:
    PostgreSQL reads them from the (institution_id, status) prefix of ix_loan_applications_queue or from the
    partial index ix_loan_applications_open_queue (same statuses). Decided and final statuses (disbursed,
    rejected...) are counted by the approval funnel report (portal.reports.reports.funnel)."""
    return (select(LoanApplication.status, func.count())
            .where(LoanApplication.institution_id == institution_id,
                   LoanApplication.status.in_([s.value for s in OPEN_FOR_REVIEW]))
            .group_by(LoanApplication.status))


def escalations(institution_id: int) -> Select:
    """Escalated applications of one institution, oldest SLA first."""
    return (select(LoanApplication).where(LoanApplication.institution_id == institution_id,
                                          LoanApplication.status == S.ESCALATED.value)
            .order_by(LoanApplication.sla_due_at.is_(None), LoanApplication.sla_due_at, LoanApplication.id))


def pending_overrides(institution_id: int) -> Select:
    """Overrides waiting for a checker in one institution, oldest first."""
    return (select(Override).join(LoanApplication, Override.application_id == LoanApplication.id)
            .where(LoanApplication.institution_id == institution_id, Override.status == "pending")
            .order_by(Override.id))


def customer_loans(customer_id: int) -> Select:
    return select(Loan).where(Loan.customer_id == customer_id).order_by(Loan.approved_on.desc(), Loan.id.desc())
