"""Admin pages for importing a loan book: upload, the list of batches, a self-polling status panel and the
rejected rows as CSV."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.ingest import services
from portal.ingest.forms import ImportForm
from portal.ingest.models import ImportBatch
from portal.security import Perm, require_permission

bp = Blueprint("ingest", __name__, url_prefix="/admin/imports")
LIST_LIMIT = 50


def _batch_or_404(batch_id: int) -> ImportBatch:
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None or batch.institution_id != current_user.institution_id:
        abort(404, "There is no such import.")
    return batch


def _index(form: ImportForm, status: int = 200, error: str | None = None):
    where = ImportBatch.institution_id == current_user.institution_id
    batches = db.session.scalars(select(ImportBatch).where(where).order_by(ImportBatch.id.desc())
                                 .limit(LIST_LIMIT)).all()
    total = db.session.scalar(select(func.count()).select_from(ImportBatch).where(where))
    return render_template("ingest/imports/index.html", form=form, batches=batches, total=total, error=error,
                           max_bytes=current_app.config["IMPORT_MAX_BYTES"]), status


@bp.get("")
@require_permission(Perm.IMPORT_BOOK)
def imports():
    return _index(ImportForm())


@bp.post("")
@require_permission(Perm.IMPORT_BOOK)
def create_import():
    form = ImportForm()
    if not form.validate_on_submit():
        return _index(form, 422, "Choose both workbooks, then start the import.")
    customers, loans = form.customers.data, form.loans.data
    try:  # the whole upload is in memory already (MAX_CONTENT_LENGTH caps it); the service checks the size
        batch = services.create_import(
            customers_name=customers.filename, customers_bytes=customers.stream.read(),
            loans_name=loans.filename, loans_bytes=loans.stream.read(),
            actor=current_user, institution_id=current_user.institution_id)
    except DomainError as exc:
        db.session.rollback()
        return _index(form, exc.http_status, exc.message)
    db.session.commit()
    flash(f"Import {batch.id} started: {batch.customers_filename} and {batch.loans_filename}.", "success")
    return redirect(url_for("ingest.import_status", batch_id=batch.id), 303)


@bp.get("/<int:batch_id>")
@require_permission(Perm.IMPORT_BOOK)
def import_status(batch_id: int):
    batch = _batch_or_404(batch_id)
    return render_page_or_fragment("ingest/imports/show.html", "ingest/imports/_status.html", batch=batch)


@bp.get("/<int:batch_id>/rejected.csv")
@require_permission(Perm.IMPORT_BOOK)
def rejected_csv(batch_id: int):
    batch = _batch_or_404(batch_id)
    return Response(services.rejected_csv(batch), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="import-{batch.id}-rejected.csv"'})
