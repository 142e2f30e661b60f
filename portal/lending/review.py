"""The officer's review steps that do not decide: claim and assignment, notes, information requests (and the
customer's answer), escalation to a risk officer, and maker-checker overrides of failed eligibility rules.

Services flush and audit; the caller commits. Decisions (approve -> offer, counter-offer, reject) are in
``services.py``; every status change goes through ``services._move``.
"""
from __future__ import annotations

from sqlalchemy import select

from portal.audit.services import record
from portal.business_date import current_business_date
from portal.errors import DomainError, PermissionDenied
from portal.extensions import db
from portal.lending import services
from portal.lending.models import ApplicationEvent, InfoRequest, LoanApplication, Override
from portal.lending.states import ApplicationStatus as S
from portal.onboarding.consents import check_scoring_allowed
from portal.onboarding.models import Customer
from portal.security import Perm, Role, has_permission

NOTE_MAX = 2000
REVIEWER_ROLES = (Role.LOAN_OFFICER.value, Role.RISK_OFFICER.value)
#: Statuses in which an officer may still act on an application (ask, note, escalate, request an override).
WORKABLE = (S.SUBMITTED, S.SCORED, S.IN_REVIEW, S.ESCALATED)


def _text(value: str | None, what: str, *, limit: int = NOTE_MAX, minimum: int = 1) -> str:
    text = (value or "").strip()
    if len(text) < minimum:
        raise DomainError(f"Write {what}." if minimum <= 1 else f"Write {what} (at least {minimum} characters).")
    if len(text) > limit:
        raise DomainError(f"Keep {what} under {limit:,} characters.")
    return text


# ---- claim, assignment and notes ---------------------------------------------------------------------------
def reviewers(institution_id: int) -> list:
    """Active loan and risk officers of an institution (who an application can be assigned to)."""
    from portal.auth.models import User

    return list(db.session.scalars(select(User).where(User.institution_id == institution_id,
                                                      User.role.in_(REVIEWER_ROLES), User.status == "active")
                                   .order_by(User.display_name)))


def claim_application(app: LoanApplication, *, actor, clock) -> None:
    """The officer takes the application: a scored one starts its review (scored -> in_review); one already in
    review, escalated or waiting for the customer is (re)assigned to the officer."""
    services.check_staff_scope(app, actor)
    if app.status in (S.SUBMITTED, S.SCORED):
        services.start_review(app, actor=actor, clock=clock)
        return
    assign_application(app, assignee=actor, actor=actor, clock=clock)


def assign_application(app: LoanApplication, *, assignee, actor, clock) -> None:
    """Assign the application to ``assignee`` (an active loan or risk officer of the same institution); audited,
    and noted in the staff timeline."""
    services.check_staff_scope(app, actor)
    if (assignee is None or assignee.institution_id != app.institution_id or assignee.role not in REVIEWER_ROLES
            or not assignee.is_active):
        raise DomainError("Assign the application to an active loan or risk officer of your institution.")
    if app.status not in (*WORKABLE, S.INFO_REQUESTED):
        raise DomainError(f"An application that is {app.status.replace('_', ' ')} is not assigned any more.")
    if app.assigned_to_id == assignee.id:
        return
    now = clock.now()
    old = app.assigned_to_id
    app.assigned_to_id, app.assigned_at = assignee.id, now
    who = "themself" if assignee.id == actor.id else assignee.display_name
    services.add_event(app, kind="assignment", note=f"Assigned to {who}", actor=actor, now=now, internal=True)
    record(actor, "application.assigned", app, changes={"assigned_to_id": (old, assignee.id)})


def add_note(app: LoanApplication, *, body: str, actor, clock) -> ApplicationEvent:
    """An officer's internal note on the application (staff only; never shown to the customer)."""
    services.check_staff_scope(app, actor)
    body = _text(body, "the note")
    event = services.add_event(app, kind="note", note=body, actor=actor, now=clock.now(), internal=True)
    record(actor, "application.note_added", app, note=body)
    return event


def staff_timeline(app: LoanApplication) -> list[ApplicationEvent]:
    """Every event, oldest first (staff)."""
    return list(app.events)


def customer_timeline(app: LoanApplication) -> list[ApplicationEvent]:
    """The events the customer sees (no internal notes), oldest first."""
    return [e for e in app.events if not e.internal]


# ---- information requests ----------------------------------------------------------------------------------
def request_information(app: LoanApplication, *, question: str, actor, clock) -> InfoRequest:
    """Ask the customer a question (in_review -> info_requested); the customer is told in-app and answers on the
    application's page."""
    services.check_decider(app, actor)
    question = _text(question, "the question for the customer", minimum=5)
    services._ensure_in_review(app, actor=actor, clock=clock)
    now = clock.now()
    services._move(app, S.INFO_REQUESTED, actor=actor, now=now, note=f"Question: {question}")
    request = InfoRequest(application=app, question=question, requested_by_id=actor.id, requested_at=now)
    db.session.add(request)
    db.session.flush()
    from portal.notifications.services import notify_event

    notify_event("application.info_requested", customer=app.customer, now=now,
                 context={"application_id": app.id, "question": question})
    return request


