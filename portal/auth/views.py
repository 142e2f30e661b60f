"""Sign in (password, OTP, TOTP step), sign out, register; own security pages; user administration.

Pages:
  /login                      email or mobile + password (customers and staff)
  /login/otp                  customers: mobile number -> an SMS code       (rate limited per number and IP)
  /login/otp/verify           customers: the 6-digit code -> signed in      (first sign-in creates the customer)
  /login/mfa                  staff with MFA: the authenticator code after the password
  /account/mfa                TOTP enrolment (QR code) and status; also reached half-signed-in by a role that
                              requires MFA and has not enrolled yet
  /account/sessions           "Security": my open sessions, end one or all others
  /admin/users[/<id>]         administrators: users, status, sessions, login events; freeze, unfreeze, reset MFA
  /admin/login-log            administrators: every sign-in attempt
"""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select

from portal.auth import mfa, otp, services, sessions
from portal.auth.forms import LoginForm, MfaCodeForm, OtpRequestForm, OtpVerifyForm, ReasonForm, RegisterForm
from portal.auth.models import LoginEvent, User, UserSession
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db, limiter
from portal.onboarding.services import register_customer
from portal.security import Perm, Role, require_permission

bp = Blueprint("auth", __name__)

MFA_PENDING = "mfa_pending"   # Flask session: {"uid", "ver", "exp" (epoch seconds), "next"} between the two steps
OTP_PHONE = "otp_phone"       # Flask session: the 10-digit number waiting for its code


def _safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


def _client() -> dict:
    """IP, user agent and request id of this request, for LoginEvent and UserSession rows."""
    return {"ip": request.remote_addr, "user_agent": request.headers.get("User-Agent", "")[:300] or None,
            "request_id": g.get("request_id")}


def _complete_sign_in(user: User) -> None:
    """Sign ``user`` in on this browser: a new UserSession (its key in the cookie), Flask-Login's session,
    and the end of any session this browser held before. The caller commits."""
    now = clock().now()
    previous = session.get(sessions.SESSION_KEY)
    if previous:
        old = db.session.scalar(select(UserSession).where(UserSession.session_key == previous))
        if old is not None:
            sessions.end_session(old, reason="replaced", now=now)
    client = _client()
    row = sessions.start_session(user, ip=client["ip"], user_agent=client["user_agent"], now=now)
    for key in (MFA_PENDING, OTP_PHONE):
        session.pop(key, None)
    login_user(user)
    session[sessions.SESSION_KEY] = row.session_key


def _log(login: str, user: User | None, *, success: bool, reason: str) -> None:
    services.log_login(login=login, user=user, success=success, reason=reason, now=clock().now(), **_client())


# ---- password sign-in -----------------------------------------------------------------------------------------
@bp.route("/login", methods=["GET", "POST"])
def login():
    """Password sign-in (email for staff, mobile number for customers). Wrong password, unknown login, lock or
    freeze -> 422 with the reason's message (logged). A role with MFA goes on to /login/mfa (or to enrolment)."""
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        now = clock().now()
        result = services.check_password(form.login.data, form.password.data, now=now, log_success=False,
                                         **_client())
        if not result.ok:
            db.session.commit()  # the LoginEvent and the failure count stay, whatever the outcome
            form.password.errors.append(result.message)
            return render_template("auth/login.html", form=form), 422
        user = result.user
        next_url = _safe_next(request.args.get("next"))
        if mfa.mfa_applies(user):
            _log(form.login.data.strip().lower(), user, success=False, reason="mfa_required")
            ttl = current_app.config.get("MFA_PENDING_SECONDS", 600)
            session[MFA_PENDING] = {"uid": user.id, "ver": user.session_version,
                                    "exp": (now + timedelta(seconds=ttl)).timestamp(), "next": next_url}
            db.session.commit()
            if user.mfa_enabled:
                return redirect(url_for("auth.login_mfa"))
            return redirect(url_for("auth.account_mfa"))  # the page explains: enrol to finish signing in
        services.record_success(user, now=now)
        _log(form.login.data.strip().lower(), user, success=True, reason="ok")
        _complete_sign_in(user)
        db.session.commit()
        return redirect(next_url or url_for("main.index"))
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
def logout():
    """Sign out: this browser's UserSession ends (signed_out)."""
    key = session.pop(sessions.SESSION_KEY, None)
    if current_user.is_authenticated and key:
        row = sessions.open_session(current_user.id, key)
        if row is not None:
            sessions.end_session(row, reason="signed_out", now=clock().now())
            db.session.commit()
    logout_user()
    session.pop(MFA_PENDING, None)
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


