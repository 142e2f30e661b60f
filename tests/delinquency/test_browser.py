"""A browser journey (Playwright on the Debian chromium): a collections officer signs in, finds an NPA loan in
its bucket, records a promise to pay, initiates recovery and proposes a write-off; a risk officer approves it.
Screenshots of the queue and the loan screen at phone and desktop widths are saved in the test's tmp_path, and
axe-core (the pinned ``axe-playwright-python``) finds no serious or critical violation on the three pages."""
from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.delinquency.conftest import npa_loan
from tests.e2e.support import DESKTOP, PHONE, TOTP_SECRET, sign_in, sign_out
from tests.factories import make_staff


def _blocking(page) -> list[str]:
    """axe-core violations of impact serious or critical on ``page`` as it is now."""
    violations = Axe().run(page).response["violations"]
    return [f"{page.url}: {v['id']} ({v['impact']}): {v['help']}" for v in violations
            if v.get("impact") in ("serious", "critical")]


def test_collections_officer_works_an_npa_loan_and_a_risk_officer_approves_the_write_off(
        db, clock, new_page, tmp_path):  # noqa: F811  (new_page is the imported fixture)
    loan = npa_loan(clock)
    make_staff("collections", email="col@example.test", password="collect-pass-1")
    make_staff("risk_officer", email="risk@example.test", password="risk-pass-12", totp_secret=TOTP_SECRET)
    db.session.commit()

    page = new_page(DESKTOP)
    sign_in(page, "col@example.test", "collect-pass-1")
    page.get_by_role("link", name="Collections").first.click()
    expect(page.get_by_role("heading", name="Collections")).to_be_visible()
    npa_card = page.locator('#bucket-totals a[data-bucket="npa"]')
    expect(npa_card.get_by_test_id("bucket-count")).to_have_text("1")
    page.screenshot(path=str(tmp_path / "queue-desktop.png"), full_page=True)
    problems = _blocking(page)
    page.locator("#filter-bucket").select_option("npa")  # htmx swaps the table
    expect(page.locator(f'tr[data-loan="{loan.id}"]')).to_be_visible()
    page.locator(f'tr[data-loan="{loan.id}"] a').first.click()

    expect(page.get_by_test_id("dpd")).to_have_text("95")
    page.get_by_label("Amount promised (Rs)").fill("5000")
    page.get_by_label("Promised by (date)").fill("2027-04-05")
    page.get_by_role("button", name="Record promise").click()
    expect(page.locator("#promises")).to_contain_text("Open")
    page.get_by_role("button", name="Initiate recovery").click()
    expect(page.locator("#recovery")).to_contain_text("open since")
    page.get_by_label("Why write this loan off").fill("Borrower has left the city")
    page.get_by_label(re.compile("I propose writing off")).check()
    page.get_by_role("button", name="Propose write-off").click()
    expect(page.locator("#write-off")).to_contain_text("Awaiting checker")
    page.screenshot(path=str(tmp_path / "loan-desktop.png"), full_page=True)
    problems += _blocking(page)
    phone = new_page(PHONE)
    sign_in(phone, "col@example.test", "collect-pass-1")
    phone.goto(f"/collections/loans/{loan.id}")
    phone.screenshot(path=str(tmp_path / "loan-phone.png"), full_page=True)
    phone.goto("/collections")
    phone.screenshot(path=str(tmp_path / "queue-phone.png"), full_page=True)
    sign_out(page)

    sign_in(page, "risk@example.test", "risk-pass-12", totp_secret=TOTP_SECRET)
    page.goto("/collections/write-offs")
    row = page.locator("#pending-write-offs tbody tr").first
    expect(row).to_contain_text("Borrower has left the city")
    page.screenshot(path=str(tmp_path / "write-offs-desktop.png"), full_page=True)
    problems += _blocking(page)
    row.get_by_role("button", name="Approve write-off").click()
    expect(page.locator("#decided-write-offs")).to_contain_text("Approved")
    assert page.problems == [] and phone.problems == []
    assert problems == []
    print(f"\nscreenshots in {tmp_path}")
