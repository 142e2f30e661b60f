"""KYC review by loan officers: the queue, the review screen (document beside OCR result and typed values,
Aadhaar masked), approve / reject with a reason, the customer's KYC status following, in-app notifications,
audit, permissions."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.extensions import db as _db
from portal.notifications.models import Notification
from portal.onboarding.models import Customer, KycDocument
from tests.conftest import csrf_token
from tests.factories import make_staff
from tests.kyc.conftest import AADHAAR, DOB, PAN, aadhaar_png, make_kyc_customer, pan_png, upload

GROUPED = " ".join(AADHAAR[i:i + 4] for i in range(0, 12, 4))


@pytest.fixture
def customer(db):
    customer = make_kyc_customer()
    db.session.commit()
    return customer


@pytest.fixture
def officer(db):
    officer = make_staff("loan_officer")
    db.session.commit()
    return officer


def uploaded(client, login_as, customer, *kinds):
    """Upload the customer's cards (OCR runs eagerly in tests) and return the documents by kind."""
    login_as(customer.user)
    files = {"pan_card": (pan_png(), "pan.png"), "aadhaar": (aadhaar_png(), "aadhaar.png")}
    for kind in kinds:
        data, name = files[kind]
        assert upload(client, kind, data, name).status_code == 200
    _db.session.expire_all()
    return {d.kind: d for d in _db.session.scalars(select(KycDocument).where(
        KycDocument.customer_id == customer.id, KycDocument.superseded_at.is_(None)))}


def post(client, url, data=None, htmx=True):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(url, headers=headers, data={**(data or {}), "csrf_token": csrf_token(client, "/staff/kyc")})


def fresh(customer_id: int) -> Customer:
    _db.session.expire_all()
    return _db.session.get(Customer, customer_id)


def test_queue_lists_customers_with_pending_documents_oldest_first(client, login_as, officer, clock, db):
    first = make_kyc_customer(first_name="Meera", last_name="Iyer")
    second = make_kyc_customer(first_name="Ravi", last_name="Kumar")
    make_kyc_customer(first_name="Idle", last_name="Person")
    db.session.commit()
    uploaded(client, login_as, second, "pan_card")
    clock.advance(minutes=1)
    uploaded(client, login_as, first, "pan_card", "aadhaar")
    login_as(officer)
    response = client.get("/staff/kyc")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "KYC queue <span class=\"text-body-secondary fw-normal\">(2)</span>" in html
    assert html.index("Ravi Kumar") < html.index("Meera Iyer") and "Idle Person" not in html
    assert "Documents waiting <strong>3</strong>" in html
    assert '<a class="nav-link active" href="/staff/kyc" aria-current="page">KYC queue</a>' in html


def test_a_submitted_customer_without_documents_is_in_the_queue(client, login_as, officer, customer):
    customer.kyc_status = "submitted"
    _db.session.commit()
    login_as(officer)
    assert customer.name in client.get("/staff/kyc").get_data(as_text=True)


