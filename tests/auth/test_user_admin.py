"""User administration (issue 7 item 5): create staff with a one-time set-password link, change role and
institution (sessions end at once), freeze/unfreeze, reset MFA, and the refusals (duplicate email, unknown role,
own login, another institution, wrong role, no CSRF)."""
from __future__ import annotations

import hashlib
import re

import pyotp
import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.auth.admin_models import PasswordSetupToken
from portal.auth.models import Institution, LoginEvent, User, UserSession
from portal.auth.services import create_user
from tests.auth.conftest import sign_in_elsewhere
from tests.conftest import post_form
from tests.factories import make_customer, make_staff

PASSWORD = "correct-horse-1"
LINK_RE = re.compile(r'value="(http://[^"]*/account/set-password/([A-Za-z0-9_-]+))"')


def enrolled_admin(email: str | None = None) -> User:
    admin = make_staff("admin", email=email)
    admin.totp_secret, admin.mfa_enabled = pyotp.random_base32(), True
    return admin


def signed_in(client) -> bool:
    return client.get("/account/sessions").status_code == 200


def sign_in(client, email: str, password: str = PASSWORD):
    return post_form(client, "/login", {"login": email, "password": password})


def new_user(client, **data):
    form = {"email": "priya@bank.test", "display_name": "Priya Nair", "role": "collections", **data}
    return post_form(client, "/admin/users/new", form, page="/admin/users/new")


def other_bank() -> Institution:
    from portal.extensions import db

    bank = Institution(slug="other", name="Other Bank")
    db.session.add(bank)
    db.session.flush()
    return bank


def users_count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def audits(db, action: str) -> list[AuditEvent]:
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


