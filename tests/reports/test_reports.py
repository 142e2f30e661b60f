"""Reports (issue 7 item 2) and vintage curves (item 1): every figure equals a value computed here, in Python,
from the rows the test created (applications and their events, loans, schedule rows, payments, and the loans as
each close of business left them); filters narrow the results; another institution's data never appears; a
loan officer gets 403; an export of a report has the report's rows."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import openpyxl
import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.auth.services import default_institution
from portal.business_date import BusinessDate
from portal.extensions import db as _db
from portal.lending import services as lending
from portal.lending.models import ApplicationEvent, Loan, LoanApplication, Product
from portal.lending.schedule import add_months
from portal.reports import reports as rq
from portal.reports.models import Export
from portal.servicing.models import Payment
from tests.conftest import post_form
from tests.factories import approve_and_disburse, make_customer, make_loan, make_staff, term_product
from tests.servicing.cob_support import make_borrower, make_institution, make_serviced_loan
from tests.servicing.payments_support import close_days

D = Decimal
D0 = date(2026, 11, 23)
CENT = Decimal("0.01")


def pct(part, whole) -> Decimal:
    return (D(100) * D(part) / D(whole)).quantize(CENT, rounding=ROUND_HALF_UP) if whole else D("0.00")


def books_on(on: date) -> None:
    inst = default_institution().id
    row = _db.session.get(BusinessDate, inst)
    if row is None:
        _db.session.add(BusinessDate(institution_id=inst, current_on=on))
    else:
        row.current_on = on
    _db.session.flush()


def apply(customer, product, amount="100000", tenure=12):
    return lending.submit_application(customer, product, amount=D(amount), tenure=tenure, interest_rate=D("14"),
                                      actor=customer.user, clock=_clock())


def _clock():
    from portal.clock import clock

    return clock()


def borrower():
    """A customer with a repaid book loan (the seed 003 score approves)."""
    customer = make_customer(salary="150000")
    make_loan(customer, amount="100000", tenure=12, paid_on_time=12, approved_on=date(2024, 1, 10))
    return customer


@pytest.fixture(autouse=True)
def _uploads(upload_dir):
    """Export files go to the test's own folder (tests/reports/conftest.py)."""


class Book:
    """What the fixture made (ids), for the tests' own computations."""


@pytest.fixture
def book(db, clock):
    """Institution 1: loans L1 (10 Jul, never paid: NPA by D0), L2 (14 Sep, first EMI paid 14 Oct), L3 (20 Sep,
    product P2, first EMI paid 20 Oct and bounced 25 Oct), L4 (disbursed on D0); one application rejected, one
    only scored, one offered and not accepted. Officer A decided L1, L3, L4, the rejection and the open offer;
    officer B decided L2. Institution 2: one serviced loan and one application, which must never show."""
    from portal.servicing.services import bounce_payment, record_repayment

    b = Book()
    b.inst = default_institution().id
    a_officer, b_officer = make_staff("loan_officer"), make_staff("loan_officer")
    p1 = term_product()
    p2 = Product(institution_id=b.inst, code="TL-BIZ", name="Business term loan", kind="term_loan",
                 min_amount=p1.min_amount, max_amount=p1.max_amount, min_tenure=p1.min_tenure,
                 max_tenure=p1.max_tenure, interest_rate=p1.interest_rate)
    _db.session.add(p2)
    _db.session.flush()

    def disburse(on, amount, officer, product=p1):
        books_on(on)
        loan = approve_and_disburse(apply(borrower(), product, amount), officer, _clock())
        _db.session.commit()
        return loan

    l1 = disburse(date(2026, 7, 10), "200000", a_officer)
    l2 = disburse(date(2026, 9, 14), "150000", b_officer)
    l3 = disburse(date(2026, 9, 20), "90000", a_officer, p2)
    books_on(date(2026, 10, 14))
    record_repayment(l2, amount=l2.installments[0].installment_amount, idempotency_key="rep-l2", channel="officer",
                     actor=b_officer, clock=_clock())
    books_on(date(2026, 10, 20))
    bounced = record_repayment(l3, amount=l3.installments[0].installment_amount, idempotency_key="rep-l3",
                               channel="officer", actor=a_officer, clock=_clock())
    books_on(date(2026, 10, 25))
    bounce_payment(bounced, actor=a_officer, clock=_clock(), reason="Cheque returned")
    _db.session.commit()
    l4 = disburse(D0, "80000", a_officer)

    rejected = apply(borrower(), p1)
    lending.reject_application(rejected, actor=a_officer, clock=_clock(), note="Too much debt",
                               reason_code="emi_burden")
    scored_only = apply(borrower(), p1)
    offered = apply(borrower(), p2)
    lending.approve_application(offered, actor=a_officer, clock=_clock())
    _db.session.commit()

    other = make_institution("other-lender")
    other_product = Product(institution_id=other.id, code="TL-OTHER", name="Other loan", kind="term_loan",
                            min_amount=p1.min_amount, max_amount=p1.max_amount, min_tenure=p1.min_tenure,
                            max_tenure=p1.max_tenure, interest_rate=p1.interest_rate)
    _db.session.add(other_product)
    _db.session.flush()
    stranger = make_borrower(other)
    b.other_loan = make_serviced_loan(stranger, start=date(2026, 9, 1), amount="500000.00").id
    b.other_app = lending.submit_application(stranger, other_product, amount=D("100000"), tenure=12,
                                             actor=stranger.user, clock=_clock()).id
    b.other_officer = make_staff("loan_officer")
    b.other_officer.institution_id = other.id
    b.other_product, b.other_inst = other_product.id, other.id
    _db.session.commit()
    b.loans = {"L1": l1.id, "L2": l2.id, "L3": l3.id, "L4": l4.id}
    b.apps = {"rejected": rejected.id, "scored": scored_only.id, "offered": offered.id}
    b.officer_a, b.officer_b, b.p1, b.p2 = a_officer.id, b_officer.id, p1.id, p2.id
    return b


