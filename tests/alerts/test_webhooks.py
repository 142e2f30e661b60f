"""Outgoing webhooks: a real receiver on loopback gets a delivery whose HMAC-SHA256 signature verifies with the
rule's secret; a failing receiver (HTTP 500) gets the retries on the backoff schedule and the failure is
logged; the outbox row is written in the raising transaction (none on rollback) and the sweeper sends what was
never queued; the "Send test" button; the close of business sends DPD alerts; the secret is never shown."""
from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from jobs.alerts import deliver_due_webhooks, deliver_webhook
from portal.alerts.models import Alert, WebhookAttempt, WebhookDelivery
from portal.alerts.services import raise_event_alert
from portal.alerts.webhooks import verify_signature
from portal.audit.models import AuditEvent
from portal.auth.services import default_institution
from portal.business_date import BusinessDate
from tests.alerts.conftest import SECRET, builtin_rule, make_rule
from tests.conftest import post_form

D0 = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def _only_the_tests_event_rules(db):
    """The built-in event rules are switched off, so that each event raises only the test's own rule."""
    from portal.alerts.models import AlertRule

    for rule in db.session.scalars(select(AlertRule).where(AlertRule.builtin_key.is_not(None),
                                                           AlertRule.kind != "dpd_crossed")):
        rule.active = False
    db.session.commit()


def deliveries(db) -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def attempts(db, delivery_id: int) -> list[WebhookAttempt]:
    return list(db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id)
                                   .order_by(WebhookAttempt.number)))


def assert_signed(request, secret: str = SECRET) -> None:
    headers = request.headers
    assert headers["X-Portal-Signature"].startswith("sha256=")
    assert verify_signature(secret, headers["X-Portal-Timestamp"], request.body, headers["X-Portal-Signature"])
    assert not verify_signature("some-other-secret-0000", headers["X-Portal-Timestamp"], request.body,
                                headers["X-Portal-Signature"])


def test_an_alert_on_a_rule_with_a_webhook_is_delivered_signed(db, clock, receiver):
    rule = make_rule("two_bounces", webhook_url=receiver.url)
    db.session.commit()
    (alert,) = raise_event_alert("two_bounces", institution_id=rule.institution_id, now=clock.now(), loan_id=None,
                                 detail={"bounce_count": 2})
    (delivery,) = deliveries(db)  # the outbox row, in the raising transaction, before any commit
    assert (delivery.status, delivery.alert_id, delivery.url) == ("pending", alert.id, receiver.url)
    assert receiver.requests == []
    db.session.commit()  # the job runs after the commit (TestConfig: eager)

    (request,) = receiver.requests
    assert request.path == "/hooks/alerts" and request.headers["Content-Type"] == "application/json"
    assert_signed(request)
    assert request.headers["X-Portal-Timestamp"] == str(int(clock.now().timestamp()))
    assert request.headers["X-Portal-Delivery"] == str(delivery.id)
    doc = request.json
    assert doc["event"] == "alert.raised" and doc["delivery_id"] == delivery.id
    assert doc["alert"]["id"] == alert.id and doc["alert"]["kind"] == "two_bounces"
    assert doc["rule"] == {"id": rule.id, "name": rule.name, "kind": "two_bounces", "severity": "warning",
                           "threshold_days": None, "threshold_amount": None}
    (delivery,) = deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.delivered_at == clock.now() and delivery.body == request.body.decode()
    assert [(a.number, a.ok, a.status_code, a.error) for a in attempts(db, delivery.id)] == [(1, True, 200, None)]
    # a second run of the job (a duplicate enqueue) sends nothing more
    assert deliver_webhook(delivery.id) == "delivered" and len(receiver.requests) == 1


def test_a_rolled_back_alert_leaves_no_delivery_and_sends_nothing(db, clock, receiver):
    rule = make_rule("two_bounces", webhook_url=receiver.url)
    db.session.commit()
    raise_event_alert("two_bounces", institution_id=rule.institution_id, now=clock.now())
    db.session.rollback()
    db.session.commit()
    assert deliveries(db) == [] and receiver.requests == []


