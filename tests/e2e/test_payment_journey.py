"""Issue 5's payment journey in a real browser: a customer with a disbursed loan signs in, opens the loan, pays the
EMI through the sandbox gateway (amount, confirmation, checkout), lands back on the loan with a confirmation, and
the statement shows the repayment with its principal / interest split and the next due moved on. An officer then
sees the payment in the loan's repayments panel. Screenshots of the new pages at phone and desktop widths."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.support import DESKTOP, PHONE, sign_in, sign_out
from tests.factories import make_staff
from tests.servicing.payments_support import disbursed_loan

CUSTOMER = ("9876507777", "pay-journey-1")
OFFICER = ("pay-officer@example.test", "officer-pass-1")
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth + 1"


@pytest.fixture
def shot_dir(tmp_path_factory) -> Path:
    configured = os.environ.get("E2E_SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("payment-screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_customer_pays_an_emi_through_the_sandbox_and_sees_the_statement(db, clock, new_page, shot_dir):
    loan = disbursed_loan(clock, phone=CUSTOMER[0], password=CUSTOMER[1])
    make_staff("loan_officer", email=OFFICER[0], password=OFFICER[1])
    db.session.commit()  # the server threads see committed rows only
    page = new_page(DESKTOP)

    sign_in(page, *CUSTOMER, lands_on="/me")
    page.get_by_role("link", name=f"Loan {loan.id}", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/me/loans/{loan.id}$"))
    page.get_by_role("link", name="Pay", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/me/loans/{loan.id}/pay$"))
    expect(page.get_by_test_id("due-now")).to_have_text("Rs 8,884.88")
    amount = page.get_by_label("Amount to pay (Rs)")
    expect(amount).to_have_value("8884.88")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_test_id("confirm-amount")).to_have_text("Rs 8,884.88")
    page.get_by_role("button", name="Confirm and pay Rs 8,884.88").click()

    expect(page).to_have_url(re.compile(r"/sandbox/gateway/gw_[0-9a-f]+$"))
    checkout = page.locator("#gateway-checkout")
    expect(checkout.get_by_test_id("checkout-amount")).to_have_text("Rs 8,884.88")
    for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(shot_dir / f"{size_name}-sandbox-gateway.png"), full_page=True)
        assert page.evaluate(NO_SIDEWAYS_SCROLL), f"the gateway page scrolls sideways at {size_name}"
    checkout.get_by_role("button", name="Pay Rs 8,884.88").click()

    expect(page).to_have_url(re.compile(rf"/me/loans/{loan.id}$"))
    expect(page.get_by_role("status")).to_contain_text(
        "Payment received: Rs 8,884.88 (Rs 7,884.88 principal, Rs 1,000.00 interest)")
    page.get_by_role("link", name="Statement", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/me/loans/{loan.id}/statement$"))
    repayment = page.locator(f"#loan-{loan.id}-transactions tr[data-kind=repayment]")
    expect(repayment).to_have_count(1)
    expect(repayment.locator("td")).to_have_text(["23 Nov 2026", re.compile("Repayment"), "Rs 8,884.88",
                                                  "Rs 7,884.88", "Rs 1,000.00", "Rs 92,115.12"])
    expect(page.get_by_test_id("next-due")).to_contain_text("23 Jan 2027")
    expect(page.locator(f"#loan-{loan.id}-upcoming tbody tr")).to_have_count(11)
    for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        for url, name in ((f"/me/loans/{loan.id}/statement", "statement"), (f"/me/loans/{loan.id}/pay", "pay"),
                          (f"/me/loans/{loan.id}", "loan")):
            page.goto(url)
            page.screenshot(path=str(shot_dir / f"{size_name}-customer-{name}.png"), full_page=True)
            assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{url} scrolls sideways at {size_name}"
    assert page.problems == []
    sign_out(page)

    # the officer sees it in the loan's repayments panel (loaded into the loan page by htmx)
    sign_in(page, *OFFICER)
    page.goto(f"/staff/loans/{loan.id}")
    panel = page.locator(f"#loan-{loan.id}-repayments")
    expect(panel.locator("tbody tr")).to_have_count(1)
    expect(panel.locator("tbody tr")).to_contain_text("gateway")
    expect(panel.get_by_role("button", name="Mark as bounced")).to_be_visible()
    for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        for url, name in ((f"/staff/loans/{loan.id}/payments", "payments"),
                          (f"/staff/loans/{loan.id}/statement", "statement")):
            page.goto(url)
            page.screenshot(path=str(shot_dir / f"{size_name}-officer-{name}.png"), full_page=True)
    print(f"\nscreenshots in {shot_dir}")
    assert page.problems == []
