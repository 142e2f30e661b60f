"""Staff pages for scorecards (risk officers): list, version editor with a live htmx preview, publish, compare,
backtest and recalculation runs with progress; savings-transactions imports (seed 004) with progress and the
rejected rows as CSV. Everything is scoped to ``current_user.institution_id`` (built-ins are shared)."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal.business_date import current_business_date
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.scoring import forms, runs, savings, services
from portal.scoring.features import SOURCE_LABELS, SOURCES
from portal.scoring.models import ScoringRun, TransactionImport
from portal.security import Perm, require_permission

bp = Blueprint("scoring", __name__, url_prefix="/staff")
MANAGE = Perm.MANAGE_SCORECARDS


def _institution() -> int:
    return current_user.institution_id


def _as_of():
    return current_business_date(_institution(), clock())


# ------------------------------------------------------------------------------------------------ scorecards


def _index(form, status: int = 200):
    cards = services.visible_scorecards(_institution())
    return render_template("scoring/scorecards/index.html", cards=cards, form=form, sources=SOURCE_LABELS,
                           current={c.id: _current_or_none(c) for c in cards},
                           recalculation=runs.latest_run("recalculation", institution_id=_institution())), status


def _current_or_none(card):
    try:
        return services.current_version(card, institution_id=_institution())
    except DomainError:
        return None


@bp.get("/scorecards")
@require_permission(MANAGE)
def scorecards():
    return _index(forms.NewScorecardForm())


@bp.post("/scorecards")
@require_permission(MANAGE)
def create_scorecard():
    form = forms.NewScorecardForm()
    if not form.validate_on_submit():
        return _index(form, 422)
    try:
        card = services.create_scorecard(institution_id=_institution(), slug=form.slug.data, name=form.name.data,
                                         source=form.source.data, description=form.description.data,
                                         min_score=form.min_score.data, max_score=form.max_score.data,
                                         actor=current_user)
    except DomainError as exc:
        db.session.rollback()
        form.slug.errors = [*form.slug.errors, exc.message]
        return _index(form, exc.http_status)
    db.session.commit()
    flash(f"Scorecard {card.name} created; add its rules and publish it.", "success")
    return redirect(url_for("scoring.version", version_id=card.versions[0].id), 303)


@bp.get("/scorecards/<int:scorecard_id>")
@require_permission(MANAGE)
def scorecard(scorecard_id: int):
    card = services.get_scorecard(scorecard_id, institution_id=_institution())
    versions = services.family_versions(card)
    return render_template("scoring/scorecards/show.html", card=card, versions=versions,
                           current=_current_or_none(card), base=services.builtin_for(card),
                           backtests=runs.backtests_of(card, institution_id=_institution()),
                           sources=SOURCE_LABELS, features=SOURCES[card.source])


@bp.post("/scorecards/<int:scorecard_id>/draft")
@require_permission(MANAGE)
def start_draft(scorecard_id: int):
    card = services.get_scorecard(scorecard_id, institution_id=_institution())
    version = services.start_draft(card, institution_id=_institution(), actor=current_user)
    db.session.commit()
    return redirect(url_for("scoring.version", version_id=version.id), 303)


@bp.get("/scorecards/<int:scorecard_id>/compare")
@require_permission(MANAGE)
def compare(scorecard_id: int):
    card = services.get_scorecard(scorecard_id, institution_id=_institution())
    versions = services.family_versions(card)
    by_id = {v.id: v for v in versions}
    default_right = _current_or_none(card) or versions[-1]
    default_left = next((v for v in reversed(versions) if v.id != default_right.id), default_right)
    left = by_id.get(request.args.get("a", type=int)) or default_left
    right = by_id.get(request.args.get("b", type=int)) or default_right
    return render_template("scoring/scorecards/compare.html", card=card, versions=versions, left=left,
                           right=right, diff=services.compare_versions(left, right))


# ------------------------------------------------------------------------------------------------ versions


def _editable(version) -> bool:
    return version.status == "draft" and version.scorecard.institution_id == _institution()


def _version_page(version, *, status: int = 200, rule_rows=None, band_rows=None, values=None, errors=None,
                  subject_ref: str | None = None, definition: dict | None = None, row_of=None):
    stored_rules, stored_bands = forms.rows_of(version)
    rule_rows = forms.trim_blank(rule_rows, forms.RULE_FIELDS) if rule_rows is not None else stored_rules
    band_rows = forms.trim_blank(band_rows, ("label", "min", "max")) if band_rows is not None else stored_bands
    editable = _editable(version)
    if editable:
        rule_rows = rule_rows + [dict.fromkeys(forms.RULE_FIELDS, "") for _ in range(2)]
        band_rows = band_rows + [{"label": "", "min": "", "max": "", "approve": "no"}]
    subjects = services.subject_choices(version.scorecard.source, institution_id=_institution())
    values = values or {"base_score": version.base_score, "min_score": version.min_score,
                        "max_score": version.max_score, "notes": version.notes}
    subject_ref = subject_ref or (subjects[0].ref if subjects else "")
    preview = _preview_context(version, definition or services.definition_of(version), subject_ref, row_of)
    preview.pop("subject_ref", None)
    return render_template(
        "scoring/versions/show.html", version=version, card=version.scorecard, editable=editable,
        rule_rows=rule_rows, band_rows=band_rows, values=values, errors=errors or {}, subjects=subjects,
        subject_ref=subject_ref, feature_catalog=SOURCES[version.scorecard.source], field_label=forms.field_label,
        publish_form=forms.PublishForm(),
        **preview), status


def _issue_lines(issues, row_of=None) -> list[str]:
    """Engine issues as sentences naming the editor's rows ("Rule 6 expression: ... (line 1, column 18)")."""
    lines = []
    for key, found in forms.errors_by_field(issues, row_of or {"rules": {}, "bands": {}}).items():
        for issue in found:
            where = f" (line {issue.line}, column {issue.column})" if issue.line else ""
            lines.append(f"{forms.field_label(key)}: {issue.message}{where}")
    return lines


