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


def sign_in(page: Page, login: str, password: str, lands_on: str | None = None) -> None:
    """Sign in through the form (email for staff, mobile number for customers); wait for the home page."""
    page.goto("/login")
    page.get_by_label("Email or mobile number").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if lands_on:
        expect(page).to_have_url(re.compile(re.escape(lands_on) + r"$"))
    else:
        expect(page).not_to_have_url(re.compile(r"/login"))


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
