"""Loan status override pages (seed 000, maker-checker; rules in ``portal.lending.overrides``), on the lending
blueprint.

Pages (``Perm.OVERRIDE_LOAN_STATUS``; another institution's loan or request -> 404):
  /staff/loans/<id>/status-override          the maker's request form (GET) and the request (POST)
  /staff/loans/<id>/status-override/panel    fragment on the staff loan page: pending request or the link
  /admin/loan-overrides                      the checkers' list: pending requests (approve / reject) and recent
  /admin/loan-overrides/<id>/decide          POST action=approve|reject with a note (required to reject)
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.lending import overrides
from portal.lending.models import Loan
from portal.lending.override_forms import StatusOverrideDecisionForm, StatusOverrideRequestForm
from portal.lending.override_models import LoanStatusOverride
from portal.lending.views import bp
from portal.security import Perm, require_permission

STATUS_WORDS = {"npa": "NPA", "written_off": "Written off"}


def _word(status: str) -> str:
    return STATUS_WORDS.get(status, status.replace("_", " ").capitalize())


def _loan_or_404(loan_id: int) -> Loan:
    loan = db.session.get(Loan, loan_id)
    if loan is None or loan.institution_id != current_user.institution_id:
        abort(404, "No such loan.")
    return loan


def _request_form(loan: Loan, form: StatusOverrideRequestForm | None = None) -> StatusOverrideRequestForm:
    form = form or StatusOverrideRequestForm()
    form.to_status.choices = [("", "Choose…")] + [(s.value, _word(s.value)) for s in overrides.allowed_targets(loan)]
    return form


def _panel_context(loan: Loan) -> dict:
    return {"loan": loan, "pending": overrides.pending_for(loan), "targets": overrides.allowed_targets(loan),
            "word": _word}


@bp.get("/staff/loans/<int:loan_id>/status-override/panel")
@require_permission(Perm.OVERRIDE_LOAN_STATUS)
def status_override_panel(loan_id: int):
    """Fragment for the staff loan page: the pending request, or the link to request one (or why none)."""
    loan = _loan_or_404(loan_id)
    return render_template("lending/overrides/_panel.html", **_panel_context(loan))


@bp.route("/staff/loans/<int:loan_id>/status-override", methods=["GET", "POST"])
@require_permission(Perm.OVERRIDE_LOAN_STATUS)
def request_status_override(loan_id: int):
    """The maker's request. A status not allowed, a short reason, a request already pending -> 422/409 with the
    form, nothing saved; success -> the loan page with a message (a checker must approve)."""
    loan = _loan_or_404(loan_id)
    form = _request_form(loan)
    if form.validate_on_submit():
        try:
            row = overrides.request_status_override(loan, to_status=form.to_status.data, reason=form.reason.data,
                                                    actor=current_user, clock=clock())
        except DomainError as exc:
            db.session.rollback()
            loan = _loan_or_404(loan_id)
            form = _request_form(loan, form)
            form.to_status.errors = [*form.to_status.errors, exc.message]
            return render_template("lending/overrides/request.html", form=form, **_panel_context(loan)), \
                exc.http_status
        db.session.commit()
        flash(f"Override requested: loan {loan.id} to {_word(row.to_status).lower()}. Another administrator must "
              f"approve it before the status changes.", "success")
        return redirect(url_for("lending.loan_detail", loan_id=loan.id))
    return render_template("lending/overrides/request.html", form=form, **_panel_context(loan)), \
        422 if form.errors else 200


@bp.get("/admin/loan-overrides")
@require_permission(Perm.OVERRIDE_LOAN_STATUS)
def loan_overrides():
    """Checkers' list: pending requests (oldest first) with approve/reject, and the recently decided ones."""
    pending, recent = overrides.override_queue(current_user.institution_id)
    return render_template("lending/overrides/index.html", pending=pending, recent=recent,
                           form=StatusOverrideDecisionForm(formdata=None), word=_word)


@bp.post("/admin/loan-overrides/<int:override_id>/decide")
@require_permission(Perm.OVERRIDE_LOAN_STATUS)
def decide_status_override(override_id: int):
    """Approve or reject (``action``) a pending request. The maker -> 403; already decided or the loan changed ->
    409; a rejection without a note -> 422. Nothing is saved on any refusal."""
    row = db.session.get(LoanStatusOverride, override_id)
    if row is None or row.institution_id != current_user.institution_id:
        abort(404, "No such override request.")
    form = StatusOverrideDecisionForm()
    action = request.form.get("action")
    if action not in ("approve", "reject"):
        abort(422, "Choose approve or reject.")
    if not form.validate_on_submit():
        abort(422, "Keep the note under 2,000 characters.")
    try:
        row = overrides.decide_status_override(row, approve=action == "approve", note=form.note.data,
                                               actor=current_user, clock=clock())
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "danger")
        pending, recent = overrides.override_queue(current_user.institution_id)
        return render_template("lending/overrides/index.html", pending=pending, recent=recent, form=form,
                               word=_word, failed_id=override_id), exc.http_status
    db.session.commit()
    if row.status == "approved":
        flash(f"Approved: loan {row.loan_id} is now {_word(row.to_status).lower()}.", "success")
    else:
        flash(f"Rejected: loan {row.loan_id} stays {_word(row.from_status).lower()}.", "info")
    return redirect(url_for("lending.loan_overrides"))