def test_review_screen_shows_ocr_beside_typed_values_and_never_the_whole_aadhaar(
        client, login_as, officer, customer, caplog):
    caplog.set_level(logging.DEBUG)
    docs = uploaded(client, login_as, customer, "pan_card", "aadhaar")
    login_as(officer)
    page = client.get(f"/staff/kyc/{customer.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'id="customer-{customer.id}-kyc-review"' in html and "<html" in html
    assert f"<code>{PAN}</code>" in html                            # read by OCR and typed
    assert f"XXXX XXXX {AADHAAR[-4:]}" in html
    assert DOB.strftime("%d/%m/%Y") in html and "ASHA RAO" in html
    assert html.count('data-match="match"') >= 2 and "OCR text" in html
    assert f'src="/staff/kyc/documents/{docs["pan_card"].id}/file"' in html
    assert AADHAAR not in html and GROUPED not in html
    fragment = client.get(f"/staff/kyc/{customer.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and fragment.lstrip().startswith(f'<div id="customer-{customer.id}-kyc-review"')
    image = client.get(f"/staff/kyc/documents/{docs['aadhaar'].id}/file")
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data == aadhaar_png()
    assert AADHAAR not in caplog.text and GROUPED not in caplog.text


def test_approving_both_required_documents_verifies_kyc_and_tells_the_customer(
        client, login_as, officer, customer, clock):
    customer.email = "asha@example.test"
    _db.session.commit()
    docs = uploaded(client, login_as, customer, "pan_card", "aadhaar")
    assert fresh(customer.id).kyc_status == "in_progress"
    login_as(officer)
    response = post(client, f"/staff/kyc/documents/{docs['pan_card'].id}/approve")
    assert response.status_code == 200 and response.headers["HX-Trigger"] == "kyc-changed"
    assert "PAN card approved." in response.get_data(as_text=True)
    assert fresh(customer.id).kyc_status == "in_progress"
    response = post(client, f"/staff/kyc/documents/{docs['aadhaar'].id}/approve")
    assert 'data-kyc-status="verified"' in response.get_data(as_text=True)
    customer = fresh(customer.id)
    assert customer.kyc_status == "verified"
    doc = _db.session.get(KycDocument, docs["pan_card"].id)
    assert (doc.review_status, doc.reviewed_by_id, doc.reviewed_at) == ("approved", officer.id, clock.now())
    notes = _db.session.scalars(select(Notification).where(Notification.customer_id == customer.id)
                                .order_by(Notification.id)).all()
    # the templated event kyc.document_approved, per approval: in-app and email (the customer has an address)
    assert [(n.channel, n.event, n.user_id, n.category) for n in notes] == [
        (channel, "kyc.document_approved", customer.user_id, "service")
        for channel in ("in_app", "email", "in_app", "email")]
    assert notes[0].body == "Your PAN card has been approved."  # KYC not verified yet: no such sentence
    assert notes[2].body == "Your Aadhaar has been approved. Your KYC is now verified."
    assert (notes[3].subject, notes[3].recipient) == ("Your Aadhaar is approved", "asha@example.test")
    assert notes[3].body == ("Dear Asha Rao,\n\nYour Aadhaar has been approved. Your KYC is now verified."
                             "\n\n— Credit Lifecycle Portal")
    assert notes[0].recipient == customer.phone_number
    actions = [e.action for e in _db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("kyc_document.approved") == 2 and "customer.kyc_status_changed" in actions
    # the customer sees it
    login_as(customer.user)
    assert 'data-kyc-status="verified"' in client.get("/me/documents").get_data(as_text=True)


def test_rejecting_needs_a_reason_then_rejects_and_a_re_upload_resubmits(client, login_as, officer, customer):
    docs = uploaded(client, login_as, customer, "pan_card", "aadhaar")
    login_as(officer)
    url = f"/staff/kyc/documents/{docs['aadhaar'].id}/reject"
    missing = post(client, url, {"reason": "  "})
    assert missing.status_code == 422 and "Give a reason" in missing.get_data(as_text=True)
    assert _db.session.get(KycDocument, docs["aadhaar"].id).review_status == "pending"
    response = post(client, url, {"reason": "The photo is blurred"})
    assert response.status_code == 200
    assert fresh(customer.id).kyc_status == "rejected"
    doc = _db.session.get(KycDocument, docs["aadhaar"].id)
    assert doc.review_status == "rejected" and doc.review_reason == "The photo is blurred"
    notes = {n.channel: n for n in _db.session.scalars(select(Notification).where(
        Notification.event == "kyc.document_rejected"))}
    assert set(notes) == {"in_app", "sms"}  # templated event; no email address on file
    assert notes["in_app"].body == "Your Aadhaar was not accepted: The photo is blurred. Please upload it again."
    assert notes["sms"].body == "Your Aadhaar was not accepted. Upload it again in the Credit Lifecycle Portal."
    event = _db.session.scalar(select(AuditEvent).where(AuditEvent.action == "kyc_document.rejected"))
    assert event.note == "The photo is blurred" and event.actor_id == officer.id

    login_as(customer.user)
    assert "The photo is blurred" in client.get("/me/documents").get_data(as_text=True)
    upload(client, "aadhaar", aadhaar_png(), "aadhaar-again.png")
    assert fresh(customer.id).kyc_status == "submitted"     # back in the queue
    login_as(officer)
    html = client.get(f"/staff/kyc/{customer.id}").get_data(as_text=True)
    assert "Earlier uploads (1)" in html and "aadhaar-again.png" in html


def test_reviewing_a_superseded_document_is_refused(client, login_as, officer, customer):
    docs = uploaded(client, login_as, customer, "pan_card")
    upload(client, "pan_card", pan_png(), "pan2.png")
    login_as(officer)
    response = post(client, f"/staff/kyc/documents/{docs['pan_card'].id}/approve")
    assert response.status_code == 409
    assert "replaced by a newer upload" in response.get_data(as_text=True)


def test_review_without_htmx_redirects_back_with_a_flash(client, login_as, officer, customer):
    docs = uploaded(client, login_as, customer, "pan_card")
    login_as(officer)
    response = post(client, f"/staff/kyc/documents/{docs['pan_card'].id}/approve", htmx=False)
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/staff/kyc/{customer.id}")
    missing = post(client, f"/staff/kyc/documents/{docs['pan_card'].id}/reject", {"reason": ""}, htmx=False)
    assert missing.status_code == 422 and "<html" in missing.get_data(as_text=True)


@pytest.mark.parametrize("role", ["customer", "support"])
def test_staff_pages_need_the_review_permission(client, login_as, customer, role):
    user = customer.user if role == "customer" else make_staff(role)
    _db.session.commit()
    login_as(user)
    assert client.get("/staff/kyc").status_code == 403
    assert client.get(f"/staff/kyc/{customer.id}").status_code == 403


def test_staff_cannot_use_the_customer_pages(client, login_as, officer):
    login_as(officer)
    assert client.get("/me/documents").status_code == 403


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get("/staff/kyc")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/me/documents/panel", headers={"HX-Request": "true"}).status_code == 401


def test_a_business_customer_needs_pan_and_aadhaar_only(client, login_as, officer, db):
    business = make_kyc_customer(first_name="Asha", last_name="Rao")
    business.is_business = True
    db.session.commit()
    docs = uploaded(client, login_as, business, "pan_card", "aadhaar")
    login_as(officer)
    for doc in docs.values():
        post(client, f"/staff/kyc/documents/{doc.id}/approve")
    assert fresh(business.id).kyc_status == "verified"
