"""Credit-line pages (seed 004): apply with the rules and a confirmation, the line page (balances, current bill,
statement, upcoming dues), drawdown with a confirmation, close; 404 for another customer's line; staff view."""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from portal.extensions import db as database
from portal.lending.models import Loan
from portal.servicing import credit_line
from portal.servicing.models import LoanTransaction
from tests.conftest import post_form
from tests.factories import make_customer, make_staff
from tests.servicing.test_credit_line import DAY0, accrue, eligible_customer, open_line, pay

D = Decimal


def _key(html: str) -> str:
    return re.search(r'id="idempotency_key" name="idempotency_key" type="hidden" value="([0-9a-f]+)"', html).group(1)


def test_customer_applies_after_seeing_the_rules_and_confirming(client, db, login_as, clock):
    customer = eligible_customer(score=450, salary="12500")
    database.session.commit()
    login_as(customer.user)
    nav = client.get("/me").get_data(as_text=True)
    assert 'href="/me/credit-lines"' in nav and "Credit line" in nav
    assert "You have no credit line yet" in client.get("/me/credit-lines").get_data(as_text=True)
    page = client.get("/me/credit-line/apply")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-testid="score">450' in html
    assert "Rs 1,50,000.00" in html and "computed from your savings transactions" in html
    confirm = post_form(client, "/me/credit-line/apply", {"limit": "50000"}, page="/me/credit-line/apply")
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Confirm your credit line" in text and "Open my credit line" in text
    assert database.session.scalar(select(func.count(Loan.id))) == 0  # nothing opened before the confirmation
    done = post_form(client, "/me/credit-line/apply", {"limit": "50000", "confirmed": "yes"},
                     page="/me/credit-line/apply")
    assert done.status_code == 303
    loan = database.session.scalar(select(Loan).where(Loan.kind == "credit_line"))
    assert done.headers["Location"].endswith(f"/me/credit-lines/{loan.id}")
    shown = client.get(f"/me/credit-lines/{loan.id}").get_data(as_text=True)
    assert "is open" in shown and "Rs 50,000.00" in shown and "No bill yet" in shown
    assert f"/me/credit-lines/{loan.id}" in client.get("/me/credit-lines").get_data(as_text=True)
    assert f"Credit line {loan.id}" in client.get("/me").get_data(as_text=True)


def test_apply_refused_shows_which_rule_failed(client, db, login_as):
    customer = eligible_customer(score=449)
    database.session.commit()
    login_as(customer.user)
    refused = post_form(client, "/me/credit-line/apply", {"limit": "50000"}, page="/me/credit-line/apply")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "Not met" in text and "Your credit score is 449" in text
    over = post_form(client, "/me/credit-line/apply", {"limit": "50000.01", "confirmed": "yes"},
                     page="/me/credit-line/apply")
    assert over.status_code == 422 and "Rs 50,000.01" in over.get_data(as_text=True)
    assert database.session.scalar(select(func.count(Loan.id))) == 0


def test_drawdown_with_confirmation_is_idempotent_and_refused_over_the_limit(client, db, login_as, clock):
    loan = open_line(clock, limit="20000")
    database.session.commit()
    login_as(loan.customer.user)
    url = f"/me/credit-lines/{loan.id}"
    key = _key(client.get(url).get_data(as_text=True))
    confirm = post_form(client, f"{url}/drawdown", {"amount": "5000", "idempotency_key": key}, page=url)
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Confirm the drawdown" in text and "Rs 15,000.00" in text
    assert "Rs 3.30" in text  # a day's interest on 5,000 at 0.066 %
    assert 'name="confirmed" type="hidden" value="yes"' in text
    form = {"amount": "5000.00", "idempotency_key": key, "confirmed": "yes"}
    assert post_form(client, f"{url}/drawdown", form, page=url).status_code == 303
    assert post_form(client, f"{url}/drawdown", form, page=url).status_code == 303  # a double submit
    database.session.expire_all()
    assert database.session.get(Loan, loan.id).principal_outstanding_amount == D("5000.00")
    assert database.session.scalar(select(func.count(LoanTransaction.id))) == 1
    page = client.get(url).get_data(as_text=True)
    assert "Rs 15,000.00" in page and "Drawdown" in page
    over = post_form(client, f"{url}/drawdown", {"amount": "15000.01", "idempotency_key": "x1"}, page=url)
    assert over.status_code == 422 and "You can draw at most Rs 15,000.00" in over.get_data(as_text=True)
    bad = post_form(client, f"{url}/drawdown", {"amount": "-1", "idempotency_key": "x2"}, page=url)
    assert bad.status_code == 422


