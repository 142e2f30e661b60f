"""User administration (issue 7 item 5), on the auth blueprint beside the users list of ``views.py``.

Pages:
  /admin/users/new                      administrators: a new staff login (email, name, role, institution); the
                                        answer (201) shows a one-time set-password link, once
  /admin/users/<id>/access              administrators: change a staff user's role (and institution); every open
                                        session of the user ends at once
  /admin/users/<id>/password-link       administrators: a new set-password link (lost password), shown once
  /account/set-password/<token>         the person: choose a password with the link (no sign-in needed)

Freeze, unfreeze and reset MFA are in ``views.py`` (``admin_user_action``). Staff of another institution -> 404.
"""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from portal.auth import services
from portal.auth.admin_forms import AccessForm, NewStaffForm, SetPasswordForm
from portal.auth.models import Institution, User
from portal.auth.views import bp
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.security import Perm, require_permission


def _staff_user_or_404(user_id: int) -> User:
    """A user of my institution (another institution's -> 404)."""
    user = db.session.get(User, user_id)
    if user is None or user.institution_id != current_user.institution_id:
        abort(404, "No such user.")
    return user


def _my_institutions() -> list[Institution]:
    """The institutions I may assign staff to: my own (there is no cross-institution administrator)."""
    return [db.session.get(Institution, current_user.institution_id)]


def _link(token: str) -> str:
    return url_for("auth.set_password", token=token, _external=True)


def _no_referrer(response):
    """Pages that carry a set-password token in the URL or the body send no Referer and are not cached."""
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/admin/users/new", methods=["GET", "POST"])
@require_permission(Perm.MANAGE_USERS)
def admin_new_user():
    """New staff login. Bad input, a taken email or an unknown role -> 422 with the form (nothing saved); success
    -> 201 with the set-password link, shown this once (only its hash is kept)."""
    form = NewStaffForm(institutions=_my_institutions())
    if request.method == "GET":
        form.institution_id.data = current_user.institution_id
    if form.validate_on_submit():
        try:
            user, token = services.create_staff_user(
                email=form.email.data, display_name=form.display_name.data, role=form.role.data,
                institution_id=form.institution_id.data, actor=current_user, now=clock().now())
        except DomainError as exc:
            db.session.rollback()
            field = form.email if "email" in exc.message else (form.role if "role" in exc.message
                                                                else form.institution_id)
            field.errors = [*field.errors, exc.message]
            return render_template("auth/admin/new_user.html", form=form), exc.http_status
        db.session.commit()
        page = render_template("auth/admin/password_link.html", user=user, link=_link(token), created=True)
        return _no_referrer(make_response(page, 201))
    return render_template("auth/admin/new_user.html", form=form), 422 if form.errors else 200


@bp.route("/admin/users/<int:user_id>/access", methods=["GET", "POST"])
@require_permission(Perm.MANAGE_USERS)
def admin_user_access(user_id: int):
    """Change a staff user's role and institution (with a reason). The user's sessions end at once. Own login
    -> 409, a customer, an unknown role, no change -> 422 (nothing saved)."""
    user = _staff_user_or_404(user_id)
    form = AccessForm(institutions=_my_institutions())
    if request.method == "GET":
        form.role.data, form.institution_id.data = user.role, user.institution_id
    if form.validate_on_submit():
        try:
            changes = services.change_staff_access(user, role=form.role.data, institution_id=form.institution_id.data,
                                                   actor=current_user, reason=form.reason.data,
                                                   now=clock().now())
        except DomainError as exc:
            db.session.rollback()
            user = _staff_user_or_404(user_id)
            form.role.errors = [*form.role.errors, exc.message]
            return render_template("auth/admin/access.html", user=user, form=form), exc.http_status
        db.session.commit()
        what = " and ".join("role" if k == "role" else "institution" for k in changes if k != "session_version")
        flash(f"The {what} of {user.display_name} changed; their open sessions ended.", "success")
        return redirect(url_for("auth.admin_user", user_id=user.id))
    return render_template("auth/admin/access.html", user=user, form=form), 422 if form.errors else 200


@bp.route("/admin/users/<int:user_id>/password-link", methods=["GET", "POST"])
@require_permission(Perm.MANAGE_USERS)
def admin_password_link(user_id: int):
    """Confirmation (GET) and a new one-time set-password link (POST; earlier unused links stop working)."""
    user = _staff_user_or_404(user_id)
    form = SetPasswordForm(formdata=None)  # only for its CSRF token (checked for every POST by CSRFProtect)
    if request.method == "POST":
        try:
            token = services.issue_password_link(user, actor=current_user, now=clock().now())
        except DomainError as exc:
            db.session.rollback()
            return render_template("auth/admin/password_link_confirm.html", user=user, form=form,
                                   error=exc.message), exc.http_status
        db.session.commit()
        page = render_template("auth/admin/password_link.html", user=user, link=_link(token), created=False)
        return _no_referrer(make_response(page, 200))
    return render_template("auth/admin/password_link_confirm.html", user=user, form=form, error=None)


@bp.route("/account/set-password/<token>", methods=["GET", "POST"])
def set_password(token: str):
    """The person chooses a password with a set-password link. A used, replaced or expired link -> 404 with
    what to do; a short or mismatched password -> 422. Afterwards: the sign-in page."""
    now = clock().now()
    row = services.password_token(token, now=now)
    if row is None:
        return _no_referrer(make_response(render_template("auth/set_password_gone.html"), 404))
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user = services.set_password_with_token(token, form.password.data, now=now)
        except DomainError as exc:
            db.session.rollback()
            form.password.errors = [*form.password.errors, exc.message]
            return _no_referrer(make_response(render_template("auth/set_password.html", form=form, user=row.user),
                                            exc.http_status))
        db.session.commit()
        from flask_login import logout_user

        if current_user.is_authenticated and current_user.id == user.id:
            logout_user()
        flash("Your password is set. Sign in with your email and the new password.", "success")
        return redirect(url_for("auth.login"))
    status = 422 if form.errors else 200
    return _no_referrer(make_response(render_template("auth/set_password.html", form=form, user=row.user), status))
