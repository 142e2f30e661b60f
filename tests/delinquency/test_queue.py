"""The delinquency queue: loans aged by the real close of business are grouped by the RBI bucket stored on
them, with counts and outstanding per bucket; filters, sort, pages, assignment; only the institution's loans."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.delinquency import queries, services
from portal.delinquency.models import CollectionAssignment
from portal.errors import DomainError
from portal.lending.models import Loan
from tests.delinquency.conftest import D0, inst_id
from tests.servicing.cob_support import make_borrower, make_institution, make_serviced_loan
from tests.servicing.payments_support import assert_ledger_agrees, close_days

#: loan start dates (days before D0) -> the class the close of business on D0 gives them
AGES = {"standard": 10, "sma_0": 40, "sma_1": 75, "sma_2": 100, "npa": 130}


@pytest.fixture
def book(db, clock):
    """One loan per class, a second SMA-1 loan, a closed loan, and an NPA loan of another institution; then one
    close of business on D0. Returns ``{name: loan id}``."""
    ids = {name: make_serviced_loan(make_borrower(), start=D0 - timedelta(days=days)).id
           for name, days in AGES.items()}
    ids["sma_1_b"] = make_serviced_loan(make_borrower(), start=D0 - timedelta(days=80), amount="50000.00").id
    closed = make_serviced_loan(make_borrower(), start=D0 - timedelta(days=130))
    closed.status = "closed"
    ids["closed"] = closed.id
    other = make_institution("other-bank")
    ids["other"] = make_serviced_loan(make_borrower(other), start=D0 - timedelta(days=130)).id
    db.session.commit()
    close_days(1, clock)
    from portal.servicing.cob import run_close_of_business

    run_close_of_business(other.id, D0, now=clock.now(), requested_by="test")
    db.session.commit()
    return ids


def _classes(db, ids):
    return {name: db.session.get(Loan, loan_id).asset_class for name, loan_id in ids.items()}


def test_the_queue_groups_loans_by_the_bucket_the_close_of_business_stored(db, book, staff):
    classes = _classes(db, book)
    assert {k: classes[k] for k in AGES} == {k: k for k in AGES}  # the ages above land in each class
    assert classes["sma_1_b"] == "sma_1" and classes["other"] == "npa"

    totals = {t.bucket.code: t for t in queries.bucket_summary(inst_id())}
    assert {code: t.loans for code, t in totals.items()} == {"sma_0": 1, "sma_1": 2, "sma_2": 1, "npa": 1}
    sma_1 = [db.session.get(Loan, book[k]) for k in ("sma_1", "sma_1_b")]
    assert totals["sma_1"].principal == sum((x.principal_outstanding_amount for x in sma_1), Decimal("0"))
    assert totals["sma_1"].outstanding == sum((x.principal_outstanding_amount + x.interest_receivable_amount
                                               for x in sma_1), Decimal("0"))
    assert totals["sma_1"].outstanding > totals["sma_1"].principal  # interest receivable included

    rows = db.session.execute(queries.queue_select(inst_id(), queries.QueueFilters(), user_id=0)).all()
    listed = [row[0].id for row in rows]
    # most delinquent bucket first, by DPD within it; no standard, closed or other-institution loan
    assert listed == [book["npa"], book["sma_2"], *sorted([book["sma_1"], book["sma_1_b"]],
                      key=lambda i: -db.session.get(Loan, i).dpd), book["sma_0"]]
    dpds = [row[0].dpd for row in rows]
    assert dpds == sorted(dpds, reverse=True)
    ascending = db.session.execute(queries.queue_select(inst_id(), queries.QueueFilters(sort="dpd_asc"),
                                                        user_id=0)).all()
    assert [row[0].id for row in ascending] == list(reversed(listed))
    only = db.session.execute(queries.queue_select(inst_id(), queries.QueueFilters(bucket="sma_1"),
                                                   user_id=0)).all()
    assert {row[0].id for row in only} == {book["sma_1"], book["sma_1_b"]}
    assert_ledger_agrees()


def test_queue_page_shows_bucket_counts_and_only_the_institution_loans(client, login_as, book, staff):
    login_as(staff["collections"])
    html = client.get("/collections").get_data(as_text=True)
    for code, count in {"sma_0": 1, "sma_1": 2, "sma_2": 1, "npa": 1}.items():
        assert f'data-bucket="{code}"' in html
        segment = html.split(f'data-bucket="{code}"', 1)[1]
        assert f'<span data-testid="bucket-count">{count}</span>' in segment.split("</a>", 1)[0]
    assert f'data-loan="{book["npa"]}"' in html and f'data-loan="{book["sma_0"]}"' in html
    assert f'data-loan="{book["other"]}"' not in html and f'data-loan="{book["standard"]}"' not in html
    assert f'data-loan="{book["closed"]}"' not in html
    fragment = client.get("/collections?bucket=npa", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and body.lstrip().startswith('<div id="collections-queue">')
    assert f'data-loan="{book["npa"]}"' in body and f'data-loan="{book["sma_0"]}"' not in body


def test_pages_of_the_queue(db, book):
    first, more = queries.queue_page(inst_id(), queries.QueueFilters(), user_id=0, page_size=2)
    second, more2 = queries.queue_page(inst_id(), queries.QueueFilters(page=2), user_id=0, page_size=2)
    third, more3 = queries.queue_page(inst_id(), queries.QueueFilters(page=3), user_id=0, page_size=2)
    assert (len(first), more, len(second), more2, len(third), more3) == (2, True, 2, True, 1, False)
    assert len({r[0].id for r in first + second + third}) == 5


def test_assignment_and_the_collector_and_promise_filters(db, clock, book, staff):
    mine, theirs = staff["collections"], staff["collections2"]
    services.assign_collector(db.session.get(Loan, book["npa"]), mine.id, actor=staff["admin"], now=clock.now())
    services.assign_collector(db.session.get(Loan, book["sma_2"]), theirs.id, actor=staff["admin"], now=clock.now())
    services.record_promise(db.session.get(Loan, book["sma_0"]), amount=Decimal("1000.00"),
                            promised_on=D0 + timedelta(days=3), note=None, actor=mine, clock=clock)
    db.session.commit()

    def ids(**kw):
        rows = db.session.execute(queries.queue_select(inst_id(), queries.QueueFilters(**kw), user_id=mine.id)).all()
        return {row[0].id for row in rows}

    assert ids(collector="mine") == {book["npa"]}
    assert ids(collector=str(theirs.id)) == {book["sma_2"]}
    assert ids(collector="none") == {book["sma_1"], book["sma_1_b"], book["sma_0"]}
    assert ids(promise="yes") == {book["sma_0"]}
    assert book["sma_0"] not in ids(promise="no") and len(ids(promise="no")) == 4
    # reassign, then unassign: one row per loan, audited
    services.assign_collector(db.session.get(Loan, book["npa"]), theirs.id, actor=staff["admin"], now=clock.now())
    db.session.commit()
    assert ids(collector=str(theirs.id)) == {book["npa"], book["sma_2"]}
    services.assign_collector(db.session.get(Loan, book["npa"]), None, actor=staff["admin"], now=clock.now())
    db.session.commit()
    assert db.session.scalar(select(func.count(CollectionAssignment.id))) == 1
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.action.in_(("collection.assigned", "collection.unassigned")))) == 4


def test_only_an_active_collections_officer_of_the_institution_can_be_assigned(db, clock, book, staff):
    loan = db.session.get(Loan, book["npa"])
    for user in (staff["support"], staff["admin"]):
        with pytest.raises(DomainError) as err:
            services.assign_collector(loan, user.id, actor=staff["admin"], now=clock.now())
        assert err.value.http_status == 422
    with pytest.raises(DomainError):
        services.assign_collector(loan, 999_999, actor=staff["admin"], now=clock.now())
    db.session.rollback()
    assert db.session.scalar(select(func.count(CollectionAssignment.id))) == 0


def test_filters_from_arguments_fall_back_to_defaults():
    f = queries.QueueFilters.from_args({"bucket": "standard", "collector": "x'; drop", "promise": "maybe",
                                        "sort": "name", "page": "-3"})
    assert f == queries.QueueFilters()
    f = queries.QueueFilters.from_args({"bucket": "npa", "collector": "12", "promise": "yes", "sort": "dpd_asc",
                                        "page": "4"})
    assert f.args() == {"bucket": "npa", "collector": "12", "promise": "yes", "sort": "dpd_asc", "page": 4}
