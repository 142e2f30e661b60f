"""Seed 003's JSON API under /api/v1, with the Alemeno assignment's exact field names.

Authenticated by a bearer token of a staff user (``flask --app wsgi create-api-token --email E``), never by
the session cookie; CSRF-exempt for that reason. Everything is scoped to the token user's institution.

    POST /register               201  {customer_id, name, age, monthly_income, approved_limit, phone_number}
    POST /check-eligibility      200  {customer_id, approval, interest_rate, corrected_interest_rate, tenure,
                                       monthly_installment}
    POST /create-loan            201  {loan_id, customer_id, loan_approved, message, monthly_installment}
    GET  /view-loan/<loan_id>    200  {loan_id, customer: {id, first_name, last_name, phone_number, age},
                                       loan_amount, interest_rate, monthly_installment, tenure}
    GET  /view-loans/<cust_id>   200  [{loan_id, loan_amount, interest_rate, monthly_installment,
                                        repayments_left}, ...]

Errors are ``{"error": message, "status": code}``: 400 malformed body or a value outside its range (also an
amount or tenure outside the TL-PERSONAL product), 401 no or bad token, 403 a role without API access (and,
for create-loan, without the right to decide applications), 404 unknown or another lender's id, 409 a phone
number already registered or an Idempotency-Key reused for another request.
"""
from flask import Blueprint, request

from portal.api import schemas, services
from portal.api.auth import api_auth, api_user
from portal.clock import clock
from portal.extensions import db
from portal.onboarding.services import register_customer
from portal.security import Perm

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.post("/register")
@api_auth()
def register():
    data = schemas.parse_body(schemas.REGISTER)
    user = api_user()
    customer = register_customer(first_name=data["first_name"], last_name=data["last_name"], age=data["age"],
                                 phone_number=data["phone_number"], monthly_salary=data["monthly_income"],
                                 actor=user, institution=user.institution, source="api")
    db.session.commit()
    return schemas.json_response(schemas.registered_customer(customer), 201)


@bp.post("/check-eligibility")
@api_auth()
def check_eligibility():
    data = schemas.parse_body(schemas.LOAN_REQUEST)
    customer = services.get_customer(data["customer_id"], institution_id=api_user().institution_id)
    assessment = services.check_eligibility(customer, amount=data["loan_amount"], tenure=data["tenure"],
                                            interest_rate=data["interest_rate"], clock=clock())
    db.session.commit()
    return schemas.json_response(schemas.eligibility(customer, assessment))


@bp.post("/create-loan")
@api_auth(Perm.DECIDE_APPLICATIONS)
def create_loan():
    data = schemas.parse_body(schemas.LOAN_REQUEST)
    customer = services.get_customer(data["customer_id"], institution_id=api_user().institution_id)
    decision = services.create_loan(customer, amount=data["loan_amount"], tenure=data["tenure"],
                                    interest_rate=data["interest_rate"], actor=api_user(), clock=clock(),
                                    idempotency_key=request.headers.get("Idempotency-Key"))
    db.session.commit()
    return schemas.json_response(schemas.loan_decision(decision), 201)


@bp.get("/view-loan/<int:loan_id>")
@api_auth()
def view_loan(loan_id: int):
    loan = services.get_loan(loan_id, institution_id=api_user().institution_id)
    body = schemas.loan_detail(loan, loan.customer)
    db.session.commit()
    return schemas.json_response(body)


@bp.get("/view-loans/<int:customer_id>")
@api_auth()
def view_loans(customer_id: int):
    customer = services.get_customer(customer_id, institution_id=api_user().institution_id)
    as_of = services.business_date(customer.institution_id, clock())
    body = [schemas.loan_item(loan, as_of) for loan in services.customer_loans(customer)]
    db.session.commit()
    return schemas.json_response(body)
