"""The customer -> officer -> admin path through the pages (test client, CSRF on)."""
import re
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from portal.lending.models import Loan, LoanApplication, Offer
from tests.conftest import csrf_token, post_form
from tests.factories import make_customer, make_loan, make_staff, term_product


def test_customer_registers_and_gets_the_seed_003_limit(client, db):
    r = post_form(client, "/register", {"first_name": "Meera", "last_name": "Iyer", "age": "31",
                                        "phone_number": "9876543210", "monthly_income": "12500",
                                        "password": "secret-pass-1"}, page="/register")
    assert r.status_code == 302 and r.headers["Location"].endswith("/me")
    page = client.get("/me").get_data(as_text=True)
    assert "Rs 5,00,000.00" in page


def test_register_rejects_bad_input_with_422_and_keeps_values(client, db):
    r = post_form(client, "/register", {"first_name": "Meera", "last_name": "Iyer", "age": "12",
                                        "phone_number": "12345", "monthly_income": "-5", "password": "x"},
                  page="/register")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "10-digit Indian mobile number" in html and 'value="Meera"' in html


def test_register_without_csrf_token_is_refused(client, db):
    r = client.post("/register", data={"first_name": "A", "last_name": "B", "age": "30",
                                       "phone_number": "9876543210", "monthly_income": "1000", "password": "p" * 9})
    assert r.status_code == 400


def test_customer_applies_after_the_instant_check_and_officer_approves(client, db, login_as):
    customer = make_customer(salary="100000")
    make_loan(customer, amount="100000", tenure=12, paid_on_time=12, approved_on=date(2024, 1, 10))
    officer = make_staff("loan_officer")
    db.session.commit()
    login_as(customer.user)
    product = term_product()
    form = {"product_id": str(product.id), "amount": "250000", "tenure": "24"}
    check = post_form(client, "/me/apply/check", form, page="/me/apply", headers={"HX-Request": "true"})
    assert check.status_code == 200
    fragment = check.get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="eligibility"') and "Credit score" in fragment
    r = post_form(client, "/me/apply", {**form, "idempotency_key": "abc123"}, page="/me/apply")
    assert r.status_code == 302
    app = db.session.scalar(select(LoanApplication))
    assert app.status == "scored"
    assert "Timeline" in client.get(f"/me/applications/{app.id}").get_data(as_text=True)
    # a double submit with the same key creates nothing new
    post_form(client, "/me/apply", {**form, "idempotency_key": "abc123"}, page="/me/apply")
    assert db.session.query(LoanApplication).count() == 1

    login_as(officer)
    response = client.get("/staff/applications")
    assert response.status_code == 200
    queue = response.get_data(as_text=True)
    assert f'/staff/applications/{app.id}"' in queue
    frag = client.get("/staff/applications?band=", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert frag.lstrip().startswith('<div id="queue-table">')
    review = client.get(f"/staff/applications/{app.id}").get_data(as_text=True)
    assert "Score and why" in review and "Approve and send offer" in review
    r = post_form(client, f"/staff/applications/{app.id}/approve", {"note": "ok"}, page=f"/staff/applications/{app.id}")
    assert r.status_code == 302
    db.session.expire_all()
    offer = db.session.scalar(select(Offer).where(Offer.application_id == app.id))
    assert offer.status == "offered" and app.status == "offered"
    # the customer reads the Key Facts Statement and accepts it: sanction and disbursement
    login_as(customer.user)
    page = client.get(f"/me/applications/{app.id}").get_data(as_text=True)
    assert "Key Facts Statement" in page and "Accept the offer" in page
    digest = re.search(r'name="kfs_digest" type="hidden" value="([0-9a-f]{64})"', page).group(1)
    r = post_form(client, f"/me/offers/{offer.id}/accept", {"agree": "y", "kfs_digest": digest},
                  page=f"/me/applications/{app.id}")
    assert r.status_code == 302
    db.session.expire_all()
    loan = db.session.scalar(select(Loan).where(Loan.application_id == app.id))
    assert loan is not None and loan.disbursed_on == date(2026, 11, 23)
    page = client.get(f"/me/loans/{loan.id}").get_data(as_text=True)
    assert "Amortization schedule" in page and "Rs 2,50,000.00" in page


def test_customer_cannot_see_another_customers_application_or_loan(client, db, login_as, clock):
    from portal.lending import services

    owner, other = make_customer(), make_customer()
    app = services.submit_application(owner, term_product(), amount=Decimal("50000"), tenure=12,
                                      actor=owner.user, clock=clock)
    loan = make_loan(owner)
    db.session.commit()
    login_as(other.user)
    assert client.get(f"/me/applications/{app.id}").status_code == 404
    assert client.get(f"/me/loans/{loan.id}").status_code == 404
    assert post_form(client, f"/me/applications/{app.id}/withdraw", {}, page="/me").status_code == 404


def test_roles_are_checked_on_every_page(client, db, login_as):
    customer = make_customer()
    db.session.commit()
    assert client.get("/staff/applications").status_code == 302  # anonymous -> sign in
    r = client.get("/staff/applications", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login")
    login_as(customer.user)
    for url in ("/staff/applications", "/staff/customers", "/admin/portfolio", "/admin/audit"):
        assert client.get(url).status_code == 403, url
    officer = make_staff("loan_officer")
    db.session.commit()
    login_as(officer)
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/me").status_code == 403


def test_staff_sign_in_with_email_and_password(client, db, clock):
    import pyotp

    admin = make_staff("admin", email="boss@example.test", password="long-password-1")
    admin.totp_secret, admin.mfa_enabled = pyotp.random_base32(), True  # admins sign in with a TOTP code too
    db.session.commit()
    bad = post_form(client, "/login", {"login": "boss@example.test", "password": "wrong-password"})
    assert bad.status_code == 422 and "not right" in bad.get_data(as_text=True)
    ok = post_form(client, "/login", {"login": "BOSS@example.test", "password": "long-password-1"})
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/login/mfa")
    code = pyotp.TOTP(admin.totp_secret).at(clock.now())
    assert post_form(client, "/login/mfa", {"code": code}, page="/login/mfa").status_code == 302
    assert client.get("/admin/portfolio").status_code == 200
    assert "Business date" in client.get("/admin/portfolio").get_data(as_text=True)


def test_admin_pages_render(client, db, login_as):
    admin = make_staff("admin")
    customer = make_customer()
    make_loan(customer, approved_on=date(2026, 2, 1))
    db.session.commit()
    login_as(admin)
    portfolio = client.get("/admin/portfolio").get_data(as_text=True)
    assert "AUM" in portfolio and "Customers" in portfolio
    audit = client.get("/admin/audit?action=customer.")
    assert audit.status_code == 200 and "customer.registered" in audit.get_data(as_text=True)
    customers = client.get("/staff/customers?q=Asha").get_data(as_text=True)
    assert "Asha Rao" in customers
    assert client.get(f"/staff/customers/{customer.id}").status_code == 200


def test_every_response_has_a_request_id(client, db):
    r = client.get("/login", headers={"X-Request-ID": "trace-12345678"})
    assert r.headers["X-Request-ID"] == "trace-12345678"
    assert len(client.get("/nope").headers["X-Request-ID"]) == 32
    assert client.get("/nope").status_code == 404
    assert csrf_token(client)