# ---- the TOTP step ---------------------------------------------------------------------------------------------
def _pending_user() -> User | None:
    """The user half-way through sign-in (password right, TOTP step to come), while the step is fresh, the
    user still active and at the same session version; else None (and the pending state is dropped)."""
    data = session.get(MFA_PENDING)
    if not data:
        return None
    user = db.session.get(User, data.get("uid"))
    if (clock().now().timestamp() > data.get("exp", 0) or user is None or not user.is_active
            or user.session_version != data.get("ver")):
        session.pop(MFA_PENDING, None)
        return None
    return user


def _finish_pending(user: User):
    """Complete a half-done sign-in after a good TOTP code; returns the redirect. The caller has checked."""
    next_url = (session.get(MFA_PENDING) or {}).get("next")
    services.record_success(user, now=clock().now())
    _log(user.email or user.phone or str(user.id), user, success=True, reason="ok")
    _complete_sign_in(user)
    db.session.commit()
    return redirect(_safe_next(next_url) or url_for("main.index"))


def _mfa_failure(who: User, form, template: str, **context):
    """A wrong TOTP code during sign-in: counts towards the lockout and is logged (mfa_failed)."""
    locked = services.record_failure(who, now=clock().now())
    _log(who.email or who.phone or str(who.id), who, success=False, reason="mfa_failed")
    db.session.commit()
    if locked:
        session.pop(MFA_PENDING, None)
        flash(services.locked_message(who), "danger")
        return redirect(url_for("auth.login"))
    form.code.errors.append("That code is not right. Enter the code your authenticator app shows now.")
    return render_template(template, form=form, **context), 422


@bp.route("/login/mfa", methods=["GET", "POST"])
def login_mfa():
    """The TOTP step after the password (config MFA_PENDING_SECONDS to complete it). A wrong code -> 422 and
    one failure towards the lockout; the 5th locks the login and goes back to /login."""
    user = _pending_user()
    if user is None:
        flash("Sign in with your email and password first.", "info")
        return redirect(url_for("auth.login"))
    if not user.mfa_enabled:
        return redirect(url_for("auth.account_mfa"))
    form = MfaCodeForm()
    if form.validate_on_submit():
        now = clock().now()
        if services.is_locked(user, now):
            session.pop(MFA_PENDING, None)
            _log(user.email or str(user.id), user, success=False, reason="locked")
            db.session.commit()
            flash(services.locked_message(user), "danger")
            return redirect(url_for("auth.login"))
        if mfa.verify_code(user.totp_secret, form.code.data, now=now):
            return _finish_pending(user)
        return _mfa_failure(user, form, "auth/login_mfa.html", user=user)
    return render_template("auth/login_mfa.html", form=form, user=user), 422 if form.errors else 200


# ---- TOTP enrolment and status ---------------------------------------------------------------------------------
@bp.route("/account/mfa", methods=["GET", "POST"])
def account_mfa():
    """Signed-in users manage their TOTP here; a user half-signed-in whose role requires MFA enrols here
    and is signed in once the first code is confirmed. Anyone else goes to the sign-in page."""
    pending = None if current_user.is_authenticated else _pending_user()
    user = current_user._get_current_object() if current_user.is_authenticated else pending
    if user is None:
        return redirect(url_for("auth.login", next=url_for("auth.account_mfa")))
    if pending is not None and pending.mfa_enabled:
        return redirect(url_for("auth.login_mfa"))
    form = MfaCodeForm()
    now = clock().now()
    if user.mfa_enabled:  # signed in, MFA on: the status page, and switching it off where the role allows
        if form.validate_on_submit():
            try:
                mfa.disable_mfa(user, form.code.data, now=now)
            except DomainError as exc:
                form.code.errors.append(exc.message)
                return render_template("auth/account_mfa.html", form=form, user=user, pending=False,
                                       required=mfa.mfa_required(user)), exc.http_status
            db.session.commit()
            flash("Two-step verification is off.", "info")
            return redirect(url_for("auth.account_mfa"))
        return render_template("auth/account_mfa.html", form=form, user=user, pending=False,
                               required=mfa.mfa_required(user)), 422 if form.errors else 200
    if not user.totp_secret:  # enrolment starts: a secret is made once and kept until confirmed
        mfa.ensure_secret(user)
        db.session.commit()
    uri = mfa.provisioning_uri(user)
    context = {"user": user, "pending": pending is not None, "required": mfa.mfa_required(user),
               "qr_svg": mfa.qr_svg(uri), "secret": user.totp_secret, "uri": uri}
    if form.validate_on_submit():
        if pending is not None and services.is_locked(pending, now):
            session.pop(MFA_PENDING, None)
            flash(services.locked_message(pending), "danger")
            return redirect(url_for("auth.login"))
        try:
            mfa.confirm_enrolment(user, form.code.data, now=now)
        except DomainError as exc:
            if pending is not None:
                return _mfa_failure(pending, form, "auth/account_mfa.html", **context)
            form.code.errors.append(exc.message)
            return render_template("auth/account_mfa.html", form=form, **context), 422
        flash("Two-step verification is on. You will be asked for a code each time you sign in.", "success")
        if pending is not None:
            return _finish_pending(pending)
        db.session.commit()
        return redirect(url_for("auth.account_mfa"))
    return render_template("auth/account_mfa.html", form=form, **context), 422 if form.errors else 200


