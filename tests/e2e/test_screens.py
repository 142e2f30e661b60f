"""Every page, as the role that uses it, at phone (390x844) and desktop (1280x800) widths.

Saves a full-page PNG of each (to ``$E2E_SCREENSHOT_DIR`` when set, else a pytest temp dir: never the repo)
and checks that no page scrolls sideways on a phone and that no page logs a console error."""
from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.lending import services
from tests.e2e.support import DESKTOP, PHONE, TOTP_SECRET, sign_in
from tests.factories import approve_and_disburse, make_customer, make_loan, make_staff, term_product

PASSWORD = "screens-pass-1"

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth + 1"
WIDEST = """() => {
  const vw = window.innerWidth;
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className ? '.' + el.className.trim().replace(/\\s+/g, '.') : '');
  return [...document.querySelectorAll('body *')]
    .filter(el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.right > vw + 1; })
    .filter(el => !el.closest('.table-scroll, .offcanvas-lg'))
    .slice(0, 5)
    .map(el => name(el) + ' right=' + Math.round(el.getBoundingClientRect().right));
}"""


@pytest.fixture
def shot_dir(tmp_path_factory) -> Path:
    configured = os.environ.get("E2E_SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _data(db, clock):
    """A small book: a customer with history, a scored application, a disbursed loan, a few other customers."""
    officer = make_staff("loan_officer", email="officer@example.test", password=PASSWORD)
    admin = make_staff("admin", email="admin@example.test", password=PASSWORD, totp_secret=TOTP_SECRET)
    customer = make_customer(salary="100000", phone="9876500001", password=PASSWORD,
                             first_name="Meera", last_name="Venkataraman-Iyer")
    make_loan(customer, amount="300000", tenure=36, emi="9964.30", paid_on_time=22, approved_on=date(2024, 12, 10),
              external_loan_id=7801)
    for i in range(6):
        other = make_customer(salary=str(25000 + 7500 * i), phone=f"98765100{i:02d}", first_name=f"Customer{i}")
        make_loan(other, amount=str(50000 + 25000 * i), approved_on=date(2026, 1 + i, 5))
    product = term_product()
    pending = services.submit_application(customer, product, amount=Decimal("250000"), tenure=24,
                                          actor=customer.user, clock=clock)
    approved = services.submit_application(customer, product, amount=Decimal("1200000"), tenure=60,
                                           actor=customer.user, clock=clock)
    loan = approve_and_disburse(approved, officer, clock, note="Salary slips checked.")
    make_staff("risk_officer", email="risk@example.test", password=PASSWORD, totp_secret=TOTP_SECRET)
    offered = services.submit_application(customer, product, amount=Decimal("100000"), tenure=12,
                                          actor=customer.user, clock=clock)
    services.approve_application(offered, actor=officer, clock=clock, note="Offer with its KFS.")
    db.session.commit()
    return {"officer": officer, "admin": admin, "customer": customer, "pending": pending.id, "loan": loan.id,
            "customer_id": customer.id, "offered": offered.id}


def _settle(page: Page) -> None:
    """``goto`` has waited for the load event (styles, scripts); wait for htmx requests still in flight."""
    expect(page.locator(".htmx-request")).to_have_count(0)


def test_every_page_fits_a_phone_and_logs_no_errors(db, clock, new_page, shot_dir):
    d = _data(db, clock)
    visits = {
        None: ["/", "/login", "/register"],
        "9876500001": ["/me", "/me/apply", "/me/applications", f"/me/applications/{d['pending']}",
                       f"/me/applications/{d['offered']}", f"/me/loans/{d['loan']}"],
        "officer@example.test": ["/staff/applications", f"/staff/applications/{d['pending']}",
                                 f"/staff/applications/{d['offered']}",
                                 "/staff/customers", f"/staff/customers/{d['customer_id']}",
                                 f"/staff/loans/{d['loan']}"],
        "risk@example.test": ["/staff/escalations"],
        "admin@example.test": ["/admin/portfolio", "/admin/audit", "/admin/imports"],
    }
    problems: list[str] = []
    shots = 0
    for login, urls in visits.items():
        page = new_page(DESKTOP)
        if login:
            sign_in(page, login, PASSWORD, totp_secret=TOTP_SECRET if login.startswith(("admin", "risk")) else None)
        for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            for url in urls:
                response = page.goto(url)
                assert response is not None and response.ok, f"{url}: HTTP {response and response.status}"
                if url == "/me/apply":
                    page.get_by_label("Amount (Rs)").fill("250000")
                    page.get_by_label("Tenure (months)").fill("24")
                    expect(page.get_by_test_id("emi")).to_be_visible()
                _settle(page)
                name = f"{size_name}-{(login or 'anon').split('@')[0]}{url.replace('/', '_') or '_'}.png"
                page.screenshot(path=str(shot_dir / name), full_page=True)
                shots += 1
                if size is PHONE and not page.evaluate(NO_SIDEWAYS_SCROLL):
                    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                    problems.append(f"{url} as {login or 'anonymous'} scrolls sideways at 390 px: "
                                    f"scrollWidth/innerWidth {widths}, widest {page.evaluate(WIDEST)}")
        problems.extend(page.problems)
    print(f"\n{shots} screenshots in {shot_dir}")
    assert problems == []
