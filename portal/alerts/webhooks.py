"""Outgoing webhooks of alert rules: HMAC-SHA256-signed JSON POSTs with retries and a delivery log.

* Outbox: raising an alert on a rule with a webhook URL writes a ``WebhookDelivery`` (status pending) in the
  same transaction; ``jobs.alerts.deliver_webhook(<id>)`` is queued on ``notifications`` after the commit. If
  the queue was unreachable then, ``jobs.alerts.deliver_due_webhooks`` (the sweeper) sends every delivery due.
* Signature: ``X-Portal-Signature: sha256=<hex>`` = HMAC-SHA256(secret, ``"<timestamp>.<body>"``), with
  ``X-Portal-Timestamp`` (Unix seconds) and ``X-Portal-Delivery`` (the delivery id). A receiver recomputes it
  with ``verify_signature`` (and should refuse timestamps older than a few minutes).
* Retries: a response other than 2xx, a timeout or a refused connection is a failed attempt (each one is a
  ``WebhookAttempt`` row); the next attempt waits ``engine.BACKOFF_SECONDS`` (30 s, 2, 8, 32 min); after
  ``engine.MAX_ATTEMPTS`` (5) the delivery fails. With RQ the retry is ``enqueue_in`` on the worker's
  scheduler; in-process a timer thread; in tests (``JOBS_MODE=eager``) nothing is scheduled: the test calls the
  job again with the clock moved on. ``WEBHOOK_RETRY_SECONDS`` in the config overrides the schedule.
* Sent with ``urllib`` (``requests`` is not installed), a short timeout (``WEBHOOK_TIMEOUT_SECONDS``, 5 s), no
  redirects followed. The secret is never logged and never stored in clear.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select

from portal.alerts import engine
from portal.alerts.models import Alert, AlertRule, WebhookAttempt, WebhookDelivery
from portal.extensions import db

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5.0
USER_AGENT = "CreditLifecyclePortal-Webhooks/1"
SWEEP_LIMIT = 500


# ---- signing (pure) ------------------------------------------------------------------------------------------
def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``"sha256=<hex>"``: HMAC-SHA256 with ``secret`` over ``b"<timestamp>." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """True when ``header`` (``X-Portal-Signature``) is the signature of ``body`` at ``timestamp``
    (constant-time comparison)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header or "")


def signed_headers(secret: str, body: bytes, *, delivery_id: int, now: datetime) -> dict[str, str]:
    """The headers of one POST: content type, timestamp (Unix seconds of ``now``), delivery id, signature."""
    timestamp = str(int(now.timestamp()))
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Portal-Timestamp": timestamp,
            "X-Portal-Delivery": str(delivery_id), "X-Portal-Signature": signature(secret, timestamp, body)}


# ---- sending -------------------------------------------------------------------------------------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx is an answer (a failed attempt), never followed with the signed body


@dataclass(frozen=True)
class PostResult:
    """What one POST gave: ``status_code`` (None without a response), ``error`` (None when 2xx), ``ms``."""

    status_code: int | None
    error: str | None
    ms: int

    @property
    def ok(self) -> bool:
        return self.error is None


def post_json(url: str, body: bytes, headers: dict[str, str], *, timeout: float = TIMEOUT_SECONDS) -> PostResult:
    """POST ``body`` to ``url``; 2xx is success, anything else (3xx included) an error. Never raises for
    network trouble: it comes back as ``error``."""
    started = time.perf_counter()
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    code, error = None, None
    try:
        with opener.open(request, timeout=timeout) as response:
            code = response.status
            response.read(1024)
    except urllib.error.HTTPError as exc:
        code, error = exc.code, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        error = f"{type(exc).__name__}: {reason}"
    ms = int((time.perf_counter() - started) * 1000)
    if error is None and not 200 <= (code or 0) < 300:
        error = f"HTTP {code}"
    return PostResult(status_code=code, error=error[:500] if error else None, ms=ms)


