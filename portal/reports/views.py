"""Admin portfolio page."""
from flask import Blueprint, render_template
from flask_login import current_user

from portal.business_date import current_business_date
from portal.clock import clock
from portal.reports.services import portfolio as build_portfolio
from portal.security import Perm, require_permission

bp = Blueprint("reports", __name__, url_prefix="/admin")


@bp.get("/portfolio")
@require_permission(Perm.VIEW_PORTFOLIO)
def portfolio():
    as_of = current_business_date(current_user.institution_id, clock())
    return render_template("reports/portfolio.html", p=build_portfolio(current_user.institution_id, as_of))