def _preview_context(version, definition: dict, subject_ref: str, row_of=None) -> dict:
    ctx = {"outcome": None, "issues": [], "message": None, "features": None, "subject_ref": subject_ref}
    if not subject_ref:
        ctx["message"] = "Choose a customer to preview the score."
        return ctx
    try:
        subject = services.parse_subject(subject_ref, institution_id=_institution())
        outcome, values, issues = services.preview(definition, version.scorecard.source, subject,
                                                   institution_id=_institution(), as_of=_as_of())
    except DomainError as exc:
        ctx["message"] = exc.message
        return ctx
    ctx.update(outcome=outcome, features=values, issues=_issue_lines(issues, row_of), subject=subject)
    return ctx


@bp.get("/scorecards/versions/<int:version_id>")
@require_permission(MANAGE)
def version(version_id: int):
    v = services.get_version(version_id, institution_id=_institution())
    return _version_page(v, subject_ref=request.args.get("subject"))


@bp.post("/scorecards/versions/<int:version_id>")
@require_permission(MANAGE)
def save_version(version_id: int):
    v = services.get_version(version_id, institution_id=_institution())
    definition, row_of, rule_rows, band_rows = forms.definition_from_form(request.form)
    notes = request.form.get("notes", "")
    try:
        services.save_draft(v, definition, notes=notes, institution_id=_institution(), actor=current_user,
                            now=clock().now())
    except services.DefinitionRefused as exc:
        db.session.rollback()
        values = {k: request.form.get(k, "") for k in ("base_score", "min_score", "max_score", "notes")}
        errors = forms.errors_by_field(exc.issues, row_of)
        return _version_page(v, status=422, rule_rows=rule_rows, band_rows=band_rows, values=values,
                             errors=errors, subject_ref=request.form.get("subject"), definition=definition,
                             row_of=row_of)
    db.session.commit()
    flash(f"Draft v{v.number} saved.", "success")
    return redirect(url_for("scoring.version", version_id=v.id, subject=request.form.get("subject") or None), 303)


@bp.post("/scorecards/versions/<int:version_id>/preview")
@require_permission(MANAGE)
def version_preview(version_id: int):
    """The live preview (fragment): the score of the chosen subject under the rules as typed (not saved)."""
    v = services.get_version(version_id, institution_id=_institution())
    row_of = None
    if _editable(v) and "rule_name" in request.form:
        definition, row_of, _, _ = forms.definition_from_form(request.form)
    else:
        definition = services.definition_of(v)
    ctx = _preview_context(v, definition, request.form.get("subject", ""), row_of)
    return render_template("scoring/versions/_preview.html", version=v, **ctx)


@bp.post("/scorecards/versions/<int:version_id>/publish")
@require_permission(MANAGE)
def publish_version(version_id: int):
    v = services.get_version(version_id, institution_id=_institution())
    form = forms.PublishForm()
    if not form.validate_on_submit():
        flash("Tick the confirmation box to publish.", "warning")
        return redirect(url_for("scoring.version", version_id=v.id), 303)
    services.publish_version(v, institution_id=_institution(), actor=current_user, now=clock().now())
    db.session.commit()
    flash(f"{v.scorecard.name} v{v.number} is published and now scores new applications.", "success")
    return redirect(url_for("scoring.scorecard", scorecard_id=v.scorecard_id), 303)


