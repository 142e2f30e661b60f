"""The whole loan journey in a real browser: a customer registers and applies, an officer approves (an offer),
the customer reads the Key Facts Statement and accepts it (the loan is disbursed) and sees the loan's schedule,
an admin sees it in the portfolio and the audit log."""
from __future__ import annotations

import re
from decimal import Decimal

from playwright.sync_api import Page, expect

from portal.lending.schedule import emi
from portal.money import format_inr
from tests.e2e.support import DESKTOP, TOTP_SECRET, sign_in, sign_out
from tests.factories import make_staff

CUSTOMER_MOBILE = "9876501234"
CUSTOMER_PASSWORD = "meera-secret-1"
OFFICER = ("officer@example.test", "officer-pass-1")
ADMIN = ("admin@example.test", "admin-pass-1")


def stat_value(page: Page, label: str):
    """The value of the dashboard card labelled exactly ``label``."""
    label_re = re.compile(rf"^\s*{re.escape(label)}\s*$", re.IGNORECASE)
    card = page.locator(".stat-card").filter(has=page.locator(".stat-label", has_text=label_re))
    return card.locator(".stat-value")


def nav_link(page: Page, name: str):
    """The navigation entry ``name`` (customer top bar or staff side bar)."""
    return page.get_by_role("navigation").get_by_role("link", name=name, exact=True)


def test_customer_applies_officer_approves_customer_accepts_admin_sees_it(db, new_page):
    make_staff("loan_officer", email=OFFICER[0], password=OFFICER[1])
    make_staff("admin", email=ADMIN[0], password=ADMIN[1], totp_secret=TOTP_SECRET)
    db.session.commit()  # the server threads use their own sessions: they only see committed rows
    expected_emi = format_inr(emi(Decimal("250000"), Decimal("14"), 24))  # TL-PERSONAL is 14 % p.a.

    page = new_page(DESKTOP)

    # --- the customer registers and lands on the dashboard
    page.goto("/register")
    page.get_by_label("First name").fill("Meera")
    page.get_by_label("Last name").fill("Iyer")
    page.get_by_label("Age").fill("31")
    page.get_by_label("Mobile number").fill(CUSTOMER_MOBILE)
    page.get_by_label("Monthly income (Rs)").fill("100000")
    page.get_by_label("Password").fill(CUSTOMER_PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page).to_have_url(re.compile(r"/me$"))
    expect(page.get_by_role("heading", name="Hello, Meera")).to_be_visible()
    expect(stat_value(page, "Approved limit")).to_have_text("Rs 36,00,000.00")

    # --- applies: the instant eligibility panel shows the EMI before submitting
    nav_link(page, "Apply for a loan").click()
    expect(page).to_have_url(re.compile(r"/me/apply$"))
    expect(page.get_by_role("heading", name="Apply for a loan")).to_be_visible()
    eligibility = page.locator("#eligibility")
    # htmx checks the (still empty) form once on load: its answer replaces the placeholder with a warning.
    # Waiting for it means htmx is listening before we type, and that answer cannot land after ours.
    expect(eligibility.locator(".alert-warning")).to_be_visible()
    product = page.get_by_label("Product")
    product.select_option(label=product.locator("option", has_text="Personal term loan").inner_text().strip())
    page.get_by_label("Amount (Rs)").fill("250000")
    page.get_by_label("Tenure (months)").fill("24")
    expect(eligibility.get_by_test_id("emi")).to_have_text(expected_emi)
    expect(eligibility).to_contain_text("You are eligible at these terms.")
    page.get_by_role("button", name="Submit application").click()

    # --- the application page: timeline with status "Scored"
    expect(page).to_have_url(re.compile(r"/me/applications/\d+$"))
    application_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", name=f"Application {application_id}")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"Application {application_id} submitted")
    timeline = page.locator(f"#application-{application_id}-timeline")
    expect(timeline.locator("p").first).to_have_text(re.compile(r"Status\s+Scored"))
    sign_out(page)

    # --- a loan officer reviews and approves (the browser's confirm dialog is accepted)
    sign_in(page, *OFFICER, lands_on="/staff/applications")
    nav_link(page, "Review queue").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    queue = page.locator("#queue-table")
    expect(queue).to_contain_text("Meera Iyer")
    queue.get_by_role("link", name=str(application_id), exact=True).click()
    expect(page).to_have_url(re.compile(rf"/staff/applications/{application_id}$"))
    heading = page.get_by_role("heading", name=f"Application {application_id}")
    expect(heading).to_contain_text("Scored")
    expect(page.get_by_role("heading", name="Score and why")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Approve and send offer").click()
    expect(heading).to_contain_text("Offered")
    flash = page.get_by_role("status")
    expect(flash).to_contain_text(re.compile(rf"Application {application_id} approved: offer \d+ sent"))
    sign_out(page)

    # --- the customer reads the offer's Key Facts Statement and accepts it: the loan is disbursed
    sign_in(page, CUSTOMER_MOBILE, CUSTOMER_PASSWORD, lands_on="/me")
    page.locator("#action-needed").get_by_role("link", name=f"Application {application_id}").click()
    kfs = page.get_by_test_id("kfs")
    expect(kfs).to_contain_text("Key Facts Statement")
    expect(kfs.locator("[data-kfs=emi]")).to_have_text(expected_emi)
    page.get_by_label(re.compile("I have read the Key Facts Statement")).check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Accept the offer").click()
    flash = page.get_by_role("status")
    expect(flash).to_contain_text(re.compile(r"Offer accepted: loan \d+ disbursed"))
    loan_id = int(re.search(r"loan (\d+) disbursed", flash.inner_text()).group(1))

    # --- and sees the loan with 24 instalments
    page.get_by_role("navigation").get_by_role("link", name="Dashboard", exact=True).click()
    expect(page.get_by_role("heading", name="My loans (1)")).to_be_visible()
    page.get_by_role("link", name=f"Loan {loan_id}", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/me/loans/{loan_id}$"))
    expect(page.get_by_role("heading", name="Amortization schedule")).to_be_visible()
    expect(stat_value(page, "EMI")).to_have_text(expected_emi)
    schedule = page.locator(f"#loan-{loan_id}-schedule")
    expect(schedule.locator("tbody tr")).to_have_count(24)
    expect(schedule.locator("tfoot")).to_contain_text("Rs 2,50,000.00")
    sign_out(page)

    # --- an admin sees it in the portfolio and in the audit log
    sign_in(page, *ADMIN, lands_on="/admin/portfolio", totp_secret=TOTP_SECRET)
    expect(page.get_by_role("heading", name=re.compile(r"^Portfolio"))).to_be_visible()
    expect(page.get_by_test_id("aum")).to_contain_text("1 open serviced loans")
    expect(page.get_by_test_id("aum")).to_contain_text("Rs 2,50,000.00")
    nav_link(page, "Audit log").click()
    expect(page).to_have_url(re.compile(r"/admin/audit$"))
    audit = page.locator("#audit-table")
    expect(audit.get_by_text("loan.disbursed", exact=True)).to_be_visible()
    expect(audit.locator("tr", has_text="loan.disbursed")).to_contain_text(re.compile(rf"loans?\s+{loan_id}\b"))

    assert page.problems == []
