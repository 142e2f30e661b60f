"""The portfolio aggregates kept by PostgreSQL's statement triggers (migration f7portfolioagg01) equal a full
recomputation from the book after every kind of statement that touches loans, loan transactions or postings:
disbursements, repayments, bounces, close-of-business days (set-based updates), NPA ageing, a write-off, a status
override, a credit-line drawdown, a score band changed after disbursement, a deleted loan; the migration's
backfill builds the same rows; and the dashboard reads the aggregates (not the book) on PostgreSQL."""
from __future__ import annotations

import importlib.util
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select, text

from portal.auth.services import default_institution
from portal.extensions import db as _db
from portal.lending.models import Loan, LoanApplication
from portal.reports.models import (
    LedgerDailyBalance,
    PortfolioApplicationCount,
    PortfolioCustomerCount,
    PortfolioDailyFlow,
    PortfolioPosition,
)
from portal.reports.portfolio import book_cells, default_source, ledger_principal, portfolio_figures
from portal.servicing import services as servicing
from tests.factories import make_customer, make_disbursed_loan, make_loan, make_staff
from tests.servicing.payments_support import DAY0, assert_ledger_agrees, close_days

D = Decimal
MIGRATION = (Path(__file__).resolve().parents[2] / "migrations" / "versions"
             / "20261123_1507_f7portfolioagg01_portfolio_aggregates.py")


