"""Fixtures of the collections tests: the books on D0 (the test clock's business date), loans aged into each
DPD bucket by the real close of business, a loan with two bounced payments, staff of every role."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from portal.auth.services import default_institution
from portal.business_date import current_business_date, set_business_date
from portal.extensions import db as _db
from portal.lending.models import Loan
from portal.servicing import services as servicing
from tests.factories import make_disbursed_loan, make_staff
from tests.servicing.payments_support import close_days

D0 = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _books_on_d0(request):
    """The default institution's books are on D0 (tests that use the database only)."""
    if "db" not in request.fixturenames:
        yield
        return
    db, clock = request.getfixturevalue("db"), request.getfixturevalue("clock")
    current_business_date(default_institution().id, clock)
    db.session.commit()
    yield


def inst_id() -> int:
    return default_institution().id


def books_on() -> date:
    _db.session.expire_all()
    return current_business_date(inst_id(), None)


def jump_to(on: date) -> None:
    """Move the default institution's business date forward to ``on`` (as an admin in demo mode would)."""
    set_business_date(inst_id(), on, actor="test")
    _db.session.commit()


def npa_loan(clock, *, dpd: int = 95, amount: str = "100000") -> Loan:
    """A loan disbursed through the workflow on D0 whose first instalment (23 Dec 2026) is then ``dpd`` days
    unpaid at a close of business (NPA beyond 90): the books move to that date and close once."""
    loan = make_disbursed_loan(clock, amount=amount)
    _db.session.commit()
    first_due = loan.installments[0].due_on
    jump_to(first_due + timedelta(days=dpd))
    close_days(1, clock)
    return _db.session.get(Loan, loan.id)


def bounced_loan(clock, bounces: int = 2) -> Loan:
    """A loan disbursed on D0 whose first EMI was paid and bounced ``bounces`` times (0 DPD, standard)."""
    loan = make_disbursed_loan(clock)
    officer = make_staff("loan_officer")
    _db.session.commit()
    for n in range(bounces):
        loan = _db.session.get(Loan, loan.id)
        payment = servicing.record_repayment(loan, amount=loan.monthly_installment, idempotency_key=f"b{n}-{loan.id}",
                                             channel="officer", actor=officer, clock=clock)
        servicing.bounce_payment(payment, actor=officer, clock=clock, reason="cheque returned")
        _db.session.commit()
    return _db.session.get(Loan, loan.id)


@pytest.fixture
def staff(db):
    """One user of every staff role of the default institution (committed): collections (two), risk officer,
    admin, support, loan officer."""
    users = {"collections": make_staff("collections"), "collections2": make_staff("collections"),
             "risk_officer": make_staff("risk_officer"), "admin": make_staff("admin"),
             "support": make_staff("support"), "loan_officer": make_staff("loan_officer")}
    db.session.commit()
    return users


D = Decimal
