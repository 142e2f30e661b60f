"""Consent management: versioned texts, grant/withdraw with time and IP, the /me/consents page, and the
bureau-check consent gating new scoring."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.bootstrap import ensure_reference_data
from portal.errors import DomainError
from portal.lending import services as lending
from portal.lending.models import LoanApplication
from portal.onboarding import consents
from portal.onboarding.models import Consent, ConsentText
from tests.factories import make_customer, term_product


def test_default_texts_are_version_1_and_idempotent(db):
    ensure_reference_data()
    ensure_reference_data()
    texts = consents.current_texts()
    assert [(t.purpose, t.version, t.required) for t in texts] == [
        ("terms", 1, True), ("kyc_processing", 1, True), ("bureau_check", 1, False), ("marketing", 1, False)]
    assert db.session.scalar(select(func.count()).select_from(ConsentText)) == 4


def test_grant_and_withdraw_record_time_and_ip(db, clock):
    customer = make_customer()
    c = consents.grant(customer, "marketing", now=clock.now(), ip="203.0.113.7")
    assert (c.purpose, c.version, c.granted_at, c.granted_ip, c.withdrawn_at) == \
        ("marketing", 1, clock.now(), "203.0.113.7", None)
    assert consents.grant(customer, "marketing", now=clock.now(), ip="203.0.113.9") is c  # no duplicate
    assert consents.has_consent(customer, "marketing")
    assert set(consents.active_consents(customer)) == {"marketing"}
    clock.advance(hours=2)
    [w] = consents.withdraw(customer, "marketing", now=clock.now(), ip="198.51.100.4")
    assert w is c and (c.withdrawn_at, c.withdrawn_ip) == (clock.now(), "198.51.100.4")
    assert not consents.has_consent(customer, "marketing") and consents.active_consents(customer) == {}
    with pytest.raises(DomainError):
        consents.withdraw(customer, "marketing", now=clock.now(), ip=None)
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "consents")
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["consent.granted", "consent.withdrawn"]


def test_a_new_version_is_granted_as_a_new_row(db, clock):
    customer = make_customer()
    consents.grant(customer, "terms", now=clock.now(), ip="10.0.0.1")
    db.session.add(ConsentText(purpose="terms", version=2, title="Terms of use", body="v2", required=True))
    db.session.flush()
    assert consents.current_text("terms").version == 2
    assert consents.active_consent(customer, "terms").version == 1
    v2 = consents.grant(customer, "terms", now=clock.now(), ip="10.0.0.2")
    assert v2.version == 2 and consents.active_consent(customer, "terms") is v2
    assert len(consents.history(customer)) == 2


def test_consents_page_lists_grants_and_withdrawals_with_time_and_ip(client, db, login_as, clock):
    customer = make_customer()
    db.session.commit()
    login_as(customer.user)
    from tests.conftest import csrf_token

    token = csrf_token(client, "/me/consents")
    r = client.post("/me/consents/bureau_check/grant", data={"csrf_token": token},
                    environ_base={"REMOTE_ADDR": "203.0.113.50"})
    assert r.status_code == 303
    row = db.session.scalar(select(Consent).where(Consent.purpose == "bureau_check"))
    assert row.granted_ip == "203.0.113.50" and row.granted_at == clock.now()
    html = client.get("/me/consents").get_data(as_text=True)
    assert "Credit bureau check and scoring" in html and "203.0.113.50" in html and "23 Nov 2026 10:00 IST" in html

    # withdrawing asks for confirmation first and says what it changes
    confirm = client.get("/me/consents/bureau_check/withdraw").get_data(as_text=True)
    assert "Withdraw your consent" in confirm and "not be able to apply for a new loan" in confirm
    clock.advance(minutes=30)
    r = client.post("/me/consents/bureau_check/withdraw", data={"csrf_token": token},
                    environ_base={"REMOTE_ADDR": "198.51.100.60"})
    assert r.status_code == 303
    db.session.expire_all()
    row = db.session.get(Consent, row.id)
    assert row.withdrawn_ip == "198.51.100.60" and row.withdrawn_at == clock.now()
    html = client.get("/me/consents").get_data(as_text=True)
    assert "Withdrawn" in html and "198.51.100.60" in html and "23 Nov 2026 10:30 IST" in html
    fragment = client.get("/me/consents", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="consent-list">')


def test_consent_forms_need_csrf_and_a_known_purpose(client, db, login_as):
    customer = make_customer()
    db.session.commit()
    login_as(customer.user)
    assert client.post("/me/consents/marketing/grant").status_code == 400
    from tests.conftest import csrf_token

    token = csrf_token(client, "/me/consents")
    assert client.post("/me/consents/nonsense/grant", data={"csrf_token": token}).status_code == 404
    assert client.post("/me/consents/marketing/withdraw", data={"csrf_token": token}).status_code == 409


def test_the_wizard_consents_step_grants_ticked_and_withdraws_unticked(wizard, customer, db):
    wizard.complete(until="consents", consents=())
    assert wizard.consents(("terms", "kyc_processing", "marketing")).status_code == 303
    assert set(consents.active_consents(customer)) == {"terms", "kyc_processing", "marketing"}
    # back on the step the ticks show the grants; unticking an optional one withdraws it
    html = wizard.get("consents").get_data(as_text=True)
    assert 'value="marketing" id="consent-marketing" checked' in html
    assert 'value="bureau_check" id="consent-bureau_check" checked' not in html
    assert wizard.consents(("terms", "kyc_processing", "bureau_check")).status_code == 303
    db.session.expire_all()
    assert set(consents.active_consents(customer)) == {"terms", "kyc_processing", "bureau_check"}


# ---- the bureau-check consent gates new scoring ----------------------------------------------------------------
def _onboarded(clock, *, bureau: bool = True):
    customer = make_customer(salary="100000")
    customer.kyc_status = "submitted"
    for purpose in ("terms", "kyc_processing") + (("bureau_check",) if bureau else ()):
        consents.grant(customer, purpose, now=clock.now(), ip="127.0.0.1")
    return customer


def test_withdrawing_bureau_check_blocks_submit_application(db, clock):
    customer = _onboarded(clock)
    app = lending.submit_application(customer, term_product(), amount=Decimal("50000"), tenure=12,
                                     actor=customer.user, clock=clock)
    assert app.status == "scored"
    consents.withdraw(customer, "bureau_check", now=clock.now(), ip="127.0.0.1")
    with pytest.raises(DomainError, match="You withdrew consent for the bureau check"):
        lending.submit_application(customer, term_product(), amount=Decimal("50000"), tenure=12,
                                   actor=customer.user, clock=clock)
    assert db.session.scalar(select(func.count()).select_from(LoanApplication)) == 1
    consents.grant(customer, "bureau_check", now=clock.now(), ip="127.0.0.1")
    lending.submit_application(customer, term_product(), amount=Decimal("50000"), tenure=12,
                               actor=customer.user, clock=clock)


def test_never_given_bureau_check_blocks_an_onboarded_customer(db, clock):
    customer = _onboarded(clock, bureau=False)
    with pytest.raises(DomainError, match="not given consent for the bureau check"):
        lending.submit_application(customer, term_product(), amount=Decimal("50000"), tenure=12,
                                   actor=customer.user, clock=clock)


def test_customers_not_asked_yet_are_not_blocked(db, clock):
    from portal.onboarding.services import register_customer

    fresh = make_customer()  # kyc_status not_started: never asked
    assert lending.submit_application(fresh, term_product(), amount=Decimal("50000"), tenure=12,
                                      actor=fresh.user, clock=clock).status == "scored"
    imported = register_customer(first_name="I", last_name="M", age=40, phone_number="9000000009",
                                 monthly_salary=Decimal("80000"), source="import")
    imported.kyc_status = "submitted"  # no login: imported from a loan book
    assert lending.submit_application(imported, term_product(), amount=Decimal("50000"), tenure=12,
                                      actor="system", clock=clock).status == "scored"


def test_apply_page_shows_the_refusal(client, db, login_as, clock):
    from tests.conftest import post_form

    customer = _onboarded(clock)
    consents.withdraw(customer, "bureau_check", now=clock.now(), ip="127.0.0.1")
    db.session.commit()
    login_as(customer.user)
    r = post_form(client, "/me/apply", {"product_id": str(term_product().id), "amount": "50000", "tenure": "12",
                                        "idempotency_key": "k1"}, page="/me/apply")
    assert r.status_code == 422 and "You withdrew consent for the bureau check" in r.get_data(as_text=True)


def test_the_instant_eligibility_check_is_refused_too(client, db, login_as, clock):
    from tests.conftest import post_form

    customer = _onboarded(clock)
    consents.withdraw(customer, "bureau_check", now=clock.now(), ip="127.0.0.1")
    db.session.commit()
    login_as(customer.user)
    r = post_form(client, "/me/apply/check", {"product_id": str(term_product().id), "amount": "50000",
                                              "tenure": "12"}, page="/me/apply", headers={"HX-Request": "true"})
    body = r.get_data(as_text=True)
    assert "You withdrew consent for the bureau check" in body and "Credit score" not in body
