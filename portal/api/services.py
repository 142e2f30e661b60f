"""What the machine API does, on top of the lending services: scoped look-ups, the eligibility check and
seed 003's one-call ``create-loan`` (apply, then approve or reject at once). Flushes; the view commits."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal.api.schemas import RequestError, display_rate
from portal.bootstrap import TERM_LOAN
from portal.business_date import current_business_date
from portal.errors import DomainError, NotFound
from portal.extensions import db
from portal.lending.models import Loan, LoanApplication, Product
from portal.lending.services import (
    Assessment,
    approve_straight_through,
    assess,
    check_product_bounds,
    reject_application,
    submit_application,
)
from portal.lending.states import ApplicationStatus as S
from portal.onboarding.models import Customer

APPROVAL_NOTE = "approved through the API"
IDEMPOTENCY_KEY_MAX = 64


# ------------------------------------------------------------------------------------------------ look-ups


def get_customer(customer_id: int, *, institution_id: int) -> Customer:
    """The customer with this id in the institution; NotFound (404) otherwise, including another lender's."""
    customer = db.session.scalar(select(Customer).where(Customer.id == customer_id,
                                                        Customer.institution_id == institution_id))
    if customer is None:
        raise NotFound(f"customer {customer_id} not found")
    return customer


def get_loan(loan_id: int, *, institution_id: int) -> Loan:
    """The loan with this id in the institution; NotFound (404) otherwise, including another lender's."""
    loan = db.session.scalar(select(Loan).where(Loan.id == loan_id, Loan.institution_id == institution_id)
                             .options(selectinload(Loan.customer)))
    if loan is None:
        raise NotFound(f"loan {loan_id} not found")
    return loan


def customer_loans(customer: Customer) -> list[Loan]:
    """Every loan of the customer (seed 003: "list all loans for a customer"), oldest first."""
    return list(db.session.scalars(select(Loan).where(Loan.customer_id == customer.id,
                                                      Loan.institution_id == customer.institution_id)
                                   .options(selectinload(Loan.installments))
                                   .order_by(Loan.approved_on, Loan.id)))


def term_product(institution_id: int) -> Product:
    """The institution's standard term loan (``TL-PERSONAL``), the product the API lends."""
    product = db.session.scalar(select(Product).where(Product.institution_id == institution_id,
                                                      Product.code == TERM_LOAN["code"]))
    if product is None:
        raise DomainError(f"the term-loan product {TERM_LOAN['code']} is not set up for this institution; "
                          "run flask --app wsgi init-data")
    return product


def business_date(institution_id: int, clock) -> date:
    return current_business_date(institution_id, clock)


def _check_bounds(product: Product, amount: Decimal, tenure: int) -> None:
    """Product bounds as a bad request (400) for the API: an amount or tenure the product never lends is the
    caller's mistake, not a business refusal. A closed product stays a 422."""
    if not product.active:
        raise DomainError(f"{product.name} is not open for applications")
    try:
        check_product_bounds(product, amount, tenure)
    except DomainError as exc:
        raise RequestError(exc.message) from None


# ------------------------------------------------------------------------------------------------ eligibility


def check_eligibility(customer: Customer, *, amount: Decimal, tenure: int, interest_rate: Decimal,
                      clock) -> Assessment:
    """Seed 003's eligibility of a request on the business date, for the product the API lends (amounts and
    tenures outside it are a 400, as for ``create_loan``, so an approval here can be taken to create-loan)."""
    _check_bounds(term_product(customer.institution_id), amount, tenure)
    return assess(customer, amount=amount, tenure=tenure, interest_rate=interest_rate,
                  as_of=business_date(customer.institution_id, clock))


# ------------------------------------------------------------------------------------------------ create-loan


@dataclass(frozen=True)
class LoanDecision:
    """The outcome of ``create_loan``: the application, its loan when approved, a message for the caller."""

    application: LoanApplication
    loan: Loan | None
    message: str

    @property
    def monthly_installment(self) -> Decimal | None:
        return self.loan.monthly_installment if self.loan else self.application.monthly_installment


