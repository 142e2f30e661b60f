"""The OpenAPI 3.1 document of the JSON API, served at ``GET /api/v1/openapi.json`` (no token needed).

It covers every route of the ``api`` blueprint (a test checks that each URL rule has a path here): seed 003's
endpoints (register, check-eligibility, create-loan, view-loan, view-loans) and the scoring endpoint.
"""
from __future__ import annotations

from flask import current_app

from portal.api.views import bp

VERSION = "1.0.0"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


MONEY = {"type": "number", "description": "Rupees, exact (at most 2 decimal places)", "examples": [11768.37]}
RATE = {"type": "number", "description": "Percent per annum", "examples": [12.5]}
NUMBER = {"type": "number", "description": "An exact number (JSON numbers are read as decimals, never floats)"}


def document() -> dict:
    """The OpenAPI document (a plain dict)."""
    schemas = {
        "Error": {"type": "object", "required": ["error", "status"], "properties": {
            "error": {"type": "string"}, "status": {"type": "integer"}}},
        "RegisterRequest": {"type": "object", "additionalProperties": False,
                            "required": ["first_name", "last_name", "age", "monthly_income", "phone_number"],
                            "properties": {
                                "first_name": {"type": "string", "maxLength": 100},
                                "last_name": {"type": "string", "maxLength": 100},
                                "age": {"type": "integer", "minimum": 18, "maximum": 100},
                                "monthly_income": MONEY,
                                "phone_number": {"oneOf": [{"type": "integer"}, {"type": "string",
                                                                                  "pattern": r"^\+?[0-9]{7,15}$"}]}}},
        "RegisterResponse": {"type": "object", "properties": {
            "customer_id": {"type": "integer"}, "name": {"type": "string"}, "age": {"type": "integer"},
            "monthly_income": MONEY, "approved_limit": {**MONEY, "description": "36 x monthly income, to the lakh"},
            "phone_number": {"type": "string"}}},
        "LoanRequest": {"type": "object", "additionalProperties": False,
                        "required": ["customer_id", "loan_amount", "interest_rate", "tenure"], "properties": {
                            "customer_id": {"type": "integer", "minimum": 1}, "loan_amount": MONEY,
                            "interest_rate": RATE, "tenure": {"type": "integer", "minimum": 1, "maximum": 600,
                                                              "description": "Months"}}},
        "EligibilityResponse": {"type": "object", "properties": {
            "customer_id": {"type": "integer"}, "approval": {"type": "boolean"}, "interest_rate": RATE,
            "corrected_interest_rate": {**RATE, "description": "The slab floor (12 or 16) when the rate is below it"},
            "tenure": {"type": "integer"}, "monthly_installment": MONEY}},
        "CreateLoanResponse": {"type": "object", "properties": {
            "loan_id": {"type": ["integer", "null"]}, "customer_id": {"type": "integer"},
            "loan_approved": {"type": "boolean"}, "message": {"type": "string"},
            "monthly_installment": {**MONEY, "type": ["number", "null"]}}},
        "LoanDetail": {"type": "object", "properties": {
            "loan_id": {"type": "integer"},
            "customer": {"type": "object", "properties": {
                "id": {"type": "integer"}, "first_name": {"type": "string"}, "last_name": {"type": "string"},
                "phone_number": {"type": "string"}, "age": {"type": ["integer", "null"]}}},
            "loan_amount": MONEY, "interest_rate": RATE, "monthly_installment": MONEY, "tenure": {"type": "integer"}}},
        "LoanItem": {"type": "object", "properties": {
            "loan_id": {"type": "integer"}, "loan_amount": MONEY, "interest_rate": RATE,
            "monthly_installment": MONEY, "repayments_left": {"type": "integer"}}},
        "ScoreRequest": {
            "type": "object", "additionalProperties": False,
            "description": "Exactly one of features, customer_id or savings_user.",
            "properties": {
                "features": {"type": "object", "additionalProperties": NUMBER,
                             "description": "Feature values by name (the scorecard's declared features; every "
                                            "feature its rules use must be present)",
                             "examples": [{"balance": 568450}]},
                "customer_id": {"type": "integer", "minimum": 1,
                                "description": "Score a customer of your institution from the book"},
                "savings_user": {"type": "string", "maxLength": 64,
                                 "description": "Score a savings account (the transactions CSV's user id)"},
                "reference": {"type": "string", "maxLength": 100,
                              "description": "Your reference, kept on the stored result"}},
            "oneOf": [{"required": ["features"]}, {"required": ["customer_id"]}, {"required": ["savings_user"]}]},
        "Contribution": {"type": "object", "properties": {
            "name": {"type": "string"}, "expression": {"type": "string"},
            "value": {"description": "The expression's value (boolean for a condition, number otherwise)"},
            "points": NUMBER, "note": {"type": "string"},
            "error": {"type": ["string", "null"], "description": "e.g. division by zero (the rule then adds 0)"}}},
        "ScoreResponse": {"type": "object", "properties": {
            "scorecard": {"type": "string"}, "version": {"type": "integer"},
            "builtin_version": {"type": "boolean"},
            "score": {"type": "integer"}, "band": {"type": "string", "examples": ["AA", "A", "B", "C", "D"]},
            "approve": {"type": "boolean", "description": "The band is an approving band"},
            "score_range": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
            "base": {"type": "integer"}, "raw_score": NUMBER, "clamped": {"type": "boolean"},
            "contributions": {"type": "array", "items": _ref("Contribution")},
            "features": {"type": "object", "additionalProperties": NUMBER},
            "subject": {"type": "string"}, "as_of": {"type": "string", "format": "date"},
            "result_id": {"type": "integer"}}},
    }
    responses = {f"E{code}": _json(_ref("Error"), text) for code, text in (
        (400, "Malformed body or a value outside its range"), (401, "No, malformed, unknown or revoked token"),
        (403, "The token's role may not do this"), (404, "Unknown id, or another lender's"),
        (409, "Conflict (see the message)"), (422, "Refused by a business rule (see the message)"))}
    secured = [{"bearer": []}]

    def op(summary: str, ok: dict, *errors: int, body: str | None = None, params: list | None = None,
           description: str | None = None, headers: list | None = None) -> dict:
        operation = {"summary": summary, "security": secured, "responses": {**ok, **{
            str(c): {"$ref": f"#/components/responses/E{c}"} for c in (401, 403, *errors)}}}
        if description:
            operation["description"] = description
        if body:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
        if params or headers:
            operation["parameters"] = (params or []) + (headers or [])
        return operation

    def path_param(name: str, schema: dict, description: str) -> dict:
        return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}

    idempotency = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                   "description": "Replays the first response for a repeated key; 409 if reused for another body"}
    paths = {
        "/register": {"post": op("Register a customer (seed 003)", {"201": _json(_ref("RegisterResponse"),
                                                                                 "Registered")},
                                 400, 409, body="RegisterRequest")},
        "/check-eligibility": {"post": op("Check loan eligibility (seed 003 rules)",
                                          {"200": _json(_ref("EligibilityResponse"), "The eligibility")},
                                          400, 404, body="LoanRequest")},
        "/create-loan": {"post": op("Apply, decide and (if eligible) sanction and disburse a loan",
                                    {"201": _json(_ref("CreateLoanResponse"), "The decision")},
                                    400, 404, 409, body="LoanRequest", headers=[idempotency])},
        "/view-loan/{loan_id}": {"get": op("A loan with its customer", {"200": _json(_ref("LoanDetail"), "The loan")},
                                           404, params=[path_param("loan_id", {"type": "integer"}, "Loan id")])},
        "/view-loans/{customer_id}": {"get": op(
            "The loans of a customer", {"200": _json({"type": "array", "items": _ref("LoanItem")}, "The loans")},
            404, params=[path_param("customer_id", {"type": "integer"}, "Customer id")])},
        "/scorecards/{slug}/score": {"post": op(
            "Score a subject with the current version of a scorecard",
            {"200": _json(_ref("ScoreResponse"), "The score, band and per-rule contributions (stored)")},
            400, 404, 409, 422, body="ScoreRequest",
            params=[path_param("slug", {"type": "string"}, "Scorecard slug: loan-history, savings-balance or "
                                                           "one of your institution's")],
            description="Built-ins: loan-history (seed 003, 0-100, features on_time_points, past_loans_points, "
                        "current_year_points, volume_points, current_loans_total, approved_limit, ...) and "
                        "savings-balance (seed 004, 300-900, feature balance: {\"balance\": 568450} scores 610). "
                        "Every call stores a score result with the version and contributions.")},
        "/payments/webhook": {"post": {
            "summary": "The payment gateway's event (signed; no token)", "security": [],
            "description": "X-Signature is sha256=<hex HMAC-SHA256 of the raw body with the webhook secret>; "
                           "X-Timestamp (Unix seconds) older than 5 minutes is refused. A repeated event_id "
                           "answers {\"status\": \"duplicate\"} and changes nothing.",
            "parameters": [{"name": "X-Signature", "in": "header", "required": True, "schema": {"type": "string"}},
                           {"name": "X-Timestamp", "in": "header", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["event_id", "gateway_ref", "status", "amount"], "properties": {
                    "event_id": {"type": "string", "maxLength": 80}, "gateway_ref": {"type": "string"},
                    "status": {"enum": ["succeeded", "failed"]},
                    "amount": {"oneOf": [{"type": "string"}, MONEY]}}}}}},
            "responses": {
                "200": _json({"type": "object", "properties": {"status": {"type": "string"},
                                                               "payment_id": {"type": "integer"}}},
                             "Applied, failed, or a duplicate event"),
                "400": {"$ref": "#/components/responses/E400"},
                "401": _json(_ref("Error"), "Bad or missing signature, or a missing or stale timestamp"),
                "404": _json(_ref("Error"), "Unknown gateway_ref"),
                "422": _json(_ref("Error"), "The amount does not match the initiated payment")}}},
        "/openapi.json": {"get": {"summary": "This document", "security": [],
                                  "responses": {"200": {"description": "OpenAPI 3.1 document",
                                                        "content": {"application/json": {}}}}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Credit Lifecycle Portal API", "version": VERSION,
                 "description": "JSON API of the portal. Authenticate with `Authorization: Bearer <token>` "
                                "(`flask --app wsgi create-api-token --email E`). Everything is scoped to the "
                                "token user's institution. JSON numbers are read and written as exact decimals."},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": schemas, "responses": responses,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


@bp.get("/openapi.json")
def openapi_json():
    import json

    return current_app.response_class(json.dumps(document(), indent=1), mimetype="application/json")
