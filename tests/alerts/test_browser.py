"""The alert pages in a real browser (Playwright, Debian chromium): a collections officer resolves an alert from
the queue through the htmx forms; a risk officer sees a bad rule refused inline (422 swapped in place) and sends
a signed test to a loopback receiver. Screenshots at phone and desktop widths; no sideways scroll, no console
errors."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from portal.alerts.services import raise_event_alert
from portal.auth.services import default_institution
from tests.alerts.conftest import make_rule
from tests.e2e.support import DESKTOP, PHONE, TOTP_SECRET, sign_in
from tests.factories import make_disbursed_loan, make_staff

PASSWORD = "alerts-pass-12"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth + 1"


def unexpected(problems: list[str]) -> list[str]:
    """Console problems other than the 422 answers the test provokes on purpose (refused forms)."""
    return [p for p in problems if "status of 422" not in p]


@pytest.fixture
def shots(tmp_path_factory) -> Path:
    configured = os.environ.get("E2E_SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("alert-screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


def shoot(page, shots: Path, name: str) -> None:
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        page.screenshot(path=str(shots / f"{name}-{label}.png"), full_page=True)
        assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{name} scrolls sideways at {label} width"


def test_collections_resolves_an_alert_and_risk_works_the_rules(db, clock, new_page, receiver, shots):
    loan = make_disbursed_loan(clock)
    make_staff("collections", email="coll@example.test", password=PASSWORD)
    make_staff("risk_officer", email="risk@example.test", password=PASSWORD, totp_secret=TOTP_SECRET)
    hooked = make_rule("two_bounces", webhook_url=receiver.url, name="Bounces to the agency")
    (alert,) = [a for a in raise_event_alert("two_bounces", institution_id=default_institution().id,
                                             now=clock.now(), loan_id=loan.id, customer_id=loan.customer_id,
                                             detail={"bounce_count": 2}) if a.rule_id == hooked.id]
    db.session.commit()

    page = new_page(DESKTOP)
    sign_in(page, "coll@example.test", PASSWORD)
    page.get_by_role("link", name="Alerts", exact=True).first.click()
    expect(page.locator(f'tr[data-alert-id="{alert.id}"]')).to_contain_text("2 bounced payments")
    shoot(page, shots, "alerts-queue")
    page.set_viewport_size(DESKTOP)
    page.locator(f'tr[data-alert-id="{alert.id}"] a').click()
    expect(page).to_have_url(re.compile(rf"/alerts/{alert.id}$"))
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("h1 [data-status]")).to_have_attribute("data-status", "acknowledged")
    page.get_by_role("button", name="Resolve").click()  # no note: refused in place
    expect(page.locator(f"#alert-{alert.id}-actions")).to_contain_text("Say how the alert was resolved.")
    page.get_by_label("How was it resolved?").fill("Customer paid by NEFT; mandate re-registered.")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("h1 [data-status]")).to_have_attribute("data-status", "resolved")
    expect(page.locator("main, body").first).to_contain_text("mandate re-registered")
    shoot(page, shots, "alert-resolved")
    assert unexpected(page.problems) == []

    risk = new_page(DESKTOP)
    sign_in(risk, "risk@example.test", PASSWORD, totp_secret=TOTP_SECRET)
    risk.goto("/alerts/rules")
    shoot(risk, shots, "alert-rules")
    risk.set_viewport_size(DESKTOP)
    risk.get_by_role("link", name="New rule").click()
    risk.get_by_label("Name").fill("DPD 45")
    risk.get_by_label("Raise an alert when").select_option("dpd_crossed")
    risk.get_by_role("button", name="Create rule").click()  # no threshold: 422, the form swapped in place
    expect(risk.locator("#threshold_days-feedback")).to_contain_text("Give the DPD threshold in days.")
    expect(risk).to_have_url(re.compile(r"/alerts/rules/new$"))
    shoot(risk, shots, "alert-rule-refused")
    risk.set_viewport_size(DESKTOP)
    risk.get_by_label("DPD threshold (days)").fill("45")
    risk.get_by_role("button", name="Create rule").click()
    expect(risk).to_have_url(re.compile(r"/alerts/rules$"))
    expect(risk.locator("#rules-table")).to_contain_text("DPD reaches 45 days")
    risk.goto(f"/alerts/rules/{hooked.id}/deliveries")
    risk.get_by_role("button", name="Send test").click()
    expect(risk.locator('#deliveries-table tr[data-delivery-id]').first).to_contain_text("webhook.test")
    expect(risk.locator('#deliveries-table [data-status="delivered"]').first).to_be_visible()
    shoot(risk, shots, "alert-deliveries")
    assert [r.json["event"] for r in receiver.requests] == ["alert.raised", "webhook.test"]
    assert unexpected(risk.problems) == []
