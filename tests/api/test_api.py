"""Seed 003's JSON API (/api/v1) on PostgreSQL: exact field names and values, bearer-token auth, strict
bodies, institution scoping, exact JSON numbers and Idempotency-Key replays."""
from __future__ import annotations

import json
import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from portal.audit.models import AuditEvent
from portal.auth.models import ApiToken, Institution
from portal.auth.services import create_api_token
from portal.lending.models import Loan, LoanApplication
from portal.lending.schedule import emi
from portal.onboarding.models import Customer
from portal.onboarding.services import register_customer
from tests.factories import make_customer, make_loan, make_staff, term_product

API = "/api/v1"
LOAN_FIELDS = {"customer_id", "loan_amount", "interest_rate", "tenure"}


def body(response):
    """The response body with JSON numbers as exact Decimals (ints stay ints)."""
    return json.loads(response.get_data(), parse_float=Decimal)


def call(client, method: str, path: str, token: str | None = None, payload=None, raw: str | None = None,
         headers: dict | None = None):
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (None if payload is None else json.dumps(payload))
    return client.open(f"{API}{path}", method=method, data=data, headers=headers,
                       content_type="application/json" if data is not None else None)


@pytest.fixture
def officer(db):
    return make_staff("loan_officer")


@pytest.fixture
def token(db, officer):
    value = create_api_token(officer)
    db.session.commit()
    return value


@pytest.fixture
def customer(db):
    """A new customer without loans: score 40 (no history), slab 31-50, rates corrected up to 12 %."""
    c = make_customer(salary="50000", first_name="Asha", last_name="Rao", age=30, phone="9876543210")
    db.session.commit()
    return c


def person(**overrides):
    """A /register body."""
    return {"first_name": "A", "last_name": "B", "age": 30, "monthly_income": 50000,
            "phone_number": "9333333333", **overrides}


def loan_request(customer, **overrides):
    return {"customer_id": customer.id, "loan_amount": 250000, "interest_rate": 10, "tenure": 24, **overrides}


# ------------------------------------------------------------------------------------------------ register


def test_register_returns_the_customer_with_the_seed_003_limit(client, db, token, officer):
    response = call(client, "POST", "/register", token, person(first_name="Ravi", last_name="Kumar", age=41,
                                                               monthly_income=12500, phone_number=9123456780))
    assert response.status_code == 201, response.get_data(as_text=True)
    data = body(response)
    assert set(data) == {"customer_id", "name", "age", "monthly_income", "approved_limit", "phone_number"}
    assert data["name"] == "Ravi Kumar" and data["age"] == 41 and data["phone_number"] == "9123456780"
    assert data["monthly_income"] == Decimal("12500") and data["approved_limit"] == Decimal("500000")
    assert '"approved_limit": 500000.00' in response.get_data(as_text=True)
    customer = db.session.get(Customer, data["customer_id"])
    assert customer.source == "api" and customer.user_id is None
    assert customer.institution_id == officer.institution_id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.registered"))
    assert event.actor_id == officer.id


def test_register_accepts_a_numeric_string_income_and_5000_gives_two_lakh(client, token):
    response = call(client, "POST", "/register", token,
                    person(age=18, monthly_income="5000.00", phone_number="+919000000001"))
    assert response.status_code == 201
    assert body(response)["approved_limit"] == Decimal("200000")


def test_register_a_taken_phone_number_is_a_conflict(client, token, customer):
    response = call(client, "POST", "/register", token, person(phone_number="9876543210"))
    assert response.status_code == 409
    assert body(response) == {"error": "a customer with this phone number is already registered",
                              "status": 409}


# ------------------------------------------------------------------------------------------------ eligibility


def test_check_eligibility_for_a_new_customer_corrects_the_rate_to_the_slab_floor(client, token, customer):
    response = call(client, "POST", "/check-eligibility", token, loan_request(customer))
    assert response.status_code == 200
    assert body(response) == {"customer_id": customer.id, "approval": True, "interest_rate": Decimal("10"),
                              "corrected_interest_rate": Decimal("12"), "tenure": 24,
                              "monthly_installment": Decimal("11768.37")}
    raw = response.get_data(as_text=True)
    assert '"monthly_installment": 11768.37' in raw and '"corrected_interest_rate": 12.00' in raw
    assert response.mimetype == "application/json"