def filters(kind: str, **raw) -> rq.ReportFilters:
    inst = default_institution().id
    return rq.clean_filters(kind, inst, raw, as_of=_db.session.get(BusinessDate, inst).current_on)


def inst1_loans():
    inst = default_institution().id
    return _db.session.scalars(select(Loan).where(Loan.institution_id == inst, Loan.serviced.is_(True))).all()


# ---- approval funnel ---------------------------------------------------------------------------------------
def expected_funnel(apps) -> list[int]:
    """Stage counts from the applications' status events, walked in Python."""
    counts = [0, 0, 0, 0, 0]
    for app in apps:
        reached = {e.to_status for e in _db.session.scalars(
            select(ApplicationEvent).where(ApplicationEvent.application_id == app.id))}
        for i, stage in enumerate(({"submitted"}, {"scored"}, {"approved"}, {"accepted", "sanctioned"},
                                   {"disbursed"})):
            counts[i] += bool(reached & stage)
    return counts


def test_funnel_counts_equal_the_application_events(db, book):
    inst = default_institution().id
    apps = _db.session.scalars(select(LoanApplication).where(LoanApplication.institution_id == inst)).all()
    result = rq.funnel(inst, filters("funnel"))
    counts = [s.count for s in result.stages]
    assert counts == expected_funnel(apps) == [7, 7, 5, 4, 4]
    assert [s.from_previous for s in result.stages] == [D("100.00"), D("100.00"), pct(5, 7), pct(4, 5), D("100.00")]
    assert result.stages[-1].from_submitted == pct(4, 7)

    by_a = rq.funnel(inst, filters("funnel", officer_id=book.officer_a))
    apps_a = [a for a in apps if book.officer_a in (a.assigned_to_id, a.decided_by_id)]
    assert [s.count for s in by_a.stages] == expected_funnel(apps_a) == [5, 5, 4, 3, 3]
    by_p2 = rq.funnel(inst, filters("funnel", product_id=book.p2))
    assert [s.count for s in by_p2.stages] == [2, 2, 2, 1, 1]
    rejected = rq.funnel(inst, filters("funnel", status="rejected"))
    assert [s.count for s in rejected.stages] == [1, 1, 0, 0, 0]
    band = apps[0].score_band
    assert rq.funnel(inst, filters("funnel", score_band=band)).stages[0].count == sum(a.score_band == band
                                                                                      for a in apps)


