"""Factory helpers: plain functions that build domain objects through the services (flush, no commit)."""
from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from portal.auth.services import create_user, default_institution
from portal.extensions import db
from portal.lending.models import Loan, Product
from portal.onboarding.services import register_customer

_seq = itertools.count(1)


def make_staff(role: str = "loan_officer", email: str | None = None, password: str = "correct-horse-1",
               totp_secret: str | None = None):
    """A staff user; with ``totp_secret`` the user is enrolled in MFA (required for admin and risk officer)."""
    user = create_user(email=email or f"{role}{next(_seq)}@example.test", role=role, password=password,
                       display_name=f"{role.replace('_', ' ').title()} {next(_seq)}")
    if totp_secret:
        user.totp_secret, user.mfa_enabled = totp_secret, True
    return user


def make_customer(*, salary: str = "50000", password: str | None = "customer-pass-1", phone: str | None = None,
                  first_name: str = "Asha", last_name: str = "Rao", age: int = 30):
    phone = phone or f"9{next(_seq):09d}"
    return register_customer(first_name=first_name, last_name=last_name, age=age, phone_number=phone,
                             monthly_salary=Decimal(salary), password=password)


def term_product() -> Product:
    """The seed 003 personal term loan (TL-PERSONAL) of the default institution."""
    return db.session.scalar(select(Product).where(Product.institution_id == default_institution().id,
                                                   Product.code == "TL-PERSONAL"))


def make_disbursed_loan(clock, *, amount: str = "100000", tenure: int = 12, salary: str = "100000",
                        customer=None, officer=None) -> Loan:
    """A serviced term loan disbursed on the business date through the real workflow (apply, approve, accept
    the offer): schedule rows, balances and the disbursement's journal entry. Rate: the product's 14 % p.a.
    (or the seed 003 slab floor)."""
    from portal.lending import services

    customer = customer or make_customer(salary=salary)
    officer = officer or make_staff("loan_officer")
    app = services.submit_application(customer, term_product(), amount=Decimal(amount), tenure=tenure,
                                      actor=customer.user, clock=clock)
    return approve_and_disburse(app, officer, clock)


def make_loan(customer, *, amount: str = "100000", rate: str = "12", tenure: int = 12, emi: str = "8884.88",
              paid_on_time: int = 0, approved_on: date = date(2025, 1, 10), end_on: date | None = None,
              external_loan_id: int | None = None, source: str = "import") -> Loan:
    from portal.lending.schedule import add_months

    loan = Loan(institution_id=customer.institution_id, customer_id=customer.id, external_loan_id=external_loan_id,
                loan_amount=Decimal(amount), tenure=tenure, interest_rate=Decimal(rate),
                monthly_installment=Decimal(emi), emis_paid_on_time=paid_on_time, approved_on=approved_on,
                end_on=end_on or add_months(approved_on, tenure), source=source, status="active")
    db.session.add(loan)
    db.session.flush()
    return loan


def accept_offer(offer, clock, ip: str = "127.0.0.1"):
    """The customer accepts ``offer`` after reading its KFS as rendered now (sanction + disbursement); the loan."""
    from portal.lending import offers, services

    customer = offer.application.customer
    return services.accept_offer(offer, customer=customer, shown_digest=offers.kfs_digest(offers.render_kfs(offer)),
                                 ip=ip, actor=customer.user, clock=clock)


def approve_and_disburse(app, officer, clock, note: str | None = None):
    """An officer approves ``app`` (an offer) and its customer accepts it: the disbursed loan."""
    from portal.lending import services

    return accept_offer(services.approve_application(app, actor=officer, clock=clock, note=note), clock)
