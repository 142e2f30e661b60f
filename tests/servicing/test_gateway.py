"""The payment-gateway sandbox on PostgreSQL: the customer's pay page (amount, confirmation, one payment per
form), the sandbox checkout, and the signed webhook (bad signature, replay, stale timestamp, amount mismatch)."""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.ledger.models import JournalEntry
from portal.notifications.models import Notification
from portal.servicing import gateway, services
from portal.servicing.models import LoanTransaction, Payment, WebhookReceipt
from tests.conftest import post_form
from tests.servicing.payments_support import DAY0, assert_ledger_agrees, disbursed_loan

D = Decimal
WEBHOOK = "/api/v1/payments/webhook"


@pytest.fixture
def secret(app):
    return app.config["PAYMENT_WEBHOOK_SECRET"]


def initiated(loan, clock, amount=None, key="form-key-1"):
    payment = services.initiate_gateway_payment(loan, amount=amount or loan.monthly_installment, actor="test",
                                                idempotency_key=key, clock=clock)
    services.db.session.commit()
    return payment


def send(client, body: bytes, headers: dict):
    return client.post(WEBHOOK, data=body, headers=headers)


def counts():
    db = services.db
    return (db.session.scalar(select(func.count(JournalEntry.id))),
            db.session.scalar(select(func.count(LoanTransaction.id))),
            db.session.scalar(select(func.count(WebhookReceipt.id))),
            tuple(db.session.scalars(select(Payment.status).order_by(Payment.id))))


# ---- the webhook ---------------------------------------------------------------------------------------------------
def test_a_signed_event_applies_the_payment_and_a_replay_changes_nothing(client, db, clock, secret):
    loan = disbursed_loan(clock)
    payment = initiated(loan, clock)
    assert (payment.status, payment.channel, payment.gateway_ref.startswith("gw_")) == ("initiated", "gateway", True)
    body, headers = gateway.build_event(payment, status="succeeded", secret=secret, now=clock.now(), event_id="evt_1")
    assert json.loads(body) == {"event_id": "evt_1", "gateway_ref": payment.gateway_ref, "status": "succeeded",
                                "amount": "8884.88"}
    assert headers["X-Signature"].startswith("sha256=") and len(headers["X-Signature"]) == 7 + 64
    response = send(client, body, headers)
    assert response.status_code == 200 and response.get_json() == {"status": "succeeded", "payment_id": payment.id}
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "succeeded"
    assert loan.installments[0].paid_on == DAY0
    before = counts()
    replay = send(client, body, headers)
    assert replay.status_code == 200 and replay.get_json() == {"status": "duplicate"}
    # a new event id for the same payment is recorded but applies nothing twice
    body2, headers2 = gateway.build_event(payment, status="succeeded", secret=secret, now=clock.now())
    assert send(client, body2, headers2).get_json()["status"] == "succeeded"
    db.session.expire_all()
    after = counts()
    assert after[:2] == before[:2] and after[3] == before[3] and after[2] == before[2] + 1
    assert_ledger_agrees()


@pytest.mark.parametrize("tamper", ["no-signature", "wrong-secret", "body-changed", "not-hex"])
def test_a_bad_signature_is_refused_with_401_and_changes_nothing(client, db, clock, secret, tamper):
    loan = disbursed_loan(clock)
    payment = initiated(loan, clock)
    body, headers = gateway.build_event(payment, status="succeeded", secret=secret, now=clock.now())
    if tamper == "no-signature":
        headers.pop("X-Signature")
    elif tamper == "wrong-secret":
        headers["X-Signature"] = gateway.sign(body, "not-the-secret", headers["X-Timestamp"])
    elif tamper == "body-changed":
        body = body.replace(b"8884.88", b"0884.88")
    else:
        headers["X-Signature"] = "sha256=zz"
    before = counts()
    response = send(client, body, headers)
    assert response.status_code == 401 and "signature" in response.get_json()["error"]
    db.session.expire_all()
    assert counts() == before and db.session.get(Payment, payment.id).status == "initiated"


@pytest.mark.parametrize(("shift", "status"), [(timedelta(minutes=-6), 401), (timedelta(minutes=6), 401),
                                               (timedelta(minutes=-4), 200)])
def test_a_stale_timestamp_is_refused(client, db, clock, secret, shift, status):
    loan = disbursed_loan(clock)
    payment = initiated(loan, clock)
    body, headers = gateway.build_event(payment, status="succeeded", secret=secret, now=clock.now() + shift)
    response = send(client, body, headers)
    assert response.status_code == status
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == ("initiated" if status == 401 else "succeeded")
    headers.pop("X-Timestamp")
    assert send(client, body, headers).status_code == 401