def test_check_eligibility_keeps_a_fractional_rate_exactly(client, token, customer):
    response = call(client, "POST", "/check-eligibility", token,
                    raw=f'{{"customer_id": {customer.id}, "loan_amount": 100000, "interest_rate": 12.5, '
                        '"tenure": 12}')
    assert response.status_code == 200
    data = body(response)
    assert data["interest_rate"] == data["corrected_interest_rate"] == Decimal("12.5")
    assert data["monthly_installment"] == emi(Decimal("100000"), Decimal("12.5"), 12)
    assert '"interest_rate": 12.50' in response.get_data(as_text=True)


def test_check_eligibility_refuses_when_the_emis_exceed_half_the_salary(client, db, token):
    poor = make_customer(salary="20000")
    db.session.commit()
    response = call(client, "POST", "/check-eligibility", token, loan_request(poor, interest_rate=12))
    assert response.status_code == 200
    assert body(response)["approval"] is False


def test_check_eligibility_of_an_unknown_customer_is_404(client, token):
    response = call(client, "POST", "/check-eligibility", token,
                    {"customer_id": 99999, "loan_amount": 100000, "interest_rate": 12, "tenure": 12})
    assert response.status_code == 404
    assert body(response) == {"error": "customer 99999 not found", "status": 404}


# ------------------------------------------------------------------------------------------------ create-loan


def test_create_loan_approves_at_the_corrected_rate(client, db, token, officer, customer):
    response = call(client, "POST", "/create-loan", token, loan_request(customer))
    assert response.status_code == 201, response.get_data(as_text=True)
    data = body(response)
    assert set(data) == {"loan_id", "customer_id", "loan_approved", "message", "monthly_installment"}
    assert data["loan_approved"] is True and data["customer_id"] == customer.id
    assert data["monthly_installment"] == emi(Decimal("250000"), Decimal("12"), 24) == Decimal("11768.37")
    assert "11768.37" in response.get_data(as_text=True)
    assert data["message"].startswith("Loan approved.") and "12.00%" in data["message"]
    loan = db.session.get(Loan, data["loan_id"])
    assert loan.customer_id == customer.id and loan.interest_rate == Decimal("12")
    assert loan.loan_amount == Decimal("250000") and len(loan.installments) == 24
    assert loan.disbursed_on == date(2026, 11, 23)
    assert loan.application.status == "disbursed" and loan.application.decided_by_id == officer.id
    assert loan.application.decision_note == "approved through the API"


def test_create_loan_refused_is_rejected_with_the_reasons(client, db, token, officer):
    poor = make_customer(salary="20000")
    db.session.commit()
    response = call(client, "POST", "/create-loan", token, loan_request(poor, interest_rate=12))
    assert response.status_code == 201
    data = body(response)
    assert data["loan_id"] is None and data["loan_approved"] is False
    assert data["message"].startswith("Loan not approved: Too much of the salary goes to EMIs")
    assert data["monthly_installment"] == Decimal("11768.37")
    app = db.session.scalar(select(LoanApplication).where(LoanApplication.customer_id == poor.id))
    assert app.status == "rejected" and app.decided_by_id == officer.id
    assert app.decision_note in data["message"]
    assert db.session.scalar(select(func.count(Loan.id))) == 0


def test_create_loan_outside_the_product_bounds_is_400(client, token, customer):
    response = call(client, "POST", "/create-loan", token, loan_request(customer, loan_amount=5000))
    assert response.status_code == 400
    assert "lends between" in body(response)["error"]
    response = call(client, "POST", "/create-loan", token, loan_request(customer, tenure=3))
    assert response.status_code == 400 and "6 to 120 months" in body(response)["error"]


