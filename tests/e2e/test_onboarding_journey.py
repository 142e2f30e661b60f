"""Issue 3's "Done when" journey in Chromium, end to end: a new customer signs in by OTP (the code read from the
dev inbox), goes through the wizard with two uploads (PAN card and Aadhaar drawn with ``sample_cards``), leaves
after the documents step, signs in by OTP again and resumes at the consents step, submits and sees the
indicative limit and score band; a loan officer sees the OCR result beside the typed PAN and approves both
documents; the customer signs in a third time (the third and last OTP the rate limit allows for the number) and
sees KYC verified. Every page visited is collected and checked for the whole Aadhaar number.

OCR runs as in test_kyc_documents.py: ``JOBS_MODE="thread"`` (the job starts in a background thread after the
upload's commit) and the document list polls itself until both documents are read."""
from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Page, expect

from portal.onboarding import sample_cards
from tests.e2e.support import DESKTOP, sign_in, sign_out
from tests.factories import make_staff
from tests.kyc.conftest import app_config
from tests.onboarding.support import AADHAAR, PAN

MOBILE = "9876503333"
OFFICER, OFFICER_PASSWORD = "journey-officer@example.test", "journey-pass-1"
DOB = date(1990, 5, 17)
GROUPED_AADHAAR = " ".join(AADHAAR[i:i + 4] for i in range(0, 12, 4))