def test_funnel_date_range_is_the_submission_day(db, book, clock):
    inst = default_institution().id
    clock.advance(days=2)
    apply(borrower(), term_product())
    _db.session.commit()
    later = rq.funnel(inst, filters("funnel", date_from=(D0 + timedelta(days=2)).isoformat()))
    assert [s.count for s in later.stages] == [1, 1, 0, 0, 0]
    earlier = rq.funnel(inst, filters("funnel", date_from=D0.isoformat(), date_to=D0.isoformat()))
    assert earlier.stages[0].count == 7


# ---- disbursements, collections, loan book -----------------------------------------------------------------
def test_disbursements_per_month_and_product_equal_the_loans(db, book):
    inst = default_institution().id
    result = rq.disbursements(inst, filters("disbursements"))
    expected: dict[tuple[date, str], list] = {}
    for loan in inst1_loans():
        key = (loan.disbursed_on.replace(day=1), _db.session.get(Product, loan.product_id).name)
        expected.setdefault(key, [0, D("0.00")])
        expected[key][0] += 1
        expected[key][1] += loan.loan_amount
    assert {(r.month, r.product): [r.count, r.amount] for r in result.rows} == expected
    assert result.count == 4 and result.amount == D("520000.00")
    assert D("500000.00") not in {r.amount for r in result.rows}  # the other institution's loan

    sept = rq.disbursements(inst, filters("disbursements", date_from="2026-09-01", date_to="2026-09-30"))
    assert sorted((r.product, r.count, r.amount) for r in sept.rows) == sorted(
        (_db.session.get(Product, pid).name, 1, D(amount)) for pid, amount in ((book.p1, "150000"), (book.p2, "90000")))
    assert sept.count == 2 and sept.amount == D("240000.00")
    by_b = rq.disbursements(inst, filters("disbursements", officer_id=book.officer_b))
    assert by_b.count == 1 and by_b.amount == D("150000.00")


def expected_collections(loans, start: date, end: date) -> dict[date, tuple[Decimal, Decimal]]:
    out: dict[date, list] = {}
    for loan in loans:
        for row in loan.installments:
            if start <= row.due_on <= end:
                out.setdefault(row.due_on.replace(day=1), [D("0.00"), D("0.00")])[0] += row.installment_amount
        for p in _db.session.scalars(select(Payment).where(Payment.loan_id == loan.id)):
            if p.status == "succeeded" and start <= p.received_on <= end:
                out.setdefault(p.received_on.replace(day=1), [D("0.00"), D("0.00")])[1] += p.amount
    return {k: (v[0], v[1]) for k, v in out.items()}


def test_collections_efficiency_is_collected_over_due_per_month(db, book):
    inst = default_institution().id
    result = rq.collections(inst, filters("collections"))
    loans = inst1_loans()
    expected = expected_collections(loans, result.start, D0)
    assert {m.month: (m.due, m.collected) for m in result.months} == expected
    october = next(m for m in result.months if m.month == date(2026, 10, 1))
    l2 = _db.session.get(Loan, book.loans["L2"])
    assert october.collected == l2.installments[0].installment_amount  # the bounced payment is not collected
    assert october.efficiency == pct(october.collected, october.due)
    assert result.efficiency == pct(sum(c for _, c in expected.values()), sum(d for d, _ in expected.values()))
    assert sum(d for d, _ in expected.values()) == result.due
    # the December instalment of L4 is not due yet on the business date
    assert date(2026, 12, 1) not in {m.month for m in result.months}

    p2 = rq.collections(inst, filters("collections", product_id=book.p2))
    l3 = _db.session.get(Loan, book.loans["L3"])
    assert p2.collected == D("0.00") and p2.due == sum(r.installment_amount for r in l3.installments
                                                       if r.due_on <= D0)
    by_a = rq.collections(inst, filters("collections", officer_id=book.officer_a))
    assert {m.month: (m.due, m.collected) for m in by_a.months} == expected_collections(
        [x for x in loans if x.id in (book.loans["L1"], book.loans["L3"], book.loans["L4"])], by_a.start, D0)


