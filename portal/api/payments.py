"""The payment gateway's webhook: ``POST /api/v1/payments/webhook`` (on the CSRF-exempt api blueprint).

Authenticated by its HMAC-SHA256 signature over the raw body (``X-Signature: sha256=<hex>``, key
PAYMENT_WEBHOOK_SECRET) and a fresh ``X-Timestamp``, never by a bearer token or a session: see
``portal/servicing/gateway.py`` for the body and the answers (401 bad signature or stale timestamp, 400 bad
body, 404 unknown gateway_ref, 422 amount mismatch, 200 applied / failed / duplicate).
"""
from __future__ import annotations

from flask import current_app, jsonify, request

from portal.api.views import bp
from portal.clock import clock
from portal.extensions import db
from portal.servicing import gateway


@bp.post("/payments/webhook")
def payment_webhook():
    config = current_app.config
    result = gateway.handle_webhook(request.get_data(cache=False), request.headers,
                                    secret=config.get("PAYMENT_WEBHOOK_SECRET"),
                                    tolerance_seconds=int(config.get("PAYMENT_WEBHOOK_TOLERANCE_SECONDS", 300)),
                                    clock=clock())
    if result.http_status < 400:
        db.session.commit()
    else:
        db.session.rollback()
    return jsonify(result.body), result.http_status