# ---- customer sign-in by OTP -----------------------------------------------------------------------------------
def _posted_phone() -> str:
    """The number of an OTP request: typed, or (the "Send a new code" button) the one waiting for its code."""
    if request.form.get("resend") and session.get(OTP_PHONE):
        return session[OTP_PHONE]
    return request.form.get("phone", "")


def _otp_phone_key() -> str:
    """Rate-limit key of an OTP request: the normalised mobile number."""
    try:
        return "otp-phone:" + otp.normalize_mobile(_posted_phone())
    except ValueError:
        return "otp-phone:invalid"


def _sent(response) -> bool:
    """Only a request that sent a code (redirect to the verify page) uses up the OTP rate limits."""
    return response.status_code in (302, 303)


@bp.route("/login/otp", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["OTP_RATE_LIMIT_PHONE"], key_func=_otp_phone_key, methods=["POST"],
               deduct_when=_sent,
               error_message="Too many codes were requested for this mobile number. Wait 10 minutes, then ask "
                             "for a new code.")
@limiter.limit(lambda: current_app.config["OTP_RATE_LIMIT_IP"], methods=["POST"], deduct_when=_sent,
               error_message="Too many codes were requested from this network. Wait an hour, then try again.")
def login_otp():
    """OTP step 1: a valid Indian mobile number gets a code by SMS (outbox) and goes to the verify page.
    Rate limits (config OTP_RATE_LIMIT_PHONE / OTP_RATE_LIMIT_IP, counted only when a code is sent) -> 429."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = OtpRequestForm()
    if request.method == "POST" and request.form.get("resend"):
        form.phone.data = _posted_phone()
    if form.validate_on_submit():
        phone = form.normalized_phone
        otp.request_otp(phone, ip=request.remote_addr, now=clock().now())
        session[OTP_PHONE] = phone
        db.session.commit()  # the SMS leaves the outbox after this commit
        flash(f"We sent a 6-digit code by SMS to {otp.mask_mobile(phone)}. It works for 5 minutes.", "success")
        return redirect(url_for("auth.login_otp_verify"))
    return render_template("auth/login_otp.html", form=form), 422 if form.errors else 200


@bp.route("/login/otp/verify", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["OTP_VERIFY_RATE_LIMIT_IP"], methods=["POST"],
               error_message="Too many codes were tried from this network. Wait an hour, then try again.")
def login_otp_verify():
    """OTP step 2: the right code signs in (creating the customer on first sign-in) and goes home; a wrong,
    expired or used-up code -> 422 with what to do next. Rate limited per IP (OTP_VERIFY_RATE_LIMIT_IP)."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    phone = session.get(OTP_PHONE)
    if not phone:
        flash("Enter your mobile number to get a sign-in code.", "info")
        return redirect(url_for("auth.login_otp"))
    form = OtpVerifyForm()
    resend = OtpRequestForm(formdata=None)
    context = {"form": form, "resend": resend, "masked": otp.mask_mobile(phone), "dead": False}
    if form.validate_on_submit():
        now = clock().now()
        check = otp.verify_otp(phone, form.code.data, now=now)
        existing = db.session.scalar(select(User).where(User.phone == phone))
        if not check.ok:
            _log(phone, existing, success=False, reason=check.reason)
            db.session.commit()  # the used attempt counts
            form.code.errors.append(check.message)
            context["dead"] = check.reason in ("otp_locked", "otp_expired", "no_otp")
            return render_template("auth/login_otp_verify.html", **context), 422
        try:
            user = otp.customer_login_for_phone(phone, now=now)
        except DomainError as exc:  # refused before anything was written; the code stays used up
            _log(phone, existing, success=False, reason="frozen" if existing and existing.status == "frozen"
                 else "not_customer")
            db.session.commit()
            session.pop(OTP_PHONE, None)
            flash(exc.message, "danger")
            return redirect(url_for("auth.login"))
        _log(phone, user, success=True, reason="ok")
        _complete_sign_in(user)
        db.session.commit()
        return redirect(url_for("main.index"))
    return render_template("auth/login_otp_verify.html", **context), 422 if form.errors else 200