def test_an_old_event_resent_with_a_fresh_timestamp_fails_the_signature(client, db, clock, secret):
    """The timestamp is signed with the body: changing X-Timestamp alone breaks the signature."""
    loan = disbursed_loan(clock)
    payment = initiated(loan, clock)
    body, headers = gateway.build_event(payment, status="succeeded", secret=secret,
                                        now=clock.now() - timedelta(minutes=30))
    headers["X-Timestamp"] = str(int(clock.now().timestamp()))
    response = send(client, body, headers)
    assert response.status_code == 401 and "signature" in response.get_json()["error"]
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "initiated"


def test_an_amount_that_does_not_match_is_refused(client, db, clock, secret):
    loan = disbursed_loan(clock)
    payment = initiated(loan, clock)
    before = counts()
    body, headers = gateway.build_event(payment, status="succeeded", secret=secret, now=clock.now(),
                                        amount=D("1.00"))
    response = send(client, body, headers)
    assert response.status_code == 422 and "does not match" in response.get_json()["error"]
    db.session.expire_all()
    assert counts() == before


@pytest.mark.parametrize(("body", "status"), [(b"not json", 400), (b"[1]", 400),
                                              (b'{"event_id":"e","gateway_ref":"gw_x","status":"ok",'
                                               b'"amount":"1"}', 400),
                                              (b'{"event_id":"e","gateway_ref":"gw_nope","status":"failed",'
                                               b'"amount":"1.00"}', 404)])
def test_malformed_or_unknown_events(client, db, clock, secret, body, status):
    stamp = str(int(clock.now().timestamp()))
    headers = {"X-Signature": gateway.sign(body, secret, stamp), "X-Timestamp": stamp,
               "Content-Type": "application/json"}
    assert send(client, body, headers).status_code == status


def test_a_failed_event_marks_the_payment_failed_without_posting(client, db, clock, secret):
    loan = disbursed_loan(clock)
    payment = initiated(loan, clock)
    entries = db.session.scalar(select(func.count(JournalEntry.id)))
    body, headers = gateway.build_event(payment, status="failed", secret=secret, now=clock.now())
    assert send(client, body, headers).get_json()["status"] == "failed"
    db.session.expire_all()
    payment = db.session.get(Payment, payment.id)
    assert payment.status == "failed" and payment.failure_reason == "Declined by the payment gateway"
    assert db.session.scalar(select(func.count(JournalEntry.id))) == entries
    # the customer is told with the templated event payment.failed (in-app and SMS: no email address on file)
    notes = {n.channel: n for n in db.session.scalars(select(Notification).where(
        Notification.event == "payment.failed", Notification.customer_id == loan.customer_id))}
    assert set(notes) == {"in_app", "sms"} and notes["in_app"].category == "service"
    assert notes["in_app"].body == (f"Your payment of Rs 8,884.88 for loan {loan.id} did not go through: "
                                    "Declined by the payment gateway")


def test_a_confirmation_the_loan_can_no_longer_take_fails_the_payment_for_a_refund(db, clock):
    loan = disbursed_loan(clock)
    payoff = D("101000.00")
    payment = initiated(loan, clock, amount=payoff)
    services.record_repayment(loan, amount=payoff, idempotency_key="branch", channel="officer", actor="test",
                              clock=clock)
    services.confirm_gateway_payment(payment, clock=clock)
    db.session.commit()
    assert payment.status == "failed" and "refunded" in payment.failure_reason
    assert_ledger_agrees()


def test_production_needs_the_webhook_secret():
    from portal.config import from_env

    env = {"PORTAL_ENV": "production", "SECRET_KEY": "s" * 32, "FIELD_ENCRYPTION_KEY": "k" * 44,
           "DATABASE_URL": "postgresql://u@h/db", "REDIS_URL": "redis://h:6379/0"}
    with pytest.raises(RuntimeError, match="PAYMENT_WEBHOOK_SECRET"):
        from_env(env).validate()
    with pytest.raises(RuntimeError, match="sandbox"):
        from_env({**env, "PAYMENT_WEBHOOK_SECRET": "w" * 32, "PAYMENT_SANDBOX": "1"}).validate()
    config = from_env({**env, "PAYMENT_WEBHOOK_SECRET": "w" * 32})
    config.validate()
    assert config.PAYMENT_WEBHOOK_SECRET == "w" * 32 and config.PAYMENT_SANDBOX is False