def test_a_failing_receiver_gets_five_attempts_with_backoff_and_the_failure_is_logged(db, clock, receiver, client,
                                                                                       login_as, staff):
    receiver.statuses = [500]
    rule = make_rule("kyc_mismatch", webhook_url=receiver.url)
    db.session.commit()
    raise_event_alert("kyc_mismatch", institution_id=rule.institution_id, now=clock.now(), customer_id=None,
                      detail={"document_id": 7})
    db.session.commit()  # attempt 1, at once
    (delivery,) = deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("retrying", 1, 500)
    assert delivery.next_attempt_at == clock.now() + timedelta(seconds=30)
    # the job run early (a duplicate) does not jump the schedule
    assert deliver_webhook(delivery.id) == "retrying" and len(receiver.requests) == 1

    waits = []
    while True:
        (delivery,) = deliveries(db)
        if delivery.status != "retrying":
            break
        wait = delivery.next_attempt_at - clock.now()
        waits.append(int(wait.total_seconds()))
        clock.advance(seconds=wait.total_seconds())
        deliver_webhook(delivery.id)
    assert waits == [30, 120, 480, 1920]  # exponential: x4 each time
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 5, 500)
    assert delivery.next_attempt_at is None and delivery.delivered_at is None
    assert "HTTP 500" in delivery.last_error
    log = attempts(db, delivery.id)
    assert [(a.number, a.ok, a.status_code) for a in log] == [(n, False, 500) for n in range(1, 6)]
    # every retry sent the same body, each freshly signed
    assert len(receiver.requests) == 5 and len({r.body for r in receiver.requests}) == 1
    for request in receiver.requests:
        assert_signed(request)
    # failed: no more attempts, ever
    clock.advance(days=1)
    assert deliver_webhook(delivery.id) == "failed" and deliver_due_webhooks() == 0
    assert len(receiver.requests) == 5

    login_as(staff["risk_officer"])
    page = client.get(f"/alerts/rules/{rule.id}/deliveries").get_data(as_text=True)
    assert f'data-delivery-id="{delivery.id}"' in page and 'data-status="failed"' in page
    assert "5 / 5" in page and "HTTP 500" in page and "Attempt 5" in page


def test_a_receiver_that_recovers_gets_the_delivery_on_a_retry(db, clock, receiver):
    receiver.statuses = [503, 500, 204]
    rule = make_rule("two_bounces", webhook_url=receiver.url)
    db.session.commit()
    raise_event_alert("two_bounces", institution_id=rule.institution_id, now=clock.now())
    db.session.commit()
    for _ in range(2):
        (delivery,) = deliveries(db)
        clock.advance(seconds=(delivery.next_attempt_at - clock.now()).total_seconds())
        deliver_webhook(delivery.id)
    (delivery,) = deliveries(db)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 204)
    assert [a.status_code for a in attempts(db, delivery.id)] == [503, 500, 204]


def test_an_unreachable_receiver_is_a_logged_error_with_no_status_code(db, clock, app):
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    make_rule("two_bounces", webhook_url=f"http://127.0.0.1:{port}/nobody")
    db.session.commit()
    raise_event_alert("two_bounces", institution_id=default_institution().id, now=clock.now())
    db.session.commit()
    (delivery,) = deliveries(db)
    assert delivery.status == "retrying" and delivery.last_status_code is None
    assert "refused" in delivery.last_error.lower() or "URLError" in delivery.last_error


def test_the_sweeper_sends_a_delivery_whose_job_was_never_queued(db, clock, receiver, monkeypatch):
    import portal.queue

    rule = make_rule("two_bounces", webhook_url=receiver.url)
    db.session.commit()
    monkeypatch.setattr(portal.queue, "enqueue_after_commit", lambda *a, **k: None)  # the queue was down
    raise_event_alert("two_bounces", institution_id=rule.institution_id, now=clock.now())
    db.session.commit()
    monkeypatch.undo()
    assert receiver.requests == [] and deliveries(db)[0].status == "pending"
    assert deliver_due_webhooks() == 1
    assert len(receiver.requests) == 1 and deliveries(db)[0].status == "delivered"


def test_the_close_of_business_sends_dpd_alerts_to_the_rules_webhook(db, clock, receiver):
    from portal.servicing import cob
    from tests.servicing.cob_support import make_borrower, make_serviced_loan

    inst = default_institution().id
    rule = builtin_rule("dpd_30")
    rule.webhook_url = receiver.url
    from portal.alerts.services import _set_secret

    _set_secret(rule, SECRET)
    loan = make_serviced_loan(make_borrower(), start=D0 - timedelta(days=70))  # DPD 40 on D0
    db.session.add(BusinessDate(institution_id=inst, current_on=D0))
    db.session.commit()
    cob.run_close_of_business(inst, D0, now=clock.now(), requested_by="test")
    db.session.commit()
    (request,) = receiver.requests  # dpd_1 has no webhook; dpd_30 has
    assert_signed(request)
    doc = request.json
    db.session.expire_all()
    assert doc["alert"]["loan_id"] == loan.id and doc["alert"]["threshold_days"] == 30
    assert doc["alert"]["dpd"] == loan.dpd >= 30
    (delivery,) = deliveries(db)
    assert delivery.status == "delivered" and delivery.alert.rule_id == rule.id