# ---- registration (seed 003) -----------------------------------------------------------------------------------
@bp.route("/register", methods=["GET", "POST"])
def register():
    """Seed 003 registration with a password (name, age, mobile, income); signs the new customer in."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        customer = register_customer(
            first_name=form.first_name.data, last_name=form.last_name.data, age=form.age.data,
            phone_number=form.phone_number.data, monthly_salary=form.monthly_income.data,
            password=form.password.data)
        _log(customer.phone_number, customer.user, success=True, reason="ok")
        _complete_sign_in(customer.user)
        db.session.commit()
        flash(f"Welcome, {customer.first_name}. Your approved limit is set.", "success")
        return redirect(url_for("lending.customer_dashboard"))
    return render_template("auth/register.html", form=form), 422 if form.errors else 200


# ---- my sessions -----------------------------------------------------------------------------------------------
@bp.get("/account/sessions")
@require_permission(Perm.OWN_SECURITY)
def account_sessions():
    """Security page: MFA status and my open sessions (this browser marked)."""
    rows = sessions.sessions_of(current_user)
    return render_template("auth/account_sessions.html", rows=rows, current_key=session.get(sessions.SESSION_KEY),
                           mfa_required=mfa.mfa_required(current_user))


@bp.post("/account/sessions/<int:session_id>/end")
@require_permission(Perm.OWN_SECURITY)
def end_session(session_id: int):
    """End one of my sessions (another user's id -> 404); ending this browser's own session signs out."""
    row = sessions.own_session(current_user, session_id)  # another user's session: 404
    sessions.end_session(row, reason="ended_by_user", now=clock().now())
    db.session.commit()
    if row.session_key == session.get(sessions.SESSION_KEY):
        session.pop(sessions.SESSION_KEY, None)
        logout_user()
        flash("This session has ended. Sign in again to continue.", "info")
        return redirect(url_for("auth.login"))
    flash("That session has ended: the browser using it is signed out.", "success")
    return redirect(url_for("auth.account_sessions"))


@bp.post("/account/sessions/end-others")
@require_permission(Perm.OWN_SECURITY)
def end_other_sessions():
    """End all my open sessions but this browser's."""
    count = sessions.end_all_sessions(current_user, reason="ended_by_user", now=clock().now(),
                                      except_key=session.get(sessions.SESSION_KEY))
    db.session.commit()
    flash(f"{count} other session{'s' if count != 1 else ''} ended." if count else "No other session was open.",
          "success")
    return redirect(url_for("auth.account_sessions"))


# ---- user administration ---------------------------------------------------------------------------------------
PAGE = 50
USER_FILTERS = {"staff": "Staff", "customers": "Customers", "all": "Everyone"}


def _user_in_my_institution(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.institution_id != current_user.institution_id:
        abort(404, "No such user.")
    return user


@bp.get("/admin/users")
@require_permission(Perm.MANAGE_USERS)
def admin_users():
    """Users of my institution (staff by default; filters who, status, q), keyset-paginated by id."""
    who = request.args.get("who") if request.args.get("who") in USER_FILTERS else "staff"
    status = request.args.get("status") if request.args.get("status") in ("active", "frozen") else ""
    q_text = (request.args.get("q") or "").strip()[:100]
    q = select(User).where(User.institution_id == current_user.institution_id)
    if who == "staff":
        q = q.where(User.role != Role.CUSTOMER.value)
    elif who == "customers":
        q = q.where(User.role == Role.CUSTOMER.value)
    if status:
        q = q.where(User.status == status)
    if q_text:
        like = f"%{q_text}%"
        q = q.where(User.display_name.ilike(like) | User.email.ilike(like) | User.phone.ilike(like))
    total = db.session.scalar(select(func.count()).select_from(q.subquery()))
    after = request.args.get("after", type=int)
    if after:
        q = q.where(User.id > after)
    rows = db.session.scalars(q.order_by(User.id).limit(PAGE + 1)).all()
    next_url = (url_for("auth.admin_users", who=who, status=status or None, q=q_text or None, after=rows[PAGE - 1].id)
                if len(rows) > PAGE else None)
    rows = rows[:PAGE]
    open_counts = dict(db.session.execute(
        select(UserSession.user_id, func.count()).where(UserSession.user_id.in_([u.id for u in rows]),
                                                        UserSession.ended_at.is_(None))
        .group_by(UserSession.user_id)).all()) if rows else {}
    return render_template("auth/admin/users.html", rows=rows, total=total, who=who, status=status, q=q_text,
                           filters=USER_FILTERS, open_counts=open_counts, next_url=next_url, now=clock().now(),
                           mfa_required_roles=current_app.config.get("MFA_REQUIRED_ROLES", ()))


@bp.get("/admin/users/<int:user_id>")
@require_permission(Perm.MANAGE_USERS)
def admin_user(user_id: int):
    """One user: status, MFA, open sessions and the last 20 sign-in attempts (another institution's -> 404)."""
    user = _user_in_my_institution(user_id)
    events = db.session.scalars(select(LoginEvent).where(LoginEvent.user_id == user.id)
                                .order_by(LoginEvent.id.desc()).limit(20)).all()
    return render_template("auth/admin/user.html", user=user, sessions=sessions.sessions_of(user), events=events,
                           now=clock().now(), mfa_required=mfa.mfa_required(user))


ADMIN_ACTIONS = {
    "freeze": ("Freeze", "btn-danger", "Freezing signs this user out everywhere at once and stops every sign-in "
                                       "until the user is unfrozen."),
    "unfreeze": ("Unfreeze", "btn-primary", "The user can sign in again; the failed-attempt lock is cleared."),
    "reset-mfa": ("Reset two-step verification", "btn-warning",
                  "The user's authenticator secret is deleted. A role that requires MFA enrols again at the next "
                  "sign-in (use this when a phone is lost)."),
}


@bp.route("/admin/users/<int:user_id>/<any(freeze, unfreeze, 'reset-mfa'):action>", methods=["GET", "POST"])
@require_permission(Perm.MANAGE_USERS)
def admin_user_action(user_id: int, action: str):
    """Confirmation page (GET) and the action itself (POST, with a reason that goes into the audit log)."""
    user = _user_in_my_institution(user_id)
    form = ReasonForm()
    label, button, explanation = ADMIN_ACTIONS[action]
    context = {"user": user, "form": form, "action": action, "label": label, "button": button,
               "explanation": explanation}
    if form.validate_on_submit():
        now = clock().now()
        try:
            if action == "freeze":
                ended = sessions.freeze_user(user, actor=current_user, reason=form.reason.data, now=now)
                message = (f"{user.display_name} is frozen; {ended} open session{'s' if ended != 1 else ''} "
                           f"ended.")
            elif action == "unfreeze":
                sessions.unfreeze_user(user, actor=current_user, reason=form.reason.data, now=now)
                message = f"{user.display_name} can sign in again."
            else:
                mfa.reset_mfa(user, actor=current_user, reason=form.reason.data.strip())
                message = f"Two-step verification of {user.display_name} is reset."
        except DomainError as exc:
            db.session.rollback()
            form.reason.errors.append(exc.message)
            return render_template("auth/admin/confirm.html", **context), exc.http_status
        db.session.commit()
        flash(message, "success")
        return redirect(url_for("auth.admin_user", user_id=user.id))
    return render_template("auth/admin/confirm.html", **context), 422 if form.errors else 200


@bp.get("/admin/login-log")
@require_permission(Perm.MANAGE_USERS)
def login_log():
    """Every sign-in attempt (newest first), for the institution's users and for unknown logins."""
    outcome = request.args.get("outcome") if request.args.get("outcome") in ("ok", "failed") else ""
    q_text = (request.args.get("q") or "").strip()[:100]
    q = (select(LoginEvent).outerjoin(User, LoginEvent.user_id == User.id)
         .where((User.institution_id == current_user.institution_id) | LoginEvent.user_id.is_(None)))
    if outcome:
        q = q.where(LoginEvent.success.is_(outcome == "ok"))
    if q_text:
        q = q.where(LoginEvent.login.ilike(f"%{q_text}%") | LoginEvent.reason.ilike(f"{q_text}%"))
    before = request.args.get("before", type=int)
    if before:
        q = q.where(LoginEvent.id < before)
    rows = db.session.scalars(q.order_by(LoginEvent.id.desc()).limit(PAGE + 1)).all()
    next_url = (url_for("auth.login_log", outcome=outcome or None, q=q_text or None, before=rows[PAGE - 1].id)
                if len(rows) > PAGE else None)
    return render_template("auth/admin/login_log.html", rows=rows[:PAGE], outcome=outcome, q=q_text,
                           next_url=next_url)


from portal.auth import admin_views as _admin_views  # noqa: E402, F401  (new staff, role change, set-password links)