def test_idempotency_key_replay_returns_the_first_loan_and_creates_nothing(client, db, token, customer):
    headers = {"Idempotency-Key": "order-42"}
    first = call(client, "POST", "/create-loan", token, loan_request(customer), headers=headers)
    again = call(client, "POST", "/create-loan", token,
                 raw=f'{{"customer_id": {customer.id}, "loan_amount": "250000.00", "interest_rate": 10.0, '
                     '"tenure": 24}', headers=headers)
    assert first.status_code == again.status_code == 201
    assert body(first) == body(again) and body(first)["loan_id"] is not None
    assert db.session.scalar(select(func.count(Loan.id))) == 1
    assert db.session.scalar(select(func.count(LoanApplication.id))) == 1
    other = call(client, "POST", "/create-loan", token, loan_request(customer, tenure=36), headers=headers)
    assert other.status_code == 409
    assert "Idempotency-Key" in body(other)["error"]
    assert db.session.scalar(select(func.count(LoanApplication.id))) == 1


def test_without_a_key_each_request_is_a_new_application(client, db, token, customer):
    call(client, "POST", "/create-loan", token, loan_request(customer, loan_amount=100000))
    call(client, "POST", "/create-loan", token, loan_request(customer, loan_amount=100000))
    assert db.session.scalar(select(func.count(LoanApplication.id))) == 2


def test_a_bad_idempotency_key_is_400(client, token, customer):
    response = call(client, "POST", "/create-loan", token, loan_request(customer),
                    headers={"Idempotency-Key": "x" * 65})
    assert response.status_code == 400 and "Idempotency-Key" in body(response)["error"]


def test_a_concurrent_retry_waits_for_the_first_request_and_returns_its_outcome(app, client, db, token,
                                                                               officer, customer):
    """The first request holds the key uncommitted; the retry blocks on the unique index, then replays."""
    key = f"api:{officer.institution_id}:retry-1"
    product_id = term_product().id
    with db.engine.connect() as conn:
        first = Session(bind=conn)
        first.add(LoanApplication(institution_id=customer.institution_id, customer_id=customer.id,
                                  product_id=product_id, amount=Decimal("250000"), tenure=24,
                                  interest_rate=Decimal("10"), status="rejected", decision_note="first wins",
                                  idempotency_key=key))
        first.flush()
        result = {}
        payload = loan_request(customer)

        def retry():
            result["response"] = call(app.test_client(), "POST", "/create-loan", token, payload,
                                      headers={"Idempotency-Key": "retry-1"})

        thread = threading.Thread(target=retry)
        thread.start()
        deadline = time.monotonic() + 10
        waiting = 0
        while time.monotonic() < deadline and not waiting and thread.is_alive():
            time.sleep(0.05)
            with db.engine.connect() as probe:
                waiting = probe.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                                            "'Lock' AND datname = current_database()"))
        assert waiting, "the retry never waited on the first request's row"
        first.commit()
        thread.join(10)
    data = body(result["response"])
    assert result["response"].status_code == 201
    assert data["loan_approved"] is False and data["message"] == "Loan not approved: first wins"
    db.session.expire_all()
    assert db.session.scalar(select(func.count(LoanApplication.id))) == 1
    assert db.session.scalar(select(func.count(Loan.id))) == 0


# ------------------------------------------------------------------------------------------------ view


def test_view_loan(client, db, token, customer):
    loan = make_loan(customer, amount="100000", rate="12", tenure=12, emi="8884.88")
    db.session.commit()
    response = call(client, "GET", f"/view-loan/{loan.id}", token)
    assert response.status_code == 200
    assert body(response) == {
        "loan_id": loan.id,
        "customer": {"id": customer.id, "first_name": "Asha", "last_name": "Rao",
                     "phone_number": "9876543210", "age": 30},
        "loan_amount": Decimal("100000"), "interest_rate": Decimal("12"),
        "monthly_installment": Decimal("8884.88"), "tenure": 12,
    }
    assert '"monthly_installment": 8884.88' in response.get_data(as_text=True)


def test_view_loans_lists_the_customers_loans_with_repayments_left(client, db, token, customer):
    old = make_loan(customer, amount="60000", rate="14", tenure=12, emi="5387.35", paid_on_time=10,
                    approved_on=date(2023, 3, 1))
    running = make_loan(customer, amount="100000", rate="12", tenure=24, emi="4707.35", paid_on_time=5,
                        approved_on=date(2026, 5, 1))
    db.session.commit()
    created = body(call(client, "POST", "/create-loan", token,
                        loan_request(customer, loan_amount=100000, interest_rate=12)))
    response = call(client, "GET", f"/view-loans/{customer.id}", token)
    assert response.status_code == 200
    assert body(response) == [
        {"loan_id": old.id, "loan_amount": Decimal("60000"), "interest_rate": Decimal("14"),
         "monthly_installment": Decimal("5387.35"), "repayments_left": 2},
        {"loan_id": running.id, "loan_amount": Decimal("100000"), "interest_rate": Decimal("12"),
         "monthly_installment": Decimal("4707.35"), "repayments_left": 19},
        {"loan_id": created["loan_id"], "loan_amount": Decimal("100000"), "interest_rate": Decimal("12"),
         "monthly_installment": created["monthly_installment"], "repayments_left": 24},
    ]