def _migration():
    spec = importlib.util.spec_from_file_location("f7portfolioagg01", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tables() -> dict[str, set[tuple]]:
    """The aggregate tables as sets of rows, groups that netted to nothing left out."""
    s = _db.session
    return {
        "positions": {tuple(r) for r in s.execute(select(
            PortfolioPosition.institution_id, PortfolioPosition.status, PortfolioPosition.asset_class,
            PortfolioPosition.dpd_bucket, PortfolioPosition.score_band, PortfolioPosition.loans_count,
            PortfolioPosition.principal_outstanding_amount)).all() if r[5] or r[6]},
        "flows": {tuple(r) for r in s.execute(select(
            PortfolioDailyFlow.institution_id, PortfolioDailyFlow.value_on, PortfolioDailyFlow.disbursed_count,
            PortfolioDailyFlow.disbursed_amount, PortfolioDailyFlow.collected_amount)).all() if any(r[2:])},
        "balances": {tuple(r) for r in s.execute(select(
            LedgerDailyBalance.account_id, LedgerDailyBalance.business_date, LedgerDailyBalance.debit_amount,
            LedgerDailyBalance.credit_amount)).all() if any(r[2:])},
        "applications": {tuple(r) for r in s.execute(select(
            PortfolioApplicationCount.institution_id, PortfolioApplicationCount.status,
            PortfolioApplicationCount.score_band, PortfolioApplicationCount.applications_count)).all() if r[3]},
        "customers": {tuple(r) for r in s.execute(select(
            PortfolioCustomerCount.institution_id, PortfolioCustomerCount.customers_count)).all() if r[1]},
    }


def _recomputed() -> dict[str, set[tuple]]:
    """The same tables rebuilt from the book by the migration's backfill, inside a savepoint rolled back after."""
    nested = _db.session.begin_nested()
    _db.session.execute(text("TRUNCATE portfolio_positions, portfolio_daily_flows, ledger_daily_balances, "
                                "portfolio_application_counts, portfolio_customer_counts"))
    _db.session.execute(text(_migration().BACKFILL))
    rebuilt = _tables()
    nested.rollback()
    return rebuilt


def assert_aggregates_agree(*dates: date) -> None:
    """Trigger-kept tables == full recomputation, and the dashboard's figures from either source are equal."""
    _db.session.flush()
    kept = _tables()
    assert kept == _recomputed()
    institution_id = default_institution().id
    for on in dates or (DAY0,):
        assert portfolio_figures(institution_id, on, "aggregates") == portfolio_figures(institution_id, on, "live")
        assert ledger_principal(institution_id, on, "aggregates") == ledger_principal(institution_id, on, "live")
    assert book_cells(institution_id, "aggregates") == book_cells(institution_id, "live")


def test_postgresql_reads_the_aggregates(db):
    assert default_source() == "aggregates"


def test_aggregates_follow_every_change_of_the_book(db, clock):
    from portal.delinquency import services as delinquency
    from portal.lending.overrides import decide_status_override, request_status_override
    from portal.servicing import credit_line
    from tests.servicing.test_credit_line import open_line

    officer, maker, checker = make_staff("loan_officer"), make_staff("admin"), make_staff("admin")
    risk, collections = make_staff("risk_officer"), make_staff("collections")
    # disbursements through the workflow (the loan's band comes from its application)
    paid, bounced, aged = (make_disbursed_loan(clock, amount=a, officer=officer) for a in ("100000", "60000", "90000"))
    book = make_loan(make_customer(salary="60000"), amount="200000", tenure=24, approved_on=date(2025, 6, 10))
    _db.session.commit()
    assert _tables()["positions"], "the disbursements reached the aggregates"
    assert sum(n for _, (n, _) in book_cells(paid.institution_id).items()) == 3
    assert_aggregates_agree()

    # a repayment, and a repayment that bounces
    servicing.record_repayment(paid, amount=paid.monthly_installment, idempotency_key="agg-pay", channel="officer",
                               actor=officer, clock=clock)
    payment = servicing.record_repayment(bounced, amount=bounced.monthly_installment, idempotency_key="agg-bounce",
                                         channel="officer", actor=officer, clock=clock)
    _db.session.commit()
    assert_aggregates_agree()
    servicing.bounce_payment(payment, actor=officer, clock=clock, reason="cheque returned")
    _db.session.commit()
    assert_aggregates_agree()

    # a credit line and a drawdown
    line = open_line(clock)
    credit_line.drawdown(line, D("15000"), idempotency_key="agg-draw", actor="system", clock=clock)
    _db.session.commit()
    assert_aggregates_agree()

    # a status override of a book loan (maker-checker)
    override = request_status_override(book, to_status="closed", reason="Repaid in full at the branch, book stale",
                                       actor=maker, clock=clock)
    _db.session.commit()
    decide_status_override(override, approve=True, note=None, actor=checker, clock=clock)
    _db.session.commit()
    assert _db.session.get(Loan, book.id).status == "closed"
    assert_aggregates_agree()

    # close-of-business days past the first due date (set-based accrual, DPD and classification updates)
    from portal.business_date import set_business_date

    first_due = _db.session.get(Loan, aged.id).installments[0].due_on
    set_business_date(aged.institution_id, first_due + timedelta(days=94), actor="test")
    _db.session.commit()
    today = close_days(2, clock)
    aged = _db.session.get(Loan, aged.id)
    assert aged.status == "npa" and aged.dpd > 90
    by_class = {c: n for (c, _, _), (n, _) in book_cells(aged.institution_id).items() if c == "npa"}
    assert by_class, "the close of business moved loans to NPA in the aggregates"
    assert_aggregates_agree(today, DAY0, date(2026, 12, 31))

    # recovery and write-off (maker-checker) take the loan off the book
    delinquency.initiate_recovery(aged, actor=collections, clock=clock)
    proposal = delinquency.propose_write_off(aged, reason="Borrower untraceable for 90 days", actor=collections,
                                             clock=clock)
    _db.session.commit()
    delinquency.approve_write_off(proposal, actor=risk, clock=clock, note="agreed")
    _db.session.commit()
    assert _db.session.get(Loan, aged.id).status == "written_off"
    assert_aggregates_agree(today)
    assert_ledger_agrees()
    figures = portfolio_figures(aged.institution_id, today)
    assert figures.reconciled and figures.open_loans == 3  # paid, bounced, the credit line


def test_band_changes_deletes_and_bulk_statements(db, clock):
    loan = make_disbursed_loan(clock, amount="80000")
    _db.session.commit()
    band = _db.session.scalar(select(LoanApplication.score_band).where(LoanApplication.id == loan.application_id))
    other = "D" if band != "D" else "AA"
    _db.session.execute(text("UPDATE loan_applications SET score_band = :b WHERE id = :id"),
                        {"b": other, "id": loan.application_id})
    cells = book_cells(loan.institution_id)
    assert {b for (_, _, b) in cells} == {other}
    assert_aggregates_agree()

    # a book loan made serviced and deleted in bulk statements; one statement moving many loans at once
    customer = make_customer()
    ids = [make_loan(customer, amount="1000").id for _ in range(3)]
    _db.session.execute(text("UPDATE loans SET serviced = true, principal_outstanding_amount = 100000, dpd = 45, "
                             "asset_class = 'sma_1', status = 'overdue' WHERE id = ANY(:ids)"), {"ids": ids})
    assert book_cells(loan.institution_id)[("sma_1", "31-60", "unscored")] == (3, D("3000.00"))
    assert_aggregates_agree()
    _db.session.execute(text("DELETE FROM loans WHERE id = ANY(:ids)"), {"ids": ids[:2]})
    assert book_cells(loan.institution_id)[("sma_1", "31-60", "unscored")] == (1, D("1000.00"))
    assert_aggregates_agree()


def test_the_dashboard_reads_the_aggregates_not_the_book(db, clock):
    loan = make_disbursed_loan(clock, amount="150000")
    _db.session.commit()
    assert portfolio_figures(loan.institution_id, DAY0).aum == D("150000.00")
    # change the book behind the triggers' back (as no statement of the portal can): the page does not see it
    _db.session.execute(text("ALTER TABLE loans DISABLE TRIGGER portfolio_positions_apply_update"))
    _db.session.execute(text("UPDATE loans SET principal_outstanding_amount = 1 WHERE id = :id"), {"id": loan.id})
    _db.session.execute(text("ALTER TABLE loans ENABLE TRIGGER portfolio_positions_apply_update"))
    assert portfolio_figures(loan.institution_id, DAY0).aum == D("150000.00")
    assert portfolio_figures(loan.institution_id, DAY0, "live").aum == D("0.01")
    _db.session.rollback()


def test_a_truncated_book_empties_its_aggregates(db, clock):
    make_disbursed_loan(clock, amount="50000")
    _db.session.commit()
    assert _tables()["positions"] and _tables()["customers"]
    _db.session.execute(text("TRUNCATE loans, loan_transactions, postings, loan_applications, customers CASCADE"))
    assert _tables() == {"positions": set(), "flows": set(), "balances": set(), "applications": set(),
                         "customers": set()}
    make_disbursed_loan(clock, amount="70000")
    assert_aggregates_agree()
