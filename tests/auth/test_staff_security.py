"""Staff security (seed 002, seed 000): TOTP MFA with QR enrolment, login log, lockout, active sessions, freeze."""
from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.auth.models import LoginEvent, User, UserSession
from tests.auth.conftest import sign_in_elsewhere
from tests.conftest import csrf_token, post_form
from tests.factories import make_staff

PASSWORD = "correct-horse-1"
UA = "Mozilla/5.0 (X11; Linux x86_64) PortalTest/1.0"


def sign_in(client, email: str, password: str = PASSWORD, **kwargs):
    return post_form(client, "/login", {"login": email, "password": password}, headers={"User-Agent": UA}, **kwargs)


def totp_now(user: User, clock) -> str:
    return pyotp.TOTP(user.totp_secret).at(clock.now())


def enrolled(role: str, email: str | None = None) -> User:
    user = make_staff(role, email=email)
    user.totp_secret, user.mfa_enabled = pyotp.random_base32(), True
    return user


def signed_in(client) -> bool:
    return client.get("/account/sessions").status_code == 200


# ---- MFA ----------------------------------------------------------------------------------------------------
def test_admin_needs_a_totp_code_after_the_password(client, db, clock):
    admin = enrolled("admin", "chief@example.test")
    db.session.commit()
    r = sign_in(client, admin.email)
    assert r.status_code == 302 and r.headers["Location"].endswith("/login/mfa")
    assert client.get("/admin/portfolio").status_code == 302  # the password alone does not sign in
    assert "Two-step verification" in client.get("/login/mfa").get_data(as_text=True)

    bad = post_form(client, "/login/mfa", {"code": "000000" if totp_now(admin, clock) != "000000" else "111111"},
                    page="/login/mfa")
    assert bad.status_code == 422 and "not right" in bad.get_data(as_text=True)
    assert client.get("/admin/portfolio").status_code == 302

    ok = post_form(client, "/login/mfa", {"code": totp_now(admin, clock)}, page="/login/mfa")
    assert ok.status_code == 302
    assert client.get("/admin/portfolio").status_code == 200
    reasons = db.session.scalars(select(LoginEvent.reason).order_by(LoginEvent.id)).all()
    assert reasons == ["mfa_required", "mfa_failed", "ok"]


def test_the_totp_code_of_the_previous_step_is_accepted_but_not_older(client, db, clock):
    admin = enrolled("risk_officer")
    db.session.commit()
    sign_in(client, admin.email)
    stale = pyotp.TOTP(admin.totp_secret).at(clock.now().timestamp() - 90)
    if stale != totp_now(admin, clock):
        assert post_form(client, "/login/mfa", {"code": stale}, page="/login/mfa").status_code == 422
    previous = pyotp.TOTP(admin.totp_secret).at(clock.now().timestamp() - 30)
    assert post_form(client, "/login/mfa", {"code": previous}, page="/login/mfa").status_code == 302


def test_the_mfa_step_expires(client, db, clock):
    admin = enrolled("admin")
    db.session.commit()
    sign_in(client, admin.email)
    clock.advance(minutes=11)
    r = client.get("/login/mfa")
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")


def test_the_mfa_page_without_a_password_goes_to_sign_in(client, db):
    assert client.get("/login/mfa").headers["Location"].endswith("/login")
    assert client.get("/account/mfa").headers["Location"].startswith("/login")