def test_view_loans_of_a_customer_without_loans_is_an_empty_list(client, token, customer):
    response = call(client, "GET", f"/view-loans/{customer.id}", token)
    assert response.status_code == 200 and body(response) == []


@pytest.mark.parametrize("path, message", [("/view-loan/99999", "loan 99999 not found"),
                                           ("/view-loans/99999", "customer 99999 not found")])
def test_unknown_ids_are_404(client, token, path, message):
    response = call(client, "GET", path, token)
    assert response.status_code == 404
    assert body(response) == {"error": message, "status": 404}


def test_another_institutions_customers_and_loans_are_404(client, db, token):
    other = Institution(slug="other", name="Other Lender")
    db.session.add(other)
    db.session.flush()
    stranger = register_customer(first_name="X", last_name="Y", age=40, phone_number="9000000099",
                                 monthly_salary=Decimal("90000"), institution=other, source="api")
    loan = make_loan(stranger)
    db.session.commit()
    assert call(client, "GET", f"/view-loan/{loan.id}", token).status_code == 404
    assert call(client, "GET", f"/view-loans/{stranger.id}", token).status_code == 404
    for path in ("/check-eligibility", "/create-loan"):
        assert call(client, "POST", path, token, loan_request(stranger)).status_code == 404
    assert db.session.scalar(select(func.count(LoanApplication.id))) == 0


# ------------------------------------------------------------------------------------------------ auth