@bp.post("/scorecards/versions/<int:version_id>/discard")
@require_permission(MANAGE)
def discard_version(version_id: int):
    v = services.get_version(version_id, institution_id=_institution())
    card = services.discard_draft(v, institution_id=_institution(), actor=current_user)
    db.session.commit()
    flash("Draft discarded.", "info")
    return redirect(url_for("scoring.scorecard", scorecard_id=card.id), 303)


@bp.post("/scorecards/versions/<int:version_id>/backtest")
@require_permission(MANAGE)
def backtest_version(version_id: int):
    v = services.get_version(version_id, institution_id=_institution())
    run = runs.create_backtest(v, institution_id=_institution(), actor=current_user, clock=clock())
    db.session.commit()
    return redirect(url_for("scoring.run", run_id=run.id), 303)


# ------------------------------------------------------------------------------------------------ runs


def _run_or_404(run_id: int) -> ScoringRun:
    run = db.session.get(ScoringRun, run_id)
    if run is None or run.institution_id != _institution():
        abort(404, "There is no such run.")
    return run


@bp.get("/scorecards/runs/<int:run_id>")
@require_permission(MANAGE)
def run(run_id: int):
    r = _run_or_404(run_id)
    return render_page_or_fragment("scoring/runs/show.html", "scoring/runs/_status.html", run=r)


@bp.post("/scorecards/recalculate")
@require_permission(MANAGE)
def recalculate():
    r = runs.create_recalculation(institution_id=_institution(), as_of=_as_of(), actor=current_user)
    db.session.commit()
    return redirect(url_for("scoring.run", run_id=r.id), 303)


@bp.get("/scorecards/customers/<int:customer_id>")
@require_permission(MANAGE)
def customer_scores(customer_id: int):
    customer = services.parse_subject(f"customer:{customer_id}", institution_id=_institution())
    results = services.latest_results(customer_id, institution_id=_institution())
    return render_template("scoring/customers/scores.html", subject=customer, results=results)


@bp.post("/scorecards/customers/<int:customer_id>/rescore")
@require_permission(MANAGE)
def rescore_customer(customer_id: int):
    from portal.onboarding.models import Customer

    customer = db.session.get(Customer, customer_id)
    if customer is None or customer.institution_id != _institution():
        abort(404, "There is no such customer.")
    runs.request_customer_recalculation(customer, actor=current_user)
    db.session.commit()
    flash(f"Customer #{customer.id} is being re-scored; refresh in a moment.", "info")
    return redirect(url_for("scoring.customer_scores", customer_id=customer.id), 303)


# ------------------------------------------------------------------------------------------------ imports


def _imports_page(form, status: int = 200, error: str | None = None):
    where = TransactionImport.institution_id == _institution()
    batches = db.session.scalars(select(TransactionImport).where(where).order_by(TransactionImport.id.desc())
                                 .limit(50)).all()
    total = db.session.scalar(select(func.count()).select_from(TransactionImport).where(where))
    return render_template("scoring/imports/index.html", form=form, batches=batches, total=total, error=error,
                           max_bytes=current_app.config["IMPORT_MAX_BYTES"]), status


def _import_or_404(batch_id: int) -> TransactionImport:
    batch = db.session.get(TransactionImport, batch_id)
    if batch is None or batch.institution_id != _institution():
        abort(404, "There is no such import.")
    return batch


@bp.get("/savings-imports")
@require_permission(Perm.IMPORT_TRANSACTIONS)
def transaction_imports():
    return _imports_page(forms.TransactionImportForm())


@bp.post("/savings-imports")
@require_permission(Perm.IMPORT_TRANSACTIONS)
def create_transaction_import():
    form = forms.TransactionImportForm()
    if not form.validate_on_submit():
        return _imports_page(form, 422, "Choose the transactions CSV, then start the import.")
    upload = form.file.data
    try:
        batch = savings.create_transaction_import(filename=upload.filename, data=upload.stream.read(),
                                                  actor=current_user, institution_id=_institution())
    except DomainError as exc:
        db.session.rollback()
        return _imports_page(form, exc.http_status, exc.message)
    db.session.commit()
    flash(f"Import {batch.id} started: {batch.filename}.", "success")
    return redirect(url_for("scoring.transaction_import", batch_id=batch.id), 303)


@bp.get("/savings-imports/<int:batch_id>")
@require_permission(Perm.IMPORT_TRANSACTIONS)
def transaction_import(batch_id: int):
    batch = _import_or_404(batch_id)
    return render_page_or_fragment("scoring/imports/show.html", "scoring/imports/_status.html", batch=batch)


@bp.get("/savings-imports/<int:batch_id>/rejected.csv")
@require_permission(Perm.IMPORT_TRANSACTIONS)
def transaction_import_rejected(batch_id: int):
    batch = _import_or_404(batch_id)
    return Response(savings.rejected_csv(batch), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="savings-import-{batch.id}-rejected.csv"'})