# ---- the outbox ----------------------------------------------------------------------------------------------
def queue_delivery(rule: AlertRule, *, alert: Alert | None, now: datetime, event: str = "alert.raised",
                   max_attempts: int = engine.MAX_ATTEMPTS) -> WebhookDelivery:
    """Write a pending delivery of ``alert`` (or a test) to ``rule``'s webhook in the caller's transaction and
    queue ``jobs.alerts.deliver_webhook`` after the commit. Flushes. ValueError when the rule has no webhook."""
    from portal.queue import enqueue_after_commit

    if not rule.webhook_url:
        raise ValueError(f"alert rule {rule.id} has no webhook URL")
    delivery = WebhookDelivery(institution_id=rule.institution_id, rule_id=rule.id,
                               alert_id=alert.id if alert else None, event=event, url=rule.webhook_url,
                               status="pending", attempts=0, max_attempts=max_attempts, next_attempt_at=now,
                               created_at=now, updated_at=now)
    db.session.add(delivery)
    db.session.flush()
    enqueue_after_commit("jobs.alerts.deliver_webhook", delivery.id, queue="notifications")
    return delivery


def send_test(rule: AlertRule, *, actor, now: datetime) -> WebhookDelivery:
    """The "Send test" button: a signed ``webhook.test`` delivery to ``rule``'s webhook (one attempt, no
    retries), queued like any other; audited. DomainError (422) when the rule has no webhook."""
    from portal.audit.services import record
    from portal.errors import DomainError

    if not rule.webhook_url or not rule.webhook_secret_encrypted:
        raise DomainError("This rule has no webhook: give a URL and a secret first.")
    delivery = queue_delivery(rule, alert=None, now=now, event="webhook.test", max_attempts=1)
    record(actor, "alert_rule.webhook_tested", rule, changes={"delivery_id": delivery.id, "url": rule.webhook_url})
    return delivery


def payload(delivery: WebhookDelivery, now: datetime) -> dict:
    """The JSON document of ``delivery``: ``{"delivery_id", "event", "sent_at", "rule": {...}, "alert": {...}}``
    (the alert is None for a test). Ids, kinds, figures and dates only: no names or phone numbers."""
    rule = delivery.rule
    doc = {"delivery_id": delivery.id, "event": delivery.event, "sent_at": now.isoformat(timespec="seconds"),
           "institution_id": delivery.institution_id,
           "rule": {"id": rule.id, "name": rule.name, "kind": rule.kind, "severity": rule.severity,
                    "threshold_days": rule.threshold_days,
                    "threshold_amount": str(rule.threshold_amount) if rule.threshold_amount is not None else None},
           "alert": None}
    alert = delivery.alert
    if alert is not None:
        doc["alert"] = {"id": alert.id, "kind": alert.kind, "severity": alert.severity, "status": alert.status,
                        "loan_id": alert.loan_id, "customer_id": alert.customer_id, "dpd": alert.dpd,
                        "threshold_days": alert.threshold_days, "raised_on": alert.raised_on.isoformat(),
                        "raised_at": alert.raised_at.isoformat(timespec="seconds"), "summary": alert.summary,
                        "detail": alert.detail}
    return doc


def _retry_schedule() -> tuple[int, ...]:
    configured = current_app.config.get("WEBHOOK_RETRY_SECONDS")
    return tuple(int(s) for s in configured) if configured is not None else engine.BACKOFF_SECONDS


