"""Read-only queries of the collections pages: the delinquency queue and its bucket totals (``Select`` objects
or plain rows; nothing here mutates)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, and_, case, exists, func, select

from portal.delinquency import aging
from portal.delinquency.models import CollectionAssignment, PromiseToPay, RecoveryCase, WriteOff
from portal.extensions import db
from portal.ledger.services import paise_sum, rupees
from portal.lending.models import Loan
from portal.onboarding.models import Customer

OPEN_STATUSES = ("active", "overdue", "npa")
PAGE_SIZE = 50
SORTS = {"dpd_desc": "Most overdue first", "dpd_asc": "Least overdue first"}
PROMISE_FILTERS = {"any": "Any", "yes": "Open promise", "no": "No open promise"}


@dataclass(frozen=True)
class QueueFilters:
    """The queue's filters: ``bucket`` an asset class of ``aging.BUCKETS`` or "" (all); ``collector`` "" (all),
    "mine", "none" (unassigned) or a user id as a string; ``promise`` any | yes | no; ``sort`` a key of
    SORTS; ``page`` from 1."""

    bucket: str = ""
    collector: str = ""
    promise: str = "any"
    sort: str = "dpd_desc"
    page: int = 1

    @classmethod
    def from_args(cls, args) -> QueueFilters:
        """Clean filters from request arguments (unknown values fall back to the defaults)."""
        bucket = args.get("bucket", "")
        collector = args.get("collector", "")
        promise = args.get("promise", "any")
        sort = args.get("sort", "dpd_desc")
        try:
            page = max(1, int(args.get("page", 1)))
        except ValueError:
            page = 1
        return cls(bucket=bucket if bucket in aging.BUCKET_CODES else "",
                   collector=collector if collector in ("", "mine", "none") or collector.isdigit() else "",
                   promise=promise if promise in PROMISE_FILTERS else "any",
                   sort=sort if sort in SORTS else "dpd_desc", page=page)

    def args(self, **override) -> dict:
        """The filters as URL arguments (defaults left out), with ``override`` applied."""
        values = {"bucket": self.bucket, "collector": self.collector, "promise": self.promise, "sort": self.sort,
                  "page": self.page, **override}
        defaults = {"bucket": "", "collector": "", "promise": "any", "sort": "dpd_desc", "page": 1}
        return {k: v for k, v in values.items() if v != defaults[k]}


def _in_queue(institution_id: int):
    """Open serviced loans of the institution in a DPD bucket (asset class other than standard)."""
    return and_(Loan.institution_id == institution_id, Loan.serviced.is_(True), Loan.status.in_(OPEN_STATUSES),
                Loan.asset_class.in_(aging.BUCKET_CODES))


_open_promise = exists().where(PromiseToPay.loan_id == Loan.id, PromiseToPay.status == "open")
_open_case = exists().where(RecoveryCase.loan_id == Loan.id, RecoveryCase.status == "open")
_pending_write_off = exists().where(WriteOff.loan_id == Loan.id, WriteOff.status == "proposed")
_bucket_rank = case({b.code: b.rank for b in aging.BUCKETS}, value=Loan.asset_class, else_=-1)


def queue_select(institution_id: int, filters: QueueFilters, *, user_id: int) -> Select:
    """Rows ``(Loan, Customer, CollectionAssignment | None, has_open_promise, has_open_case,
    write_off_pending)`` of the queue: grouped by bucket (most delinquent first for ``dpd_desc``) and by DPD
    within it, then by loan id; filtered as ``filters`` say (``mine``: assigned to ``user_id``)."""
    query = (select(Loan, Customer, CollectionAssignment, _open_promise.label("promise"),
                    _open_case.label("recovery"), _pending_write_off.label("write_off"))
             .join(Customer, Customer.id == Loan.customer_id)
             .outerjoin(CollectionAssignment, CollectionAssignment.loan_id == Loan.id)
             .where(_in_queue(institution_id)))
    if filters.bucket:
        query = query.where(Loan.asset_class == filters.bucket)
    if filters.collector == "mine":
        query = query.where(CollectionAssignment.collector_id == user_id)
    elif filters.collector == "none":
        query = query.where(CollectionAssignment.id.is_(None))
    elif filters.collector:
        query = query.where(CollectionAssignment.collector_id == int(filters.collector))
    if filters.promise == "yes":
        query = query.where(_open_promise)
    elif filters.promise == "no":
        query = query.where(~_open_promise)
    if filters.sort == "dpd_asc":
        return query.order_by(_bucket_rank.asc(), Loan.dpd.asc(), Loan.id.asc())
    return query.order_by(_bucket_rank.desc(), Loan.dpd.desc(), Loan.id.asc())


def queue_page(institution_id: int, filters: QueueFilters, *, user_id: int,
               page_size: int = PAGE_SIZE) -> tuple[list, bool]:
    """One page of the queue: ``(rows, has_next)`` (page-number pagination, ``page_size`` rows a page)."""
    offset = (filters.page - 1) * page_size
    rows = db.session.execute(queue_select(institution_id, filters, user_id=user_id)
                              .offset(offset).limit(page_size + 1)).all()
    return rows[:page_size], len(rows) > page_size


def bucket_summary(institution_id: int) -> list[aging.BucketTotal]:
    """Loans, principal outstanding and total outstanding (principal + interest receivable) per bucket of the
    whole queue (one GROUP BY), every bucket in order."""
    rows = db.session.execute(
        select(Loan.asset_class, func.count(Loan.id), paise_sum(Loan.principal_outstanding_amount),
               paise_sum(Loan.interest_receivable_amount))
        .where(_in_queue(institution_id)).group_by(Loan.asset_class)).all()
    return aging.bucket_totals({cls: (count, rupees(p), rupees(p) + rupees(i)) for cls, count, p, i in rows})
