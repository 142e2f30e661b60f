"""Staff pages of the review workflow on the lending blueprint: assignment, notes (htmx), information requests,
escalation, counter-offers, maker-checker overrides, the risk officers' escalations queue and the KFS of an offer.
Each view loads and authorises, calls one service, commits, and redirects (or swaps a fragment)."""
from __future__ import annotations

from flask import abort, render_template
from flask_login import current_user

from portal.auth.models import User
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import hx_trigger
from portal.lending import offers, queries, review, services
from portal.lending.forms import (
    AssignForm,
    CounterOfferForm,
    EscalateForm,
    InfoRequestForm,
    NoteForm,
    OverrideCheckForm,
    OverrideRequestForm,
)
from portal.lending.models import LoanApplication, Offer, Override
from portal.lending.views import _back, _invalid, _staff_application, bp
from portal.security import Perm, require_permission


def _staff_override(override_id: int) -> Override:
    override = db.session.get(Override, override_id)
    if override is None or override.application.institution_id != current_user.institution_id:
        abort(404, "No such override.")
    return override


def _staff_offer(offer_id: int) -> Offer:
    offer = db.session.get(Offer, offer_id)
    if offer is None or offer.application.institution_id != current_user.institution_id:
        abort(404, "No such offer.")
    return offer


@bp.post("/staff/applications/<int:application_id>/assign")
@require_permission(Perm.REVIEW_APPLICATIONS)
def assign(application_id: int):
    app = _staff_application(application_id)
    form = AssignForm()
    form.assignee_id.choices = [(u.id, u.display_name) for u in review.reviewers(app.institution_id)]
    if not form.validate_on_submit():
        return _invalid(app, assign_form=form)
    assignee = db.session.get(User, form.assignee_id.data)
    review.assign_application(app, assignee=assignee, actor=current_user, clock=clock())
    db.session.commit()
    return _back(app, f"Application {app.id} assigned to {assignee.display_name}.", "info")


@bp.post("/staff/applications/<int:application_id>/notes")
@require_permission(Perm.REVIEW_APPLICATIONS)
def add_note(application_id: int):
    """Add an internal note; htmx swaps the notes panel (and tells the timeline to reload)."""
    app = _staff_application(application_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return render_template("lending/review/_notes.html", application=app, note_form=form,
                               notes=[e for e in app.events if e.kind == "note"]), 422
    review.add_note(app, body=form.body.data, actor=current_user, clock=clock())
    db.session.commit()
    body = render_template("lending/review/_notes.html", application=app, note_form=NoteForm(formdata=None),
                           notes=[e for e in app.events if e.kind == "note"])
    return hx_trigger(body, "application-changed")


@bp.get("/staff/applications/<int:application_id>/history")
@require_permission(Perm.REVIEW_APPLICATIONS)
def application_history(application_id: int):
    """The staff timeline fragment (reloads on ``application-changed``)."""
    app = _staff_application(application_id)
    return render_template("lending/review/_history.html", application=app, events=review.staff_timeline(app))


@bp.post("/staff/applications/<int:application_id>/request-info")
@require_permission(Perm.DECIDE_APPLICATIONS)
def request_info(application_id: int):
    app = _staff_application(application_id)
    form = InfoRequestForm()
    if not form.validate_on_submit():
        return _invalid(app, info_form=form)
    review.request_information(app, question=form.question.data, actor=current_user, clock=clock())
    db.session.commit()
    return _back(app, f"Question sent to the customer; application {app.id} waits for the answer.", "info")


@bp.post("/staff/applications/<int:application_id>/escalate")
@require_permission(Perm.DECIDE_APPLICATIONS)
def escalate(application_id: int):
    app = _staff_application(application_id)
    form = EscalateForm()
    if not form.validate_on_submit():
        return _invalid(app, escalate_form=form)
    review.escalate_application(app, reason=form.reason.data, actor=current_user, clock=clock())
    db.session.commit()
    return _back(app, f"Application {app.id} escalated to the risk officers.", "info")


@bp.post("/staff/applications/<int:application_id>/counter-offer")
@require_permission(Perm.DECIDE_APPLICATIONS)
def counter_offer(application_id: int):
    app = _staff_application(application_id)
    form = CounterOfferForm()
    if not form.validate_on_submit():
        return _invalid(app, counter_form=form)
    try:
        offer = services.counter_offer(app, amount=form.amount.data, interest_rate=form.interest_rate.data,
                                       tenure=form.tenure.data, actor=current_user, clock=clock(),
                                       note=form.note.data or None)
    except DomainError as exc:
        if exc.http_status != 422:
            raise
        db.session.rollback()
        form.amount.errors = [*form.amount.errors, exc.message]  # shown next to the terms, values kept
        return _invalid(db.session.get(LoanApplication, application_id), counter_form=form)
    db.session.commit()
    return _back(app, f"Counter-offer {offer.id} sent to the customer.")


@bp.post("/staff/applications/<int:application_id>/overrides")
@require_permission(Perm.DECIDE_APPLICATIONS)
def request_override(application_id: int):
    app = _staff_application(application_id)
    form = OverrideRequestForm()
    form.rule.choices = [(c["name"], c["name"]) for c in services.failed_checks(app)]
    if not form.validate_on_submit():
        return _invalid(app, override_form=form)
    override = review.request_override(app, rule=form.rule.data, reason=form.reason.data, actor=current_user,
                                       clock=clock())
    db.session.commit()
    return _back(app, f"Override of {override.rule} requested: a risk officer must check it.", "info")


@bp.post("/staff/overrides/<int:override_id>/check")
@require_permission(Perm.CHECK_OVERRIDES)
def check_override(override_id: int):
    override = _staff_override(override_id)
    app = override.application
    form = OverrideCheckForm()
    if not form.validate_on_submit():
        return _invalid(app, check_form=form)
    review.check_override(override, approve=form.decision.data == "approve", note=form.note.data,
                          actor=current_user, clock=clock())
    db.session.commit()
    return _back(app, f"Override of {override.rule} {override.status}.")


@bp.get("/staff/escalations")
@require_permission(Perm.DECIDE_ESCALATIONS)
def escalations():
    """The risk officers' queue: escalated applications and overrides waiting for a checker."""
    institution_id = current_user.institution_id
    escalated = db.session.scalars(queries.escalations(institution_id)).all()
    pending = db.session.scalars(queries.pending_overrides(institution_id)).all()
    from portal.lending.views import _ageing_of

    return render_template("lending/review/escalations.html", escalated=escalated, pending=pending,
                           ageing_of=_ageing_of)


@bp.get("/staff/offers/<int:offer_id>/kfs")
@require_permission(Perm.REVIEW_APPLICATIONS)
def staff_offer_kfs(offer_id: int):
    """The KFS of an offer as the customer saw it (the stored document once accepted)."""
    offer = _staff_offer(offer_id)
    html, digest = offers.shown_kfs(offer)
    return render_template("lending/offers/kfs_page.html", offer=offer, kfs_html=html, digest=digest,
                           application=offer.application, staff=True)

