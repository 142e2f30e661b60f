"""Alerts raised by events, through the real services: the second bounce of a loan (once per loan), a
prepayment at or above the rule's amount (not below it, once per payment), a KYC document whose OCR disagrees
with the typed data (real Tesseract), and ``raise_event_alert`` itself (inactive rules, unknown kinds, flush
without commit)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.alerts.models import Alert
from portal.alerts.services import raise_event_alert
from portal.audit.models import AuditEvent
from portal.auth.services import default_institution
from portal.servicing import services
from tests.alerts.conftest import builtin_rule
from tests.servicing.payments_support import disbursed_loan

D = Decimal


def alerts_of(db, kind: str) -> list[Alert]:
    db.session.expire_all()
    return list(db.session.scalars(select(Alert).where(Alert.kind == kind).order_by(Alert.id)))


def pay(loan, amount, clock, key):
    return services.record_repayment(loan, amount=D(amount), idempotency_key=key, channel="officer", actor="test",
                                     clock=clock)


def test_the_second_bounce_raises_one_two_bounces_alert(db, clock):
    loan = disbursed_loan(clock)
    payments = [pay(loan, "1000.00", clock, f"chq-{n}") for n in range(3)]
    db.session.commit()
    services.bounce_payment(payments[2], actor="system", clock=clock, reason="Cheque returned")
    db.session.commit()
    assert alerts_of(db, "two_bounces") == []  # one bounce: no alert
    services.bounce_payment(payments[1], actor="system", clock=clock, reason="Cheque returned")
    db.session.commit()
    (alert,) = alerts_of(db, "two_bounces")
    assert (alert.loan_id, alert.customer_id, alert.rule.builtin_key) == (loan.id, loan.customer_id, "two_bounces")
    assert alert.detail == {"bounce_count": 2, "payment_id": payments[1].id} and alert.status == "open"
    assert "2 bounced payments" in alert.summary
    services.bounce_payment(payments[0], actor="system", clock=clock, reason="Cheque returned")
    db.session.commit()
    assert len(alerts_of(db, "two_bounces")) == 1  # the third bounce: still one alert for the loan
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert.raised",
                                                      AuditEvent.entity_id == str(alert.id)))


def test_a_large_prepayment_raises_its_alert_and_a_small_one_does_not(db, clock):
    rule = builtin_rule("large_prepayment")
    rule.threshold_amount = D("20000.00")
    db.session.commit()
    loan = disbursed_loan(clock)
    emi = loan.installments[0].installment_amount
    pay(loan, emi + D("19999.99"), clock, "small")  # the EMI and a prepayment of 19,999.99: below the rule
    db.session.commit()
    assert alerts_of(db, "large_prepayment") == []
    payment = pay(loan, D("20000.00"), clock, "big")  # all prepayment (the current EMI is paid)
    db.session.commit()
    assert payment.allocation["prepayment"] == "20000.00"
    (alert,) = alerts_of(db, "large_prepayment")
    assert alert.loan_id == loan.id and alert.detail["amount"] == "20000.00"
    assert alert.detail["payment_id"] == payment.id and alert.severity == "info"
    assert "prepayment of Rs 20,000.00" in alert.summary
    # the same idempotency key again returns the first payment and raises nothing
    pay(loan, D("20000.00"), clock, "big")
    db.session.commit()
    assert len(alerts_of(db, "large_prepayment")) == 1


def test_an_ocr_mismatch_raises_a_kyc_mismatch_alert(db, clock, app, tmp_path):
    from portal.onboarding.documents import upload_document
    from tests.kyc.conftest import app_config, make_kyc_customer, pan_png

    with app_config(app, UPLOAD_DIR=str(tmp_path / "uploads")):
        customer = make_kyc_customer(pan="ABCPE9999F")  # the card says ABCPE1234F
        doc = upload_document(customer, kind="pan_card", filename="pan.png", data=pan_png(), actor=customer.user,
                              now=clock.now())
        db.session.commit()  # OCR runs after the commit (TestConfig: eager jobs), with the real Tesseract
    (alert,) = alerts_of(db, "kyc_mismatch")
    assert alert.customer_id == customer.id and alert.loan_id is None
    assert alert.detail == {"document_id": doc.id, "document_kind": "pan_card"}
    assert "ABCPE" not in repr(alert.detail)  # ids and kinds only, no identity numbers


def test_a_matching_document_raises_nothing(db, clock, app, tmp_path):
    from portal.onboarding.documents import upload_document
    from tests.kyc.conftest import app_config, make_kyc_customer, pan_png

    with app_config(app, UPLOAD_DIR=str(tmp_path / "uploads")):
        customer = make_kyc_customer()
        upload_document(customer, kind="pan_card", filename="pan.png", data=pan_png(), actor=customer.user,
                        now=clock.now())
        db.session.commit()
    assert alerts_of(db, "kyc_mismatch") == []


def test_raise_event_alert_flushes_only_and_respects_active_and_kind(db, clock):
    inst = default_institution().id
    (alert,) = raise_event_alert("promise_to_pay_broken", institution_id=inst, now=clock.now(),
                                 detail={"promise_id": 4, "amount": D("1500.00")})
    assert alert.id is not None and alert.detail == {"promise_id": 4, "amount": "1500.00"}
    db.session.rollback()  # never committed by the service
    assert alerts_of(db, "promise_to_pay_broken") == []
    builtin_rule("promise_to_pay_broken").active = False
    db.session.commit()
    assert raise_event_alert("promise_to_pay_broken", institution_id=inst, now=clock.now()) == []
    with pytest.raises(ValueError, match="unknown alert kind"):
        raise_event_alert("volcano", institution_id=inst, now=clock.now())
    # a dedupe key raises at most once per rule
    builtin_rule("promise_to_pay_broken").active = True
    first = raise_event_alert("promise_to_pay_broken", institution_id=inst, now=clock.now(), dedupe_key="ptp:9")
    again = raise_event_alert("promise_to_pay_broken", institution_id=inst, now=clock.now(), dedupe_key="ptp:9")
    assert len(first) == 1 and again == []
