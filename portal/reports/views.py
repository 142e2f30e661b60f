"""Admin portfolio page: live figures for the current business date, the daily snapshot for a past one."""
from flask import Blueprint, render_template, request
from flask_login import current_user

from portal.business_date import current_business_date
from portal.clock import clock
from portal.reports.charts import bar_chart, trend_chart
from portal.reports.services import dashboard, parse_date
from portal.security import Perm, require_permission

bp = Blueprint("reports", __name__, url_prefix="/admin")


@bp.get("/portfolio")
@require_permission(Perm.VIEW_PORTFOLIO)
def portfolio():
    """``?on=YYYY-MM-DD`` (default: the business date); 400 for a bad or future date."""
    on = parse_date(request.args.get("on"))
    board = dashboard(current_user.institution_id, on, current_business_date(current_user.institution_id, clock()))
    p = board.figures
    charts = {"dpd": bar_chart(p.by_dpd), "classes": bar_chart(p.by_class), "bands": bar_chart(p.by_band)} if p else {}
    return render_template("reports/portfolio.html", board=board, p=p, charts=charts, trend=trend_chart(board.trend))
