"""Portfolio figures equal values computed independently from the loans.

Since issue 7 the AUM, disbursements and distributions come from the serviced book (``loans.serviced``): imported
book loans (history for the seed 003 score) are counted apart (``imported_current``) and add nothing to AUM."""
from datetime import date
from decimal import Decimal

from portal.reports.services import portfolio
from tests.factories import make_customer, make_disbursed_loan, make_loan


def test_portfolio_counts_and_aum(db, clock):
    a, b = make_customer(salary="100000"), make_customer(salary="60000")
    make_loan(a, amount="120000", rate="12", tenure=12, emi="10661.85", approved_on=date(2026, 6, 10))
    make_loan(a, amount="50000", tenure=6, emi="8627.42", approved_on=date(2020, 1, 1))       # ended
    make_loan(b, amount="300000", rate="14", tenure=36, emi="10253.35", approved_on=date(2026, 2, 1))
    serviced = make_disbursed_loan(clock, amount="150000")
    db.session.commit()
    p = portfolio(a.institution_id, date(2026, 11, 23))
    assert p.customers == 3 and p.imported_current == 2          # the two running imported loans
    assert p.open_loans == 1 and p.aum == serviced.principal_outstanding_amount == Decimal("150000.00")
    assert p.disbursed_ytd == Decimal("150000.00") and p.disbursed_ytd_count == 1
    assert p.disbursed_mtd == Decimal("150000.00") and p.disbursed_mtd_count == 1
    assert p.npa_ratio == p.par30 == Decimal("0.00") and p.reconciled
    assert sum(s.count for s in p.by_band) == 1


def test_portfolio_page_shows_the_figures(client, db, clock, login_as):
    from tests.factories import make_staff

    admin = make_staff("admin")
    make_disbursed_loan(clock, amount="100000")
    db.session.commit()
    login_as(admin)
    html = client.get("/admin/portfolio").get_data(as_text=True)
    assert "Open loans by score band" in html and "Rs 1,00,000.00" in html
