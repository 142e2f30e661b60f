"""Admin exports page on the ``reports`` blueprint: request an export, the export log with self-polling progress,
and downloads that only the requester or an admin can use, until the link expires."""
from __future__ import annotations

from flask import abort, flash, send_file, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import hx_redirect, render_page_or_fragment
from portal.lending.models import Product
from portal.reports import exports as services
from portal.reports.forms import ExportForm
from portal.reports.models import Export
from portal.reports.views import bp
from portal.security import Perm, Role, has_permission, require_permission

LOG_LIMIT = 50


def _export_or_404(export_id: int) -> Export:
    export = db.session.get(Export, export_id)
    if export is None or export.institution_id != current_user.institution_id:
        abort(404, "There is no such export.")
    return export


def _form() -> ExportForm:
    form = ExportForm()
    products = db.session.execute(select(Product.id, Product.name).where(
        Product.institution_id == current_user.institution_id).order_by(Product.name)).all()
    form.product_id.choices = [("", "Any product")] + [(str(i), name) for i, name in products]
    return form


def _index(form: ExportForm, status: int = 200, error: str | None = None):
    where = Export.institution_id == current_user.institution_id
    log = db.session.scalars(select(Export).where(where).order_by(Export.id.desc()).limit(LOG_LIMIT)).all()
    total = db.session.scalar(select(func.count()).select_from(Export).where(where))
    return render_page_or_fragment("reports/exports/index.html", "reports/exports/_log.html", status, form=form,
                                   exports=log, total=total, error=error, now=clock().now(),
                                   can_download=_can_download)


def _can_download(export: Export) -> bool:
    return export.requested_by_id == current_user.id or current_user.role == Role.ADMIN


@bp.get("/exports")
@require_permission(Perm.EXPORT_DATA)
def exports():
    """The request form and the institution's export log (htmx: the log fragment only)."""
    return _index(_form())


@bp.post("/exports")
@require_permission(Perm.EXPORT_DATA)
def create_export():
    """Queue an export of the loan book; 422 with the form for a bad format or filter."""
    form = _form()
    if not form.validate_on_submit():
        return _index(form, 422, "Check the highlighted fields.")
    try:
        export = services.create_export(
            institution_id=current_user.institution_id, actor=current_user, fmt=form.format.data,
            filters={"status": form.status.data, "product_id": form.product_id.data,
                     "disbursed_from": form.disbursed_from.data, "disbursed_to": form.disbursed_to.data},
            pii=has_permission(current_user, Perm.VIEW_PII), now=clock().now())
    except DomainError as exc:
        db.session.rollback()
        return _index(form, exc.http_status, exc.message)
    db.session.commit()
    flash(f"Export {export.id} queued; it appears in the log below.", "success")
    return hx_redirect(url_for("reports.exports"))


@bp.get("/exports/<int:export_id>")
@require_permission(Perm.EXPORT_DATA)
def export_status(export_id: int):
    """One export: its page, or (htmx) its status panel, which polls itself while the export runs."""
    export = _export_or_404(export_id)
    return render_page_or_fragment("reports/exports/show.html", "reports/exports/_status.html", export=export,
                                   now=clock().now(), can_download=_can_download)


@bp.get("/exports/<int:export_id>/download")
@require_permission(Perm.EXPORT_DATA)
def download_export(export_id: int):
    """The file: 404 for another institution, 403 unless the requester or an admin, 410 once expired."""
    export = _export_or_404(export_id)
    path = services.download_path(export, user=current_user, is_admin=current_user.role == Role.ADMIN,
                                  now=clock().now())
    db.session.commit()
    return send_file(path, as_attachment=True, download_name=services.file_name(export), max_age=0)