def test_loan_book_has_the_balances_and_pages_by_id(db, book):
    inst = default_institution().id
    loans = inst1_loans()
    result = rq.loan_book(inst, filters("loan_book"))
    assert [r[0] for r in result.rows] == sorted(x.id for x in loans) and result.count == 4
    assert result.principal == sum(x.principal_outstanding_amount for x in loans)
    assert result.interest == sum(x.interest_receivable_amount for x in loans)
    assert book.other_loan not in [r[0] for r in result.rows]
    first = rq.loan_book(inst, filters("loan_book"), limit=3)
    rest = rq.loan_book(inst, filters("loan_book"), after=first.next_after, limit=3)
    assert [r[0] for r in first.rows + rest.rows] == sorted(x.id for x in loans) and rest.next_after is None
    p2 = rq.loan_book(inst, filters("loan_book", product_id=book.p2))
    assert [r[0] for r in p2.rows] == [book.loans["L3"]]
    sept = rq.loan_book(inst, filters("loan_book", date_from="2026-09-01", date_to="2026-09-30",
                                      officer_id=book.officer_a))
    assert [r[0] for r in sept.rows] == [book.loans["L3"]]


# ---- delinquency trend from the close of business ----------------------------------------------------------
def expected_figures() -> dict:
    """PAR30/60/90, NPA ratio and class counts from the loans as they are now (after a close of business)."""
    _db.session.expire_all()
    open_loans = [x for x in inst1_loans() if x.status in ("active", "overdue", "npa")]
    aum = sum(x.principal_outstanding_amount for x in open_loans)
    out = {f"par{n}": pct(sum(x.principal_outstanding_amount for x in open_loans if x.dpd > n), aum)
           for n in (30, 60, 90)}
    out["npa_ratio"] = pct(sum(x.principal_outstanding_amount for x in open_loans if x.asset_class == "npa"), aum)
    for cls in ("sma_0", "sma_1", "sma_2", "npa"):
        out[cls] = sum(x.asset_class == cls for x in open_loans)
    return out


def test_delinquency_trend_equals_the_loans_after_each_close_of_business(db, book, clock):
    inst = default_institution().id
    expected = {}
    for _ in range(3):
        on = _db.session.get(BusinessDate, inst).current_on
        close_days(1, clock)
        expected[on] = expected_figures()
    points = rq.delinquency(inst, filters("delinquency"))
    assert [p.on for p in points] == [D0, D0 + timedelta(days=1), D0 + timedelta(days=2)]
    for p in points:
        got = {k: getattr(p, k) for k in expected[p.on]}
        assert got == expected[p.on], p.on
    assert points[0].npa == 1 and points[0].par90 > 0  # L1 is past 90 DPD
    only = rq.delinquency(inst, filters("delinquency", date_from=(D0 + timedelta(days=1)).isoformat(),
                                        date_to=(D0 + timedelta(days=1)).isoformat()))
    assert [p.on for p in only] == [D0 + timedelta(days=1)]


# ---- vintage curves ----------------------------------------------------------------------------------------
def dpd_on(loan: Loan, on: date) -> int:
    """DPD on ``on`` from the schedule: days since the oldest row due before ``on`` not fully paid by ``on``."""
    unpaid = [r.due_on for r in loan.installments if r.due_on < on and (r.paid_on is None or r.paid_on > on)]
    return (on - min(unpaid)).days if unpaid else 0


