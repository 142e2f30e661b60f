"""Admin portfolio page (live figures for the current business date, the daily snapshot for a past one) and the
reports (approval funnel, delinquency trend, collections efficiency, disbursements, loan book, vintage curves):
one page per report whose filter form swaps the report fragment (htmx), with an export to XLSX/CSV through the
export jobs (``portal.reports.exports``)."""
from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_login import current_user

from portal.business_date import current_business_date
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import hx_redirect, render_page_or_fragment
from portal.reports import exports
from portal.reports import reports as rq
from portal.reports.charts import bar_chart, hbar_chart, multi_line_chart, trend_chart
from portal.reports.forms import ReportExportForm, ReportFilterForm
from portal.reports.portfolio import SCORE_BANDS
from portal.reports.services import dashboard, parse_date
from portal.security import Perm, has_permission, require_permission

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


@bp.get("/reports")
@require_permission(Perm.VIEW_REPORTS)
def reports_index():
    """The list of reports."""
    return render_template("reports/reports/index.html", titles=rq.TITLES, summaries=rq.SUMMARIES)


def _filter_form(kind: str) -> ReportFilterForm:
    """The filter form of ``kind`` bound to the query string, with the institution's choices."""
    inst = current_user.institution_id
    form = ReportFilterForm(formdata=request.args)
    form.product_id.choices = [("", "Any product")] + [(str(i), n) for i, n in rq.products(inst)]
    form.officer_id.choices = [("", "Any officer")] + [(str(i), n) for i, n in rq.officers(inst)]
    form.score_band.choices = [("", "Any band")] + [(b, b.capitalize() if b == "unscored" else b)
                                                    for b in SCORE_BANDS]
    form.status.choices = [("", "Any status")] + [(s, s.replace("_", " ").capitalize())
                                                  for s in rq.statuses_for(kind)]
    return form


def _charts(kind: str, data) -> dict:
    """The SVG chart geometry of a report (``portal.reports.charts``)."""
    from portal.money import format_inr

    if kind == "funnel":
        return {"main": hbar_chart([(s.label, s.count, f"{s.count} · {s.from_submitted}% of submitted")
                                    for s in data.stages])}
    if kind == "delinquency":
        labels = [p.on.strftime("%d %b") for p in data]
        return {"main": multi_line_chart(labels, [(name, [getattr(p, attr) for p in data]) for name, attr in (
            ("PAR30", "par30"), ("PAR60", "par60"), ("PAR90", "par90"), ("Gross NPA ratio", "npa_ratio"))])}
    if kind == "collections":
        return {"main": hbar_chart([(m.month.strftime("%b %Y"), m.efficiency,
                                     f"{m.efficiency}% · {format_inr(m.collected)} of {format_inr(m.due)}")
                                    for m in data.months])}
    if kind == "disbursements":
        return {"main": hbar_chart([(month.strftime("%b %Y"), amount, f"{format_inr(amount)} · {n}")
                                    for month, n, amount in data.by_month])}
    if kind == "loan_book":
        return {"main": hbar_chart([(s.replace("_", " ").capitalize(), p, f"{format_inr(p)} · {n} loans")
                                    for s, n, p in data.by_status])}
    labels = [str(k) for k in range(1, data.max_mob + 1)]
    return {"main": multi_line_chart(labels, [(c.month.strftime("%b %Y"), [p.share for p in c.points] +
                                               [None] * (data.max_mob - len(c.points))) for c in data.cohorts])}


def _compute(kind: str, f: rq.ReportFilters):
    inst = current_user.institution_id
    if kind == "loan_book":
        return rq.loan_book(inst, f, after=request.args.get("after", type=int))
    return {"funnel": rq.funnel, "delinquency": rq.delinquency, "collections": rq.collections,
            "disbursements": rq.disbursements, "vintage": rq.vintage}[kind](inst, f)


@bp.get("/reports/<kind>")
@require_permission(Perm.VIEW_REPORTS)
def report(kind: str):
    """One report: the page, or (htmx) its fragment for the filters in the query string. 404 for an unknown
    report or another institution's product/officer/institution; 400/422 for bad filters."""
    if kind not in rq.REPORTS:
        abort(404, "There is no such report.")
    form = _filter_form(kind)
    ctx = {"kind": kind, "form": form, "fields": rq.FIELDS[kind], "title": rq.TITLES[kind],
           "date_label": rq.DATE_LABELS[kind]}
    if not form.validate():
        return render_page_or_fragment("reports/reports/show.html", "reports/reports/_report.html", 422, **ctx,
                                       data=None, charts={}, f=None, error="Check the highlighted filters.")
    f = rq.clean_filters(kind, current_user.institution_id, request.args,
                         as_of=current_business_date(current_user.institution_id, clock()))
    data = _compute(kind, f)
    return render_page_or_fragment("reports/reports/show.html", "reports/reports/_report.html", **ctx, data=data,
                                   charts=_charts(kind, data), f=f, error=None, export_form=ReportExportForm())


@bp.post("/reports/<kind>/export")
@require_permission(Perm.VIEW_REPORTS, Perm.EXPORT_DATA)
def export_report(kind: str):
    """Queue an export of the report with the filters posted (hidden fields); to the export's status page."""
    if kind not in rq.REPORTS:
        abort(404, "There is no such report.")
    form = ReportExportForm()
    if not form.validate_on_submit():
        raise DomainError("Choose a format: XLSX or CSV.")
    inst = current_user.institution_id
    raw = {k: v for k, v in request.form.items() if k not in ("csrf_token", "format")}
    if kind == "loan_book":
        raw = rq.loan_book_filters(rq.clean_filters(kind, inst, raw, as_of=current_business_date(inst, clock())))
    export = exports.create_export(institution_id=inst, actor=current_user, fmt=form.format.data, filters=raw,
                                   pii=has_permission(current_user, Perm.VIEW_PII), now=clock().now(), kind=kind)
    db.session.commit()
    flash(f"Export {export.id} of the {rq.TITLES[kind].lower()} queued.", "success")
    return hx_redirect(url_for("reports.export_status", export_id=export.id))