def test_send_test_posts_a_signed_test_payload_and_logs_it(db, clock, receiver, client, login_as, staff):
    rule = make_rule("two_bounces", webhook_url=receiver.url)
    plain = make_rule("kyc_mismatch")
    db.session.commit()
    login_as(staff["risk_officer"])
    page = f"/alerts/rules/{rule.id}/deliveries"
    response = post_form(client, f"/alerts/rules/{rule.id}/test", {}, page=page)
    assert response.status_code == 303 and response.headers["Location"].endswith(page)
    (request,) = receiver.requests
    assert_signed(request)
    assert request.json["event"] == "webhook.test" and request.json["alert"] is None
    (delivery,) = deliveries(db)
    assert (delivery.event, delivery.status, delivery.max_attempts) == ("webhook.test", "delivered", 1)
    html = client.get(page).get_data(as_text=True)
    assert "webhook.test" in html and 'data-status="delivered"' in html
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert_rule.webhook_tested"))
    # htmx: the page is reloaded on the log
    response = post_form(client, f"/alerts/rules/{rule.id}/test", {}, page=page, headers={"HX-Request": "true"})
    assert response.status_code == 204 and response.headers["HX-Redirect"].endswith(page)
    # a rule without a webhook: 422, nothing queued
    response = post_form(client, f"/alerts/rules/{plain.id}/test", {}, page=page)
    assert response.status_code == 422 and len(deliveries(db)) == 2
    # a failing test is logged as failed at once (one attempt, no retries)
    receiver.statuses = [500]
    post_form(client, f"/alerts/rules/{rule.id}/test", {}, page=page)
    last = deliveries(db)[-1]
    assert (last.status, last.attempts, last.last_status_code) == ("failed", 1, 500)


def test_the_secret_is_never_shown_back_nor_logged_nor_audited(db, clock, receiver, client, login_as, staff,
                                                              caplog):
    caplog.set_level(logging.DEBUG)
    login_as(staff["risk_officer"])
    response = post_form(client, "/alerts/rules", {
        "name": "Bounces to the collections agency", "kind": "two_bounces", "severity": "critical",
        "roles": ["collections", "risk_officer"], "active": "y", "webhook_url": receiver.url,
        "webhook_secret": SECRET}, page="/alerts/rules/new")
    assert response.status_code == 303, response.get_data(as_text=True)
    from portal.alerts.models import AlertRule

    rule = db.session.scalar(select(AlertRule).where(AlertRule.name == "Bounces to the collections agency"))
    assert rule.webhook_secret_encrypted and SECRET.encode() not in rule.webhook_secret_encrypted
    for url in ("/alerts/rules", f"/alerts/rules/{rule.id}", f"/alerts/rules/{rule.id}/deliveries"):
        html = client.get(url).get_data(as_text=True)
        assert SECRET not in html and SECRET[:12] not in html
    edit = client.get(f"/alerts/rules/{rule.id}").get_data(as_text=True)
    assert f"••••••••{SECRET[-4:]}" in edit
    # editing without a new secret keeps it; deliveries still verify with it
    response = post_form(client, f"/alerts/rules/{rule.id}", {
        "name": rule.name, "severity": "critical", "roles": ["collections", "risk_officer"], "active": "y",
        "webhook_url": receiver.url, "webhook_secret": ""}, page=f"/alerts/rules/{rule.id}")
    assert response.status_code == 303
    raise_event_alert("two_bounces", institution_id=rule.institution_id, now=clock.now())
    db.session.commit()
    assert_signed(receiver.requests[-1])
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "alert_rules")).all()
    assert events and not any(SECRET in json.dumps(e.changes) for e in events)
    assert SECRET not in caplog.text


def test_alert_payload_dates_are_iso(db, clock, receiver):
    make_rule("promise_to_pay_broken", webhook_url=receiver.url)
    db.session.commit()
    (alert,) = raise_event_alert("promise_to_pay_broken", institution_id=default_institution().id,
                                 now=clock.now(), detail={"promised_on": date(2026, 11, 20), "amount": "5000.00"})
    db.session.commit()
    doc = receiver.requests[0].json["alert"]
    assert doc["raised_on"] == "2026-11-23" and datetime.fromisoformat(doc["raised_at"]) == clock.now()
    assert doc["detail"] == {"promised_on": "2026-11-20", "amount": "5000.00"}
    assert db.session.get(Alert, alert.id).detail["promised_on"] == "2026-11-20"
