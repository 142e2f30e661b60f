"""Issue 6 item 3 in a real browser: the customer keeps a page open while support answers their ticket in another
browser; the bell in the header counts the reply without a reload (htmx polling), the notifications page lists
it, "Mark all read" drops the count at once (HX-Trigger), and the preferences page saves a choice."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.support import DESKTOP, PHONE, sign_in
from tests.factories import make_customer, make_staff

CUSTOMER = ("9876504567", "ravi-secret-1")
SUPPORT = ("support2@example.test", "support-pass-2")


def test_bell_rises_without_reload_and_drops_after_reading(db, new_page, app, tmp_path):
    previous = app.config.get("UPLOAD_DIR")
    app.config.update(NOTIFY_BELL_POLL_SECONDS=1, UPLOAD_DIR=str(tmp_path / "uploads"))
    try:
        make_staff("support", email=SUPPORT[0], password=SUPPORT[1])
        make_customer(phone=CUSTOMER[0], password=CUSTOMER[1], first_name="Ravi", last_name="Kumar")
        db.session.commit()
        customer = new_page(PHONE)
        staff = new_page(DESKTOP)

        # --- the customer opens a ticket and stays on its page
        sign_in(customer, *CUSTOMER, lands_on="/me")
        customer.goto("/me/support/new")
        customer.get_by_label("What is it about?").select_option("loan")
        customer.get_by_label("Subject").fill("Foreclosure charges")
        customer.get_by_label("Message").fill("What does it cost to close my loan early?")
        customer.get_by_role("button", name="Open ticket").click()
        expect(customer).to_have_url(re.compile(r"/me/support/\d+$"))
        ticket_id = int(customer.url.rsplit("/", 1)[1])
        expect(customer.get_by_test_id("bell-count")).to_have_count(0)

        # --- support replies in another browser
        sign_in(staff, *SUPPORT)
        staff.goto(f"/staff/tickets/{ticket_id}")
        staff.get_by_label("Reply", exact=True).fill("There is no foreclosure charge on a floating-rate loan.")
        staff.get_by_role("button", name="Send reply").click()
        expect(staff.get_by_test_id("ticket-status")).to_have_text("Waiting on customer")

        # --- the customer's open page counts it without a reload
        expect(customer.get_by_test_id("bell-count")).to_have_text("1 unread", timeout=8000)
        customer.locator("#notification-bell").click()
        expect(customer).to_have_url(re.compile(r"/me/notifications$"))
        item = customer.get_by_test_id("notification").first
        expect(item).to_contain_text(f"Support replied to your ticket #{ticket_id}: Foreclosure charges")
        customer.get_by_role("button", name=re.compile("Mark all read")).click()
        expect(customer.get_by_test_id("bell-count")).to_have_count(0)
        expect(customer.get_by_role("button", name=re.compile("Mark all read"))).to_have_count(0)

        # --- preferences: turn off reminder SMS
        customer.get_by_role("link", name="Choose what we send").click()
        sms = customer.get_by_label("Reminders by SMS")
        expect(sms).to_be_checked()
        sms.uncheck()
        customer.get_by_role("button", name="Save choices").click()
        expect(customer.get_by_role("status").first).to_contain_text("saved")
        expect(customer.get_by_label("Reminders by SMS")).not_to_be_checked()
        expect(customer.locator("#always-sent")).to_contain_text("One-time password")
        assert not customer.problems, customer.problems
        assert not staff.problems, staff.problems
    finally:
        app.config.pop("NOTIFY_BELL_POLL_SECONDS", None)
        app.config["UPLOAD_DIR"] = previous