def test_a_risk_officer_without_mfa_enrols_right_after_the_password(client, db, clock):
    officer = make_staff("risk_officer", email="rhea@example.test")
    db.session.commit()
    r = sign_in(client, officer.email)
    assert r.status_code == 302 and r.headers["Location"].endswith("/account/mfa")
    page = client.get("/account/mfa")
    html = page.get_data(as_text=True)
    db.session.refresh(officer)
    assert page.status_code == 200 and "<svg" in html and "not signed in yet" in html
    assert officer.totp_secret and officer.mfa_enabled is False
    assert officer.totp_secret[:4] in html  # the key in text, for typing by hand
    assert client.get("/staff/customers").status_code == 302  # still not signed in
    # reloading keeps the same secret (what was scanned stays valid)
    client.get("/account/mfa")
    db.session.refresh(officer)
    secret = officer.totp_secret

    bad = post_form(client, "/account/mfa", {"code": "12345"}, page="/account/mfa")
    assert bad.status_code == 422 and "6 digits" in bad.get_data(as_text=True)
    ok = post_form(client, "/account/mfa", {"code": pyotp.TOTP(secret).at(clock.now())}, page="/account/mfa")
    assert ok.status_code == 302
    db.session.refresh(officer)
    assert officer.mfa_enabled is True and officer.totp_secret == secret
    assert client.get("/staff/customers").status_code == 200
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.mfa_enabled")) is not None

    # the next sign-in asks for a code
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/sessions")})
    assert sign_in(client, officer.email).headers["Location"].endswith("/login/mfa")


def test_mfa_is_optional_for_a_loan_officer_and_can_be_switched_on_and_off(client, db, clock, login_as):
    officer = make_staff("loan_officer", email="omar@example.test")
    db.session.commit()
    r = sign_in(client, officer.email)
    assert r.status_code == 302 and r.headers["Location"] == "/"  # no MFA asked
    page = client.get("/account/mfa").get_data(as_text=True)
    assert "Optional for your role" in page and "<svg" in page
    db.session.refresh(officer)
    ok = post_form(client, "/account/mfa", {"code": totp_now(officer, clock)}, page="/account/mfa")
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/account/mfa")
    db.session.refresh(officer)
    assert officer.mfa_enabled
    status = client.get("/account/mfa").get_data(as_text=True)
    assert "Switch it off" in status
    off = post_form(client, "/account/mfa", {"code": totp_now(officer, clock)}, page="/account/mfa")
    assert off.status_code == 302
    db.session.refresh(officer)
    assert officer.mfa_enabled is False and officer.totp_secret is None
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("user.mfa%"))).all()
    assert sorted(actions) == ["user.mfa_disabled", "user.mfa_enabled"]


def test_an_admin_cannot_switch_mfa_off(client, db, clock, login_as):
    admin = login_as(enrolled("admin"))
    html = client.get("/account/mfa").get_data(as_text=True)
    assert "cannot be switched off" in html
    r = post_form(client, "/account/mfa", {"code": totp_now(admin, clock)}, page="/account/mfa")
    assert r.status_code == 403
    db.session.refresh(admin)
    assert admin.mfa_enabled


def test_wrong_mfa_codes_count_towards_the_lockout(client, db, clock):
    admin = enrolled("admin")
    db.session.commit()
    sign_in(client, admin.email)
    wrong = "000000" if totp_now(admin, clock) != "000000" else "111111"
    for _ in range(4):
        assert post_form(client, "/login/mfa", {"code": wrong}, page="/login/mfa").status_code == 422
    r = post_form(client, "/login/mfa", {"code": wrong}, page="/login/mfa")
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert "locked" in client.get("/login").get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.locked_until is not None
    assert sign_in(client, admin.email).status_code == 422  # locked: even the right password


# ---- lockout and login log ----------------------------------------------------------------------------------
def test_five_failures_lock_the_account_for_fifteen_minutes(client, db, clock):
    officer = make_staff("loan_officer", email="locked@example.test")
    db.session.commit()
    for _ in range(4):
        r = sign_in(client, officer.email, "wrong-password")
        assert r.status_code == 422 and "not right" in r.get_data(as_text=True)
    fifth = sign_in(client, officer.email, "wrong-password")
    assert fifth.status_code == 422 and "locked" in fifth.get_data(as_text=True)
    assert "10:15" in fifth.get_data(as_text=True)  # 10:00 IST + 15 minutes, in local time
    right = sign_in(client, officer.email)
    assert right.status_code == 422 and "locked" in right.get_data(as_text=True)
    clock.advance(minutes=14, seconds=59)
    assert sign_in(client, officer.email).status_code == 422
    clock.advance(seconds=1)
    assert sign_in(client, officer.email).status_code == 302
    db.session.refresh(officer)
    assert officer.failed_logins == 0 and officer.locked_until is None
    reasons = db.session.scalars(select(LoginEvent.reason).order_by(LoginEvent.id)).all()
    assert reasons == ["bad_password"] * 5 + ["locked", "locked", "ok"]


