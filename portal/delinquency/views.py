"""Collections pages: the delinquency queue (``/collections``), the collections screen of a loan, its forms
(assign, promise to pay, action, recovery, write-off proposal), and the checker's write-off queue
(``/collections/write-offs``). Staff see only their institution's loans (404 otherwise)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.business_date import current_business_date
from portal.clock import clock
from portal.delinquency import aging, bp, queries, services
from portal.delinquency.forms import (
    ActionForm,
    AssignForm,
    CheckWriteOffForm,
    CompleteRecoveryForm,
    InitiateRecoveryForm,
    PromiseForm,
    ProposeWriteOffForm,
    form_error,
)
from portal.delinquency.models import (
    CollectionAssignment,
    PromiseToPay,
    RecoveryAction,
    RecoveryCase,
    WriteOff,
)
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.lending.models import Loan
from portal.money import format_inr
from portal.security import Perm, require_permission
from portal.servicing.models import Payment

LOAN_PAGE = "delinquency/loan.html"


def _loan(loan_id: int) -> Loan:
    return services.institution_loan(current_user.institution_id, loan_id)


def _collector_choices() -> list[tuple[str, str]]:
    return [("", "Unassigned")] + [(str(u.id), u.display_name)
                                   for u in services.collectors(current_user.institution_id)]


# ---- the queue ------------------------------------------------------------------------------------------------
@bp.get("/collections")
@require_permission(Perm.WORK_COLLECTIONS)
def queue():
    filters = queries.QueueFilters.from_args(request.args)
    rows, has_next = queries.queue_page(current_user.institution_id, filters, user_id=current_user.id)
    page = filters.page
    return render_page_or_fragment(
        "delinquency/queue.html", "delinquency/_queue_table.html", rows=rows, filters=filters,
        totals=queries.bucket_summary(current_user.institution_id), buckets=aging.BUCKETS,
        collectors=services.collectors(current_user.institution_id), sorts=queries.SORTS,
        promise_filters=queries.PROMISE_FILTERS,
        next_url=url_for("delinquency.queue", **filters.args(page=page + 1)) if has_next else None,
        prev_url=url_for("delinquency.queue", **filters.args(page=page - 1)) if page > 1 else None)


# ---- the loan screen ------------------------------------------------------------------------------------------
def _loan_page(loan: Loan, *, status: int = 200, error: str | None = None, **forms):
    as_of = current_business_date(loan.institution_id, clock())
    assignment = db.session.scalar(select(CollectionAssignment).where(CollectionAssignment.loan_id == loan.id))
    assign_form = forms.get("assign_form") or AssignForm(collector=str(assignment.collector_id) if assignment else "")
    assign_form.collector.choices = _collector_choices()
    by_loan = {"loan_id": loan.id}
    context = {
        "loan": loan, "customer": loan.customer, "as_of": as_of, "error": error,
        "position": services.loan_position(loan, as_of), "bucket": aging.bucket_for_class(loan.asset_class),
        "assignment": assignment, "qualifies": services.qualifies_for_recovery(loan),
        "open_case": services.open_case(loan.id),
        "promises": db.session.scalars(select(PromiseToPay).filter_by(**by_loan)
                                       .order_by(PromiseToPay.id.desc())).all(),
        "actions": db.session.scalars(select(RecoveryAction).filter_by(**by_loan)
                                      .order_by(RecoveryAction.id.desc())).all(),
        "cases": db.session.scalars(select(RecoveryCase).filter_by(**by_loan).order_by(RecoveryCase.id.desc())).all(),
        "write_offs": db.session.scalars(select(WriteOff).filter_by(**by_loan).order_by(WriteOff.id.desc())).all(),
        "payments": db.session.scalars(select(Payment).filter_by(**by_loan).order_by(Payment.id.desc())
                                       .limit(10)).all(),
        "recoverable": services.recoverable_after_write_off(loan),
        "assign_form": assign_form,
        "promise_form": forms.get("promise_form") or PromiseForm(),
        "action_form": forms.get("action_form") or ActionForm(),
        "initiate_form": forms.get("initiate_form") or InitiateRecoveryForm(),
        "complete_form": forms.get("complete_form") or CompleteRecoveryForm(),
        "write_off_form": forms.get("write_off_form") or ProposeWriteOffForm(),
    }
    return render_template(LOAN_PAGE, **context), status


def _done(loan: Loan, message: str):
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("delinquency.loan", loan_id=loan.id), 303)


@bp.get("/collections/loans/<int:loan_id>")
@require_permission(Perm.WORK_COLLECTIONS)
def loan(loan_id: int):
    return _loan_page(_loan(loan_id))


@bp.post("/collections/loans/<int:loan_id>/assign")
@require_permission(Perm.WORK_COLLECTIONS)
def assign(loan_id: int):
    loan = _loan(loan_id)
    form = AssignForm()
    form.collector.choices = _collector_choices()
    if not form.validate_on_submit():
        return _loan_page(loan, status=422, error=form_error(form) or "Choose a collector.", assign_form=form)
    services.assign_collector(loan, int(form.collector.data) if form.collector.data else None, actor=current_user,
                              now=clock().now())
    return _done(loan, "Assignment saved.")


@bp.post("/collections/loans/<int:loan_id>/promises")
@require_permission(Perm.WORK_COLLECTIONS)
def record_promise(loan_id: int):
    loan = _loan(loan_id)
    form = PromiseForm()
    if not form.validate_on_submit():
        return _loan_page(loan, status=422, error=form_error(form), promise_form=form)
    services.record_promise(loan, amount=form.amount.data, promised_on=form.promised_on.data, note=form.note.data,
                            actor=current_user, clock=clock())
    return _done(loan, "Promise to pay recorded.")


@bp.post("/collections/loans/<int:loan_id>/actions")
@require_permission(Perm.WORK_COLLECTIONS)
def log_action(loan_id: int):
    loan = _loan(loan_id)
    form = ActionForm()
    if not form.validate_on_submit():
        return _loan_page(loan, status=422, error=form_error(form), action_form=form)
    services.log_action(loan, kind=form.kind.data, outcome=form.outcome.data, note=form.note.data,
                        offer_amount=form.offer_amount.data, actor=current_user, clock=clock())
    return _done(loan, "Action logged.")


@bp.post("/collections/loans/<int:loan_id>/recovery")
@require_permission(Perm.WORK_COLLECTIONS)
def initiate_recovery(loan_id: int):
    loan = _loan(loan_id)
    form = InitiateRecoveryForm()
    if not form.validate_on_submit():
        return _loan_page(loan, status=422, error=form_error(form), initiate_form=form)
    case = services.initiate_recovery(loan, actor=current_user, clock=clock(), note=form.note.data)
    return _done(loan, f"Recovery case {case.id} is open.")


@bp.post("/collections/loans/<int:loan_id>/recovery/<int:case_id>/complete")
@require_permission(Perm.WORK_COLLECTIONS)
def complete_recovery(loan_id: int, case_id: int):
    loan = _loan(loan_id)
    case = services.institution_case(current_user.institution_id, loan, case_id)
    form = CompleteRecoveryForm()
    if not form.validate_on_submit():
        return _loan_page(loan, status=422, error=form_error(form), complete_form=form)
    case = services.complete_recovery(case, amount=form.amount.data, actor=current_user, clock=clock())
    return _done(loan, f"Recovery case {case.id} completed: {format_inr(case.recovered_amount)} recovered.")


@bp.post("/collections/loans/<int:loan_id>/write-off")
@require_permission(Perm.WORK_COLLECTIONS)
def propose_write_off(loan_id: int):
    loan = _loan(loan_id)
    form = ProposeWriteOffForm()
    if not form.validate_on_submit():
        return _loan_page(loan, status=422, error=form_error(form), write_off_form=form)
    proposal = services.propose_write_off(loan, reason=form.reason.data, actor=current_user, clock=clock())
    return _done(loan, f"Write-off {proposal.id} proposed: a risk officer or an admin must approve it.")


# ---- the checker ----------------------------------------------------------------------------------------------
@bp.get("/collections/write-offs")
@require_permission(Perm.CHECK_WRITE_OFFS)
def write_offs():
    inst = current_user.institution_id
    pending = db.session.scalars(select(WriteOff).where(WriteOff.institution_id == inst,
                                                        WriteOff.status == "proposed").order_by(WriteOff.id)).all()
    decided = db.session.scalars(select(WriteOff).where(WriteOff.institution_id == inst,
                                                        WriteOff.status != "proposed")
                                 .order_by(WriteOff.checked_at.desc(), WriteOff.id.desc()).limit(50)).all()
    return render_template("delinquency/write_offs.html", pending=pending, decided=decided,
                           form=CheckWriteOffForm())


@bp.post("/collections/write-offs/<int:write_off_id>/check")
@require_permission(Perm.CHECK_WRITE_OFFS)
def check_write_off(write_off_id: int):
    proposal = services.institution_write_off(current_user.institution_id, write_off_id)
    form = CheckWriteOffForm()
    if not form.validate_on_submit():
        raise DomainError(form_error(form) or "Choose approve or reject.")
    if form.decision.data == "approve":
        services.approve_write_off(proposal, actor=current_user, clock=clock(), note=form.note.data)
        message = f"Write-off {proposal.id} approved: loan {proposal.loan_id} is written off."
    else:
        services.reject_write_off(proposal, actor=current_user, clock=clock(), note=form.note.data)
        message = f"Write-off {proposal.id} rejected."
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("delinquency.write_offs"), 303)
