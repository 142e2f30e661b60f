"""Close-of-business admin pages (servicing blueprint, see portal/servicing/views.py).

``/admin/close-of-business`` lists the institution's runs with their steps, counts, durations and a progress
bar; the list is also an htmx fragment (``servicing/cob/_runs.html``) that polls itself while a run is queued
or running. POST ``/admin/close-of-business`` queues the close of business of the books' date (after the
commit: RQ, or in-process without Redis); in demo mode POST ``/admin/close-of-business/days`` runs the next N
dates to watch the book age. Everything needs Perm.RUN_COB and is scoped to the admin's institution.
"""
from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal.business_date import current_business_date
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import is_htmx, render_page_or_fragment
from portal.security import Perm, require_permission
from portal.servicing import cob
from portal.servicing.cob_forms import RunCobForm, RunDaysForm
from portal.servicing.models import CobRun
from portal.servicing.views import bp

PAGE, FRAGMENT = "servicing/cob/index.html", "servicing/cob/_runs.html"
#: a running run with no progress for this long is shown as stalled (its worker probably died)
STALLED_AFTER = timedelta(minutes=5)


def _demo() -> bool:
    return bool(current_app.config.get("DEMO_MODE"))


def _page(form: RunCobForm | None = None, days_form: RunDaysForm | None = None, status: int = 200):
    institution_id = current_user.institution_id
    books_on = current_business_date(institution_id, clock())
    runs = cob.latest_runs(institution_id)
    now = clock().now()
    stalled = {r.id for r in runs if r.status == "running" and (last := cob.last_progress_at(r)) is not None
               and now - last > STALLED_AFTER}
    working = any(r.status in ("queued", "running") and r.id not in stalled for r in runs)
    total_runs = db.session.scalar(select(func.count(CobRun.id)).where(CobRun.institution_id == institution_id))
    response = render_page_or_fragment(
        PAGE, FRAGMENT, status, runs=runs, total_runs=total_runs, books_on=books_on,
        next_on=books_on + timedelta(days=1),
        working=working, stalled=stalled, form=form or RunCobForm(), demo=_demo(),
        days_form=(days_form or RunDaysForm()) if _demo() else None, progress=cob.progress,
        step_views=cob.step_views, total_seconds=cob.total_seconds, labels=cob.ASSET_CLASS_LABELS)
    if request.args.get("poll") and is_htmx() and not working:
        # the run the panel was following has ended: reload the page (the business date in the top bar moved)
        response.headers["HX-Refresh"] = "true"
    return response


@bp.get("/admin/close-of-business")
@require_permission(Perm.RUN_COB)
def cob_runs():
    return _page()


@bp.post("/admin/close-of-business")
@require_permission(Perm.RUN_COB)
def run_cob():
    form = RunCobForm()
    if not form.validate_on_submit():
        return _page(form=form, status=422)
    institution_id = current_user.institution_id
    books_on = current_business_date(institution_id, clock())
    try:
        cob.request_close_of_business(institution_id, books_on, actor=current_user)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _page(status=exc.http_status)
    db.session.commit()
    flash(f"Close of business for {books_on:%d %b %Y} started.", "success")
    return redirect(url_for("servicing.cob_runs"), 303)


@bp.post("/admin/close-of-business/days")
@require_permission(Perm.RUN_COB)
def run_cob_days():
    if not _demo():
        abort(404)
    days_form = RunDaysForm()
    if not days_form.validate_on_submit():
        return _page(days_form=days_form, status=422)
    institution_id = current_user.institution_id
    books_on = current_business_date(institution_id, clock())
    days = days_form.days.data
    try:
        cob.request_close_of_business(institution_id, books_on, actor=current_user, days=days)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        return _page(status=exc.http_status)
    db.session.commit()
    flash(f"Close of business for {days} days from {books_on:%d %b %Y} started.", "success")
    return redirect(url_for("servicing.cob_runs"), 303)