# ---- create ---------------------------------------------------------------------------------------------------
def test_admin_creates_a_collections_officer_who_sets_their_own_password(client, db, app, login_as):
    admin = login_as(enrolled_admin())
    page = client.get("/admin/users/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for role in ("loan_officer", "risk_officer", "collections", "support", "admin"):
        assert f'value="{role}"' in html
    assert 'value="customer"' not in html

    r = new_user(client, email="Priya@Bank.test", institution_id=str(admin.institution_id))
    assert r.status_code == 201
    body = r.get_data(as_text=True)
    link, token = LINK_RE.search(body).groups()
    assert r.headers["Referrer-Policy"] == "no-referrer" and "no-store" in r.headers["Cache-Control"]

    user = db.session.scalar(select(User).where(User.email == "priya@bank.test"))
    assert user.role == "collections" and user.institution_id == admin.institution_id
    assert user.display_name == "Priya Nair" and user.status == "active"
    created = audits(db, "user.created")[-1]
    assert created.actor_id == admin.id and created.entity_id == str(user.id)
    assert created.changes["role"] == [None, "collections"] and created.changes["email"] == [None, "priya@bank.test"]
    assert created.changes["institution_id"] == [None, admin.institution_id]
    # only the hash of the link's token is stored; the token is in no audit row
    row = db.session.scalar(select(PasswordSetupToken).where(PasswordSetupToken.user_id == user.id))
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest() and row.used_at is None
    assert all(token not in str(e.changes) + str(e.note) for e in db.session.scalars(select(AuditEvent)))

    # nobody knows a password yet: the link is the only way in
    person = app.test_client()
    assert sign_in(person, "priya@bank.test", "anything-at-all").status_code == 422
    path = link.split("://", 1)[1].split("/", 1)[1]
    form = person.get("/" + path)
    assert form.status_code == 200 and "priya@bank.test" in form.get_data(as_text=True)
    short = post_form(person, "/" + path, {"password": "short", "confirm": "short"}, page="/" + path)
    assert short.status_code == 422
    differ = post_form(person, "/" + path, {"password": "a-good-passphrase", "confirm": "another-one-x"},
                       page="/" + path)
    assert differ.status_code == 422
    done = post_form(person, "/" + path, {"password": "a-good-passphrase", "confirm": "a-good-passphrase"},
                     page="/" + path)
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    assert sign_in(person, "priya@bank.test", "a-good-passphrase").status_code == 302 and signed_in(person)
    assert person.get("/staff/customers").status_code == 200  # a collections officer's page

    # the link works once; the password is in no log
    again = app.test_client().get("/" + path)
    assert again.status_code == 404 and "does not work any more" in again.get_data(as_text=True)
    assert audits(db, "user.password_set")[-1].entity_id == str(user.id)
    logged = " ".join(str(e.changes) + str(e.note) for e in db.session.scalars(select(AuditEvent)))
    logged += " ".join(e.login + (e.reason or "") for e in db.session.scalars(select(LoginEvent)))
    assert "a-good-passphrase" not in logged


def test_a_duplicate_email_is_422_and_saves_nothing(client, db, login_as):
    make_staff("support", email="taken@bank.test")
    login_as(enrolled_admin())
    before, events = users_count(db), len(audits(db, "user.created"))
    r = new_user(client, email="TAKEN@bank.test")
    assert r.status_code == 422 and "already exists" in r.get_data(as_text=True)
    assert users_count(db) == before and len(audits(db, "user.created")) == events
    assert db.session.scalar(select(func.count()).select_from(PasswordSetupToken)) == 0


@pytest.mark.parametrize("role", ["customer", "superuser", ""])
def test_an_unknown_or_customer_role_is_422(client, db, login_as, role):
    login_as(enrolled_admin())
    before = users_count(db)
    r = new_user(client, role=role)
    assert r.status_code == 422
    assert users_count(db) == before


def test_bad_email_is_422(client, db, login_as):
    login_as(enrolled_admin())
    before = users_count(db)
    assert new_user(client, email="not-an-email").status_code == 422
    assert users_count(db) == before


def test_a_user_of_another_institution_cannot_be_created(client, db, login_as):
    bank = other_bank()
    login_as(enrolled_admin())
    before = users_count(db)
    r = new_user(client, institution_id=str(bank.id))
    assert r.status_code == 422 and "your own institution" in r.get_data(as_text=True)
    assert users_count(db) == before


@pytest.mark.parametrize("role", ["loan_officer", "risk_officer", "support", "collections"])
def test_only_an_admin_manages_users(client, db, login_as, role):
    officer = make_staff("loan_officer")
    login_as(make_staff(role))
    before = users_count(db)
    assert client.get("/admin/users/new").status_code == 403
    assert new_user(client, email="sneaky@bank.test").status_code == 403
    assert client.get(f"/admin/users/{officer.id}/access").status_code == 403
    assert post_form(client, f"/admin/users/{officer.id}/access", {"role": "admin", "reason": "promote me"},
                     page="/account/sessions").status_code == 403
    assert users_count(db) == before
    db.session.refresh(officer)
    assert officer.role == "loan_officer"


def test_anonymous_goes_to_sign_in_and_a_post_needs_csrf(client, db, app, login_as):
    r = client.get("/admin/users/new")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    login_as(enrolled_admin())
    before = users_count(db)
    assert client.post("/admin/users/new", data={"email": "x@bank.test", "display_name": "X",
                                                 "role": "support"}).status_code == 400
    assert users_count(db) == before


# ---- role and institution --------------------------------------------------------------------------------------
def test_changing_a_role_ends_the_users_sessions_at_once(client, db, app, login_as):
    officer = make_staff("loan_officer", email="ravi@bank.test")
    db.session.commit()
    browser, phone = app.test_client(), app.test_client()
    assert sign_in(browser, officer.email).status_code == 302
    sign_in_elsewhere(phone, officer)
    assert browser.get("/staff/applications").status_code == 200

    admin = login_as(enrolled_admin())
    page = client.get(f"/admin/users/{officer.id}/access")
    assert page.status_code == 200 and 'value="collections"' in page.get_data(as_text=True)
    no_reason = post_form(client, f"/admin/users/{officer.id}/access", {"role": "collections", "reason": ""},
                          page=f"/admin/users/{officer.id}/access")
    assert no_reason.status_code == 422
    assert browser.get("/staff/applications").status_code == 200  # nothing happened yet

    r = post_form(client, f"/admin/users/{officer.id}/access",
                  {"role": "collections", "institution_id": str(admin.institution_id), "reason": "Moved to recovery"},
                  page=f"/admin/users/{officer.id}/access")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/admin/users/{officer.id}")
    # the next request of every browser of the user is anonymous
    nxt = browser.get("/staff/applications")
    assert nxt.status_code == 302 and "/login" in nxt.headers["Location"]
    assert not signed_in(phone)
    db.session.refresh(officer)
    assert officer.role == "collections" and officer.session_version == 2
    rows = db.session.scalars(select(UserSession).where(UserSession.user_id == officer.id)).all()
    assert len(rows) == 2 and all(s.ended_at is not None and s.end_reason == "access_changed" for s in rows)
    event = audits(db, "user.access_changed")[-1]
    assert event.actor_id == admin.id and event.note == "Moved to recovery"
    assert event.changes["role"] == ["loan_officer", "collections"]
    assert event.changes["session_version"] == [1, 2] and event.changes["sessions_ended"] == 2
    assert "institution_id" not in event.changes  # unchanged
    # signed in again, the new role applies: the review queue is no longer theirs
    assert sign_in(browser, officer.email).status_code == 302
    assert browser.get("/staff/applications").status_code == 403
    assert "Collections" in client.get(f"/admin/users/{officer.id}").get_data(as_text=True)


def test_an_admin_cannot_demote_themselves(client, db, login_as):
    admin = login_as(enrolled_admin())
    r = post_form(client, f"/admin/users/{admin.id}/access", {"role": "support", "reason": "oops, me"},
                  page=f"/admin/users/{admin.id}/access")
    assert r.status_code == 409 and "your own role" in r.get_data(as_text=True)
    db.session.refresh(admin)
    assert admin.role == "admin" and admin.session_version == 1 and signed_in(client)
    assert audits(db, "user.access_changed") == []


def test_unknown_role_no_change_customer_and_other_institution_are_refused(client, db, login_as):
    officer = make_staff("support")
    customer = make_customer()
    login_as(enrolled_admin())
    url = f"/admin/users/{officer.id}/access"
    unknown = post_form(client, url, {"role": "customer", "reason": "try it"}, page=url)
    assert unknown.status_code == 422 and "Unknown staff role" in unknown.get_data(as_text=True)
    same = post_form(client, url, {"role": "support", "reason": "same again"}, page=url)
    assert same.status_code == 422 and "Nothing changed" in same.get_data(as_text=True)
    bank = other_bank()
    db.session.commit()
    elsewhere = post_form(client, url, {"role": "support", "institution_id": str(bank.id), "reason": "move"}, page=url)
    assert elsewhere.status_code == 422 and "your own institution" in elsewhere.get_data(as_text=True)
    cust_url = f"/admin/users/{customer.user.id}/access"
    cust = post_form(client, cust_url, {"role": "support", "reason": "make staff"}, page=url)
    assert cust.status_code == 422 and "customer login" in cust.get_data(as_text=True)
    db.session.refresh(officer)
    db.session.refresh(customer.user)
    assert officer.role == "support" and officer.institution_id != bank.id and officer.session_version == 1
    assert customer.user.role == "customer"
    assert audits(db, "user.access_changed") == []


def test_another_institutions_user_is_404_everywhere(client, db, login_as):
    bank = other_bank()
    stranger = create_user(email="x@other.test", role="loan_officer", password=PASSWORD, institution=bank)
    login_as(enrolled_admin())
    for url in (f"/admin/users/{stranger.id}/access", f"/admin/users/{stranger.id}/password-link"):
        assert client.get(url).status_code == 404
    r = post_form(client, f"/admin/users/{stranger.id}/access", {"role": "admin", "reason": "take over"},
                  page="/admin/users/new")
    assert r.status_code == 404
    link = post_form(client, f"/admin/users/{stranger.id}/password-link", {}, page="/admin/users/new")
    assert link.status_code == 404
    assert post_form(client, f"/admin/users/{stranger.id}/freeze", {"reason": "take over"},
                     page="/admin/users/new").status_code == 404
    db.session.refresh(stranger)
    assert stranger.role == "loan_officer" and stranger.status == "active"
    assert db.session.scalar(select(func.count()).select_from(PasswordSetupToken)) == 0


# ---- set-password links ----------------------------------------------------------------------------------------
def _link_path(response) -> str:
    link = LINK_RE.search(response.get_data(as_text=True)).group(1)
    return "/" + link.split("://", 1)[1].split("/", 1)[1]


def test_a_new_link_replaces_the_old_one_and_links_expire(client, db, app, clock, login_as):
    login_as(enrolled_admin())
    first = _link_path(new_user(client))
    user = db.session.scalar(select(User).where(User.email == "priya@bank.test"))
    url = f"/admin/users/{user.id}/password-link"
    assert "New set-password link" in client.get(url).get_data(as_text=True)
    second = _link_path(post_form(client, url, {}, page=url))
    person = app.test_client()
    assert person.get(first).status_code == 404  # replaced
    assert person.get(second).status_code == 200
    clock.advance(hours=73)
    assert person.get(second).status_code == 404  # expired
    assert post_form(person, second, {"password": "a-good-passphrase", "confirm": "a-good-passphrase"},
                     page="/login").status_code == 404
    assert len(audits(db, "user.password_link_issued")) == 2


def test_a_password_set_by_link_signs_the_user_out_everywhere(client, db, app, login_as):
    officer = make_staff("loan_officer", email="forgot@bank.test")
    db.session.commit()
    browser = app.test_client()
    sign_in_elsewhere(browser, officer)
    login_as(enrolled_admin())
    url = f"/admin/users/{officer.id}/password-link"
    path = _link_path(post_form(client, url, {}, page=url))
    assert signed_in(browser)  # a link alone changes nothing
    person = app.test_client()
    post_form(person, path, {"password": "brand-new-pass", "confirm": "brand-new-pass"}, page=path)
    assert not signed_in(browser)
    assert sign_in(person, officer.email, PASSWORD).status_code == 422  # the old password is gone
    assert sign_in(person, officer.email, "brand-new-pass").status_code == 302


def test_a_frozen_users_link_does_not_work(client, db, app, login_as):
    login_as(enrolled_admin())
    path = _link_path(new_user(client))
    user = db.session.scalar(select(User).where(User.email == "priya@bank.test"))
    r = post_form(client, f"/admin/users/{user.id}/freeze", {"reason": "Offer withdrawn"},
                  page=f"/admin/users/{user.id}/freeze")
    assert r.status_code == 302
    assert app.test_client().get(path).status_code == 404
    refused = post_form(client, f"/admin/users/{user.id}/password-link", {}, page="/admin/users/new")
    assert refused.status_code == 422 and "frozen" in refused.get_data(as_text=True)


# ---- freeze, unfreeze, reset MFA ---------------------------------------------------------------------------------
def test_a_frozen_users_open_session_goes_to_sign_in_on_the_next_request(client, db, app, login_as):
    officer = make_staff("support", email="sunita@bank.test")
    db.session.commit()
    browser = app.test_client()
    assert sign_in(browser, officer.email).status_code == 302
    assert browser.get("/staff/customers").status_code == 200
    admin = login_as(enrolled_admin())
    r = post_form(client, f"/admin/users/{officer.id}/freeze", {"reason": "Under investigation"},
                  page=f"/admin/users/{officer.id}/freeze")
    assert r.status_code == 302
    nxt = browser.get("/staff/customers")
    assert nxt.status_code == 302 and "/login" in nxt.headers["Location"]
    assert sign_in(browser, officer.email).status_code == 422  # frozen: no new sign-in either
    event = audits(db, "user.frozen")[-1]
    assert event.actor_id == admin.id and event.changes["status"] == ["active", "frozen"]
    assert post_form(client, f"/admin/users/{admin.id}/freeze", {"reason": "me"},
                     page=f"/admin/users/{admin.id}/freeze").status_code == 422  # never oneself
    assert post_form(client, f"/admin/users/{officer.id}/unfreeze", {"reason": "Cleared"},
                     page=f"/admin/users/{officer.id}/unfreeze").status_code == 302
    assert audits(db, "user.unfrozen")[-1].changes["status"] == ["frozen", "active"]
    assert sign_in(browser, officer.email).status_code == 302 and signed_in(browser)


def test_reset_mfa_is_audited_and_the_user_enrols_again(client, db, app, login_as):
    risk = make_staff("risk_officer", email="risk@bank.test", totp_secret=pyotp.random_base32())
    db.session.commit()
    login_as(enrolled_admin())
    assert "Reset MFA" in client.get(f"/admin/users/{risk.id}").get_data(as_text=True)
    r = post_form(client, f"/admin/users/{risk.id}/reset-mfa", {"reason": "Lost phone"},
                  page=f"/admin/users/{risk.id}/reset-mfa")
    assert r.status_code == 302
    db.session.refresh(risk)
    assert risk.totp_secret is None and not risk.mfa_enabled
    assert audits(db, "user.mfa_reset")[-1].changes["mfa_enabled"] == [True, False]
    assert sign_in(app.test_client(), risk.email).headers["Location"].endswith("/account/mfa")


def test_users_page_links_the_new_pages(client, db, login_as):
    officer = make_staff("loan_officer")
    login_as(enrolled_admin())
    html = client.get("/admin/users").get_data(as_text=True)
    assert "/admin/users/new" in html and "New staff user" in html
    detail = client.get(f"/admin/users/{officer.id}").get_data(as_text=True)
    assert f"/admin/users/{officer.id}/access" in detail and f"/admin/users/{officer.id}/password-link" in detail
