"""Customer sign-in by mobile number + OTP (seeds 000, 001): request, verify, first sign-in creates the customer,
attempts, expiry, rate limits, no code in logs or in the database, the development inbox."""
from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.auth.models import LoginEvent, OtpChallenge, User, UserSession
from portal.auth.otp import mask_mobile, normalize_mobile
from portal.notifications.models import Notification
from portal.onboarding.models import Customer
from tests.auth.conftest import ask_for_otp, enter_otp, last_otp, sign_in_elsewhere, wrong_code
from tests.factories import make_customer, make_staff

PHONE = "9876543210"


@pytest.mark.parametrize("typed", ["9876543210", "98765 43210", "+91 98765-43210", "09876543210", "919876543210"])
def test_indian_mobile_numbers_are_normalised_to_ten_digits(typed):
    assert normalize_mobile(typed) == PHONE


@pytest.mark.parametrize("typed", ["", "12345", "1234567890", "5555555555", "+1 415 555 0100", "98765432101", "abc"])
def test_other_numbers_are_refused(typed):
    with pytest.raises(ValueError, match="10-digit Indian mobile number"):
        normalize_mobile(typed)


def test_request_and_verify_signs_in_and_creates_the_customer(client, db):
    r = ask_for_otp(client, "98765 43210")
    assert r.status_code == 302 and r.headers["Location"].endswith("/login/otp/verify")
    sms = db.session.scalar(select(Notification).where(Notification.event == "otp"))
    assert sms.channel == "sms" and sms.recipient == "+919876543210" and sms.status == "sent"  # outbox provider
    page = client.get("/login/otp/verify").get_data(as_text=True)
    assert f"+91 {mask_mobile(PHONE)}" in page and PHONE not in page

    r = enter_otp(client, last_otp(db, PHONE), headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14) Mobile"})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    user = db.session.scalar(select(User).where(User.phone == PHONE))
    assert user.role == "customer" and user.status == "active"
    customer = db.session.scalar(select(Customer).where(Customer.user_id == user.id))
    assert customer.phone_number == PHONE and customer.kyc_status == "not_started"
    assert customer.monthly_salary == Decimal("0.00") and customer.approved_limit == Decimal("0.00")
    assert customer.first_name == "" and customer.last_name == ""
    event = db.session.scalar(select(LoginEvent).where(LoginEvent.success.is_(True)))
    assert (event.login, event.reason, event.user_id) == (PHONE, "ok", user.id)
    assert "Android 14" in event.user_agent
    assert db.session.scalar(select(UserSession).where(UserSession.user_id == user.id)).ended_at is None
    # signed in: the own-security page opens, and the OTP pages send a signed-in user home
    assert client.get("/account/sessions").status_code == 200
    assert client.get("/login/otp").status_code == 302


def test_a_new_otp_customer_lands_on_a_working_dashboard(client, db, app, login_as):
    ask_for_otp(client, PHONE)
    enter_otp(client, last_otp(db, PHONE))
    home = client.get("/", follow_redirects=True)
    assert home.status_code == 200 and "Complete your profile" in home.get_data(as_text=True)
    customer = db.session.scalar(select(Customer).where(Customer.phone_number == PHONE))
    staff = app.test_client()
    sign_in_elsewhere(staff, make_staff("loan_officer"))
    detail = staff.get(f"/staff/customers/{customer.id}")
    assert detail.status_code == 200 and "No score yet" in detail.get_data(as_text=True)


def test_the_second_sign_in_finds_the_same_customer(client, db, app):
    ask_for_otp(client, PHONE)
    enter_otp(client, last_otp(db, PHONE))
    client.post("/logout", data={"csrf_token": _token(client)})
    ask_for_otp(client, PHONE)
    assert enter_otp(client, last_otp(db, PHONE)).status_code == 302
    assert db.session.query(User).filter(User.phone == PHONE).count() == 1
    assert db.session.query(Customer).filter(Customer.phone_number == PHONE).count() == 1