# ---- the customer's pages --------------------------------------------------------------------------------------------
def test_customer_pays_through_the_sandbox_with_a_confirmation_step(client, db, clock, login_as):
    loan = disbursed_loan(clock)
    login_as(loan.customer.user)
    loan_page = client.get(f"/me/loans/{loan.id}").get_data(as_text=True)
    assert f'href="/me/loans/{loan.id}/pay"' in loan_page and f'href="/me/loans/{loan.id}/statement"' in loan_page
    page = client.get(f"/me/loans/{loan.id}/pay")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'value="8884.88"' in html and "Rs 8,884.88" in html
    fragment = client.get(f"/me/loans/{loan.id}/pay", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith(f'<section id="loan-{loan.id}-pay"')

    form = {"amount": "8884.88", "idempotency_key": "double-submit-1"}
    confirm = post_form(client, f"/me/loans/{loan.id}/pay", form, page=f"/me/loans/{loan.id}/pay",
                        headers={"HX-Request": "true"})
    assert confirm.status_code == 200 and "Confirm and pay Rs 8,884.88" in confirm.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Payment.id))) == 0
    too_much = post_form(client, f"/me/loans/{loan.id}/pay", {**form, "amount": "200000", "confirmed": "1"},
                         page=f"/me/loans/{loan.id}/pay")
    assert too_much.status_code == 422 and "more than loan" in too_much.get_data(as_text=True)
    go = post_form(client, f"/me/loans/{loan.id}/pay", {**form, "confirmed": "1"}, page=f"/me/loans/{loan.id}/pay",
                   headers={"HX-Request": "true"})
    payment = db.session.scalar(select(Payment))
    assert go.status_code == 204 and go.headers["HX-Redirect"] == f"/sandbox/gateway/{payment.gateway_ref}"
    # the same form submitted twice opens one payment
    again = post_form(client, f"/me/loans/{loan.id}/pay", {**form, "confirmed": "1"}, page=f"/me/loans/{loan.id}/pay")
    assert again.status_code == 303 and again.headers["Location"].endswith(payment.gateway_ref)
    assert db.session.scalar(select(func.count(Payment.id))) == 1

    checkout = client.get(f"/sandbox/gateway/{payment.gateway_ref}").get_data(as_text=True)
    assert "Pay Rs 8,884.88" in checkout and "Fail" in checkout
    paid = post_form(client, f"/sandbox/gateway/{payment.gateway_ref}", {"outcome": "succeeded"},
                     page=f"/sandbox/gateway/{payment.gateway_ref}")
    assert paid.status_code == 303 and paid.headers["Location"].endswith(f"/me/loans/{loan.id}")
    assert "Payment received: Rs 8,884.88" in client.get(paid.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "succeeded"
    assert db.session.scalar(select(func.count(WebhookReceipt.id))) == 1
    statement = client.get(f"/me/loans/{loan.id}/statement").get_data(as_text=True)
    assert "Rs 7,884.88" in statement and "Rs 1,000.00" in statement and "23 Jan 2027" in statement
    assert_ledger_agrees()


def test_the_sandbox_fail_button_fails_the_payment(client, db, clock, login_as):
    loan = disbursed_loan(clock)
    payment = initiated(loan, clock)
    login_as(loan.customer.user)
    failed = post_form(client, f"/sandbox/gateway/{payment.gateway_ref}", {"outcome": "failed"},
                       page=f"/sandbox/gateway/{payment.gateway_ref}")
    assert "did not go through" in client.get(failed.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "failed"


def test_a_customer_cannot_pay_or_see_another_customers_loan(client, db, clock, login_as):
    loan = disbursed_loan(clock)
    payment = initiated(loan, clock)
    other = disbursed_loan(clock)
    login_as(other.customer.user)
    for url in (f"/me/loans/{loan.id}", f"/me/loans/{loan.id}/pay", f"/me/loans/{loan.id}/statement",
                f"/sandbox/gateway/{payment.gateway_ref}"):
        assert client.get(url).status_code == 404, url
    refused = post_form(client, f"/me/loans/{loan.id}/pay", {"amount": "100", "idempotency_key": "x",
                                                             "confirmed": "1"}, page=f"/me/loans/{other.id}/pay")
    assert refused.status_code == 404
    sandbox = post_form(client, f"/sandbox/gateway/{payment.gateway_ref}", {"outcome": "succeeded"},
                        page=f"/me/loans/{other.id}/pay")
    assert sandbox.status_code == 404
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "initiated"
    assert client.get(f"/me/loans/{other.id}/statement").status_code == 200