@pytest.mark.parametrize("threshold", [30, 60, 90])
def test_vintage_shares_equal_the_schedule_dpd_of_each_cohort(db, book, threshold):
    inst = default_institution().id
    as_of = _db.session.get(BusinessDate, inst).current_on
    result = rq.vintage(inst, filters("vintage", threshold=threshold))
    loans = [x for x in inst1_loans() if x.kind == "term_loan"]
    cohorts: dict[date, list[Loan]] = {}
    for loan in loans:
        cohorts.setdefault(loan.disbursed_on.replace(day=1), []).append(loan)
    assert [c.month for c in result.cohorts] == sorted(cohorts)
    for c in result.cohorts:
        members = cohorts[c.month]
        disbursed = sum(x.loan_amount for x in members)
        assert c.disbursed == disbursed and c.loans == len(members)
        expected = []
        k = 1
        while True:
            month = add_months(c.month, k)
            on = date(month.year, month.month, 1) + timedelta(days=32)
            on = on.replace(day=1) - timedelta(days=1)
            if on > as_of:
                break
            bad = sum((x.loan_amount for x in members if dpd_on(x, on) > threshold), D("0.00"))
            expected.append((k, on, bad, pct(bad, disbursed)))
            k += 1
        assert [(p.mob, p.on, p.amount, p.share) for p in c.points] == expected
    july = result.cohorts[0]
    assert july.month == date(2026, 7, 1)
    shares = {30: ["0.00", "100.00", "100.00"], 60: ["0.00", "0.00", "100.00"], 90: ["0.00", "0.00", "0.00"]}
    assert [str(p.share) for p in july.points] == shares[threshold]
    assert result.max_mob == 3


