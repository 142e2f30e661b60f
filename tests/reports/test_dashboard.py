"""The portfolio dashboard on a serviced book aged by the close of business: AUM, NPA ratio and PAR30 equal values
computed here from the Loan rows, AUM equals the ledger's 1100 balance, one snapshot per closed date, and the
page (live, past date with and without a snapshot, bad date, permissions)."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import select

from portal.auth.services import default_institution
from portal.business_date import BusinessDate
from portal.ledger.services import trial_balance
from portal.lending.models import Loan
from portal.money import format_inr
from portal.reports.charts import bar_chart, trend_chart
from portal.reports.models import PortfolioSnapshot
from portal.reports.portfolio import PortfolioFigures, Slice, portfolio_figures
from portal.reports.services import TrendPoint
from portal.servicing import cob
from tests.factories import make_disbursed_loan, make_staff

D0 = date(2026, 11, 23)
CLOSED = (D0, D0 + timedelta(days=1), D0 + timedelta(days=2))
TODAY = D0 + timedelta(days=3)


def _books_on(db, institution_id: int, on: date) -> None:
    row = db.session.get(BusinessDate, institution_id)
    if row is None:
        db.session.add(BusinessDate(institution_id=institution_id, current_on=on))
    else:
        row.current_on = on
    db.session.flush()


def _close(db, institution_id: int) -> None:
    from portal.clock import clock

    db.session.expire_all()
    on = db.session.get(BusinessDate, institution_id).current_on
    run = cob.run_close_of_business(institution_id, on, now=clock().now(), requested_by="test", chunk_size=2)
    db.session.commit()
    assert run is not None and run.status == "done", run and run.error


@pytest.fixture
def book(db, clock):
    """Five serviced loans disbursed on different business dates (about 150, 70, 70, 45 days before D0, and on
    D0), aged by three closes of business (D0, D0+1, D0+2); the second 70-day loan's arrears are paid on D0+2.
    The books end on D0+3 (live). Returns the institution id."""
    from portal.servicing.services import record_repayment

    inst = default_institution().id
    officer = make_staff("loan_officer")
    loans = []
    for days, amount in ((150, "200000"), (70, "150000"), (70, "90000"), (45, "120000"), (0, "80000")):
        _books_on(db, inst, D0 - timedelta(days=days))
        loans.append(make_disbursed_loan(clock, amount=amount, tenure=12, officer=officer))
        db.session.commit()
    _books_on(db, inst, D0)
    db.session.commit()
    _close(db, inst)
    _close(db, inst)
    payer = db.session.get(Loan, loans[2].id)
    assert payer.dpd > 30
    overdue = sum((i.installment_amount - i.principal_paid_amount - i.interest_paid_amount
                   for i in payer.installments if i.due_on <= D0 + timedelta(days=2)), Decimal("0.00"))
    record_repayment(payer, amount=overdue, idempotency_key="dash-1", channel="officer", actor=officer, clock=clock)
    db.session.commit()
    _close(db, inst)
    assert db.session.get(BusinessDate, inst).current_on == TODAY
    return inst


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (Decimal(100) * part / whole).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _ledger_1100(inst: int, on: date) -> Decimal:
    return next(a.balance for a in trial_balance(inst, on) if a.code == "1100")


def test_figures_equal_values_computed_from_the_loans_and_the_ledger(db, book):
    inst = book
    db.session.expire_all()
    loans = db.session.scalars(select(Loan).where(Loan.institution_id == inst, Loan.serviced)).all()
    open_ = [ln for ln in loans if ln.status in ("active", "overdue", "npa")]
    aum = sum((ln.principal_outstanding_amount for ln in open_), Decimal("0.00"))
    npa = sum((ln.principal_outstanding_amount for ln in open_ if ln.asset_class == "npa"), Decimal("0.00"))
    par30 = sum((ln.principal_outstanding_amount for ln in open_ if ln.dpd > 30), Decimal("0.00"))
    par90 = sum((ln.principal_outstanding_amount for ln in open_ if ln.dpd > 90), Decimal("0.00"))
    # the book really is mixed: an NPA loan, one past 30 days, and current ones
    assert npa > 0 and par30 > npa and sum(1 for ln in open_ if ln.dpd == 0) >= 2

    p = portfolio_figures(inst, TODAY)
    assert p.open_loans == len(open_) == 5
    assert p.aum == aum
    assert p.npa_principal == npa and p.npa_ratio == _pct(npa, aum)
    assert p.par30 == _pct(par30, aum) and p.par90 == _pct(par90, aum)
    assert sum(s.principal for s in p.by_dpd) == aum == sum(s.principal for s in p.by_class)
    assert sum(s.count for s in p.by_band) == 5
    assert {s.key: s.count for s in p.by_class}["npa"] == sum(1 for ln in open_ if ln.asset_class == "npa")

    # AUM reconciles with the ledger's loan principal account (1100), read through the trial balance
    assert p.ledger_principal == _ledger_1100(inst, TODAY) == aum and p.reconciled

    # flows: every disbursement of 2026 (all five), this month's (D0's); collections = the one repayment
    assert (p.disbursed_ytd_count, p.disbursed_ytd) == (5, sum((ln.loan_amount for ln in loans), Decimal("0.00")))
    november = [ln for ln in loans if ln.disbursed_on.month == 11]
    assert (p.disbursed_mtd_count, p.disbursed_mtd) == (
        len(november), sum((ln.loan_amount for ln in november), Decimal("0.00")))
    from portal.servicing.models import Payment

    assert p.collections_mtd == sum((pay.amount for pay in db.session.scalars(select(Payment))), Decimal("0.00")) > 0


def test_the_close_of_business_writes_one_snapshot_per_date_reconciled_with_the_ledger(db, book):
    inst = book
    rows = db.session.scalars(select(PortfolioSnapshot).where(PortfolioSnapshot.institution_id == inst)
                              .order_by(PortfolioSnapshot.business_date)).all()
    assert [r.business_date for r in rows] == list(CLOSED)
    for row in rows:
        figures = PortfolioFigures.from_json(row.figures)
        assert figures.as_of == row.business_date and figures.aum == row.aum
        assert row.aum == row.ledger_principal == _ledger_1100(inst, row.business_date)
    # the repayment of D0+2 lowered PAR30 in that day's snapshot
    assert Decimal(rows[2].figures["par30"]) < Decimal(rows[1].figures["par30"])
    # idempotent: the step again for a closed date writes nothing
    from portal.reports.services import write_snapshot

    again, created = write_snapshot(inst, D0)
    assert not created and again.id == rows[0].id
    run = db.session.scalar(select(cob.CobRun).where(cob.CobRun.business_date == D0))
    # the snapshot is taken after the day's DPD and classes are set
    assert [s["name"] for s in run.steps].index("snapshot") > cob.STEPS.index("classification")


def test_the_page_shows_live_figures_past_snapshots_and_refuses_bad_dates(client, db, book, login_as):
    inst = book
    admin = make_staff("admin")
    db.session.commit()
    login_as(admin)
    live = portfolio_figures(inst, TODAY)
    html = client.get("/admin/portfolio").get_data(as_text=True)
    assert "as of 26 Nov 2026" in html and 'data-testid="live"' in html
    assert format_inr(live.aum) in html and f"{live.par30}%" in html and f"{live.npa_ratio}%" in html
    assert 'data-reconciled="true"' in html and "Reconciled with the ledger" in html
    for chart in ("chart-dpd", "chart-classes", "chart-bands", "chart-trend"):
        assert f'data-testid="{chart}"' in html
    assert "<polyline" in html and "<desc id=\"trend-desc\">4 business dates" in html  # 3 snapshots + today

    snap = db.session.scalar(select(PortfolioSnapshot).where(PortfolioSnapshot.business_date == D0))
    past = client.get("/admin/portfolio?on=2026-11-23")
    text = past.get_data(as_text=True)
    assert past.status_code == 200 and "as of 23 Nov 2026" in text and "Close of business snapshot" in text
    assert format_inr(snap.aum) in text and f"{snap.figures['par30']}%" in text

    none = client.get("/admin/portfolio?on=2026-11-01").get_data(as_text=True)
    assert "No snapshot for 01 Nov 2026" in none and 'data-testid="aum"' not in none

    assert client.get("/admin/portfolio?on=23-11-2026").status_code == 400
    assert client.get("/admin/portfolio?on=2026-02-30").status_code == 400
    assert client.get("/admin/portfolio?on=2026-12-31").status_code == 400  # after the books' date


def test_a_loan_officer_may_not_see_the_portfolio(client, db, login_as):
    officer = make_staff("loan_officer")
    db.session.commit()
    login_as(officer)
    assert client.get("/admin/portfolio").status_code == 403


def test_bar_and_trend_chart_geometry():
    slices = [Slice("0", "0 DPD", 3, Decimal("300000.00")), Slice("1-30", "1-30 DPD", 1, Decimal("75000.00")),
              Slice("90+", "90+ DPD", 0, Decimal("0.00"))]
    chart = bar_chart(slices, width=420, label_width=80)
    room = 420 - 80 - 190
    assert [b.width for b in chart.bars] == [room, room / 4, 0.0]
    assert chart.bars[0].text == "Rs 3,00,000.00 · 3 loans" and "1-30 DPD: Rs 75,000.00 · 1 loan" in chart.description
    points = [TrendPoint(D0 + timedelta(days=i), Decimal(100 + i), Decimal(i)) for i in range(3)]
    line = trend_chart(points, width=640, height=200, pad=30)
    assert line.aum_points.split() == ["30.0,32.7", "320.0,31.4", "610.0,30.0"]  # scaled from 0 to the top
    assert line.par_points.split()[0] == "30.0,170.0" and line.par_points.split()[-1] == "610.0,30.0"
    assert "3 business dates from 23 Nov 2026 to 25 Nov 2026" in line.description
    assert trend_chart([]).count == 0 and trend_chart([]).description == "No snapshots yet."
