"""Issue 4's review journey in a real browser: a customer applies for more than the salary carries; the loan
officer asks for information; the customer answers; the officer requests an override of the failed EMI burden
rule (maker) and escalates; a risk officer checks the override (checker) and approves; the customer reads the
Key Facts Statement, accepts it, gets the loan and downloads the accepted KFS."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.support import DESKTOP, TOTP_SECRET, sign_in, sign_out
from tests.factories import make_customer, make_staff

CUSTOMER = ("9876502345", "asha-secret-1")
OFFICER = ("officer@example.test", "officer-pass-1")
RISK = ("risk@example.test", "risk-pass-123")


def open_application(page: Page, application_id: int) -> None:
    """From the staff review queue, open the application's review screen."""
    page.goto("/staff/applications?status=all")
    page.locator("#queue-table").get_by_role("link", name=str(application_id), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/staff/applications/{application_id}$"))


def open_from_dashboard(page: Page, application_id: int) -> None:
    """The customer's dashboard says what waits for them; follow it to the tracking page."""
    page.locator("#action-needed").get_by_role("link", name=f"Application {application_id}").click()
    expect(page).to_have_url(re.compile(rf"/me/applications/{application_id}$"))


def test_info_request_escalation_override_and_kfs_acceptance(db, new_page, tmp_path):
    make_staff("loan_officer", email=OFFICER[0], password=OFFICER[1])
    make_staff("risk_officer", email=RISK[0], password=RISK[1], totp_secret=TOTP_SECRET)
    make_customer(salary="20000", phone=CUSTOMER[0], password=CUSTOMER[1], first_name="Asha", last_name="Rao")
    db.session.commit()
    page = new_page(DESKTOP)

    # --- the customer applies for Rs 2,50,000 over 24 months: the EMI is more than half the salary
    sign_in(page, *CUSTOMER, lands_on="/me")
    page.get_by_role("navigation").get_by_role("link", name="Apply for a loan", exact=True).click()
    eligibility = page.locator("#eligibility")
    expect(eligibility.locator(".alert-warning")).to_be_visible()
    product = page.get_by_label("Product")
    product.select_option(label=product.locator("option", has_text="Personal term loan").inner_text().strip())
    page.get_by_label("Amount (Rs)").fill("250000")
    page.get_by_label("Tenure (months)").fill("24")
    expect(eligibility).to_contain_text("Not eligible at these terms")
    page.get_by_role("button", name="Submit application").click()
    expect(page).to_have_url(re.compile(r"/me/applications/\d+$"))
    application_id = int(page.url.rsplit("/", 1)[1])
    sign_out(page)

    # --- the loan officer asks for information
    sign_in(page, *OFFICER, lands_on="/staff/applications")
    open_application(page, application_id)
    heading = page.get_by_role("heading", name=f"Application {application_id}")
    expect(heading).to_contain_text("Scored")
    expect(page.locator("#eligibility-checks")).to_contain_text("Too much of the salary goes to EMIs")
    page.get_by_text("Request information from the customer").click()
    page.get_by_label("Question for the customer").fill("Does anyone else in your household earn? Send proof.")
    page.get_by_role("button", name="Send the question").click()
    expect(heading).to_contain_text("Info requested")
    sign_out(page)

    # --- the customer is told, reads the question on the tracking page and answers it
    sign_in(page, *CUSTOMER, lands_on="/me")
    open_from_dashboard(page, application_id)
    expect(page.get_by_test_id("question")).to_have_text("Does anyone else in your household earn? Send proof.")
    page.get_by_label("Your answer").fill("My husband earns Rs 40,000 a month; his slips are uploaded.")
    page.get_by_role("button", name="Send my answer").click()
    expect(page.get_by_role("status")).to_contain_text("your answer is with the officer")
    timeline = page.locator(f"#application-{application_id}-timeline")
    expect(timeline.locator("p").first).to_have_text(re.compile(r"Status\s+Scored"))
    expect(timeline).to_contain_text("My husband earns Rs 40,000")
    sign_out(page)

    # --- the officer requests an override of the EMI burden rule (maker) and escalates to a risk officer
    sign_in(page, *OFFICER, lands_on="/staff/applications")
    open_application(page, application_id)
    expect(page.locator("#info-requests")).to_contain_text("My husband earns Rs 40,000")
    page.get_by_text("Request an override of a failed rule").click()
    page.get_by_label("Failed rule").select_option("emi_burden")
    page.get_by_label("Reason for the override").fill("Household income Rs 60,000 verified from salary slips.")
    page.get_by_role("button", name="Request the override").click()
    expect(page.get_by_role("status")).to_contain_text("Override of emi_burden requested")
    expect(page.locator("#overrides")).to_contain_text("You made this request: another person must check it.")
    page.get_by_text("Escalate to a risk officer").click()
    page.get_by_label("Why escalate").fill("Override needed on the EMI burden; please check and decide.")
    page.get_by_role("button", name="Escalate").click()
    heading = page.get_by_role("heading", name=f"Application {application_id}")
    expect(heading).to_contain_text("Escalated")
    sign_out(page)

    # --- the risk officer checks the override and approves: an offer with its KFS goes to the customer
    sign_in(page, *RISK, totp_secret=TOTP_SECRET)
    page.get_by_role("navigation").get_by_role("link", name="Escalations", exact=True).click()
    expect(page.locator("#overrides-table")).to_contain_text("emi burden")
    page.locator("#escalated-table").get_by_role("link", name=str(application_id), exact=True).click()
    override = page.locator("#overrides [data-status=pending]")
    override.get_by_label("Decision").select_option("approve")
    override.get_by_label("Checker's note").fill("Slips seen; household income carries the EMI.")
    override.get_by_role("button", name="Record the check").click()
    expect(page.get_by_role("status")).to_contain_text("Override of emi_burden approved")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Approve and send offer").click()
    expect(page.get_by_role("heading", name=f"Application {application_id}")).to_contain_text("Offered")
    expect(page.get_by_role("status")).to_contain_text(re.compile(rf"Application {application_id} approved: offer \d+"))
    sign_out(page)

    # --- the customer reads the KFS and accepts it explicitly; the loan is disbursed; the KFS can be downloaded
    sign_in(page, *CUSTOMER, lands_on="/me")
    open_from_dashboard(page, application_id)
    kfs = page.get_by_test_id("kfs")
    expect(kfs.locator("[data-kfs=sanctioned_amount]")).to_have_text("Rs 2,50,000.00")
    expect(kfs.locator("[data-kfs=net_disbursed]")).to_have_text("Rs 2,47,500.00")
    expect(kfs.locator("[data-kfs=apr]")).to_contain_text("15.02%")
    expect(kfs.locator("[data-kfs=cooling_off]")).to_contain_text("3 days")
    expect(kfs.locator(".kfs-schedule tbody tr")).to_have_count(24)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Accept the offer").click()  # not ticked: refused with a message
    expect(page.get_by_text("Tick the box to confirm you read the Key Facts Statement.")).to_be_visible()
    page.get_by_label(re.compile("I have read the Key Facts Statement")).check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Accept the offer").click()
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"Offer accepted: loan \d+ disbursed"))
    expect(page.locator(f"#application-{application_id}-timeline p").first).to_have_text(
        re.compile(r"Status\s+Disbursed"))
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the accepted Key Facts Statement").click()
    saved = tmp_path / "kfs.html"
    info.value.save_as(saved)
    document = saved.read_text()
    assert "Key Facts Statement" in document and "Rs 2,47,500.00" in document and "SHA-256" in document

    # the only console error is the browser reporting the expected 422 of the unticked acceptance
    refused = [p for p in page.problems if "/accept: Failed to load resource" in p and "422" in p]
    assert len(refused) == 1 and [p for p in page.problems if p not in refused] == []
