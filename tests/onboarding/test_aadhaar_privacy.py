"""The Aadhaar number: encrypted at rest, only XXXX XXXX 1234 after entry (pages, fragments, audit, logs)."""
from __future__ import annotations

import logging
import re

from sqlalchemy import select, text

from portal.audit.models import AuditEvent
from portal.crypto import decrypt
from portal.onboarding.models import Customer
from tests.onboarding.support import AADHAAR, STEP_DATA

SPACED = f"{AADHAAR[:4]} {AADHAAR[4:8]} {AADHAAR[8:]}"
PAGES = ("/onboarding/personal", "/onboarding/contact", "/onboarding/employment", "/onboarding/identity",
         "/onboarding/documents", "/onboarding/consents", "/onboarding/review")


def _assert_absent(html: str, where: str) -> None:
    assert AADHAAR not in html and SPACED not in html and AADHAAR[:8] not in html, where


def test_aadhaar_is_encrypted_at_rest(wizard, customer, db):
    wizard.complete(until="documents")
    raw = db.session.execute(text("SELECT aadhaar_encrypted, aadhaar_last4, onboarding_data::text FROM customers "
                                  "WHERE id = :id"), {"id": customer.id}).one()
    blob = bytes(raw[0])
    assert AADHAAR.encode() not in blob and AADHAAR not in blob.decode("latin-1")
    assert raw[1] == "2346" and AADHAAR not in (raw[2] or "") and "aadhaar" not in (raw[2] or "")
    db.session.expire_all()
    assert decrypt(db.session.get(Customer, customer.id).aadhaar_encrypted) == AADHAAR


def test_aadhaar_is_masked_on_every_page_audit_and_log(wizard, customer, db, client, caplog):
    caplog.set_level(logging.DEBUG)
    seen = []
    r = wizard.post("identity", STEP_DATA["identity"])  # not reached yet: refused without echo
    seen.append(r.get_data(as_text=True))
    wizard.complete(until="identity")
    for htmx in (True, False):
        r = wizard.post("identity", htmx=htmx)
        seen.append(r.get_data(as_text=True))
        if not htmx:
            seen.append(client.get(r.headers["Location"]).get_data(as_text=True))
        wizard.get("identity")  # stay reachable
    wizard.complete()
    for url in PAGES:
        for headers in ({}, {"HX-Request": "true"}):
            page = client.get(url, headers=headers).get_data(as_text=True)
            seen.append(page)
            _assert_absent(page, url)
    identity = client.get("/onboarding/identity").get_data(as_text=True)
    assert "XXXX XXXX 2346" in identity and re.search(r'<input [^>]*name="aadhaar"[^>]*value=""', identity)
    assert "Re-enter to change" in identity
    assert "XXXX XXXX 2346" in client.get("/onboarding/review").get_data(as_text=True)
    wizard.submit()
    for url in ("/onboarding/result", "/me", "/me/documents", "/me/consents"):
        page = client.get(url).get_data(as_text=True)
        _assert_absent(page, url)
    for html in seen:
        _assert_absent(html, "wizard response")
    # the audit table, every column as text
    rows = db.session.execute(text("SELECT row_to_json(a)::text FROM audit_events a")).scalars().all()
    assert rows and all(AADHAAR not in row for row in rows)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "onboarding.step_saved"))
    # logs
    assert AADHAAR not in caplog.text and SPACED not in caplog.text


def test_a_wrong_aadhaar_is_not_echoed_back_either(wizard):
    wizard.complete(until="identity")
    wrong = "234123412345"
    for htmx in (True, False):
        r = wizard.post("identity", {**STEP_DATA["identity"], "aadhaar": wrong}, htmx=htmx)
        assert r.status_code == 422 and wrong not in r.get_data(as_text=True)


def test_changing_the_aadhaar_needs_the_full_number_again(wizard, customer, db):
    wizard.complete(until="documents")
    other = "499118665246"
    from stdnum.in_ import aadhaar

    assert aadhaar.is_valid(other)
    r = wizard.post("identity", {**STEP_DATA["identity"], "aadhaar": other})
    assert r.status_code == 303
    db.session.expire_all()
    c = db.session.get(Customer, customer.id)
    assert c.aadhaar_last4 == "5246" and decrypt(c.aadhaar_encrypted) == other


def test_aadhaar_card_read_by_ocr_stays_masked_in_pages_audit_and_logs(client, customer, db, caplog):
    """The documents step with the real OCR job (eager, Tesseract): an Aadhaar card image that carries the full
    number; the wizard pages, the KYC rows shown in them, the audit table and the log never show it whole."""
    from datetime import date

    from portal.onboarding import sample_cards
    from portal.onboarding.models import KycDocument
    from tests.onboarding.support import Wizard

    caplog.set_level(logging.DEBUG)
    wizard = Wizard(client)
    card = sample_cards.to_bytes(sample_cards.aadhaar_card(name="Meera Iyer", date_of_birth=date(1990, 5, 17),
                                                           aadhaar=AADHAAR), "PNG")
    wizard.complete(until="documents")
    assert wizard.upload("aadhaar", card, f"aadhaar-{AADHAAR}.png").status_code == 200
    assert wizard.upload("pan_card").status_code == 200
    doc = db.session.scalar(select(KycDocument).where(KycDocument.kind == "aadhaar"))
    db.session.refresh(doc)
    assert doc.ocr_status in ("done", "unavailable", "failed"), doc.ocr_status
    for url in PAGES[:5]:
        _assert_absent(client.get(url).get_data(as_text=True), url)
    assert wizard.post("documents", {}).status_code == 303
    rows = db.session.execute(text("SELECT row_to_json(a)::text FROM audit_events a")).scalars().all()
    assert all(AADHAAR not in row for row in rows)
    stored = db.session.execute(text("SELECT row_to_json(k)::text FROM kyc_documents k")).scalars().all()
    assert all(AADHAAR not in row for row in stored)
    assert AADHAAR not in caplog.text and SPACED not in caplog.text