def test_an_existing_customer_signs_in_by_otp_too(client, db):
    customer = make_customer(phone="9123456780", first_name="Kabir")
    db.session.commit()
    ask_for_otp(client, "9123456780")
    assert enter_otp(client, last_otp(db, "9123456780")).status_code == 302
    assert db.session.query(User).filter(User.phone == "9123456780").one().id == customer.user_id


def test_an_imported_customer_without_a_login_gets_one(client, db):
    from portal.onboarding.services import register_customer

    imported = register_customer(first_name="Lata", last_name="Bose", age=40, phone_number="9988776655",
                                 monthly_salary=Decimal("40000"), source="import")
    db.session.commit()
    ask_for_otp(client, "9988776655")
    assert enter_otp(client, last_otp(db, "9988776655")).status_code == 302
    db.session.refresh(imported)
    assert imported.user is not None and imported.user.display_name == "Lata Bose"
    assert db.session.query(Customer).filter(Customer.phone_number == "9988776655").count() == 1


def test_five_wrong_codes_kill_the_challenge(client, db):
    ask_for_otp(client, PHONE)
    code = last_otp(db, PHONE)
    for attempt in range(1, 5):
        r = enter_otp(client, wrong_code(code))
        assert r.status_code == 422
        assert f"{5 - attempt} attempt" in r.get_data(as_text=True)
    fifth = enter_otp(client, wrong_code(code))
    assert fifth.status_code == 422 and "Request a new code" in fifth.get_data(as_text=True)
    sixth = enter_otp(client, code)  # the right code, too late
    assert sixth.status_code == 422 and "no longer works" in sixth.get_data(as_text=True)
    assert client.get("/account/sessions").status_code == 302  # not signed in
    challenge = db.session.scalar(select(OtpChallenge))
    assert challenge.attempts == 5 and challenge.consumed_at is None
    reasons = db.session.scalars(select(LoginEvent.reason).order_by(LoginEvent.id)).all()
    assert reasons == ["otp_failed"] * 4 + ["otp_locked", "otp_locked"]
    # a new code works
    ask_for_otp(client, PHONE)
    assert enter_otp(client, last_otp(db, PHONE)).status_code == 302


def test_an_expired_code_is_refused(client, db, clock):
    ask_for_otp(client, PHONE)
    code = last_otp(db, PHONE)
    clock.advance(minutes=6)
    r = enter_otp(client, code)
    assert r.status_code == 422 and "expired" in r.get_data(as_text=True)
    assert db.session.scalar(select(LoginEvent.reason)) == "otp_expired"
    assert client.get("/account/sessions").status_code == 302


def test_a_code_still_works_just_before_five_minutes(client, db, clock):
    ask_for_otp(client, PHONE)
    clock.advance(minutes=4, seconds=59)
    assert enter_otp(client, last_otp(db, PHONE)).status_code == 302


def test_a_new_request_retires_the_older_code(client, db):
    ask_for_otp(client, PHONE)
    first = last_otp(db, PHONE)
    ask_for_otp(client, PHONE)
    second = last_otp(db, PHONE)
    if first != second:  # one chance in a million that they are equal
        assert enter_otp(client, first).status_code == 422
    assert enter_otp(client, second).status_code == 302


def test_a_used_code_cannot_be_used_again(client, db, app):
    ask_for_otp(client, PHONE)
    code = last_otp(db, PHONE)
    assert enter_otp(client, code).status_code == 302
    other = app.test_client()
    with other.session_transaction() as s:
        s["otp_phone"] = PHONE
    r = enter_otp(other, code)
    assert r.status_code == 422 and "Request a new code" in r.get_data(as_text=True)


def test_otp_requests_are_rate_limited_per_phone(client, db, fresh_limits):
    for _ in range(3):
        assert ask_for_otp(client, PHONE).status_code == 302
    r = ask_for_otp(client, "+91 98765 43210")  # the same number written differently
    assert r.status_code == 429
    html = r.get_data(as_text=True)
    assert "Too many codes were requested for this mobile number" in html and "Wait 10 minutes" in html
    assert r.headers.get("Retry-After")
    assert db.session.query(Notification).count() == 3
    assert ask_for_otp(client, "9123456789").status_code == 302  # another number is not affected