def attempt_delivery(delivery_id: int, *, now: datetime) -> WebhookDelivery | None:
    """Make the next attempt of delivery ``delivery_id`` if it is due (``next_attempt_at <= now``) and not
    finished; record it (``WebhookAttempt``) and move the delivery to delivered, retrying (with the next time
    from the backoff schedule, and a retry scheduled after the commit) or failed. Returns the delivery (None
    when missing). A delivery already finished, or not yet due, is returned unchanged: a duplicate job is
    harmless. The row is locked for the attempt. Flushes; the job commits."""
    from portal.crypto import decrypt

    delivery = db.session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if delivery is None:
        return None
    if delivery.status in ("delivered", "failed"):
        return delivery
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return delivery
    rule = delivery.rule
    if delivery.body is None:
        delivery.body = json.dumps(payload(delivery, now), sort_keys=True, separators=(",", ":"), default=str)
    body = delivery.body.encode()
    number = delivery.attempts + 1
    if not rule.webhook_secret_encrypted:
        result = PostResult(status_code=None, error="The rule has no webhook secret any more; not sent.", ms=0)
    else:
        try:
            secret = decrypt(rule.webhook_secret_encrypted)
        except ValueError:
            result = PostResult(status_code=None, error="The webhook secret cannot be decrypted; not sent.", ms=0)
        else:
            headers = signed_headers(secret, body, delivery_id=delivery.id, now=now)
            timeout = float(current_app.config.get("WEBHOOK_TIMEOUT_SECONDS", TIMEOUT_SECONDS))
            result = post_json(delivery.url, body, headers, timeout=timeout)
    db.session.add(WebhookAttempt(delivery_id=delivery.id, number=number, attempted_at=now,
                                  duration_ms=result.ms, status_code=result.status_code, ok=result.ok,
                                  error=result.error))
    delivery.attempts, delivery.last_status_code, delivery.last_error = number, result.status_code, result.error
    delivery.updated_at = now
    if result.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
    else:
        delay = engine.retry_delay(number, delivery.max_attempts, _retry_schedule())
        if delay is None:
            delivery.status, delivery.next_attempt_at = "failed", None
        else:
            delivery.status, delivery.next_attempt_at = "retrying", now + timedelta(seconds=delay)
            _schedule_retry(delivery.id, delay)
    db.session.flush()
    # ids, codes and timings only: never the secret, the signature or the body
    log.info("webhook delivery %s attempt %s/%s to rule %s: %s (%s ms)", delivery.id, number,
             delivery.max_attempts, rule.id, delivery.status if result.ok else (result.error or "failed"), result.ms)
    return delivery


def _schedule_retry(delivery_id: int, delay: int) -> None:
    """After the commit: run ``jobs.alerts.deliver_webhook(delivery_id)`` again in ``delay`` seconds (RQ:
    ``enqueue_in`` on the worker's scheduler; thread mode: a timer). Eager mode (tests): nothing."""
    from portal.queue import get_queue, run_in_app_context
    from portal.uow import after_commit

    app = current_app._get_current_object()
    mode = app.config.get("JOBS_MODE", "thread")
    if mode == "eager":
        return

    def start() -> None:
        if mode == "rq":
            get_queue("notifications", app).enqueue_in(timedelta(seconds=delay), "jobs.alerts.deliver_webhook",
                                                       delivery_id, job_timeout=120)
        else:
            timer = threading.Timer(delay, run_in_app_context, args=(app, "jobs.alerts.deliver_webhook",
                                                                     delivery_id))
            timer.daemon = True
            timer.start()

    after_commit(start)


def due_delivery_ids(now: datetime, limit: int = SWEEP_LIMIT) -> list[int]:
    """Ids of the deliveries pending or retrying whose next attempt is due at ``now`` (oldest first)."""
    return list(db.session.scalars(
        select(WebhookDelivery.id).where(WebhookDelivery.status.in_(("pending", "retrying")),
                                         or_(WebhookDelivery.next_attempt_at.is_(None),
                                             WebhookDelivery.next_attempt_at <= now))
        .order_by(WebhookDelivery.id).limit(limit)))


def deliveries_of(rule: AlertRule, limit: int = 200) -> list[WebhookDelivery]:
    """The delivery log of ``rule``, newest first."""
    return list(db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.rule_id == rule.id)
                                   .order_by(WebhookDelivery.id.desc()).limit(limit)))
