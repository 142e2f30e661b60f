"""Request bodies and response bodies of the machine API (seed 003's field names), without a dependency.

Requests: ``parse_body(SCHEMA)`` reads the raw body with ``json.loads(..., parse_float=Decimal)`` so a
JSON number such as ``12.5`` arrives as ``Decimal("12.5")``, never as a float. A schema maps each field to a
parser; every field is required, unknown fields are refused, and any problem raises ``RequestError`` (400)
with a message that names the field.

Responses: ``json_response(payload, status)`` writes Decimals as bare JSON numbers with their exact decimal
text (``11768.37``, ``12.50``) and refuses floats.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation

from flask import current_app, request

from portal.errors import DomainError
from portal.money import quantize

Parser = Callable[[str, object], object]

MAX_AMOUNT = Decimal("1000000000000")  # Rs 1 lakh crore: far above any product, far below the paise column
MAX_TENURE = 600
NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
PHONE = re.compile(r"\+?[0-9]{7,15}")


class RequestError(DomainError):
    """The request is malformed: not JSON, not an object, a missing, unknown or mistyped field (400)."""

    http_status = 400


# ------------------------------------------------------------------------------------------------ parsers


def whole(low: int, high: int) -> Parser:
    """A JSON integer (not a bool, not 12.0, not "12") in ``low..high``."""

    def parse(name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RequestError(f"{name} must be a whole number")
        if not low <= value <= high:
            raise RequestError(f"{name} must be between {low} and {high}")
        return value

    return parse


def _number(name: str, value: object) -> Decimal:
    """A JSON number or a numeric string ("50000", "12.5") as an exact Decimal; bools and others refused."""
    if isinstance(value, bool):
        raise RequestError(f"{name} must be a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str) and NUMBER_TEXT.fullmatch(value.strip()):
        number = Decimal(value.strip())
    else:
        raise RequestError(f"{name} must be a number")
    if not number.is_finite():
        raise RequestError(f"{name} must be a finite number")
    return number


def _places(name: str, number: Decimal, places: int, unit: str) -> Decimal:
    step = Decimal(1).scaleb(-places)
    try:
        rounded = number.quantize(step)
    except InvalidOperation:
        raise RequestError(f"{name} is too large") from None
    if rounded != number:
        raise RequestError(f"{name} must have at most {places} decimal places ({unit})")
    return rounded


def amount(name: str, value: object) -> Decimal:
    """Rupees: a positive number with at most 2 decimal places (whole paise), below ``MAX_AMOUNT``."""
    number = _number(name, value)
    if number <= 0:
        raise RequestError(f"{name} must be a positive amount of rupees")
    if number > MAX_AMOUNT:
        raise RequestError(f"{name} must be at most {MAX_AMOUNT}")
    return quantize(_places(name, number, 2, "whole paise"))


def rate(name: str, value: object) -> Decimal:
    """Percent per annum: 0..100 with at most 4 decimal places (what the rate column keeps)."""
    number = _number(name, value)
    if not 0 <= number <= 100:
        raise RequestError(f"{name} must be between 0 and 100 (percent per annum)")
    _places(name, number, 4, "percent per annum")
    return number


def text(max_length: int) -> Parser:
    """A non-blank string of at most ``max_length`` characters, stripped."""

    def parse(name: str, value: object) -> str:
        if not isinstance(value, str):
            raise RequestError(f"{name} must be a string")
        value = value.strip()
        if not value:
            raise RequestError(f"{name} must not be blank")
        if len(value) > max_length or any(ord(ch) < 32 for ch in value):
            raise RequestError(f"{name} must be at most {max_length} printable characters")
        return value

    return parse


def phone(name: str, value: object) -> str:
    """A phone number, as a JSON integer (seed 003's clients send 9876543210) or a string of 7-15 digits
    with an optional leading +. Returned as a string."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise RequestError(f"{name} must be a string or a whole number")
    number = str(value).strip()
    if not PHONE.fullmatch(number):
        raise RequestError(f"{name} must be 7 to 15 digits, optionally starting with +")
    return number


REGISTER: Mapping[str, Parser] = {
    "first_name": text(100),
    "last_name": text(100),
    "age": whole(18, 100),
    "monthly_income": amount,
    "phone_number": phone,
}

LOAN_REQUEST: Mapping[str, Parser] = {
    "customer_id": whole(1, 2**31 - 1),
    "loan_amount": amount,
    "interest_rate": rate,
    "tenure": whole(1, MAX_TENURE),
}


# ------------------------------------------------------------------------------------------------ reading


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate field {key!r}")
        result[key] = value
    return result


def read_json(data: bytes) -> object:
    """Decode a JSON document: floats as Decimal, NaN/Infinity and duplicate keys refused (RequestError)."""
    if not data.strip():
        raise RequestError("the request body must be a JSON object")
    try:
        return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant,
                          object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise RequestError("the request body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the hooks above
        raise RequestError(f"the request body is not valid JSON: {exc}") from None


def validate(data: object, schema: Mapping[str, Parser]) -> dict:
    """Check a decoded body against ``schema``: a JSON object, every field present, no others, each parsed."""
    if not isinstance(data, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        kind = kinds.get(type(data), "a number")
        raise RequestError(f"the request body must be a JSON object, not {kind}")
    unknown = sorted(set(data) - set(schema))
    if unknown:
        raise RequestError(f"unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    missing = [name for name in schema if name not in data]
    if missing:
        raise RequestError(f"missing field{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    return {name: parse(name, data[name]) for name, parse in schema.items()}


def parse_body(schema: Mapping[str, Parser]) -> dict:
    """The current request's JSON body, validated against ``schema`` (RequestError on any problem)."""
    return validate(read_json(request.get_data(cache=True)), schema)


# ------------------------------------------------------------------------------------------------ writing


def encode(value: object) -> str:
    """JSON text for ``value``; Decimals become bare numbers with their exact digits; floats are refused."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} as a JSON number")
        return format(value, "f")
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("JSON object keys must be strings")
        return "{" + ", ".join(f"{json.dumps(key)}: {encode(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(encode(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as JSON (money and rates must be Decimal)")


def json_response(payload: object, status: int = 200, headers: Mapping[str, str] | None = None):
    """A JSON response whose Decimals are exact JSON numbers."""
    return current_app.response_class(encode(payload), status=status, headers=dict(headers or {}),
                                      mimetype="application/json")


def error_json(message: str, status: int, headers: Mapping[str, str] | None = None):
    """The API's error shape (the same as ``portal.errors``): ``{"error": message, "status": status}``."""
    return json_response({"error": message, "status": status}, status, headers)


# ------------------------------------------------------------------------------------------------ bodies


def display_rate(value: Decimal) -> Decimal:
    """A rate with at least 2 decimal places, as the rate column returns it (12 -> 12.00, 12.5 -> 12.50)."""
    return value.normalize() + Decimal("0.00")


def registered_customer(customer) -> dict:
    """``/register`` response (seed 003)."""
    return {
        "customer_id": customer.id,
        "name": customer.name,
        "age": customer.age,
        "monthly_income": customer.monthly_salary,
        "approved_limit": customer.approved_limit,
        "phone_number": customer.phone_number,
    }


def eligibility(customer, assessment) -> dict:
    """``/check-eligibility`` response (seed 003)."""
    result = assessment.eligibility
    return {
        "customer_id": customer.id,
        "approval": result.approval,
        "interest_rate": display_rate(result.interest_rate),
        "corrected_interest_rate": display_rate(result.corrected_interest_rate),
        "tenure": result.tenure,
        "monthly_installment": result.monthly_installment,
    }


def loan_decision(decision) -> dict:
    """``/create-loan`` response (seed 003)."""
    return {
        "loan_id": decision.loan.id if decision.loan else None,
        "customer_id": decision.application.customer_id,
        "loan_approved": decision.loan is not None,
        "message": decision.message,
        "monthly_installment": decision.monthly_installment,
    }


def loan_detail(loan, customer) -> dict:
    """``/view-loan/<loan_id>`` response (seed 003)."""
    return {
        "loan_id": loan.id,
        "customer": {
            "id": customer.id,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "phone_number": customer.phone_number,
            "age": customer.age,
        },
        "loan_amount": loan.loan_amount,
        "interest_rate": display_rate(loan.interest_rate),
        "monthly_installment": loan.monthly_installment,
        "tenure": loan.tenure,
    }


def loan_item(loan, as_of) -> dict:
    """One item of the ``/view-loans/<customer_id>`` list (seed 003)."""
    return {
        "loan_id": loan.id,
        "loan_amount": loan.loan_amount,
        "interest_rate": display_rate(loan.interest_rate),
        "monthly_installment": loan.monthly_installment,
        "repayments_left": loan.repayments_left(as_of),
    }