def test_otp_requests_are_rate_limited_per_ip(client, db, fresh_limits):
    for n in range(10):
        assert ask_for_otp(client, f"98000000{n:02d}").status_code == 302
    r = ask_for_otp(client, "9811111111")
    assert r.status_code == 429 and "from this network" in r.get_data(as_text=True)
    other_ip = ask_for_otp(client, "9811111111", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other_ip.status_code == 302


def test_invalid_numbers_do_not_use_up_the_limit(client, db, fresh_limits):
    for _ in range(5):
        r = ask_for_otp(client, "12345")
        assert r.status_code == 422 and "10-digit Indian mobile number" in r.get_data(as_text=True)
    assert ask_for_otp(client, PHONE).status_code == 302


def test_the_otp_is_never_logged_nor_stored_in_plain_text(client, db, caplog):
    caplog.set_level(logging.DEBUG)
    # every SQL statement too, as with echo=True: the bound values are hidden (hide_parameters). (echo="debug"
    # would print result rows as well: a deliberate database dump, not logging.)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    ask_for_otp(client, PHONE)
    code = last_otp(db, PHONE)
    enter_otp(client, wrong_code(code))
    assert enter_otp(client, code).status_code == 302
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    assert "INSERT INTO notifications" in logged and "OTP sign_in requested for 98XXXXX210" in logged
    assert "wrong OTP for 98XXXXX210" in logged
    assert code not in logged and PHONE not in caplog.text
    challenge = db.session.scalar(select(OtpChallenge))
    assert code not in challenge.code_hash and challenge.code_hash.startswith("hmac-sha256$")
    from portal.audit.models import AuditEvent

    for row in db.session.scalars(select(AuditEvent)):
        assert code not in f"{row.changes} {row.note}"
    for event in db.session.scalars(select(LoginEvent)):
        assert code not in f"{event.login} {event.reason}"


def test_a_staff_number_cannot_sign_in_by_otp(client, db):
    from portal.auth.services import create_user

    create_user(email="ops@example.test", phone="9000011111", role="loan_officer", password="long-password-1")
    db.session.commit()
    ask_for_otp(client, "9000011111")
    r = enter_otp(client, last_otp(db, "9000011111"))
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert "staff login" in client.get("/login").get_data(as_text=True)
    assert db.session.scalars(select(LoginEvent.reason)).all() == ["not_customer"]
    assert client.get("/account/sessions").status_code == 302


def test_a_frozen_customer_cannot_sign_in_by_otp(client, db):
    customer = make_customer(phone="9123456700")
    customer.user.status = "frozen"
    db.session.commit()
    ask_for_otp(client, "9123456700")
    assert enter_otp(client, last_otp(db, "9123456700")).headers["Location"].endswith("/login")
    assert db.session.scalars(select(LoginEvent.reason)).all() == ["frozen"]


def test_the_verify_page_needs_a_number_first(client, db):
    r = client.get("/login/otp/verify")
    assert r.status_code == 302 and r.headers["Location"].endswith("/login/otp")


def test_the_login_page_offers_otp_sign_in_and_password_sign_in_stays(client, db):
    html = client.get("/login").get_data(as_text=True)
    assert "Sign in with OTP" in html and 'href="/login/otp"' in html
    customer = make_customer(phone="9123400000", password="customer-pass-1")
    db.session.commit()
    from tests.conftest import post_form

    r = post_form(client, "/login", {"login": "9123400000", "password": "customer-pass-1"})
    assert r.status_code == 302
    assert client.get("/account/sessions").status_code == 200
    assert customer.user.mfa_enabled is False


def test_otp_request_needs_a_csrf_token(client, db):
    assert client.post("/login/otp", data={"phone": PHONE}).status_code == 400


# ---- the development inbox -----------------------------------------------------------------------------------
def test_the_dev_inbox_shows_the_sms(client, db):
    ask_for_otp(client, PHONE)
    code = last_otp(db, PHONE)
    page = client.get("/dev/inbox")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "+919876543210" in html and code in html and "Dev inbox" in html and "<html" in html
    fragment = client.get("/dev/inbox?to=98765", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and 'id="dev-inbox-table"' in body and code in body
    assert code not in client.get("/dev/inbox?to=91234").get_data(as_text=True)


def test_the_verify_page_links_the_dev_inbox_in_development(client, db):
    ask_for_otp(client, PHONE)
    assert 'href="/dev/inbox"' in client.get("/login/otp/verify").get_data(as_text=True)


def test_no_dev_inbox_without_dev_inbox_config(pg_server, db):
    from portal import create_app
    from portal.config import TestConfig

    class NoInbox(TestConfig):
        DEV_INBOX = False
        SQLALCHEMY_DATABASE_URI = pg_server.url

    other = create_app(NoInbox)
    try:
        client = other.test_client()
        assert client.get("/dev/inbox").status_code == 404
        assert "dev_inbox.inbox" not in other.view_functions
    finally:
        with other.app_context():
            from portal.extensions import db as database

            database.engine.dispose()


def test_production_config_refuses_the_dev_inbox():
    from portal.config import ProdConfig, from_env

    config = from_env({"PORTAL_ENV": "production", "SECRET_KEY": "s" * 32, "FIELD_ENCRYPTION_KEY": "k" * 44,
                       "PAYMENT_WEBHOOK_SECRET": "w" * 32, "DATABASE_URL": "postgresql://u@h/db",
                       "REDIS_URL": "redis://h:6379/0"})
    assert config.DEV_INBOX is False and config.RATELIMIT_STORAGE_URI == "redis://h:6379/0"
    config.validate()
    config.DEV_INBOX = True
    with pytest.raises(RuntimeError, match="never in production"):
        ProdConfig.validate(config)


def test_sms_providers_follow_the_protocol(app, db, clock):
    from portal.notifications.delivery import DeliveryError, OutboxProvider, deliver, get_provider
    from portal.notifications.services import notify

    assert isinstance(get_provider("outbox"), OutboxProvider)
    with pytest.raises(DeliveryError, match="unknown provider"):
        get_provider("carrier-pigeon")
    note = notify(channel="sms", event="test", body="hello", recipient="+919876543210", now=clock.now())
    app.config["SMS_PROVIDER"] = "carrier-pigeon"
    try:
        assert deliver(note.id, now=clock.now()) == "failed"
        assert "unknown provider" in note.error
    finally:
        app.config["SMS_PROVIDER"] = "outbox"
    assert deliver(note.id, now=clock.now()) == "sent" and note.attempts == 2
    db.session.rollback()


def _token(client) -> str:
    from tests.conftest import csrf_token

    return csrf_token(client, "/account/sessions")


def test_rate_limits_are_kept_in_redis_when_configured(pg_server, redis_server, app, db):
    """With REDIS_URL the limits live in Redis, so every web worker (and machine) shares them."""
    from redis import Redis

    from portal import create_app
    from portal.config import from_env
    from portal.extensions import limiter
    from tests.auth.conftest import ask_for_otp as ask

    config = from_env({"PORTAL_ENV": "test", "REDIS_URL": redis_server.url, "JOBS_MODE": "eager"})
    config.SQLALCHEMY_DATABASE_URI = pg_server.url
    assert config.RATELIMIT_STORAGE_URI == redis_server.url
    redis_app = create_app(config)
    try:
        limiter.reset()
        with redis_app.app_context():
            from portal.extensions import db as database

            client = redis_app.test_client()
            for _ in range(3):
                assert ask(client, PHONE).status_code == 302
            assert ask(client, PHONE).status_code == 429
            assert any(b"otp-phone" in key for key in Redis.from_url(redis_server.url).keys("*"))
            database.session.remove()
            database.engine.dispose()
    finally:
        limiter.reset()
        limiter.init_app(app)  # back to the suite app's in-memory storage