def test_the_line_page_shows_the_bill_statement_and_upcoming_dues(client, db, login_as, clock):
    loan = open_line(clock)
    credit_line.drawdown(loan, D("10000"), idempotency_key="d0", actor="system", clock=clock)
    accrue(loan, DAY0 + timedelta(days=1), DAY0 + timedelta(days=30))
    credit_line.bill_due_accounts(loan.institution_id, DAY0 + timedelta(days=30))
    pay(loan, "100.00", DAY0 + timedelta(days=30))
    database.session.commit()
    login_as(loan.customer.user)
    html = client.get(f"/me/credit-lines/{loan.id}").get_data(as_text=True)
    assert 'data-testid="minimum-due"><span class="num">Rs 498.00' in html
    assert 'data-testid="still-due"><span class="num">Rs 398.00' in html
    assert '<time datetime="2027-01-07">07 Jan 2027</time>' in html
    assert "Interest accrued" in html and "Rs 98.00" in html
    assert "Upcoming dues" in html and "Next bill on" in html
    statement = re.search(r'<table[^>]*id="credit-line-\d+-statement".*?</table>', html, re.S).group(0)
    assert "Repayment" in statement and "Rs 100.00" in statement and "Drawdown" in statement
    assert "Rs 10,000.00" in statement
    # the balances as an htmx fragment
    fragment = client.get(f"/me/credit-lines/{loan.id}", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True).lstrip()
    assert body.startswith(f'<section id="credit-line-{loan.id}-summary"') and "<html" not in body
    assert "HX-Request" in fragment.headers["Vary"]


def test_another_customers_line_is_404_and_staff_see_lines_of_their_institution(client, db, login_as, clock):
    from portal.auth.models import Institution
    from portal.auth.services import create_user

    loan = open_line(clock)
    other = make_customer(salary="30000")
    officer = make_staff("loan_officer")
    bank = Institution(slug="other-lender", name="Other Lender")
    database.session.add(bank)
    database.session.flush()
    stranger = create_user(email="stranger@other.test", role="loan_officer", password="long-password-1",
                           institution=bank)
    database.session.commit()
    login_as(other.user)
    assert client.get(f"/me/credit-lines/{loan.id}").status_code == 404
    assert post_form(client, f"/me/credit-lines/{loan.id}/drawdown", {"amount": "10", "idempotency_key": "z"},
                     page="/me/credit-lines").status_code == 404
    assert post_form(client, f"/me/credit-lines/{loan.id}/close", {}, page="/me/credit-lines").status_code == 404
    assert client.get(f"/staff/credit-lines/{loan.id}").status_code == 403
    login_as(officer)
    staff_page = client.get(f"/staff/credit-lines/{loan.id}")
    assert staff_page.status_code == 200
    text = staff_page.get_data(as_text=True)
    assert "Draw money" not in text and f"/staff/customers/{loan.customer_id}" in text
    customer_page = client.get(f"/staff/customers/{loan.customer_id}").get_data(as_text=True)
    assert f"/staff/credit-lines/{loan.id}" in customer_page
    login_as(stranger)
    assert client.get(f"/staff/credit-lines/{loan.id}").status_code == 404


def test_close_at_a_zero_balance(client, db, login_as, clock):
    loan = open_line(clock)
    credit_line.drawdown(loan, D("1000"), idempotency_key="d0", actor="system", clock=clock)
    database.session.commit()
    login_as(loan.customer.user)
    url = f"/me/credit-lines/{loan.id}"
    assert "Close this credit line" not in client.get(url).get_data(as_text=True)
    refused = post_form(client, f"{url}/close", {}, page=url)
    assert refused.status_code == 409 and "Rs 1,000.00" in refused.get_data(as_text=True)
    pay(loan, "1000.00", DAY0)
    database.session.commit()
    assert "Close this credit line" in client.get(url).get_data(as_text=True)
    closed = post_form(client, f"{url}/close", {}, page=url)
    assert closed.status_code == 303
    page = client.get(url).get_data(as_text=True)
    assert 'data-status="closed"' in page and "Draw money" not in page
