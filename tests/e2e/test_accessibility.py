"""Accessibility (issue 7 "Done when"): axe-core over the main page of each role and the sign-in page finds no
violation of impact serious or critical.

axe-core is the copy bundled in the pinned ``axe-playwright-python`` (requirements-dev.txt): nothing is downloaded
at test time. Each role signs in through the form (admins and risk officers answer the TOTP step) and opens the
first entry of its navigation (portal/main/nav.py), so a role's main page is checked even when its navigation
changes. The administrator's user-administration and loan-override pages are checked too. On failure the
violations are printed: rule, impact, help, and the first offending elements."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import url_for
from playwright.sync_api import Page, expect

from portal.lending import services
from portal.main.nav import NAV
from portal.security import Role
from tests.e2e.support import DESKTOP, PHONE, TOTP_SECRET, sign_in
from tests.factories import approve_and_disburse, make_customer, make_loan, make_staff, term_product

PASSWORD = "axe-check-pass-1"
BLOCKING = ("serious", "critical")
CUSTOMER_PHONE = "9876500042"
LOGINS = {
    Role.CUSTOMER: CUSTOMER_PHONE,
    Role.LOAN_OFFICER: "officer@example.test",
    Role.RISK_OFFICER: "risk@example.test",
    Role.COLLECTIONS: "collections@example.test",
    Role.SUPPORT: "support@example.test",
    Role.ADMIN: "admin@example.test",
}
MFA_ROLES = (Role.ADMIN, Role.RISK_OFFICER)
#: pages built with user administration and the loan status override (issue 7 item 5), checked for the admin too
#: (with the staff loan page, which carries the override panel, and the override request form)
ADMIN_EXTRA = ("auth.admin_users", "auth.admin_new_user", "lending.loan_overrides")


def _book(db, clock) -> dict:
    """A small book so the main pages have rows: staff of every role, a customer with a disbursed loan, a pending
    application, a few other customers."""
    officer = None
    for role, login in LOGINS.items():
        if role is Role.CUSTOMER:
            continue
        user = make_staff(role.value, email=login, password=PASSWORD,
                          totp_secret=TOTP_SECRET if role in MFA_ROLES else None)
        officer = user if role is Role.LOAN_OFFICER else officer
    customer = make_customer(salary="100000", phone=CUSTOMER_PHONE, password=PASSWORD, first_name="Meera")
    book = make_loan(customer, amount="300000", tenure=36, emi="9964.30", paid_on_time=22,
                     approved_on=date(2024, 12, 10), external_loan_id=7801)
    for i in range(3):
        other = make_customer(salary=str(30000 + 10000 * i), phone=f"98765200{i:02d}", first_name=f"Customer{i}")
        make_loan(other, amount=str(60000 + 20000 * i), approved_on=date(2026, 2 + i, 5))
    product = term_product()
    services.submit_application(customer, product, amount=Decimal("250000"), tenure=24, actor=customer.user,
                                clock=clock)
    approved = services.submit_application(customer, product, amount=Decimal("500000"), tenure=36,
                                           actor=customer.user, clock=clock)
    loan = approve_and_disburse(approved, officer, clock, note="Salary slips checked.")
    db.session.commit()
    return {"loan": loan.id, "book_loan": book.id}


def _main_path(app, role: Role) -> str:
    """The URL of the first navigation entry of ``role`` (its main page)."""
    with app.test_request_context():
        return url_for(NAV[role][0][1])


def _paths(app, endpoints) -> list[str]:
    with app.test_request_context():
        return [url_for(e) for e in endpoints]


def _settle(page: Page) -> None:
    """Wait for htmx requests still in flight (panels loaded after the page)."""
    expect(page.locator(".htmx-request")).to_have_count(0)


def _describe(url: str, who: str, violations: list[dict]) -> list[str]:
    lines = []
    for v in violations:
        targets = "; ".join(" ".join(n["target"]) if isinstance(n["target"], list) else str(n["target"])
                            for n in v["nodes"][:4])
        summary = (v["nodes"][0].get("failureSummary") or "").replace("\n", " ")[:300] if v["nodes"] else ""
        lines.append(f"{who} {url}: [{v['impact']}] {v['id']}: {v['help']} ({len(v['nodes'])} element(s): "
                     f"{targets}) {summary}")
    return lines


def _check(axe: Axe, page: Page, url: str, who: str) -> list[str]:
    response = page.goto(url)
    assert response is not None and response.ok, f"{who} {url}: HTTP {response and response.status}"
    _settle(page)
    results = axe.run(page)
    blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING]
    return _describe(url, who, blocking)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_serious_or_critical_violation_on_each_roles_main_page(app, db, clock, new_page, viewport):
    ids = _book(db, clock)
    axe = Axe()
    problems: list[str] = []
    checked = 0

    page = new_page(viewport)
    problems += _check(axe, page, "/login", "anonymous")
    checked += 1

    for role, login in LOGINS.items():
        page = new_page(viewport)
        sign_in(page, login, PASSWORD, totp_secret=TOTP_SECRET if role in MFA_ROLES else None)
        urls = [_main_path(app, role)]
        if role is Role.ADMIN:
            urls += [u for u in _paths(app, ADMIN_EXTRA) if u not in urls]
            urls += [f"/staff/loans/{ids['loan']}", f"/staff/loans/{ids['book_loan']}/status-override"]
        for url in urls:
            problems += _check(axe, page, url, role.value)
            checked += 1

    print(f"\naxe-core checked {checked} pages at {viewport['width']}x{viewport['height']}")
    if problems:
        print("\n".join(problems))
    assert problems == [], "\n" + "\n".join(problems)
