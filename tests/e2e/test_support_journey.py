"""Issue 6 item 4 in a real browser: a customer opens a ticket from the Help link (with a PDF attached), the
support role finds it in the queue, claims and answers it; the customer sees the unread badge on Help, reads
the reply in the thread (it also went by email) and answers in the same thread."""
from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from portal.notifications.models import Notification
from tests.e2e.support import DESKTOP, sign_in, sign_out
from tests.factories import make_customer, make_staff

CUSTOMER = ("9876503456", "asha-secret-1")
SUPPORT = ("support@example.test", "support-pass-1")
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def test_customer_opens_ticket_support_replies_customer_sees_reply(db, new_page, tmp_path, app):
    app.config["UPLOAD_DIR"], previous = str(tmp_path / "uploads"), app.config.get("UPLOAD_DIR")
    try:
        make_staff("support", email=SUPPORT[0], password=SUPPORT[1])
        customer = make_customer(phone=CUSTOMER[0], password=CUSTOMER[1], first_name="Asha", last_name="Rao")
        customer.email = "asha@example.test"
        db.session.commit()
        receipt = tmp_path / "receipt.pdf"
        receipt.write_bytes(PDF)
        page = new_page(DESKTOP)

        # --- the customer opens a ticket from Help
        sign_in(page, *CUSTOMER, lands_on="/me")
        nav = page.get_by_role("navigation")
        nav.get_by_role("link", name="Help").click()
        expect(page.get_by_role("heading", name=re.compile("my tickets"))).to_contain_text("(0)")
        page.get_by_role("link", name="Open a ticket").click()
        page.get_by_label("What is it about?").select_option("payment")
        page.get_by_label("Subject").fill("EMI paid twice")
        page.get_by_label("Message").fill("My November EMI was debited twice. Statement attached.")
        page.get_by_label(re.compile("Attachment")).set_input_files(str(receipt))
        page.get_by_role("button", name="Open ticket").click()
        expect(page).to_have_url(re.compile(r"/me/support/\d+$"))
        ticket_id = int(page.url.rsplit("/", 1)[1])
        expect(page.get_by_test_id("ticket-status")).to_have_text("Open")
        expect(page.get_by_role("link", name="receipt.pdf")).to_be_visible()
        expect(page.get_by_test_id("unread-count")).to_have_count(0)
        sign_out(page)

        # --- support works the queue: claims and replies
        sign_in(page, *SUPPORT)
        page.get_by_role("navigation").get_by_role("link", name="Tickets", exact=True).click()
        page.get_by_label("Assigned").select_option("unassigned")
        queue = page.locator("#queue-table")
        expect(queue.get_by_test_id("sla")).to_have_text("Due in 1d 0h")
        queue.get_by_role("link", name=str(ticket_id), exact=True).click()
        expect(page).to_have_url(re.compile(rf"/staff/tickets/{ticket_id}$"))
        expect(page.get_by_test_id("masked-phone")).to_have_text("98XXXXX456")
        page.get_by_role("button", name="Claim").click()
        expect(page.get_by_role("status").first).to_contain_text("is yours")
        page.get_by_label("Reply", exact=True).fill("We will refund the second debit within 3 working days.")
        page.get_by_role("button", name="Send reply").click()
        expect(page.get_by_test_id("ticket-status")).to_have_text("Waiting on customer")
        sign_out(page)
        # the reply went out as the templated event ticket.reply: in the portal and by email (sent: the outbox)
        db.session.expire_all()
        sent = db.session.execute(select(Notification.channel, Notification.status, Notification.recipient)
                                  .where(Notification.event == "ticket.reply").order_by(Notification.id)).all()
        assert [tuple(row) for row in sent] == [("in_app", "sent", CUSTOMER[0]),
                                                ("email", "sent", "asha@example.test")]

        # --- the customer sees the unread badge, reads the reply and answers in the same thread
        sign_in(page, *CUSTOMER, lands_on="/me")
        help_link = page.get_by_role("navigation").get_by_role("link", name=re.compile("^Help"))
        expect(help_link.get_by_test_id("unread-count")).to_contain_text("1")
        expect(page.get_by_test_id("bell-count")).to_have_text("1 unread")  # the bell in the header agrees
        help_link.click()
        page.locator("#my-tickets").get_by_role("link", name=f"#{ticket_id}").click()
        thread = page.locator(f"#ticket-{ticket_id}-thread")
        expect(thread).to_contain_text("We will refund the second debit")
        expect(page.get_by_test_id("unread-count")).to_have_count(0)
        expect(page.get_by_test_id("bell-count")).to_have_count(0)  # reading the thread read the notification
        page.get_by_label("Your reply").fill("Thank you!")
        page.get_by_role("button", name="Send reply").click()
        expect(thread.get_by_test_id("message")).to_have_count(3)
        expect(page.get_by_test_id("ticket-status")).to_have_text("Open")
        assert not page.problems, page.problems
    finally:
        app.config["UPLOAD_DIR"] = previous