# ---- pages, permissions, institutions, exports -------------------------------------------------------------
@pytest.mark.parametrize("kind", rq.REPORTS)
def test_each_report_page_and_fragment_render_for_a_risk_officer(client, db, book, login_as, kind):
    login_as(make_staff("risk_officer"))
    _db.session.commit()
    page = client.get(f"/admin/reports/{kind}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f'id="report-{kind}"' in html and 'id="report-filters"' in html
    assert "<svg" in html or "No " in html
    assert 'href="/admin/reports"' in html  # the nav entry
    fragment = client.get(f"/admin/reports/{kind}", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and body.lstrip().startswith(f'<div id="report-{kind}"')
    assert "<html" not in body and 'id="report-filters"' not in body


def test_funnel_page_shows_the_counts_and_filters_narrow_them(client, db, book, login_as):
    login_as(make_staff("admin"))
    html = client.get("/admin/reports/funnel").get_data(as_text=True)
    assert 'data-stage="disbursed"><td>Disbursed</td><td class="num" data-count>4<' in html
    assert 'data-testid="chart-funnel"' in html
    narrowed = client.get(f"/admin/reports/funnel?product_id={book.p2}", headers={"HX-Request": "true"})
    assert 'data-stage="submitted"><td>Submitted</td><td class="num" data-count>2<' in narrowed.get_data(as_text=True)


def test_another_institutions_ids_are_404_and_its_data_never_shows(client, db, book, login_as):
    login_as(make_staff("admin"))
    assert client.get(f"/admin/reports/funnel?institution_id={book.other_inst}").status_code == 404
    assert client.get(f"/admin/reports/loan_book?product_id={book.other_product}").status_code == 404
    assert client.get(f"/admin/reports/funnel?officer_id={book.other_officer.id}").status_code == 404
    assert client.get("/admin/reports/nonsense").status_code == 404
    html = client.get("/admin/reports/loan_book").get_data(as_text=True)
    assert f'data-loan-id="{book.other_loan}"' not in html
    assert html.count("data-loan-id=") == 4
    assert "5,00,000" not in client.get("/admin/reports/disbursements").get_data(as_text=True)


def test_bad_filters_are_4xx_and_save_nothing(client, db, book, login_as):
    login_as(make_staff("admin"))
    assert client.get("/admin/reports/funnel?date_from=2026-13-45").status_code == 422
    response = client.get("/admin/reports/collections?date_from=2026-11-20&date_to=2026-11-01")
    assert response.status_code == 422 and "ends before it starts" in response.get_data(as_text=True)
    assert client.get("/admin/reports/funnel?status=flying").status_code == 422
    assert client.get("/admin/reports/vintage?threshold=45").status_code == 422
    bad = post_form(client, "/admin/reports/funnel/export", {"format": "pdf"}, page="/admin/reports/funnel")
    assert bad.status_code == 422
    assert _db.session.scalars(select(Export)).all() == []


def test_a_loan_officer_gets_403(client, db, book, login_as):
    login_as(make_staff("loan_officer"))
    assert client.get("/admin/reports").status_code == 403
    for kind in rq.REPORTS:
        assert client.get(f"/admin/reports/{kind}").status_code == 403
    assert post_form(client, "/admin/reports/funnel/export", {"format": "csv"},
                     page="/admin/reports").status_code == 403
    assert _db.session.scalars(select(Export)).all() == []


def _download_rows(client, export: Export):
    response = client.get(f"/admin/exports/{export.id}/download")
    assert response.status_code == 200
    if export.format == "csv":
        return list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    return [list(r) for r in openpyxl.load_workbook(io.BytesIO(response.get_data())).active.iter_rows(values_only=True)]


def _last_export() -> Export:
    _db.session.expire_all()
    return _db.session.scalars(select(Export).order_by(Export.id.desc())).first()


def test_an_export_of_a_report_has_the_reports_rows(client, db, book, login_as):
    risk = make_staff("risk_officer")
    login_as(risk)
    inst = default_institution().id
    response = post_form(client, "/admin/reports/disbursements/export",
                         {"format": "csv", "date_from": "2026-09-01"}, page="/admin/reports/disbursements")
    assert response.status_code == 303
    export = _last_export()
    assert export.kind == "disbursements" and export.status == "done" and export.filters["date_from"] == "2026-09-01"
    rows = _download_rows(client, export)
    report = rq.disbursements(inst, filters("disbursements", date_from="2026-09-01"))
    assert rows[0] == ["Month", "Product", "Count", "Amount"]
    assert rows[1:] == [[r.month.isoformat(), r.product, str(r.count), str(r.amount)] for r in report.rows]
    assert export.row_count == len(report.rows) == 3

    post_form(client, "/admin/reports/funnel/export", {"format": "xlsx", "officer_id": str(book.officer_a)},
              page="/admin/reports/funnel")
    funnel_export = _last_export()
    sheet = _download_rows(client, funnel_export)
    assert sheet[0] == ["Stage", "Applications", "% of previous stage", "% of submitted"]
    assert [(r[0], r[1]) for r in sheet[1:]] == [("Submitted", 5), ("Scored", 5), ("Approved / offered", 4),
                                                 ("Accepted", 3), ("Disbursed", 3)]
    events = _db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.requested")).all()
    assert sorted(e.changes["kind"] for e in events) == ["disbursements", "funnel"]


def test_loan_book_report_export_has_the_pages_loans_with_masked_phones(client, db, book, login_as):
    login_as(make_staff("risk_officer"))
    response = post_form(client, "/admin/reports/loan_book/export",
                         {"format": "csv", "officer_id": str(book.officer_a), "date_from": "2026-09-01"},
                         page="/admin/reports/loan_book")
    assert response.status_code == 303
    export = _last_export()
    assert export.kind == "loan_book" and not export.pii
    rows = _download_rows(client, export)
    report = rq.loan_book(default_institution().id, filters("loan_book", officer_id=book.officer_a,
                                                            date_from="2026-09-01"))
    assert [int(r[0]) for r in rows[1:]] == [r[0] for r in report.rows] == [book.loans["L3"], book.loans["L4"]]
    assert sum(D(r[9]) for r in rows[1:]) == report.principal
    assert all("XXXX" in r[2] for r in rows[1:])


def test_vintage_and_collections_exports_have_the_reports_rows(client, db, book, login_as):
    login_as(make_staff("admin"))
    inst = default_institution().id
    post_form(client, "/admin/reports/vintage/export", {"format": "csv", "threshold": "60"},
              page="/admin/reports/vintage")
    rows = _download_rows(client, _last_export())
    report = rq.vintage(inst, filters("vintage", threshold=60))
    assert rows[1:] == [[c.month.isoformat(), str(c.loans), str(c.disbursed), str(p.mob), p.on.isoformat(),
                         str(p.amount), str(p.share)] for c in report.cohorts for p in c.points]
    assert rows[0][5] == "Amount over 60 DPD"
    post_form(client, "/admin/reports/collections/export", {"format": "xlsx"}, page="/admin/reports/collections")
    sheet = _download_rows(client, _last_export())
    report = rq.collections(inst, filters("collections"))
    assert [(r[0].date(), D(str(r[1])).quantize(CENT), D(str(r[2])).quantize(CENT)) for r in sheet[1:]] == \
        [(m.month, m.due, m.collected) for m in report.months]
