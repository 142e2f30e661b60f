"""Shared constants and page helpers for the browser tests (the fixtures live in conftest.py)."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 10_000
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # the enrolled MFA secret of the admins these tests create


def sign_in(page: Page, login: str, password: str, lands_on: str | None = None,
            totp_secret: str | None = None) -> None:
    """Sign in through the form (email for staff, mobile number for customers); with ``totp_secret`` answer
    the two-step verification page with the code for the test clock's time; wait for the home page."""
    page.goto("/login")
    page.get_by_label("Email or mobile number").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if totp_secret:
        import pyotp

        from tests.conftest import START

        expect(page).to_have_url(re.compile(r"/login/mfa"))
        page.locator("input[name=code]").fill(pyotp.TOTP(totp_secret).at(START))
        page.get_by_role("button", name="Verify and sign in").click()
    if lands_on:
        expect(page).to_have_url(re.compile(re.escape(lands_on) + r"$"))
    else:
        expect(page).not_to_have_url(re.compile(r"/login"))


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
