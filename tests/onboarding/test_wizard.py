"""The onboarding wizard through its pages: every step as a full page and as an htmx fragment, inline 422
errors, resume, Back without losing input, later steps refused, submit with the initial eligibility."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.onboarding.models import Customer
from tests.onboarding.support import AADHAAR_BAD_CHECKSUM, GSTIN, GSTIN_OTHER_PAN, PAN, STEP_DATA

ALL_STEPS = ("personal", "contact", "employment", "identity", "documents", "consents", "review")


def _fresh(db, customer) -> Customer:
    db.session.expire_all()
    return db.session.get(Customer, customer.id)


# ---- pages and fragments -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("step", ALL_STEPS)
def test_each_step_renders_as_a_full_page_and_as_a_fragment(wizard, step):
    wizard.complete(until=step)
    page = wizard.get(step)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.lstrip().lower().startswith("<!doctype html>")
    number = ALL_STEPS.index(step) + 1
    assert f"Step {number} of 7" in html and 'id="wizard-step"' in html
    assert "HX-Request" in page.headers["Vary"]

    fragment = wizard.get(step, htmx=True)
    assert fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="wizard-step"')
    assert "<html" not in body and f"Step {number} of 7" in body
    assert body.count('id="wizard-step"') == 1


def test_htmx_post_answers_with_the_next_steps_fragment_and_pushes_its_url(wizard, customer, db):
    r = wizard.post("personal", htmx=True)
    assert r.status_code == 200
    assert r.headers["HX-Push-Url"] == "/onboarding/contact"
    body = r.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="wizard-step"') and "Step 2 of 7" in body
    assert 'hx-post="/onboarding/contact"' in body and 'hx-target="#wizard-step"' in body
    c = _fresh(db, customer)
    assert c.onboarding_step == "contact" and c.kyc_status == "in_progress"
    assert c.email == "meera@example.com" and c.date_of_birth.isoformat() == "1990-05-17" and c.age == 36


def test_plain_post_without_htmx_redirects_to_the_next_step(wizard):
    r = wizard.post("personal")
    assert r.status_code == 303 and r.headers["Location"].endswith("/onboarding/contact")
    page = wizard.get("contact")
    assert page.status_code == 200 and "Step 2 of 7" in page.get_data(as_text=True)


def test_progress_indicator_names_every_step(wizard):
    html = wizard.get("personal").get_data(as_text=True)
    for name in ("Personal", "Address", "Income", "Identity", "Documents", "Consents", "Review"):
        assert name in html
    assert 'aria-current="step"' in html


# ---- inline errors -----------------------------------------------------------------------------------------------
def _errors_inline(response, field: str, text: str) -> str:
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="wizard-step"')
    assert f'id="{field}-feedback"' in body and text in body
    return body


def test_age_under_18_is_refused_inline(wizard, customer, db):
    data = {**STEP_DATA["personal"], "date_of_birth": "2010-01-01"}
    body = _errors_inline(wizard.post("personal", data, htmx=True), "date_of_birth", "at least 18")
    assert 'value="Meera"' in body  # the other values are kept
    assert _fresh(db, customer).onboarding_step is None


def test_age_is_counted_on_the_business_date(wizard, customer, db):
    # 23 Nov 2026 is the business date: born 24 Nov 2008 is still 17, born 23 Nov 2008 is 18
    r = wizard.post("personal", {**STEP_DATA["personal"], "date_of_birth": "2008-11-24"}, htmx=True)
    assert r.status_code == 422
    r = wizard.post("personal", {**STEP_DATA["personal"], "date_of_birth": "2008-11-23"}, htmx=True)
    assert r.status_code == 200 and _fresh(db, customer).age == 18


def test_pin_code_with_5_digits_is_refused_inline(wizard):
    wizard.complete(until="contact")
    body = _errors_inline(wizard.post("contact", {**STEP_DATA["contact"], "pincode": "56003"}, htmx=True),
                          "pincode", "6 digits")
    assert 'value="12 MG Road"' in body


def test_state_must_be_an_indian_state(wizard):
    wizard.complete(until="contact")
    _errors_inline(wizard.post("contact", {**STEP_DATA["contact"], "state": "Texas"}, htmx=True), "state",
                   "from the list")


def test_monthly_income_must_be_positive_rupees(wizard):
    wizard.complete(until="employment")
    _errors_inline(wizard.post("employment", {**STEP_DATA["employment"], "monthly_income": "0"}, htmx=True),
                   "monthly_income", "more than zero")
    _errors_inline(wizard.post("employment", {**STEP_DATA["employment"], "monthly_income": "12.5.1"}, htmx=True),
                   "monthly_income", "digits only")


def test_bad_pan_is_refused_inline(wizard, customer, db):
    wizard.complete(until="identity")
    _errors_inline(wizard.post("identity", {**STEP_DATA["identity"], "pan": "ABC1234567"}, htmx=True), "pan",
                   "PAN")
    assert _fresh(db, customer).pan is None


def test_bad_aadhaar_checksum_is_refused_inline_and_never_echoed(wizard, customer, db):
    wizard.complete(until="identity")
    r = wizard.post("identity", {**STEP_DATA["identity"], "aadhaar": AADHAAR_BAD_CHECKSUM}, htmx=True)
    body = _errors_inline(r, "aadhaar", "check digit")
    assert AADHAAR_BAD_CHECKSUM not in body
    c = _fresh(db, customer)
    assert c.aadhaar_encrypted is None and c.onboarding_step == "identity"


def test_business_needs_a_gstin_whose_pan_is_the_pan(wizard, customer, db):
    wizard.complete(until="employment")
    assert wizard.post("employment", {**STEP_DATA["employment"], "employment_type": "business",
                                      "employer_name": "Iyer Traders"}).status_code == 303
    r = wizard.post("identity", {**STEP_DATA["identity"], "gstin": ""}, htmx=True)
    _errors_inline(r, "gstin", "must give its GSTIN")
    r = wizard.post("identity", {**STEP_DATA["identity"], "gstin": GSTIN_OTHER_PAN}, htmx=True)
    _errors_inline(r, "gstin", "is not the PAN you entered")
    r = wizard.post("identity", {**STEP_DATA["identity"], "gstin": GSTIN}, htmx=True)
    assert r.status_code == 200
    c = _fresh(db, customer)
    assert c.is_business and c.gstin == GSTIN and c.pan == PAN and c.onboarding_step == "documents"


def test_a_valid_aadhaar_is_kept_when_another_identity_field_is_wrong(wizard, customer, db):
    wizard.complete(until="identity")
    r = wizard.post("identity", {**STEP_DATA["identity"], "pan": "BAD"}, htmx=True)
    body = _errors_inline(r, "pan", "PAN")
    c = _fresh(db, customer)
    assert c.aadhaar_last4 == "2346" and c.pan is None
    # the customer fixes only the PAN and leaves the Aadhaar box empty
    r = wizard.get("identity").get_data(as_text=True)
    assert "XXXX XXXX 2346" in r and STEP_DATA["identity"]["aadhaar"] not in body
    assert wizard.post("identity", {"pan": PAN, "aadhaar": "", "gstin": ""}).status_code == 303


def test_documents_step_needs_pan_card_and_aadhaar(wizard, customer, db):
    wizard.complete(until="documents")
    r = wizard.post("documents", {}, htmx=True)
    assert r.status_code == 422 and "PAN card and Aadhaar" in r.get_data(as_text=True)
    assert wizard.upload("pan_card").status_code == 200
    r = wizard.post("documents", {}, htmx=True)
    assert r.status_code == 422 and "Upload your Aadhaar to continue" in r.get_data(as_text=True)
    assert wizard.upload("aadhaar").status_code == 200
    r = wizard.post("documents", {}, htmx=True)
    assert r.status_code == 200 and r.headers["HX-Push-Url"] == "/onboarding/consents"


def test_documents_step_shows_the_kyc_upload_form_and_list(wizard):
    wizard.complete(until="documents")
    wizard.upload("pan_card")
    html = wizard.get("documents").get_data(as_text=True)
    assert 'id="kyc-upload-form"' in html and "pan_card.png" in html
    assert 'enctype="multipart/form-data"' in html


def test_required_consents_must_be_ticked(wizard, customer, db):
    wizard.complete(until="consents")
    r = wizard.consents(("terms", "bureau_check"), headers={"HX-Request": "true"})
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    assert 'id="consent-kyc_processing-feedback"' in body
    assert 'value="terms" id="consent-terms" checked' in body  # the ticks are kept
    assert _fresh(db, customer).onboarding_step == "consents"


# ---- navigation --------------------------------------------------------------------------------------------------
def test_resume_goes_to_where_the_customer_stopped(wizard, client, customer, login_as, db):
    r = wizard.get()
    assert r.status_code == 302 and r.headers["Location"].endswith("/onboarding/personal")
    wizard.complete(until="employment")
    # the customer leaves (signs out) and comes back later
    with client.session_transaction() as session:
        session.clear()
    login_as(_fresh(db, customer).user)
    r = wizard.get()
    assert r.status_code == 302 and r.headers["Location"].endswith("/onboarding/employment")
    html = wizard.get("employment").get_data(as_text=True)
    assert "Step 3 of 7" in html


def test_a_later_step_than_reached_redirects_to_the_current_one(wizard):
    wizard.complete(until="contact")
    for step in ("employment", "identity", "review"):
        r = wizard.get(step)
        assert r.status_code == 302 and r.headers["Location"].endswith("/onboarding/contact")
    r = wizard.post("review", {})
    assert r.status_code == 303 and r.headers["Location"].endswith("/onboarding/contact")
    assert wizard.get("nonsense").status_code == 404


def test_back_keeps_saved_values_and_unsaved_input(wizard, customer, db):
    wizard.complete(until="employment")
    # saved values come back on an earlier step
    html = wizard.get("personal").get_data(as_text=True)
    assert 'value="Meera"' in html and 'value="meera@example.com"' in html and 'value="1990-05-17"' in html
    # Back from a half-filled step keeps what was typed, even invalid, without saving it to the profile
    half = {"employment_type": "business", "employer_name": "Iyer Tra", "monthly_income": "12,50"}
    r = wizard.post("employment", half, htmx=True, action="back")
    assert r.status_code == 200 and r.headers["HX-Push-Url"] == "/onboarding/contact"
    assert "Step 2 of 7" in r.get_data(as_text=True) and 'value="12 MG Road"' in r.get_data(as_text=True)
    c = _fresh(db, customer)
    assert c.employment_type is None and c.onboarding_step == "employment"
    html = wizard.get("employment").get_data(as_text=True)
    assert 'value="Iyer Tra"' in html and 'value="12,50"' in html
    assert re.search(r'<input checked [^>]*value="business"', html)


def test_back_without_htmx_redirects_to_the_previous_step(wizard):
    wizard.complete(until="contact")
    r = wizard.post("contact", {**STEP_DATA["contact"], "city": "Mysuru"}, action="back")
    assert r.status_code == 303 and r.headers["Location"].endswith("/onboarding/personal")
    assert 'value="Mysuru"' in wizard.get("contact").get_data(as_text=True)


def test_step_saved_audit_names_fields_but_holds_no_values(wizard, customer, db):
    wizard.complete(until="documents")
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "onboarding.step_saved")
                                .order_by(AuditEvent.id)).all()
    assert [e.changes["step"] for e in events] == ["personal", "contact", "employment", "identity"]
    identity = events[-1].changes
    assert "aadhaar" in identity["fields_changed"] and "pan" in identity["fields_changed"]
    text = repr([e.changes for e in events])
    for value in ("Meera", "meera@example.com", "560038", PAN, "12500", "2346"):
        assert value not in text


# ---- review and submit ---------------------------------------------------------------------------------------------
def test_review_shows_everything_with_edit_links(wizard):
    wizard.complete()
    html = wizard.get("review").get_data(as_text=True)
    for text in ("Meera Iyer", "meera@example.com", "12 MG Road", "Karnataka", "560038", "Infosys",
                 "Rs 12,500.00", PAN, "XXXX XXXX 2346", "pan_card.png"):
        assert text in html
    for step in ("personal", "contact", "employment", "identity", "documents", "consents"):
        assert f'href="/onboarding/{step}"' in html


def test_submit_shows_the_indicative_limit_and_score_band(wizard, customer, db, clock):
    wizard.complete()
    r = wizard.submit()
    assert r.status_code == 303 and r.headers["Location"].endswith("/onboarding/result")
    c = _fresh(db, customer)
    assert c.kyc_status == "submitted" and c.onboarding_submitted_at == clock.now()
    # seed 003: 36 x 12,500 = 4,50,000 -> 5,00,000 (nearest lakh, halves up)
    assert c.monthly_salary == Decimal("12500.00") and c.approved_limit == Decimal("500000.00")
    html = wizard.get(None, follow_redirects=True).get_data(as_text=True)
    assert "Indicative limit" in html and "Rs 5,00,000.00" in html
    # a new borrower scores 40 of 100 (seed 003, no history): band B, offered at 12 % or more
    assert "Score band" in html and "score 40 of 100" in html
    assert '<div class="stat-value">B</div>' in html
    assert "12% p.a. or more" in html
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "onboarding.submitted"))
    assert event.changes["kyc_status"] == ["in_progress", "submitted"] and event.changes["score_band"] == "B"
    # submitted: the wizard is closed, the steps lead to the result
    assert wizard.get("personal").headers["Location"].endswith("/onboarding/result")
    assert wizard.post("personal").status_code == 409


def test_submit_with_htmx_redirects_the_browser_to_the_result(wizard):
    wizard.complete()
    r = wizard.submit(headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/onboarding/result"


def test_submit_rechecks_a_draft_changed_with_back(wizard, customer, db):
    wizard.complete()
    wizard.post("contact", {**STEP_DATA["contact"], "pincode": "123"}, action="back")
    r = wizard.submit(headers={"HX-Request": "true"})
    assert r.status_code == 422 and r.headers["HX-Push-Url"] == "/onboarding/contact"
    assert 'id="pincode-feedback"' in r.get_data(as_text=True)
    assert _fresh(db, customer).kyc_status == "in_progress"


def test_submit_without_bureau_consent_is_not_scored(wizard, customer, db):
    wizard.complete(consents=("terms", "kyc_processing"))
    assert wizard.submit().status_code == 303
    html = wizard.get(None, follow_redirects=True).get_data(as_text=True)
    assert "We did not score your profile" in html and "bureau check" in html
    assert "Indicative limit" not in html
    assert _fresh(db, customer).kyc_status == "submitted"


def test_after_a_kyc_rejection_the_customer_must_upload_again(wizard, customer, db, clock):
    from portal.onboarding import documents
    from portal.onboarding.models import KycDocument
    from tests.factories import make_staff

    wizard.complete()
    assert wizard.submit().status_code == 303
    officer = make_staff("loan_officer")
    doc = db.session.scalar(select(KycDocument).where(KycDocument.kind == "aadhaar"))
    documents.reject_document(doc, reason="The photo is blurred.", actor=officer, now=clock.now())
    db.session.commit()
    assert _fresh(db, customer).kyc_status == "rejected"
    # the wizard opens again where it stopped; a resubmit needs a new upload of the rejected document
    assert wizard.get().headers["Location"].endswith("/onboarding/review")
    r = wizard.submit(headers={"HX-Request": "true"})
    assert r.status_code == 422 and "Upload your Aadhaar again" in r.get_data(as_text=True)
    assert r.headers["HX-Push-Url"] == "/onboarding/documents"
    # the new upload is enough: the KYC module puts the onboarding back to "submitted"; the wizard closes again
    assert wizard.upload("aadhaar").status_code == 200
    assert _fresh(db, customer).kyc_status == "submitted"
    assert wizard.get().headers["Location"].endswith("/onboarding/result")
    # Continue on the documents step (where the re-upload happened) leads to the result, not to a 409
    r = wizard.post("documents", {}, htmx=True)
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/onboarding/result"
    assert "with the officer for KYC review" in wizard.get("result").get_data(as_text=True)
    assert wizard.post("documents", {}).headers["Location"].endswith("/onboarding/result")
    assert wizard.post("personal").status_code == 409  # the other steps stay closed


def test_dashboard_links_to_the_wizard_until_submitted(wizard, client):
    html = client.get("/me").get_data(as_text=True)
    assert "Complete your profile (KYC)" in html and 'href="/onboarding"' in html
    assert "Profile &amp; KYC" in html
    wizard.complete()
    wizard.submit()
    assert "Complete your profile (KYC)" not in client.get("/me").get_data(as_text=True)


def test_another_role_cannot_use_the_wizard(client, db, login_as):
    from tests.factories import make_staff

    login_as(make_staff("loan_officer"))
    db.session.commit()
    assert client.get("/onboarding/personal").status_code == 403
    client.get("/logout")
    with client.session_transaction() as session:
        session.clear()
    r = client.get("/onboarding/personal")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
