"""Helpers for the repayment tests: a term loan disbursed through the lending services (apply, approve, accept
the offer), the close of business run for some days, and the ledger check of one institution."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from portal.auth.services import default_institution
from portal.business_date import current_business_date
from portal.extensions import db
from portal.ledger.check import check_ledger
from portal.lending import services as lending
from portal.lending.models import Loan
from tests.factories import approve_and_disburse, make_customer, make_loan, make_staff, term_product

D = Decimal
DAY0 = date(2026, 11, 23)  # the conftest clock's business date


def disbursed_loan(clock, *, amount: str = "100000", tenure: int = 12, rate: str = "12", customer=None,
                   phone: str | None = None, password: str | None = "customer-pass-1") -> Loan:
    """A term loan disbursed on the business date through the lending services (committed). The customer has a
    repaid book loan, so the seed 003 score approves the application at ``rate``."""
    if customer is None:
        customer = make_customer(salary="100000", phone=phone, password=password)
        make_loan(customer, amount="100000", tenure=12, paid_on_time=12, approved_on=date(2024, 1, 10))
    app = lending.submit_application(customer, term_product(), amount=D(amount), tenure=tenure,
                                     interest_rate=D(rate), actor=customer.user, clock=clock)
    loan = approve_and_disburse(app, make_staff("loan_officer"), clock)
    db.session.commit()
    return loan


def close_days(days: int, clock) -> date:
    """Run the close of business ``days`` times from the current business date; returns the new business date."""
    from portal.servicing.cob import run_close_of_business

    institution_id = default_institution().id
    for _ in range(days):
        run_close_of_business(institution_id, current_business_date(institution_id, clock), now=clock.now(),
                              requested_by="test")
    db.session.expire_all()
    return current_business_date(institution_id, clock)


def assert_ledger_agrees(as_of: date | None = None) -> None:
    """The ledger balances and every serviced loan's balances equal its postings (``ledger-check``)."""
    result = check_ledger(default_institution().id, as_of or date(2099, 1, 1))
    assert result.ok, result.problems