def answer_information_request(app: LoanApplication, *, customer: Customer, answer: str, actor,
                               clock) -> InfoRequest:
    """The customer answers the open question (info_requested -> submitted -> scored again, with a fresh
    review SLA). PermissionDenied for another's application; 409 when nothing is asked."""
    if app.customer_id != customer.id:
        raise PermissionDenied("this is not your application")
    request = app.open_info_request
    if request is None or app.status != S.INFO_REQUESTED:
        raise DomainError("There is no open question on this application.", 409)
    answer = _text(answer, "your answer")
    check_scoring_allowed(customer)  # it is scored again: not after the bureau-check consent was withdrawn
    now = clock.now()
    request.answer, request.answered_at = answer, now
    services.add_event(app, kind="info_answer", note=f"Answer: {answer}", actor=actor, now=now)
    record(actor, "application.info_answered", app, changes={"info_request_id": request.id}, note=answer)
    services._move(app, S.SUBMITTED, actor=actor, now=now, note="Answered; the application goes back for review")
    app.sla_due_at = services.review_due_at(now)
    services.score_application(app, as_of=current_business_date(app.institution_id, clock), now=now)
    return request


# ---- escalation --------------------------------------------------------------------------------------------
def escalate_application(app: LoanApplication, *, reason: str, actor, clock) -> None:
    """Refer the application to a risk officer (in_review -> escalated) with a written reason (staff only; the
    customer sees that a senior officer is looking at it)."""
    services.check_staff_scope(app, actor)
    reason = _text(reason, "why you escalate", minimum=5)
    services._ensure_in_review(app, actor=actor, clock=clock)
    now = clock.now()
    services._move(app, S.ESCALATED, actor=actor, now=now, note="Referred to a senior (risk) officer",
                   audit_note=reason)
    services.add_event(app, kind="escalation", note=f"Escalated: {reason}", actor=actor, now=now, internal=True)


# ---- maker-checker overrides -------------------------------------------------------------------------------
def request_override(app: LoanApplication, *, rule: str, reason: str, actor, clock) -> Override:
    """The maker asks to override a failed eligibility ``rule`` with a written reason; a risk officer other than
    the maker must approve it (``check_override``) before the application can be approved."""
    services.check_staff_scope(app, actor)
    if not has_permission(actor, Perm.DECIDE_APPLICATIONS):
        raise PermissionDenied("Only an officer who decides applications can request an override.")
    if app.status not in WORKABLE:
        raise DomainError(f"An application that is {app.status.replace('_', ' ')} cannot be overridden.")
    failed = {c["name"]: c["detail"] for c in services.failed_checks(app)}
    if rule not in failed:
        raise DomainError("Only a failed eligibility rule can be overridden.")
    if any(o.rule == rule and o.status in ("pending", "approved") for o in app.overrides):
        raise DomainError("This rule already has an override waiting for a checker or approved.", 409)
    reason = _text(reason, "the reason for the override", minimum=10)
    now = clock.now()
    override = Override(application=app, rule=rule, reason=reason, maker_id=actor.id, requested_at=now,
                        status="pending")
    db.session.add(override)
    db.session.flush()
    services.add_event(app, kind="override", internal=True, actor=actor, now=now,
                       note=f"Override of {rule} requested: {reason}")
    record(actor, "override.requested", override, institution_id=app.institution_id,
           changes={"application_id": app.id, "rule": rule, "status": "pending"}, note=reason)
    return override


def check_override(override: Override, *, approve: bool, note: str | None, actor, clock) -> Override:
    """The checker (a risk officer, never the maker) approves or rejects a pending override; audited.
    PermissionDenied for the maker and for any other role; 409 when it was already decided."""
    app = override.application
    services.check_staff_scope(app, actor)
    if actor.id == override.maker_id:
        raise PermissionDenied("You requested this override: a second person must check it (maker-checker).")
    if not has_permission(actor, Perm.CHECK_OVERRIDES):
        raise PermissionDenied("Only a risk officer can check an override.")
    override = db.session.get(Override, override.id, with_for_update=True, populate_existing=True)
    if override.status != "pending":
        raise DomainError(f"This override was already {override.status}.", 409)
    note = (note or "").strip()[:NOTE_MAX] or None
    if not approve and not note:
        raise DomainError("Write why you reject the override; the maker will read it.")
    now = clock.now()
    override.status = "approved" if approve else "rejected"
    override.checker_id, override.checker_note, override.decided_at = actor.id, note, now
    services.add_event(app, kind="override", internal=True, actor=actor, now=now,
                       note=f"Override of {override.rule} {override.status}" + (f": {note}" if note else ""))
    record(actor, f"override.{override.status}", override, institution_id=app.institution_id,
           changes={"status": ("pending", override.status), "rule": override.rule, "maker_id": override.maker_id,
                    "application_id": app.id}, note=note)
    return override
