"""Sign in, sign out, register."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from portal.auth import services
from portal.auth.forms import LoginForm, RegisterForm
from portal.clock import clock
from portal.extensions import db
from portal.onboarding.services import register_customer

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.login.data, form.password.data, ip=request.remote_addr,
                                     request_id=g.request_id, now=clock().now())
        db.session.commit()
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or url_for("main.index"))
        form.password.errors.append("The email/mobile number or the password is not right.")
        return render_template("auth/login.html", form=form), 422
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
def logout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        customer = register_customer(
            first_name=form.first_name.data, last_name=form.last_name.data, age=form.age.data,
            phone_number=form.phone_number.data, monthly_salary=form.monthly_income.data,
            password=form.password.data)
        db.session.commit()
        login_user(customer.user)
        flash(f"Welcome, {customer.first_name}. Your approved limit is set.", "success")
        return redirect(url_for("lending.customer_dashboard"))
    return render_template("auth/register.html", form=form), 422 if form.errors else 200