class Pages:
    """The HTML of every page (and state after each htmx swap) seen, to check for the whole Aadhaar."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def keep(self, page: Page) -> None:
        self.seen.append((page.url, page.content()))

    def assert_no_whole_aadhaar(self) -> None:
        leaks = [url for url, html in self.seen if AADHAAR in html or GROUPED_AADHAAR in html]
        assert leaks == [], f"the whole Aadhaar number appears on {leaks}"


def _settle(page: Page) -> None:
    expect(page.locator(".htmx-request")).to_have_count(0)


def _continue(page: Page, pages: Pages, url_part: str) -> None:
    page.locator("#wizard-step").get_by_role("button", name=re.compile(r"Save and continue|^Continue")).click()
    expect(page).to_have_url(re.compile(re.escape(url_part) + r"$"))
    _settle(page)
    pages.keep(page)


def _otp_sign_in(page: Page, inbox: Page, pages: Pages) -> None:
    """Request a code for MOBILE, read it from the newest message to that number in the dev inbox, enter it."""
    page.goto("/login/otp")
    page.get_by_label("Mobile number").fill(MOBILE)
    page.get_by_role("button", name="Send code").click()
    expect(page).to_have_url(re.compile(r"/login/otp/verify$"))
    pages.keep(page)
    inbox.goto(f"/dev/inbox?to={MOBILE}")
    newest = inbox.locator("#dev-inbox-table tbody tr").first
    expect(newest).to_contain_text("sign-in code")
    pages.keep(inbox)
    code = re.search(r"\b(\d{6})\b", newest.locator(".dev-inbox-body").inner_text()).group(1)
    page.get_by_label("6-digit code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/me$"))
    pages.keep(page)


def test_new_customer_onboards_by_otp_and_gets_kyc_verified(app, db, new_page, tmp_path):
    make_staff("loan_officer", email=OFFICER, password=OFFICER_PASSWORD)
    db.session.commit()
    pan_png = sample_cards.to_bytes(sample_cards.pan_card(name="Meera Iyer", date_of_birth=DOB, pan=PAN))
    aadhaar_png = sample_cards.to_bytes(sample_cards.aadhaar_card(name="Meera Iyer", date_of_birth=DOB,
                                                                  aadhaar=AADHAAR))
    pages = Pages()

    with app_config(app, UPLOAD_DIR=str(tmp_path / "uploads"), JOBS_MODE="thread"):
        page, inbox = new_page(DESKTOP), new_page(DESKTOP)

        # 1. first OTP sign-in creates the customer; the wizard starts at step 1
        _otp_sign_in(page, inbox, pages)
        page.get_by_role("link", name="Complete your profile (KYC)").click()
        expect(page).to_have_url(re.compile(r"/onboarding/personal$"))
        expect(page.get_by_text("Step 1 of 7")).to_be_visible()
        step = page.locator("#wizard-step")
        step.get_by_label("First name").fill("Meera")
        step.get_by_label("Last name").fill("Iyer")
        step.get_by_label("Date of birth").fill(DOB.isoformat())
        step.get_by_label("Email address").fill("meera.journey@example.com")
        _continue(page, pages, "/onboarding/contact")

        page.get_by_label("Address line 1").fill("12 MG Road")
        page.get_by_label("City, town or village").fill("Bengaluru")
        page.get_by_label("State or union territory").select_option("Karnataka")
        page.get_by_label("PIN code").fill("560038")
        _continue(page, pages, "/onboarding/employment")

        page.get_by_label("Salaried").check()
        page.get_by_label("Employer or business name").fill("Infosys")
        page.get_by_label("Monthly income (Rs)").fill("45000")
        _continue(page, pages, "/onboarding/identity")

        page.get_by_label("PAN", exact=True).fill(PAN)
        page.get_by_label("Aadhaar number").fill(AADHAAR)
        _continue(page, pages, "/onboarding/documents")

        # 2. documents: two uploads through the KYC form; OCR reads both (the list polls itself)
        form = page.locator("#kyc-upload-form")
        documents = page.locator("[data-ocr-working]")
        for label, filename, data in (("PAN card", "pan.png", pan_png), ("Aadhaar", "aadhaar.png", aadhaar_png)):
            form.get_by_label("Document").select_option(label=label)
            form.get_by_label("File").set_input_files({"name": filename, "mimeType": "image/png", "buffer": data})
            form.get_by_role("button", name="Upload").click()
            expect(page.locator("[data-kind]").filter(has_text=filename)).to_be_visible()
            _settle(page)
        expect(documents.locator('[data-match="match"]')).to_have_count(2, timeout=30_000)
        expect(documents).to_have_attribute("data-ocr-working", "false")
        expect(page.locator("#documents-missing")).to_contain_text("you can continue")
        pages.keep(page)
        _continue(page, pages, "/onboarding/consents")

        # 3. leave mid-way (sign out), come back by a second OTP: the wizard resumes at the consents step
        sign_out(page)
        _otp_sign_in(page, inbox, pages)
        page.get_by_role("link", name="Complete your profile (KYC)").click()
        expect(page).to_have_url(re.compile(r"/onboarding/consents$"))
        expect(page.get_by_text("Step 6 of 7")).to_be_visible()
        expect(page.locator("#wizard-step")).to_contain_text("Terms of use")
        pages.keep(page)

        # 4. consents, review (Aadhaar masked), submit: the indicative limit and the score band
        page.get_by_label("Terms of use").check()
        page.get_by_label("KYC processing").check()
        page.get_by_label("Credit bureau check and scoring").check()
        _continue(page, pages, "/onboarding/review")
        expect(page.locator("#wizard-step")).to_contain_text(f"XXXX XXXX {AADHAAR[-4:]}")
        page.get_by_role("button", name="Submit my profile").click()
        expect(page).to_have_url(re.compile(r"/onboarding/result$"))
        eligibility = page.locator("#initial-eligibility")
        expect(eligibility).to_contain_text(re.compile(r"Rs [\d,]+\.\d\d"))
        expect(eligibility).to_contain_text("Score band")
        pages.keep(page)
        sign_out(page)

        # 5. the loan officer (no MFA for this role): queue -> customer -> OCR beside the typed PAN -> approve
        sign_in(page, OFFICER, OFFICER_PASSWORD)
        page.goto("/staff/kyc")
        pages.keep(page)
        page.get_by_role("link", name="Meera Iyer").click()
        review = page.locator("[id$='-kyc-review']")
        pan_row = review.locator('[data-kind="pan_card"] tr[data-field="pan"]')
        expect(pan_row.locator("td").nth(0)).to_contain_text(PAN)   # read by OCR
        expect(pan_row.locator("td").nth(1)).to_contain_text(PAN)   # typed in the wizard
        expect(pan_row).to_contain_text("matches")
        expect(review.locator('[data-kind="pan_card"] [data-match="match"]')).to_have_text("Matches")
        expect(review.locator('[data-typed="pan"]')).to_have_text(PAN)
        expect(review.locator('[data-typed="aadhaar"]')).to_have_text(f"XXXX XXXX {AADHAAR[-4:]}")
        pages.keep(page)
        review.locator('[data-kind="pan_card"] [data-action="approve"]').click()
        expect(review).to_contain_text("PAN card approved.")
        review.locator('[data-kind="aadhaar"] [data-action="approve"]').click()
        expect(review).to_have_attribute("data-kyc-status", "verified")
        pages.keep(page)
        sign_out(page)

        # 6. the customer signs in again (third OTP) and sees KYC verified
        _otp_sign_in(page, inbox, pages)
        page.goto("/me/documents")
        expect(page.locator("[id$='-documents'] [data-kyc-status]")).to_have_text("Verified")
        pages.keep(page)

    pages.assert_no_whole_aadhaar()
    assert len(pages.seen) >= 15
    problems = [p for page_ in (page, inbox) for p in page_.problems]
    assert problems == []