def _failed_checks(app: LoanApplication) -> list[str]:
    return [c["detail"] for c in (app.score_detail or {}).get("checks", []) if not c["passed"]]


def _approved_message(app: LoanApplication) -> str:
    message = "Loan approved."
    if app.corrected_interest_rate is not None and app.corrected_interest_rate != app.interest_rate:
        message += (f" The interest rate was raised from {display_rate(app.interest_rate)}% to "
                    f"{display_rate(app.corrected_interest_rate)}% for the credit score.")
    return message


def _outcome(app: LoanApplication) -> LoanDecision:
    """Describe an application that has been decided (or, in a replay, is somewhere in its life)."""
    if app.loan is not None:
        return LoanDecision(app, app.loan, _approved_message(app))
    if app.status == S.REJECTED:
        return LoanDecision(app, None, f"Loan not approved: {app.decision_note}")
    return LoanDecision(app, None, f"The application is {app.status.replace('_', ' ')}.")


def _decide(app: LoanApplication, *, actor, clock) -> LoanDecision:
    """Approve an eligible application (sanction + disburse) or reject it with the failed checks."""
    if app.eligible:
        approve_straight_through(app, actor=actor, clock=clock, note=APPROVAL_NOTE)
    else:
        reasons = " ".join(_failed_checks(app)) or "The request does not meet the eligibility rules."
        reject_application(app, actor=actor, clock=clock, note=reasons, reason_code="eligibility")
    return _outcome(app)


def scoped_key(institution_id: int, key: str | None) -> str | None:
    """The stored idempotency key: the caller's key in the API's namespace of the institution, so keys of
    different lenders, or of the web forms, never collide. RequestError for an unusable key."""
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isascii() or not key.isprintable() or " " in key:
        raise RequestError(f"the Idempotency-Key header must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII "
                           "characters without spaces")
    return f"api:{institution_id}:{key}"


def _by_key(key: str) -> LoanApplication | None:
    return db.session.scalar(select(LoanApplication).where(LoanApplication.idempotency_key == key))


def _replay(app: LoanApplication, customer: Customer, amount: Decimal, tenure: int,
            interest_rate: Decimal) -> LoanDecision:
    """The first result for a repeated key; 409 when the key was used for a different request."""
    if (app.customer_id, app.amount, app.tenure, app.interest_rate) != (customer.id, amount, tenure,
                                                                        interest_rate):
        raise DomainError("this Idempotency-Key was already used for a different request", 409)
    return _outcome(app)


def create_loan(customer: Customer, *, amount: Decimal, tenure: int, interest_rate: Decimal, actor, clock,
                idempotency_key: str | None = None) -> LoanDecision:
    """Seed 003's ``/create-loan``: apply for the term loan at ``interest_rate`` and decide at once by the
    eligibility rules; the approval sanctions and disburses the loan at the corrected rate on the business
    date, the refusal is a rejection whose note is the failed checks. Both are done by ``actor`` (the token's
    user) and audited.

    ``idempotency_key`` (the caller's ``Idempotency-Key``): a repeated key returns the first outcome and
    creates nothing; a key reused for a different request is a 409. Two concurrent requests with the same
    key: the second waits on the unique index, then returns the first one's outcome.
    Raises RequestError (400) for amounts or tenures outside the product.
    """
    key = scoped_key(customer.institution_id, idempotency_key)
    if key is not None:
        existing = _by_key(key)
        if existing is not None:
            return _replay(existing, customer, amount, tenure, interest_rate)
    product = term_product(customer.institution_id)
    _check_bounds(product, amount, tenure)
    try:
        with db.session.begin_nested():
            app = submit_application(customer, product, amount=amount, tenure=tenure, actor=actor,
                                     clock=clock, interest_rate=interest_rate, idempotency_key=key)
            return _decide(app, actor=actor, clock=clock)
    except IntegrityError:
        existing = _by_key(key) if key is not None else None
        if existing is None:
            raise
        return _replay(existing, customer, amount, tenure, interest_rate)