BAD_AUTHORIZATION = [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer ", "Bearer", "Bearer a b"]


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION)
def test_missing_or_bad_tokens_are_401(client, customer, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = call(client, "GET", f"/view-loans/{customer.id}", headers=headers)
    assert response.status_code == 401
    assert body(response)["status"] == 401 and body(response)["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_401(client, db, token, customer):
    db.session.scalar(select(ApiToken)).revoked = True
    db.session.commit()
    assert call(client, "GET", f"/view-loans/{customer.id}", token).status_code == 401


def test_a_good_token_records_its_last_use(client, db, token, customer):
    assert call(client, "GET", f"/view-loans/{customer.id}", token).status_code == 200
    db.session.expire_all()
    assert db.session.scalar(select(ApiToken)).last_used_at is not None


def test_a_customer_token_is_403(client, db, customer):
    customer_token = create_api_token(customer.user)
    db.session.commit()
    response = call(client, "GET", f"/view-loans/{customer.id}", customer_token)
    assert response.status_code == 403 and body(response)["status"] == 403
    response = call(client, "POST", "/register", customer_token, person())
    assert response.status_code == 403


def test_a_role_without_api_access_is_403(client, db, customer):
    support_token = create_api_token(make_staff("support"))
    db.session.commit()
    assert call(client, "GET", f"/view-loans/{customer.id}", support_token).status_code == 403


def test_an_admin_may_read_but_not_decide_loans(client, db, customer):
    admin_token = create_api_token(make_staff("admin"))
    db.session.commit()
    assert call(client, "GET", f"/view-loans/{customer.id}", admin_token).status_code == 200
    assert call(client, "POST", "/create-loan", admin_token, loan_request(customer)).status_code == 403


def test_a_browser_session_does_not_authenticate_the_api(client, login_as, officer, customer):
    login_as(officer)
    assert call(client, "GET", f"/view-loans/{customer.id}").status_code == 401
    response = call(client, "POST", "/register", payload=person())
    assert response.status_code == 401


# ------------------------------------------------------------------------------------------------ bad bodies


@pytest.mark.parametrize("raw, fragment", [
    ('{"customer_id": 1, "loan_amount": ', "not valid JSON"),
    ("", "must be a JSON object"),
    ("[1, 2]", "must be a JSON object, not an array"),
    ('"text"', "must be a JSON object, not a string"),
    ('{"customer_id": 1, "loan_amount": NaN, "interest_rate": 12, "tenure": 12}', "not valid JSON"),
    ('{"customer_id": 1, "customer_id": 2, "loan_amount": 1, "interest_rate": 12, "tenure": 12}',
     "duplicate field 'customer_id'"),
    (b'\xff\xfe{', "not valid JSON"),
])
def test_malformed_bodies_are_400(client, token, raw, fragment):
    response = call(client, "POST", "/check-eligibility", token, raw=raw)
    assert response.status_code == 400
    data = body(response)
    assert data["status"] == 400 and fragment in data["error"]


@pytest.mark.parametrize("overrides, fragment", [
    ({"tenure": None}, "tenure must be a whole number"),
    ({"tenure": True}, "tenure must be a whole number"),
    ({"tenure": "12"}, "tenure must be a whole number"),
    ({"tenure": 0}, "tenure must be between 1 and 600"),
    ({"tenure": 601}, "tenure must be between 1 and 600"),
    ({"loan_amount": -5000}, "loan_amount must be a positive amount"),
    ({"loan_amount": 0}, "loan_amount must be a positive amount"),
    ({"loan_amount": "lots"}, "loan_amount must be a number"),
    ({"loan_amount": "1e5"}, "loan_amount must be a number"),
    ({"loan_amount": False}, "loan_amount must be a number"),
    ({"loan_amount": [100]}, "loan_amount must be a number"),
    ({"interest_rate": 101}, "interest_rate must be between 0 and 100"),
    ({"interest_rate": -1}, "interest_rate must be between 0 and 100"),
    ({"customer_id": "1"}, "customer_id must be a whole number"),
    ({"extra": 1}, "unknown field: extra"),
])
def test_wrong_values_are_400_naming_the_field(client, token, customer, overrides, fragment):
    response = call(client, "POST", "/check-eligibility", token, loan_request(customer, **overrides))
    assert response.status_code == 400
    assert fragment in body(response)["error"]


@pytest.mark.parametrize("raw, fragment", [
    ('"tenure": 12.5', "tenure must be a whole number"),
    ('"tenure": 12.0', "tenure must be a whole number"),
    ('"loan_amount": 100000.005', "loan_amount must have at most 2 decimal places"),
    ('"loan_amount": 1e400', "loan_amount must be at most"),
])
def test_fractional_numbers_where_they_do_not_belong_are_400(client, token, customer, raw, fragment):
    fields = {"customer_id": str(customer.id), "loan_amount": "250000", "interest_rate": "12", "tenure": "24"}
    name = raw.split('"')[1]
    fields[name] = raw.split(": ", 1)[1]
    text_body = "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"
    response = call(client, "POST", "/check-eligibility", token, raw=text_body)
    assert response.status_code == 400
    assert fragment in body(response)["error"]


def test_missing_fields_are_named(client, token, customer):
    payload = {"customer_id": customer.id, "loan_amount": 100000}
    response = call(client, "POST", "/create-loan", token, payload)
    assert response.status_code == 400
    assert body(response)["error"] == "missing fields: interest_rate, tenure"


@pytest.mark.parametrize("overrides, fragment", [
    ({"age": "abc"}, "age must be a whole number"),
    ({"age": 17}, "age must be between 18 and 100"),
    ({"first_name": "  "}, "first_name must not be blank"),
    ({"last_name": 7}, "last_name must be a string"),
    ({"phone_number": "call me"}, "phone_number must be 7 to 15 digits"),
    ({"monthly_income": -1}, "monthly_income must be a positive amount"),
])
def test_register_validates_each_field(client, db, token, overrides, fragment):
    response = call(client, "POST", "/register", token, person(**overrides))
    assert response.status_code == 400
    assert fragment in body(response)["error"]
    assert db.session.scalar(select(func.count(Customer.id))) == 0


def test_wrong_method_and_unknown_path_are_json(client, token):
    response = call(client, "GET", "/register", token)
    assert response.status_code == 405 and body(response)["status"] == 405
    response = call(client, "GET", "/nowhere", token)
    assert response.status_code == 404 and body(response)["status"] == 404
