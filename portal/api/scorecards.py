"""Scoring API: ``POST /api/v1/scorecards/<slug>/score`` (bearer token, like the rest of /api/v1).

The body names exactly one subject:

* ``{"features": {"balance": 568450}}``: score the given features (numbers; names from the scorecard's
  declared features; every feature the rules use must be present);
* ``{"customer_id": 12}``: score a customer of the token's institution from the book (loan-history features,
  or the savings features of the customer's linked savings account);
* ``{"savings_user": "<uuid>"}``: score a savings account (the transactions CSV's ``user``).

Optional ``"reference"`` (a string up to 100 characters) is kept on the stored result as the subject. Every
call stores a ScoreResult (``purpose="api"``) with the version, features, score, band and per-rule
contributions, and answers ``{scorecard, version, score, band, approve, ..., contributions}``.
Errors: 400 malformed body, unknown or missing features; 401/403 token; 404 unknown scorecard, customer or
savings user (or another lender's); 409 no published version.
"""
from __future__ import annotations

from decimal import Decimal

from flask import request

from portal.api import schemas
from portal.api.auth import api_auth, api_user
from portal.api.views import bp
from portal.business_date import current_business_date
from portal.clock import clock
from portal.extensions import db
from portal.scoring import engine, services
from portal.scoring.features import SOURCES

SUBJECT_FIELDS = ("features", "customer_id", "savings_user")
MAX_FEATURES = 100


def _number(name: str, value: object):
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise schemas.RequestError(f"features.{name} must be a number")
    if isinstance(value, Decimal) and not value.is_finite():
        raise schemas.RequestError(f"features.{name} must be a finite number")
    if abs(value) > Decimal(10) ** 15:
        raise schemas.RequestError(f"features.{name} is too large")
    return value


def parse_score_request(data: object, source: str) -> dict:
    """Check the body (RequestError, 400): an object with exactly one subject field and an optional reference."""
    if not isinstance(data, dict):
        raise schemas.RequestError("the request body must be a JSON object")
    unknown = sorted(set(data) - {*SUBJECT_FIELDS, "reference"})
    if unknown:
        raise schemas.RequestError(f"unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    given = [f for f in SUBJECT_FIELDS if f in data]
    if len(given) != 1:
        raise schemas.RequestError("give exactly one of features, customer_id or savings_user")
    out: dict = {"reference": schemas.text(100)("reference", data["reference"]) if "reference" in data else None}
    field = given[0]
    if field == "features":
        values = data["features"]
        if not isinstance(values, dict) or not values:
            raise schemas.RequestError("features must be a non-empty JSON object of numbers")
        if len(values) > MAX_FEATURES:
            raise schemas.RequestError(f"at most {MAX_FEATURES} features")
        declared = {f["name"] for f in SOURCES[source]}
        extra = sorted(set(values) - declared)
        if extra:
            raise schemas.RequestError(f"unknown features: {', '.join(extra)} (this scorecard knows "
                                       f"{', '.join(sorted(declared))})")
        out["features"] = {name: _number(name, value) for name, value in values.items()}
    elif field == "customer_id":
        out["customer_id"] = schemas.whole(1, 2**31 - 1)("customer_id", data["customer_id"])
    else:
        out["savings_user"] = schemas.text(64)("savings_user", data["savings_user"])
    return out


def score_body(version, outcome: engine.ScoreOutcome, result, values: dict) -> dict:
    return {
        "scorecard": version.scorecard.slug, "version": version.number,
        "builtin_version": version.scorecard.institution_id is None,
        "score": outcome.score, "band": outcome.band, "approve": outcome.approve,
        "score_range": [version.min_score, version.max_score], "base": outcome.base,
        "raw_score": _exact(outcome.raw_score), "clamped": outcome.clamped,
        "contributions": [{"name": c.name, "expression": c.expression, "value": _exact(c.value),
                           "points": _exact(c.points), "note": c.note, "error": c.error}
                          for c in outcome.contributions],
        "features": {k: _exact(engine.coerce_feature(v)) for k, v in values.items()},
        "subject": result.subject_ref, "as_of": result.as_of.isoformat(), "result_id": result.id,
    }


def _exact(value):
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value.normalize()
    return str(value)


@bp.post("/scorecards/<slug>/score")
@api_auth()
def score(slug: str):
    user = api_user()
    institution_id = user.institution_id
    card = services.resolve_scorecard(slug, institution_id=institution_id)
    body = parse_score_request(schemas.read_json(request.get_data(cache=True)), card.source)
    version = services.current_version(card, institution_id=institution_id)
    as_of = current_business_date(institution_id, clock())
    if "features" in body:
        values = body["features"]
        try:
            outcome = services.compiled(version).score(values)
        except engine.MissingFeatures as exc:
            raise schemas.RequestError(str(exc)) from None
        result = services.score_subject(version, services.Subject(body["reference"] or "api", "api"),
                                        institution_id=institution_id, as_of=as_of, purpose="api", actor=user,
                                        feature_values=values)
    else:
        ref = f"customer:{body['customer_id']}" if "customer_id" in body else f"savings:{body['savings_user']}"
        subject = services.parse_subject(ref, institution_id=institution_id)
        values = services.features_for(subject, card.source, institution_id=institution_id, as_of=as_of)
        outcome = services.compiled(version).score(values)
        if body["reference"]:
            subject = services.Subject(body["reference"], subject.label, subject.customer_id,
                                       subject.savings_account_id)
        result = services.score_subject(version, subject, institution_id=institution_id, as_of=as_of,
                                        purpose="api", actor=user, feature_values=values)
    payload = score_body(version, outcome, result, values)
    db.session.commit()
    return schemas.json_response(payload)

