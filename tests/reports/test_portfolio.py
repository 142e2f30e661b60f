"""Portfolio figures equal values computed independently from the loans."""
from datetime import date
from decimal import Decimal

from portal.lending.schedule import amortization_schedule
from portal.reports.services import portfolio
from tests.factories import make_customer, make_loan


def test_portfolio_counts_and_aum(db, clock):
    a, b = make_customer(salary="100000"), make_customer(salary="60000")
    running = make_loan(a, amount="120000", rate="12", tenure=12, emi="10661.85", approved_on=date(2026, 6, 10))
    make_loan(a, amount="50000", tenure=6, emi="8627.42", approved_on=date(2020, 1, 1))       # ended
    this_year = make_loan(b, amount="300000", rate="14", tenure=36, emi="10253.35", approved_on=date(2026, 2, 1))
    db.session.commit()
    p = portfolio(a.institution_id, date(2026, 11, 23))
    assert p.customers == 2 and p.active_loans == 2
    assert p.disbursed_ytd == Decimal("420000.00") and p.disbursed_ytd_count == 2

    def outstanding(loan):
        rows = amortization_schedule(loan.loan_amount, loan.interest_rate, loan.tenure, loan.approved_on,
                                     installment=loan.monthly_installment)
        due = [r for r in rows if r.due_on <= date(2026, 11, 23)]
        return due[-1].balance if due else loan.loan_amount

    assert p.aum == outstanding(running) + outstanding(this_year)
    assert sum(p.loans_by_band.values()) == 2


def test_portfolio_page_shows_the_figures(client, db, login_as):
    from tests.factories import make_staff

    admin = make_staff("admin")
    c = make_customer()
    make_loan(c, amount="100000", approved_on=date(2026, 10, 1))
    db.session.commit()
    login_as(admin)
    html = client.get("/admin/portfolio").get_data(as_text=True)
    assert "Active loans by score band" in html and "Rs 1,00,000.00" in html
