"""The payment-gateway sandbox and its webhook: HMAC-SHA256 signed, timestamped, replay-safe.

A gateway event is a JSON body ``{"event_id", "gateway_ref", "status": "succeeded"|"failed", "amount"}`` sent to
``POST /api/v1/payments/webhook`` with two headers:

* ``X-Timestamp: <Unix seconds>``; an event older (or further ahead) than PAYMENT_WEBHOOK_TOLERANCE_SECONDS
  (5 minutes) is refused;
* ``X-Signature: sha256=<hex HMAC-SHA256 of "<X-Timestamp>." + the raw body, with PAYMENT_WEBHOOK_SECRET>``: the
  timestamp is signed with the body, so an old event cannot be resent with a fresh timestamp.

``handle_webhook`` is the one handler: the API route calls it with the request's raw body, and the sandbox
gateway page calls it in-process with an event it built and signed itself (``build_event``). Each accepted
event id is stored once (``WebhookReceipt``, unique): a replay answers ``200 {"status": "duplicate"}`` and
changes nothing. Nothing is written for a refused event. The caller commits.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.servicing import services
from portal.servicing.models import Payment, WebhookReceipt

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
STATUSES = ("succeeded", "failed")

__all__ = ["WebhookResult", "build_event", "deliver_sandbox_event", "handle_webhook", "sign", "signature_ok"]


def sign(body: bytes, secret: str, timestamp: str) -> str:
    """The ``X-Signature`` value for ``body`` sent at ``timestamp`` (Unix seconds, as sent in X-Timestamp):
    ``"sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body))``."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_ok(body: bytes, header: str | None, secret: str, timestamp: str) -> bool:
    """Whether ``header`` is the signature of ``body`` at ``timestamp`` (constant-time comparison)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(sign(body, secret, timestamp).encode(), header.strip().encode())


def build_event(payment: Payment, *, status: str, secret: str, now, event_id: str | None = None,
                amount: Decimal | None = None) -> tuple[bytes, dict[str, str]]:
    """What the gateway sends for ``payment``: ``(raw JSON body, headers)`` signed with ``secret`` and stamped
    with ``now`` (an aware datetime). ``amount`` defaults to the payment's (rupees, as a string)."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}")
    body = json.dumps({"event_id": event_id or "evt_" + secrets.token_hex(12), "gateway_ref": payment.gateway_ref,
                       "status": status, "amount": format(payment.amount if amount is None else amount, "f")},
                      separators=(",", ":")).encode()
    stamp = str(int(now.timestamp()))
    return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret, stamp),
                  TIMESTAMP_HEADER: stamp}


@dataclass(frozen=True)
class WebhookResult:
    """The answer to a webhook: HTTP status and JSON body; ``payment`` when one was found."""

    http_status: int
    body: dict
    payment: Payment | None = None


def _refuse(status: int, message: str) -> WebhookResult:
    return WebhookResult(status, {"error": message, "status": status})


def _amount(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def handle_webhook(body: bytes, headers: Mapping[str, str], *, secret: str | None, tolerance_seconds: int,
                   clock) -> WebhookResult:
    """Verify and apply one gateway event (module docstring). Answers:

    * 401 a missing or bad signature, a missing, malformed or stale timestamp (nothing changes);
    * 400 a body that is not the event JSON; 404 an unknown ``gateway_ref``;
    * 422 an amount different from the initiated payment's (nothing changes);
    * 200 ``{"status": "duplicate"}`` for an event id seen before (nothing changes);
    * 200 ``{"status": <payment status>, "payment_id"}`` otherwise: ``succeeded`` applies the payment
      (``services.confirm_gateway_payment``), ``failed`` marks it failed.
    """
    if not secret:
        return _refuse(503, "payment webhooks are not configured (PAYMENT_WEBHOOK_SECRET)")
    stamp = (headers.get(TIMESTAMP_HEADER) or "").strip()
    if not signature_ok(body, headers.get(SIGNATURE_HEADER), secret, stamp):
        return _refuse(401, "bad or missing signature")
    if not stamp.isdigit():
        return _refuse(401, "missing or malformed X-Timestamp")
    if abs(clock.now().timestamp() - int(stamp)) > tolerance_seconds:
        return _refuse(401, "stale X-Timestamp: the event is older than the tolerance")
    try:
        event = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        return _refuse(400, "the body is not JSON")
    if not isinstance(event, dict):
        return _refuse(400, "the body must be a JSON object")
    event_id, ref, status, amount = (event.get("event_id"), event.get("gateway_ref"), event.get("status"),
                                     _amount(event.get("amount")))
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 80:
        return _refuse(400, "event_id must be a string of 1 to 80 characters")
    if not isinstance(ref, str) or not ref:
        return _refuse(400, "gateway_ref must be a string")
    if status not in STATUSES:
        return _refuse(400, f"status must be one of {', '.join(STATUSES)}")
    if amount is None:
        return _refuse(400, "amount must be a number of rupees")
    if db.session.scalar(select(WebhookReceipt.id).where(WebhookReceipt.event_id == event_id)) is not None:
        return WebhookResult(200, {"status": "duplicate"})
    payment = db.session.scalar(select(Payment).where(Payment.gateway_ref == ref[:64]))
    if payment is None:
        return _refuse(404, "unknown gateway_ref")
    if amount != payment.amount:
        return WebhookResult(422, {"error": f"amount {amount} does not match the payment's {payment.amount}",
                                   "status": 422}, payment)
    try:
        with db.session.begin_nested():
            db.session.add(WebhookReceipt(event_id=event_id, payment_id=payment.id))
            db.session.flush()
    except IntegrityError:  # the same event delivered twice at once: the other delivery won
        return WebhookResult(200, {"status": "duplicate"}, payment)
    if status == "succeeded":
        payment = services.confirm_gateway_payment(payment, clock=clock)
    else:
        payment = services.fail_gateway_payment(payment, reason="Declined by the payment gateway", clock=clock)
    return WebhookResult(200, {"status": payment.status, "payment_id": payment.id}, payment)


def deliver_sandbox_event(payment: Payment, *, status: str, secret: str | None, tolerance_seconds: int,
                          clock) -> WebhookResult:
    """The sandbox gateway's button: build the signed event for ``payment`` (``succeeded`` or ``failed``) and
    deliver it in-process to ``handle_webhook``, exactly as the API route would. The caller commits."""
    if not secret:
        return _refuse(503, "payment webhooks are not configured (PAYMENT_WEBHOOK_SECRET)")
    body, headers = build_event(payment, status=status, secret=secret, now=clock.now())
    return handle_webhook(body, headers, secret=secret, tolerance_seconds=tolerance_seconds, clock=clock)
