"""The scorecard editor in chromium: the live preview follows what the risk officer types (htmx), a bad
expression is refused at save with its position, publish and backtest work; the scoring pages fit a phone and
log no console errors. Screenshots go to $E2E_SCREENSHOT_DIR when set (else a temp dir)."""
from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.support import DESKTOP, PHONE, TOTP_SECRET, sign_in
from tests.factories import make_customer, make_loan, make_staff

PASSWORD = "scorecards-pass-1"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth + 1"
CSV = ("user,date,transaction_type,amount\n"
       "f5abc955-889d-4a17-87b9-45b362eb673b,2020-10-30,CREDIT,668450\n"
       "f5abc955-889d-4a17-87b9-45b362eb673b,2020-11-02,DEBIT,100000\n"
       "0a1b2c3d-0000-4000-8000-00000000000b,2020-11-06,CREDIT,-5\n")


@pytest.fixture
def shot_dir(tmp_path_factory) -> Path:
    configured = os.environ.get("E2E_SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("scoring-screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _data(db):
    make_staff("risk_officer", email="risk@example.test", password=PASSWORD, totp_secret=TOTP_SECRET)
    customer = make_customer(salary="80000", first_name="Meera", last_name="Iyer")
    make_loan(customer, amount="300000", tenure=36, emi="9964.30", paid_on_time=20, approved_on=date(2024, 12, 10))
    for i in range(4):
        other = make_customer(salary=str(25000 + 10000 * i), first_name=f"Customer{i}")
        make_loan(other, amount=str(60000 + 40000 * i), paid_on_time=i * 3, approved_on=date(2025, 2 + i, 5))
    db.session.commit()
    return customer


def _settle(page: Page) -> None:
    expect(page.locator(".htmx-request")).to_have_count(0)


def test_edit_preview_publish_and_backtest_in_the_browser(db, new_page, shot_dir):
    customer = _data(db)
    page = new_page(DESKTOP)
    sign_in(page, "risk@example.test", PASSWORD, totp_secret=TOTP_SECRET)
    page.get_by_role("link", name="Scorecards").first.click()
    expect(page.locator("#scorecards-table")).to_contain_text("Loan history (seed 003)")
    page.get_by_role("link", name="Loan history (seed 003)").click()
    page.get_by_role("button", name="Edit (new draft)").click()
    expect(page).to_have_url(re.compile(r"/staff/scorecards/versions/\d+$"))

    page.get_by_label("Customer").select_option(f"customer:{customer.id}")
    score = page.locator("[data-preview=score]")
    expect(score).to_have_text(re.compile(r"^\d+$"))
    before = int(score.inner_text())
    assert before > 0

    # type a new rule: the preview follows without saving
    page.get_by_label("Rule 6 name").fill("Salary bonus")
    page.get_by_label("Rule 6 expression").fill("monthly_salary >= 50000")
    page.get_by_label("Rule 6 points").fill("7")
    expect(score).to_have_text(str(min(before + 7, 100)))
    contributions = page.locator("#preview-contributions")
    expect(contributions).to_contain_text("Salary bonus")

    # a half-typed expression: the preview says where it is wrong
    page.get_by_label("Rule 6 expression").fill("monthly_salary >=")
    expect(page.locator("[data-preview=issues]")).to_contain_text("line 1, column 18")
    _settle(page)
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#editor-errors")).to_contain_text("Rule 6 expression: syntax error")
    expect(page.get_by_label("Rule 6 expression")).to_have_class(re.compile("is-invalid"))
    page.screenshot(path=str(shot_dir / "desktop-scorecard-editor-error.png"), full_page=True)

    page.get_by_label("Rule 6 expression").fill("monthly_salary >= 50000")
    expect(score).to_have_text(str(min(before + 7, 100)))
    _settle(page)
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#flash-area")).to_contain_text("saved")
    _settle(page)
    page.screenshot(path=str(shot_dir / "desktop-scorecard-editor.png"), full_page=True)

    page.get_by_role("button", name="Backtest over the whole book").click()
    expect(page.locator("#backtest-bands")).to_be_visible()
    expect(page.get_by_text("Approval rate", exact=False).first).to_be_visible()
    page.screenshot(path=str(shot_dir / "desktop-scorecard-backtest.png"), full_page=True)
    page.get_by_role("link", name=re.compile(r"Back to v1")).click()

    page.get_by_label(re.compile("I have checked the rules")).check()
    page.get_by_role("button", name="Publish v1").click()
    expect(page.locator("#flash-area")).to_contain_text("is published")
    expect(page.locator("#versions-table")).to_contain_text("scoring")
    # the refused save answers 422 on purpose (the page re-rendered with the errors)
    problems = [p for p in page.problems if "status of 422" not in p]
    assert not problems, problems


def test_scoring_pages_fit_a_phone(db, new_page, shot_dir):
    customer = _data(db)
    from portal.scoring.models import Scorecard
    from tests.scoring.conftest import import_transactions

    import_transactions(db, CSV.encode())
    card = db.session.query(Scorecard).filter_by(slug="savings-balance").one()
    version_id = card.versions[0].id
    page = new_page(PHONE)
    sign_in(page, "risk@example.test", PASSWORD, totp_secret=TOTP_SECRET)
    urls = ["/staff/scorecards", f"/staff/scorecards/{card.id}", f"/staff/scorecards/versions/{version_id}",
            f"/staff/scorecards/{card.id}/compare", "/staff/savings-imports", "/staff/savings-imports/1",
            f"/staff/scorecards/customers/{customer.id}"]
    problems = []
    for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        for url in urls:
            response = page.goto(url)
            assert response is not None and response.ok, f"{url}: {response and response.status}"
            _settle(page)
            page.screenshot(path=str(shot_dir / f"{size_name}{url.replace('/', '_')}.png"), full_page=True)
            if size is PHONE and not page.evaluate(NO_SIDEWAYS_SCROLL):
                problems.append(f"{url} scrolls sideways on a phone")
    page.goto(f"/staff/scorecards/versions/{version_id}")
    expect(page.locator("[data-preview=score]")).to_have_text("610")  # 6,68,450 - 1,00,000 = 5,68,450
    page.goto("/staff/savings-imports/1")
    expect(page.get_by_role("status")).to_contain_text("1 row rejected")
    assert not problems and not page.problems, problems + page.problems
