"""KYC documents in Chromium: a customer uploads a PAN card and an Aadhaar and watches OCR finish live (the list
polls itself; the job runs in a background thread), a loan officer sees the OCR result beside the typed values
and approves both, and the customer sees KYC verified. Screenshots of the pages at phone and desktop widths."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.crypto import encrypt
from portal.onboarding import sample_cards
from tests.e2e.support import DESKTOP, PHONE, sign_in, sign_out
from tests.factories import make_customer, make_staff
from tests.kyc.conftest import AADHAAR, DOB, PAN, app_config

PASSWORD = "kyc-e2e-pass-1"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth + 1"


@pytest.fixture
def shot_dir(tmp_path_factory) -> Path:
    configured = os.environ.get("E2E_SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("kyc-screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_upload_watch_ocr_review_and_verify(app, db, clock, new_page, tmp_path, shot_dir):
    customer = make_customer(phone="9876500042", password=PASSWORD, first_name="Asha", last_name="Rao")
    customer.pan, customer.date_of_birth = PAN, DOB
    customer.aadhaar_encrypted, customer.aadhaar_last4 = encrypt(AADHAAR), AADHAAR[-4:]
    make_staff("loan_officer", email="kyc-officer@example.test", password=PASSWORD)
    db.session.commit()
    pan_file, aadhaar_file = tmp_path / "pan.png", tmp_path / "aadhaar.jpg"
    pan_file.write_bytes(sample_cards.to_bytes(sample_cards.pan_card(name="Asha Rao", date_of_birth=DOB, pan=PAN)))
    aadhaar_file.write_bytes(sample_cards.to_bytes(
        sample_cards.aadhaar_card(name="Asha Rao", date_of_birth=DOB, aadhaar=AADHAAR), "JPEG"))
    grouped = " ".join(AADHAAR[i:i + 4] for i in range(0, 12, 4))

    with app_config(app, UPLOAD_DIR=str(tmp_path / "uploads"), JOBS_MODE="thread"):
        page = new_page(DESKTOP)
        sign_in(page, "9876500042", PASSWORD)
        page.get_by_role("link", name="Documents").first.click()
        expect(page).to_have_url(re.compile(r"/me/documents$"))
        documents = page.locator(f"#customer-{customer.id}-documents")
        expect(documents).to_contain_text("No documents yet")

        for kind, path in (("PAN card", pan_file), ("Aadhaar", aadhaar_file)):
            page.get_by_label("Document", exact=True).select_option(label=kind)
            page.get_by_label("File", exact=True).set_input_files(str(path))
            page.get_by_role("button", name="Upload").click()
            expect(documents.locator("[data-kind]").filter(has_text=kind)).to_be_visible()
        # OCR runs in a background thread; the list polls itself until both are read
        expect(documents.locator('[data-match="match"]')).to_have_count(2, timeout=30_000)
        expect(documents).to_have_attribute("data-ocr-working", "false")

        # a refused upload keeps the page and says why
        bad = tmp_path / "notes.jpg"
        bad.write_text("not really a picture")
        page.get_by_label("Document", exact=True).select_option(label="Voter ID")
        page.get_by_label("File", exact=True).set_input_files(str(bad))
        page.get_by_role("button", name="Upload").click()
        expect(page.locator("#kyc-upload-error")).to_contain_text("is not a JPEG, PNG or PDF file")

        for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            page.goto("/me/documents")
            page.screenshot(path=str(shot_dir / f"{size_name}-customer_me_documents.png"), full_page=True)
            assert page.evaluate(NO_SIDEWAYS_SCROLL), f"/me/documents scrolls sideways at {size_name}"
            assert AADHAAR not in page.content() and grouped not in page.content()
        sign_out(page)

        sign_in(page, "kyc-officer@example.test", PASSWORD)
        page.goto("/staff/kyc")
        page.get_by_role("link", name="Asha Rao").click()
        review = page.locator(f"#customer-{customer.id}-kyc-review")
        pan_card = review.locator('[data-kind="pan_card"]')
        expect(pan_card.locator('tr[data-field="pan"]')).to_contain_text(PAN)
        expect(review.locator('[data-typed="aadhaar"]')).to_have_text(f"XXXX XXXX {AADHAAR[-4:]}")
        for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            for url in ("/staff/kyc", f"/staff/kyc/{customer.id}"):
                page.goto(url)
                name = f"{size_name}-officer{url.replace('/', '_')}.png"
                page.screenshot(path=str(shot_dir / name), full_page=True)
                assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{url} scrolls sideways at {size_name}"
                assert AADHAAR not in page.content() and grouped not in page.content()
        page.set_viewport_size(DESKTOP)
        page.goto(f"/staff/kyc/{customer.id}")
        review.locator('[data-kind="pan_card"] [data-action="approve"]').click()
        expect(review).to_contain_text("PAN card approved.")
        review.locator('[data-kind="aadhaar"] [data-action="approve"]').click()
        expect(review).to_have_attribute("data-kyc-status", "verified")
        sign_out(page)

        sign_in(page, "9876500042", PASSWORD)
        page.goto("/me/documents")
        expect(page.locator(f"#customer-{customer.id}-documents [data-kyc-status]")).to_have_text("Verified")
        # the refused upload above is answered 422 on purpose; anything else is a problem
        assert [p for p in page.problems if "status of 422" not in p] == []
