"""Landing page: send each role to its home."""
from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from portal.security import Role

bp = Blueprint("main", __name__)

HOME = {Role.CUSTOMER: "lending.customer_dashboard", Role.LOAN_OFFICER: "lending.review_queue",
        Role.RISK_OFFICER: "lending.review_queue", Role.SUPPORT: "lending.customers",
        Role.COLLECTIONS: "delinquency.queue", Role.ADMIN: "reports.portfolio"}


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for(HOME[Role(current_user.role)]))
    return render_template("main/index.html")


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}
