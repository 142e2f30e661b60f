"""The onboarding wizard in a real browser (htmx): inline 422 errors, the URL following the steps, leaving and
resuming, Back keeping input, two document uploads, consents, review with the Aadhaar masked, submit and the
initial eligibility. Saves a screenshot of every step at phone and desktop widths (``$E2E_SCREENSHOT_DIR`` when
set, else a pytest temp dir)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import DESKTOP, PHONE, sign_in
from tests.factories import make_customer
from tests.onboarding.support import AADHAAR, PAN, card_png

MOBILE, PASSWORD = "9876502222", "wizard-pass-1"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth + 1"


@pytest.fixture
def shots(tmp_path_factory) -> Path:
    configured = os.environ.get("E2E_SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("wizard-screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def uploads(app, tmp_path):
    previous = app.config.get("UPLOAD_DIR")
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    yield
    app.config["UPLOAD_DIR"] = previous


def _settle(page: Page) -> None:
    expect(page.locator(".htmx-request")).to_have_count(0)


def _continue(page: Page, url_part: str) -> None:
    page.locator("#wizard-step").get_by_role("button", name=re.compile(r"Save and continue|^Continue")).click()
    expect(page).to_have_url(re.compile(re.escape(url_part) + r"$"))
    _settle(page)


def _shoot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"wizard-{name}-{page.viewport_size['width']}.png"), full_page=True)
    assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{name} scrolls sideways at {page.viewport_size['width']} px"


def _upload(page: Page, kind_label: str, filename: str, data: bytes) -> None:
    form = page.locator("#kyc-upload-form")
    form.get_by_label("Document").select_option(label=kind_label)
    form.get_by_label("File").set_input_files({"name": filename, "mimeType": "image/png", "buffer": data})
    form.get_by_role("button", name="Upload").click()
    expect(page.locator("[data-kind]").filter(has_text=filename)).to_be_visible()
    _settle(page)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_customer_completes_the_wizard_in_the_browser(db, new_page, shots, uploads, viewport):
    make_customer(phone=MOBILE, password=PASSWORD, first_name="Meera", last_name="Iyer", salary="30000")
    db.session.commit()
    page = new_page(viewport)
    sign_in(page, MOBILE, PASSWORD, lands_on="/me")
    page.get_by_role("link", name="Complete your profile (KYC)").click()
    expect(page).to_have_url(re.compile(r"/onboarding/personal$"))
    expect(page.get_by_text("Step 1 of 7")).to_be_visible()
    _shoot(page, shots, "1-personal")

    # personal: an under-age date of birth comes back inline (422), the other values kept
    step = page.locator("#wizard-step")
    step.get_by_label("First name").fill("Meera")
    step.get_by_label("Last name").fill("Iyer")
    step.get_by_label("Date of birth").fill("2012-03-04")
    step.get_by_label("Email address").fill("meera@example.com")
    step.get_by_role("button", name="Save and continue").click()
    expect(page.locator("#date_of_birth-feedback")).to_contain_text("at least 18")
    expect(page.get_by_label("First name")).to_have_value("Meera")
    expect(page).to_have_url(re.compile(r"/onboarding/personal$"))
    _shoot(page, shots, "1-personal-error")
    page.get_by_label("Date of birth").fill("1990-05-17")
    _continue(page, "/onboarding/contact")

    # contact
    expect(page.get_by_text("Step 2 of 7")).to_be_visible()
    page.get_by_label("Address line 1").fill("12 MG Road")
    page.get_by_label("City, town or village").fill("Bengaluru")
    page.get_by_label("State or union territory").select_option("Karnataka")
    page.get_by_label("PIN code").fill("56003")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.locator("#pincode-feedback")).to_contain_text("6 digits")
    page.get_by_label("PIN code").fill("560038")
    _shoot(page, shots, "2-contact")
    _continue(page, "/onboarding/employment")

    # employment, then leave and come back: the wizard resumes at identity
    page.get_by_label("Salaried").check()
    page.get_by_label("Employer or business name").fill("Infosys")
    page.get_by_label("Monthly income (Rs)").fill("12500")
    _shoot(page, shots, "3-employment")
    _continue(page, "/onboarding/identity")
    page.goto("/me")
    menu = page.get_by_role("button", name="Open navigation menu")
    if menu.is_visible():  # phone: the top navigation is collapsed
        menu.click()
    page.get_by_role("navigation").get_by_role("link", name="Profile & KYC").click()
    expect(page).to_have_url(re.compile(r"/onboarding/identity$"))

    # identity: Back keeps what was typed here and shows the saved employment values
    page.get_by_label("PAN", exact=True).fill(PAN)
    page.get_by_role("button", name="‹ Back").click()
    expect(page).to_have_url(re.compile(r"/onboarding/employment$"))
    expect(page.get_by_label("Employer or business name")).to_have_value("Infosys")
    _continue(page, "/onboarding/identity")
    expect(page.get_by_label("PAN", exact=True)).to_have_value(PAN)
    page.get_by_label("Aadhaar number").fill(AADHAAR)
    _shoot(page, shots, "4-identity")
    _continue(page, "/onboarding/documents")

    # documents: Continue needs both; two uploads through the KYC form
    page.locator("#wizard-step").get_by_role("button", name="Continue").click()
    expect(page.locator("#wizard-notice")).to_contain_text("PAN card and Aadhaar")
    _upload(page, "PAN card", "pan.png", card_png("INCOME TAX DEPARTMENT", PAN))
    _upload(page, "Aadhaar", "aadhaar.png", card_png("AADHAAR", "XXXX XXXX 2346"))
    expect(page.locator("#documents-missing")).to_contain_text("you can continue")
    _shoot(page, shots, "5-documents")
    _continue(page, "/onboarding/consents")

    # consents: the required ones must be ticked
    page.get_by_label("Terms of use").check()
    page.locator("#wizard-step").get_by_role("button", name="Save and continue").click()
    expect(page.locator("#consent-kyc_processing-feedback")).to_be_visible()
    page.get_by_label("KYC processing").check()
    page.get_by_label("Credit bureau check and scoring").check()
    _shoot(page, shots, "6-consents")
    _continue(page, "/onboarding/review")

    # review: the Aadhaar masked; submit shows the indicative limit and the band
    review = page.locator("#wizard-step")
    expect(review).to_contain_text("XXXX XXXX 2346")
    expect(review).not_to_contain_text(AADHAAR)
    _shoot(page, shots, "7-review")
    page.get_by_role("button", name="Submit my profile").click()
    expect(page).to_have_url(re.compile(r"/onboarding/result$"))
    expect(page.locator("#initial-eligibility")).to_contain_text("Rs 5,00,000.00")
    expect(page.locator("#initial-eligibility")).to_contain_text("Score band")
    _shoot(page, shots, "8-result")
    assert AADHAAR not in page.content()

    page.goto("/me/consents")
    expect(page.get_by_role("heading", name="My consents")).to_be_visible()
    _shoot(page, shots, "9-consents-page")
    page.get_by_role("link", name=re.compile("Withdraw… Credit bureau")).click()
    _shoot(page, shots, "10-withdraw-confirm")
    page.get_by_role("button", name="Withdraw consent").click()
    expect(page.locator("#consent-bureau_check")).to_contain_text("Withdrawn")
    # the inline errors are 422 answers by design (Chromium logs each as a failed resource): nothing else
    assert [p for p in page.problems if "status of 422" not in p] == []