def test_a_success_resets_the_failure_count(client, db):
    officer = make_staff("support", email="help@example.test")
    db.session.commit()
    for _ in range(4):
        sign_in(client, officer.email, "wrong-password")
    assert sign_in(client, officer.email).status_code == 302
    db.session.refresh(officer)
    assert officer.failed_logins == 0
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/sessions")})
    for _ in range(4):
        assert "not right" in sign_in(client, officer.email, "wrong-password").get_data(as_text=True)


def test_every_attempt_is_in_the_login_log_with_user_agent_and_reason(client, db, login_as):
    officer = make_staff("loan_officer", email="log@example.test")
    db.session.commit()
    sign_in(client, "nobody@example.test", "whatever-1")
    sign_in(client, officer.email, "wrong-password")
    sign_in(client, officer.email, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    rows = db.session.scalars(select(LoginEvent).order_by(LoginEvent.id)).all()
    assert [(r.login, r.success, r.reason) for r in rows] == [
        ("nobody@example.test", False, "unknown_user"), (officer.email, False, "bad_password"),
        (officer.email, True, "ok")]
    assert all(r.user_agent == UA for r in rows) and rows[2].ip == "203.0.113.9"
    assert rows[0].user_id is None and rows[1].user_id == officer.id and rows[2].request_id
    assert rows[2].occurred_at is not None
    # an administrator reads them
    admin_client = client.application.test_client()
    sign_in_elsewhere(admin_client, enrolled("admin"))
    html = admin_client.get("/admin/login-log").get_data(as_text=True)
    assert "nobody@example.test" in html and "Wrong password" in html and "PortalTest/1.0" in html
    failed = admin_client.get("/admin/login-log?outcome=failed").get_data(as_text=True)
    assert "Signed in</span>" not in failed and "Unknown login" in failed


def test_a_frozen_user_is_refused_at_sign_in(client, db):
    officer = make_staff("loan_officer", email="cold@example.test")
    officer.status = "frozen"
    db.session.commit()
    r = sign_in(client, officer.email)
    assert r.status_code == 422 and "frozen" in r.get_data(as_text=True)
    assert db.session.scalar(select(LoginEvent.reason)) == "frozen"
    wrong = sign_in(client, officer.email, "wrong-password")  # a wrong password does not reveal the freeze
    assert "frozen" not in wrong.get_data(as_text=True)


# ---- sessions -----------------------------------------------------------------------------------------------
def test_sign_in_opens_a_session_and_sign_out_ends_it(client, db):
    officer = make_staff("loan_officer", email="s@example.test")
    db.session.commit()
    sign_in(client, officer.email)
    row = db.session.scalar(select(UserSession))
    assert row.user_id == officer.id and row.user_agent == UA and row.ip == "127.0.0.1" and row.ended_at is None
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/sessions")})
    db.session.refresh(row)
    assert row.ended_at is not None and row.end_reason == "signed_out"


def test_the_sessions_page_lists_mine_and_ends_one(client, db, app):
    officer = make_staff("loan_officer", email="two@example.test")
    db.session.commit()
    sign_in(client, officer.email)
    laptop = app.test_client()
    sign_in_elsewhere(laptop, officer)
    assert signed_in(laptop)
    html = client.get("/account/sessions").get_data(as_text=True)
    assert "Active sessions" in html and "(2)" in html and "OtherBrowser/2.0" in html and "This browser" in html
    other = db.session.scalar(select(UserSession).where(UserSession.user_agent == "OtherBrowser/2.0"))
    r = post_form(client, f"/account/sessions/{other.id}/end", {}, page="/account/sessions")
    assert r.status_code == 302 and r.headers["Location"].endswith("/account/sessions")
    assert not signed_in(laptop)   # that browser is signed out at once
    assert signed_in(client)       # this one is not
    db.session.refresh(other)
    assert other.end_reason == "ended_by_user"


def test_ending_this_session_signs_me_out(client, db):
    officer = make_staff("loan_officer", email="me@example.test")
    db.session.commit()
    sign_in(client, officer.email)
    mine = db.session.scalar(select(UserSession))
    r = post_form(client, f"/account/sessions/{mine.id}/end", {}, page="/account/sessions")
    assert r.headers["Location"].endswith("/login") and not signed_in(client)


def test_end_all_other_sessions(client, db, app):
    officer = make_staff("loan_officer", email="many@example.test")
    db.session.commit()
    sign_in(client, officer.email)
    others = [app.test_client() for _ in range(2)]
    for other in others:
        sign_in_elsewhere(other, officer)
    r = post_form(client, "/account/sessions/end-others", {}, page="/account/sessions")
    assert r.status_code == 302
    assert signed_in(client) and not any(signed_in(o) for o in others)


def test_another_user_cannot_end_my_session(client, db, app, login_as):
    mine = make_staff("loan_officer", email="victim@example.test")
    db.session.commit()
    sign_in(client, mine.email)
    my_row = db.session.scalar(select(UserSession).where(UserSession.user_id == mine.id))
    intruder = app.test_client()
    sign_in_elsewhere(intruder, make_staff("loan_officer", email="intruder@example.test"))
    r = post_form(intruder, f"/account/sessions/{my_row.id}/end", {}, page="/account/sessions")
    assert r.status_code == 404
    assert post_form(intruder, "/account/sessions/999999/end", {}, page="/account/sessions").status_code == 404
    db.session.refresh(my_row)
    assert my_row.ended_at is None and signed_in(client)


def test_last_seen_is_written_at_most_once_a_minute(client, db, clock):
    officer = make_staff("loan_officer", email="seen@example.test")
    db.session.commit()
    sign_in(client, officer.email)
    row = db.session.scalar(select(UserSession))
    start = row.last_seen_at
    clock.advance(seconds=30)
    client.get("/account/sessions")
    db.session.refresh(row)
    assert row.last_seen_at == start
    clock.advance(seconds=31)
    client.get("/account/sessions")
    db.session.refresh(row)
    assert row.last_seen_at == clock.now()


def test_a_cookie_without_its_session_row_is_anonymous(client, db):
    officer = make_staff("loan_officer")
    db.session.commit()
    with client.session_transaction() as s:  # an old-style cookie: user id and version, no session key
        s["_user_id"], s["_fresh"] = officer.get_id(), True
    assert not signed_in(client)


# ---- freeze -------------------------------------------------------------------------------------------------
def test_freezing_a_user_ends_the_open_session_at_once(client, db, app, login_as):
    officer = make_staff("loan_officer", email="frozen@example.test")
    db.session.commit()
    sign_in(client, officer.email)
    assert client.get("/staff/customers").status_code == 200
    phone = app.test_client()
    sign_in_elsewhere(phone, officer)

    admin_client = app.test_client()
    admin = sign_in_elsewhere(admin_client, enrolled("admin"))
    users = admin_client.get("/admin/users").get_data(as_text=True)
    assert "frozen@example.test" in users and f"/admin/users/{officer.id}/freeze" in users
    confirm = admin_client.get(f"/admin/users/{officer.id}/freeze")
    assert confirm.status_code == 200 and "Reason" in confirm.get_data(as_text=True)
    no_reason = post_form(admin_client, f"/admin/users/{officer.id}/freeze", {"reason": ""},
                          page=f"/admin/users/{officer.id}/freeze")
    assert no_reason.status_code == 422
    assert client.get("/staff/customers").status_code == 200  # nothing happened yet

    r = post_form(admin_client, f"/admin/users/{officer.id}/freeze", {"reason": "Left the company"},
                  page=f"/admin/users/{officer.id}/freeze")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/admin/users/{officer.id}")
    # the frozen user's next request is anonymous, on every browser
    nxt = client.get("/staff/customers")
    assert nxt.status_code == 302 and "/login" in nxt.headers["Location"]
    assert not signed_in(phone)
    db.session.refresh(officer)
    assert officer.status == "frozen" and officer.session_version == 2
    rows = db.session.scalars(select(UserSession).where(UserSession.user_id == officer.id)).all()
    assert len(rows) == 2 and all(r.ended_at is not None and r.end_reason == "frozen" for r in rows)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.frozen"))
    assert event.actor_id == admin.id and event.note == "Left the company"
    assert event.entity_id == str(officer.id) and event.changes["status"] == ["active", "frozen"]
    assert "Frozen" in admin_client.get(f"/admin/users/{officer.id}").get_data(as_text=True)
    assert signed_in(admin_client)

    # unfreeze: audited, and the user signs in again
    r = post_form(admin_client, f"/admin/users/{officer.id}/unfreeze", {"reason": "Rejoined"},
                  page=f"/admin/users/{officer.id}/unfreeze")
    assert r.status_code == 302
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.unfrozen")).note == "Rejoined"
    assert sign_in(client, officer.email).status_code == 302 and signed_in(client)


def test_freeze_needs_the_manage_users_permission_and_csrf(client, db, login_as):
    officer = make_staff("loan_officer")
    risk = login_as(enrolled("risk_officer"))
    db.session.commit()
    assert client.get("/admin/users").status_code == 403
    assert post_form(client, f"/admin/users/{officer.id}/freeze", {"reason": "x" * 5},
                     page="/account/sessions").status_code == 403
    assert risk.status == "active"
    admin_client = client.application.test_client()
    sign_in_elsewhere(admin_client, enrolled("admin"))
    r = admin_client.post(f"/admin/users/{officer.id}/freeze", data={"reason": "no token"})
    assert r.status_code == 400
    db.session.refresh(officer)
    assert officer.status == "active"


def test_an_admin_cannot_freeze_themselves(client, db, login_as):
    admin = login_as(enrolled("admin"))
    r = post_form(client, f"/admin/users/{admin.id}/freeze", {"reason": "oops"}, page=f"/admin/users/{admin.id}/freeze")
    assert r.status_code == 422 and "your own login" in r.get_data(as_text=True)
    assert signed_in(client)


def test_another_institutions_user_is_not_found(client, db, login_as):
    from portal.auth.models import Institution

    other_bank = Institution(slug="other", name="Other Bank")
    db.session.add(other_bank)
    db.session.flush()
    from portal.auth.services import create_user

    stranger = create_user(email="x@other.test", role="loan_officer", password=PASSWORD, institution=other_bank)
    login_as(enrolled("admin"))
    assert client.get(f"/admin/users/{stranger.id}").status_code == 404
    assert client.get(f"/admin/users/{stranger.id}/freeze").status_code == 404
    assert "x@other.test" not in client.get("/admin/users?who=all").get_data(as_text=True)


def test_reset_mfa_makes_an_admin_enrol_again(client, db, app, clock, login_as):
    lost = enrolled("admin", "lost-phone@example.test")
    db.session.commit()
    login_as(enrolled("admin"))
    r = post_form(client, f"/admin/users/{lost.id}/reset-mfa", {"reason": "Lost phone"},
                  page=f"/admin/users/{lost.id}/reset-mfa")
    assert r.status_code == 302
    db.session.refresh(lost)
    assert lost.totp_secret is None and not lost.mfa_enabled
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.mfa_reset")).note == "Lost phone"
    browser = app.test_client()
    assert sign_in(browser, lost.email).headers["Location"].endswith("/account/mfa")


def test_admin_users_page_and_navigation(client, db, login_as):
    make_staff("support", email="sunil@example.test")
    login_as(enrolled("admin"))
    html = client.get("/admin/users").get_data(as_text=True)
    assert "sunil@example.test" in html and ">Users<" in html and ">Security<" in html
    assert re.search(r"Users <span[^>]*>\(2\)", html)
    assert client.get("/admin/users?status=frozen").get_data(as_text=True).count("@example.test") == 0


@pytest.mark.parametrize("role", ["loan_officer", "risk_officer", "support", "admin"])
def test_every_staff_role_has_the_security_page(client, db, login_as, role):
    login_as(make_staff(role))
    html = client.get("/account/sessions").get_data(as_text=True)
    assert ">Security<" in html and "Two-step verification" in html
