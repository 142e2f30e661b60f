"""POST /api/v1/scorecards/<slug>/score (bearer token) and GET /api/v1/openapi.json."""
from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.auth.models import Institution
from portal.auth.services import create_api_token
from portal.lending import rules
from portal.lending.models import Loan
from portal.lending.services import past_loan
from portal.onboarding.models import Customer
from portal.scoring.models import SavingsAccount, ScoreResult
from tests.factories import make_customer, make_staff

API = "/api/v1"


@pytest.fixture
def token(db):
    user = make_staff("loan_officer")
    value = create_api_token(user, name="test", actor="cli")
    db.session.commit()
    return value


def score(client, slug, payload, token=None, raw=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(f"{API}/scorecards/{slug}/score", data=raw if raw is not None else json.dumps(payload),
                       headers=headers, content_type="application/json")


def body(response):
    return json.loads(response.get_data(), parse_float=Decimal)


def test_savings_balance_from_features(client, db, token):
    response = score(client, "savings-balance", {"features": {"balance": 568450}, "reference": "app-17"}, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    data = body(response)
    assert (data["scorecard"], data["version"], data["score"], data["band"], data["approve"]) == (
        "savings-balance", 1, 610, "B", True)
    assert data["score_range"] == [300, 900] and data["base"] == 300 and data["builtin_version"] is True
    assert [c["points"] for c in data["contributions"]] == [0, 310]
    assert data["features"] == {"balance": 568450} and data["subject"] == "app-17"
    stored = db.session.get(ScoreResult, data["result_id"])
    assert (stored.score, stored.band, stored.purpose, stored.subject_ref) == (610, "B", "api", "app-17")
    assert stored.contributions[1]["points"] == 310


def test_decimal_features_are_exact(client, db, token):
    data = body(score(client, "savings-balance", {"features": {"balance": 114999.99}}, token))
    assert data["score"] == 300 and data["features"]["balance"] == Decimal("114999.99")
    assert body(score(client, "savings-balance", {"features": {"balance": 115000.00}}, token))["score"] == 310


def test_loan_history_for_a_customer_equals_credit_score(client, db, token, book):
    as_of = date(2026, 11, 23)
    for customer_id in (1, 14, 150, 300):
        customer = db.session.get(Customer, customer_id)
        loans = [past_loan(ln) for ln in db.session.scalars(select(Loan).where(Loan.customer_id == customer_id))]
        expected = rules.credit_score(loans, customer.approved_limit, as_of).score
        data = body(score(client, "loan-history", {"customer_id": customer_id}, token))
        assert data["score"] == expected and data["subject"] == f"customer:{customer_id}"
        assert data["as_of"] == "2026-11-23" and len(data["contributions"]) == 5


def test_a_savings_user_and_a_linked_customer(client, db, token, transactions):
    account = db.session.scalar(select(SavingsAccount).order_by(SavingsAccount.id))
    data = body(score(client, "savings-balance", {"savings_user": account.external_user}, token))
    assert 300 <= data["score"] <= 900 and data["subject"] == f"savings:{account.external_user}"
    customer = make_customer()
    db.session.commit()
    refused = score(client, "savings-balance", {"customer_id": customer.id}, token)
    assert refused.status_code == 422 and "no linked savings" in body(refused)["error"]
    from portal.scoring.savings import link_customer

    link_customer(account, customer, actor="cli")
    db.session.commit()
    linked = body(score(client, "savings-balance", {"customer_id": customer.id}, token))
    assert linked["score"] == data["score"]


@pytest.mark.parametrize(("payload", "status", "message"), [
    ({}, 400, "exactly one of"),
    ({"features": {"balance": 1}, "customer_id": 1}, 400, "exactly one of"),
    ({"features": {}}, 400, "non-empty"),
    ({"features": {"balanse": 1}}, 400, "unknown features: balanse"),
    ({"features": {"balance": "1"}}, 400, "features.balance must be a number"),
    ({"features": {"balance": True}}, 400, "must be a number"),
    ({"features": {"total_credit": 5}}, 400, "missing features: balance"),
    ({"features": {"balance": 1}, "extra": 1}, 400, "unknown field: extra"),
    ({"customer_id": "7"}, 400, "customer_id must be a whole number"),
    ({"customer_id": 999999}, 404, "no such customer"),
    ({"savings_user": "nobody"}, 404, "no such customer"),
    ([1, 2], 400, "JSON object"),
])
def test_bad_requests(client, db, token, payload, status, message):
    response = score(client, "savings-balance", payload, token)
    assert response.status_code == status and message in body(response)["error"]


def test_unknown_scorecard_auth_and_non_json(client, db, token):
    assert score(client, "no-such-card", {"features": {"balance": 1}}, token).status_code == 404
    assert score(client, "savings-balance", {"features": {"balance": 1}}).status_code == 401
    assert score(client, "savings-balance", None, token, raw="{not json").status_code == 400
    assert score(client, "savings-balance", {"features": {"balance": 1}}, "wrong-token").status_code == 401


def test_another_institutions_scorecard_is_not_found(client, db, token):
    from portal.scoring.services import create_scorecard

    other = Institution(slug="other", name="Other")
    db.session.add(other)
    db.session.flush()
    create_scorecard(institution_id=other.id, slug="private-card", name="Private", source="savings",
                     min_score=300, max_score=900, actor="cli")
    db.session.commit()
    response = score(client, "private-card", {"features": {"balance": 1}}, token)
    assert response.status_code == 404


def test_a_scorecard_without_a_published_version_is_409(client, db, token):
    from portal.scoring.services import create_scorecard

    create_scorecard(institution_id=1, slug="new-card", name="New", source="savings", min_score=300,
                     max_score=900, actor="cli")
    db.session.commit()
    assert score(client, "new-card", {"features": {"balance": 1}}, token).status_code == 409


def test_the_openapi_document_covers_every_api_route(client, app):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["openapi"].startswith("3.") and doc["servers"] == [{"url": "/api/v1"}]
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix(API))
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
    assert routes and routes <= documented, routes - documented
    for path in ("/register", "/check-eligibility", "/create-loan", "/view-loan/{loan_id}",
                 "/view-loans/{customer_id}", "/scorecards/{slug}/score"):
        assert path in doc["paths"]
    # every $ref resolves
    text = json.dumps(doc)
    for ref in re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', text):
        assert ref[1] in doc["components"][ref[0]], ref
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
