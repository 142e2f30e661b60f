"""The term-loan workflow (seed 003 rules): eligibility, apply, score, review, decide (approve -> offer,
counter-offer, reject with a reason code), the customer's answer to an offer (accept -> sanction + disburse,
decline), offer expiry and withdrawal. Services flush and audit; the caller commits once.

Every status change goes through ``_move`` (the transition table in ``states.py``), which writes the timeline
event and the audit event in the caller's transaction. The review steps that do not decide (assignment, notes,
information requests, escalation, maker-checker overrides) are in ``review.py``; the offer document (terms,
Key Facts Statement, its rendering) in ``offers.py``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from portal.audit.services import record
from portal.business_date import current_business_date
from portal.errors import DomainError, PermissionDenied
from portal.extensions import db
from portal.lending import offers, rules
from portal.lending.models import ApplicationEvent, Installment, Loan, LoanApplication, Offer, Product
from portal.lending.schedule import amortization_schedule
from portal.lending.sla import add_business_days
from portal.lending.states import CUSTOMER_WITHDRAWABLE, LoanStatus, check_transition
from portal.lending.states import ApplicationStatus as S
from portal.money import format_inr, quantize
from portal.onboarding.consents import check_scoring_allowed
from portal.onboarding.models import Customer
from portal.security import Perm, has_permission

#: Why an application was rejected: a fixed list (the code is stored; the customer reads the label and the note).
REJECTION_REASONS: dict[str, str] = {
    "eligibility": "The request does not meet the eligibility rules",
    "low_score": "The credit score is below what we can lend at",
    "emi_burden": "The EMIs would take too large a share of the income",
    "income_unverified": "The income could not be verified",
    "kyc": "The KYC documents could not be verified",
    "info_not_provided": "The information we asked for was not provided",
    "policy": "The request is outside our lending policy",
    "other": "Another reason (see the note)",
}

BANDS = (("AA", 80), ("A", 51), ("B", 31), ("C", 11), ("D", 0))


def score_band(score: int) -> str:
    """Grade of a seed 003 score (0-100): AA >= 80, A 51-79, B 31-50, C 11-30, D <= 10.
    The A/B/C/D edges are seed 003's rate slabs; AA marks the strongest files (seed 002's AA-D)."""
    for band, floor in BANDS:
        if score >= floor:
            return band
    return "D"


@dataclass(frozen=True)
class Assessment:
    """The score and the eligibility of one request, as of a business date."""

    as_of: date
    score: rules.CreditScore
    eligibility: rules.Eligibility
    current_emis: Decimal
    current_debt: Decimal

    @property
    def band(self) -> str:
        return score_band(self.score.score)

    def as_dict(self) -> dict:
        """JSON-ready detail kept on the application so anyone can read why."""
        e = self.eligibility
        return {
            "as_of": self.as_of.isoformat(), "score": self.score.score, "band": self.band,
            "zeroed_reason": self.score.zeroed_reason,
            "components": [{"key": c.key, "label": c.label, "points": c.points, "max_points": c.max_points,
                            "detail": c.detail} for c in self.score.components],
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in e.checks],
            "slab": e.slab.label, "current_emis": str(self.current_emis), "current_debt": str(self.current_debt),
            "interest_rate": str(e.interest_rate), "corrected_interest_rate": str(e.corrected_interest_rate),
            "monthly_installment": str(e.monthly_installment),
        }


def past_loans(customer: Customer) -> list[Loan]:
    """Every term loan of ``customer`` (imported and portal), oldest first: the seed 003 loan history (credit
    lines are not part of it)."""
    return list(db.session.scalars(select(Loan).where(Loan.customer_id == customer.id, Loan.kind == "term_loan")
                                   .order_by(Loan.approved_on)))


def past_loan(loan: Loan) -> rules.PastLoan:
    """The pure-rules view of a loan (amounts in rupees, tenure in months) for the seed 003 score."""
    return rules.PastLoan(loan_amount=loan.loan_amount, tenure=loan.tenure, emis_paid_on_time=loan.emis_paid_on_time,
                          monthly_installment=loan.monthly_installment, approved_on=loan.approved_on,
                          end_on=loan.end_on)


def assess(customer: Customer, *, amount: Decimal, tenure: int, interest_rate: Decimal, as_of: date) -> Assessment:
    """Score ``customer`` from their loan history and check a request (seed 003). ValueError on bad values."""
    loans = past_loans(customer)
    score = rules.credit_score([past_loan(ln) for ln in loans], customer.approved_limit, as_of)
    current = [ln for ln in loans if ln.is_current(as_of)]
    current_emis = sum((ln.monthly_installment for ln in current), Decimal("0.00"))
    current_debt = sum((ln.loan_amount for ln in current), Decimal("0.00"))
    eligibility = rules.check_eligibility(credit_score=score.score, monthly_salary=customer.monthly_salary,
                                          current_emis=current_emis, loan_amount=amount,
                                          interest_rate=interest_rate, tenure=tenure)
    return Assessment(as_of, score, eligibility, current_emis, current_debt)


def actor_label(actor) -> str:
    """How an actor is named in a timeline: a user's name and role, or the string given (``"system"``)."""
    return actor if isinstance(actor, str) else (f"{actor.display_name} ({actor.role})" if actor else "system")


def add_event(app: LoanApplication, *, kind: str, note: str | None, actor, now, internal: bool = False,
              to_status: str | None = None) -> ApplicationEvent:
    """Add a timeline event: ``kind`` status | note | info_request | info_answer | escalation | override |
    offer | assignment. ``internal`` events are shown to staff only."""
    event = ApplicationEvent(application=app, kind=kind, from_status=app.status if to_status else None,
                             to_status=to_status, actor_id=getattr(actor, "id", None), actor_label=actor_label(actor),
                             note=note, internal=internal, occurred_at=now)
    db.session.add(event)
    return event


def _move(app: LoanApplication, new: S, *, actor, now, note: str | None = None,
          audit_note: str | None = None) -> None:
    """The one way an application changes status: checked against the transition table (InvalidTransition,
    422, otherwise), with a timeline event (``note`` is shown to the customer) and an audit event (with
    ``audit_note`` when given, else ``note``)."""
    check_transition(app.status, new)
    old = app.status
    add_event(app, kind="status", note=note, actor=actor, now=now, to_status=new.value)
    app.status = new.value
    record(actor, f"application.{new.value}", app, changes={"status": (old, new.value)},
           note=audit_note if audit_note is not None else note)


def review_due_at(submitted_at: datetime) -> datetime:
    """When a decision on an application (re)submitted at ``submitted_at`` is due (config
    REVIEW_SLA_BUSINESS_DAYS business days later, in PORTAL_TIMEZONE)."""
    config = current_app.config
    return add_business_days(submitted_at, int(config.get("REVIEW_SLA_BUSINESS_DAYS", 2)),
                             config.get("PORTAL_TIMEZONE", "Asia/Kolkata"))


def tell_customer(app: LoanApplication, event: str, *, now: datetime, **context) -> None:
    """Tell the application's customer about ``event`` (a name in ``portal.notifications.events.EVENTS``) with
    ``context`` (plain values: str, int, Decimal rupees, date): the institution's templates, on the event's
    channels as the customer's preferences allow (legal events always). Flushes; the outbox sends after commit."""
    from portal.notifications.services import notify_event

    notify_event(event, customer=app.customer, now=now, context=context)


def _local(moment: datetime) -> datetime:
    """An aware timestamp in the portal's time zone (config PORTAL_TIMEZONE), for the customer's messages."""
    return moment.astimezone(ZoneInfo(current_app.config.get("PORTAL_TIMEZONE", "Asia/Kolkata")))


def check_product_bounds(product: Product, amount: Decimal, tenure: int) -> None:
    """Raise DomainError when amount (rupees) or tenure (months) is outside the product's bounds."""
    if not product.active:
        raise DomainError(f"{product.name} is not open for applications")
    if amount is None or amount <= 0:
        raise DomainError("the loan amount must be a positive number of rupees")
    if not product.min_amount <= amount <= product.max_amount:
        raise DomainError(f"{product.name} lends between Rs {product.min_amount:,} and Rs {product.max_amount:,}")
    if not product.min_tenure <= tenure <= product.max_tenure:
        raise DomainError(f"{product.name} runs {product.min_tenure} to {product.max_tenure} months")


def submit_application(customer: Customer, product: Product, *, amount: Decimal, tenure: int, actor, clock,
                       interest_rate: Decimal | None = None, idempotency_key: str | None = None) -> LoanApplication:
    """Create an application, submit it and score it (draft -> submitted -> scored) on the business date.

    The rate is the product's unless given. The same ``idempotency_key`` returns the first application.
    Raises DomainError for amounts/tenures outside the product or when the customer withdrew (or never gave)
    the bureau-check consent after being asked for it (``consents.check_scoring_allowed``), PermissionDenied
    for another's customer.
    """
    if idempotency_key:
        existing = db.session.scalar(select(LoanApplication).where(LoanApplication.idempotency_key == idempotency_key))
        if existing is not None:
            if existing.customer_id != customer.id:
                raise PermissionDenied("that idempotency key belongs to another request")
            return existing
    if customer.institution_id != product.institution_id:
        raise PermissionDenied("this product is not offered to this customer")
    check_product_bounds(product, amount, tenure)
    check_scoring_allowed(customer)  # no new scoring after the bureau-check consent is withdrawn
    now = clock.now()
    as_of = current_business_date(customer.institution_id, clock)
    rate = product.interest_rate if interest_rate is None else interest_rate
    app = LoanApplication(institution_id=customer.institution_id, customer=customer, product=product,
                          amount=amount, tenure=tenure, interest_rate=rate, status=S.DRAFT.value,
                          idempotency_key=idempotency_key)
    db.session.add(app)
    db.session.flush()
    record(actor, "application.created", app, changes={"amount": amount, "tenure": tenure, "interest_rate": rate})
    _move(app, S.SUBMITTED, actor=actor, now=now)
    app.submitted_at = now
    app.sla_due_at = review_due_at(now)
    score_application(app, as_of=as_of, now=now)
    return app


def score_application(app: LoanApplication, *, as_of: date, now) -> Assessment:
    """Score a submitted application and keep the explanation (submitted -> scored)."""
    result = assess(app.customer, amount=app.amount, tenure=app.tenure, interest_rate=app.interest_rate, as_of=as_of)
    e = result.eligibility
    app.credit_score = result.score.score
    app.score_band = result.band
    app.corrected_interest_rate = e.corrected_interest_rate
    app.monthly_installment = e.monthly_installment
    app.eligible = e.approval
    app.score_detail = result.as_dict()
    _move(app, S.SCORED, actor="system", now=now,
          note=f"Score {result.score.score} ({result.band}); {'eligible' if e.approval else 'not eligible'}")
    return result


def check_staff_scope(app: LoanApplication, actor) -> None:
    """PermissionDenied unless ``actor`` works for the application's institution."""
    if actor.institution_id != app.institution_id:
        raise PermissionDenied("this application belongs to another institution")


def check_decider(app: LoanApplication, actor) -> None:
    """Scope, and: an escalated application is decided by a risk officer only (PermissionDenied)."""
    check_staff_scope(app, actor)
    if app.status == S.ESCALATED and not has_permission(actor, Perm.DECIDE_ESCALATIONS):
        raise PermissionDenied("This application was escalated: a risk officer decides it.")


def start_review(app: LoanApplication, *, actor, clock) -> None:
    """An officer claims a scored application (scored -> in_review, assigned to the officer)."""
    check_staff_scope(app, actor)
    if app.status == S.IN_REVIEW and app.assigned_to_id == actor.id:
        return
    now = clock.now()
    _move(app, S.IN_REVIEW, actor=actor, now=now, note="Review started")
    app.assigned_to_id, app.assigned_at = actor.id, now


def _ensure_in_review(app: LoanApplication, *, actor, clock) -> None:
    """Deciding a scored application starts its review first (scored -> in_review)."""
    if app.status in (S.SUBMITTED, S.SCORED):
        start_review(app, actor=actor, clock=clock)


# ---- eligibility and overrides -----------------------------------------------------------------------------
def failed_checks(app: LoanApplication) -> list[dict]:
    """The eligibility checks the application failed at its last scoring (``score_detail["checks"]``)."""
    return [c for c in (app.score_detail or {}).get("checks", []) if not c["passed"]]


def overridden_rules(app: LoanApplication) -> set[str]:
    """Rules whose failure a checker has approved an override for (maker-checker, ``review.py``)."""
    return {o.rule for o in app.overrides if o.status == "approved"}


def check_approvable(app: LoanApplication, failed: set[str] | None = None, details: dict | None = None) -> None:
    """DomainError unless every failed eligibility rule (of the application, or ``failed``) has an approved
    override."""
    if failed is None:
        checks = failed_checks(app)
        failed, details = {c["name"] for c in checks}, {c["name"]: c["detail"] for c in checks}
    missing = sorted(failed - overridden_rules(app))
    if missing:
        text = "; ".join((details or {}).get(rule, rule) for rule in missing)
        raise DomainError(f"This application failed the eligibility checks ({text}). Reject it, or request an "
                          "override of the failed rule: a risk officer must approve it before approval.")


# ---- decisions ---------------------------------------------------------------------------------------------
def _decision_note(app: LoanApplication, note: str | None) -> str | None:
    rules_overridden = sorted(overridden_rules(app) & {c["name"] for c in failed_checks(app)})
    if rules_overridden:
        suffix = f"Approved with an override of {', '.join(rules_overridden)} (maker-checker)."
        return f"{note} {suffix}" if note else suffix
    return note


def _offer_made(app: LoanApplication, offer: Offer, *, actor, now, what: str) -> None:
    _move(app, S.OFFERED, actor=actor, now=now,
          note=f"{what}: {format_inr(offer.amount)} at {offer.interest_rate}% p.a. (fixed) for {offer.tenure} "
               f"months, EMI {format_inr(offer.emi_amount)}. Read the Key Facts Statement and accept by "
               f"{offers.local_text(offer.expires_at)}.")
    expires_at = _local(offer.expires_at)
    tell_customer(app, "offer.made", now=now, application_id=app.id, amount=offer.amount,
                  rate=quantize(offer.interest_rate), tenure=offer.tenure, expires_on=expires_at.date(),
                  expires_at=expires_at)  # rate: % p.a., two places ("14.00")


def approve_application(app: LoanApplication, *, actor, clock, note: str | None = None) -> Offer:
    """Approve on the requested terms (at the corrected rate) and make the offer with its Key Facts Statement
    (approved -> offered); the customer then accepts it (``accept_offer``: sanction + disbursement) or declines.

    Refuses (422) an application that failed an eligibility check unless every failed rule has an approved
    override; an escalated application is decided by a risk officer only (403)."""
    check_decider(app, actor)
    _ensure_in_review(app, actor=actor, clock=clock)
    check_approvable(app)
    now = clock.now()
    as_of = current_business_date(app.institution_id, clock)
    note = _decision_note(app, note)
    _move(app, S.APPROVED, actor=actor, now=now, note=note)
    app.decided_at, app.decided_by_id, app.decision_note = now, actor.id, note
    offer = offers.build_offer(app, amount=app.amount, interest_rate=app.corrected_interest_rate,
                               tenure=app.tenure, kind="standard", actor=actor, now=now, as_of=as_of)
    _offer_made(app, offer, actor=actor, now=now, what=f"Offer {offer.id}")
    return offer


def counter_offer(app: LoanApplication, *, amount: Decimal, interest_rate: Decimal, tenure: int, actor, clock,
                  note: str | None = None) -> Offer:
    """Approve on other terms (amount, rate or tenure) and offer them (approved -> offered, a counter-offer).

    The new terms are checked like a request: within the product's bounds, the rate raised to the score's
    slab floor, and every eligibility check must pass on them unless its rule has an approved override."""
    check_decider(app, actor)
    check_product_bounds(app.product, amount, tenure)
    if interest_rate is None or interest_rate < 0 or interest_rate > 100:
        raise DomainError("Give an interest rate between 0 and 100 % a year.")
    if (amount, interest_rate, tenure) == (app.amount, app.corrected_interest_rate, app.tenure):
        raise DomainError("These are the terms of the request: approve it instead of making a counter-offer.")
    _ensure_in_review(app, actor=actor, clock=clock)
    detail = app.score_detail or {}
    result = rules.check_eligibility(
        credit_score=app.credit_score or 0, monthly_salary=app.customer.monthly_salary,
        current_emis=Decimal(detail.get("current_emis", "0")), loan_amount=amount, interest_rate=interest_rate,
        tenure=tenure)
    check_approvable(app, failed={c.name for c in result.checks if not c.passed},
                     details={c.name: c.detail for c in result.checks})
    now = clock.now()
    as_of = current_business_date(app.institution_id, clock)
    terms = (f"{format_inr(amount)} at {result.corrected_interest_rate}% p.a. for {tenure} months instead of "
             f"{format_inr(app.amount)} for {app.tenure} months")
    note = _decision_note(app, f"Counter-offer: {terms}." + (f" {note}" if note else ""))
    _move(app, S.APPROVED, actor=actor, now=now, note=note)
    app.decided_at, app.decided_by_id, app.decision_note = now, actor.id, note
    offer = offers.build_offer(app, amount=amount, interest_rate=result.corrected_interest_rate, tenure=tenure,
                               kind="counter", actor=actor, now=now, as_of=as_of)
    _offer_made(app, offer, actor=actor, now=now, what=f"Counter-offer {offer.id}")
    return offer


def approve_straight_through(app: LoanApplication, *, actor, clock, note: str | None = None) -> Loan:
    """The seed 003 JSON API's ``create-loan``: approve, sanction and disburse at once on the business date at
    the corrected rate (approved -> sanctioned -> disbursed; the caller's request for exactly these terms is the
    acceptance). Same refusals as ``approve_application``."""
    check_decider(app, actor)
    _ensure_in_review(app, actor=actor, clock=clock)
    check_approvable(app)
    now = clock.now()
    as_of = current_business_date(app.institution_id, clock)
    note = _decision_note(app, note)
    _move(app, S.APPROVED, actor=actor, now=now, note=note)
    app.decided_at, app.decided_by_id, app.decision_note = now, actor.id, note
    _move(app, S.SANCTIONED, actor=actor, now=now,
          note=f"Sanctioned Rs {app.amount:,} at {app.corrected_interest_rate}% for {app.tenure} months")
    loan = disburse(app, amount=app.amount, interest_rate=app.corrected_interest_rate, tenure=app.tenure,
                    as_of=as_of, actor=actor)
    _move(app, S.DISBURSED, actor=actor, now=now, note=f"Disbursed on {as_of:%d %b %Y} as loan {loan.id}")
    return loan


def schedule_options(method: str, day_count: str) -> dict:
    """Keyword arguments for ``amortization_schedule`` from a product's interest method and day count
    (the default reducing-balance EMI on 30/360 passes none, so older schedules stay as they were)."""
    options = {}
    if method != "emi":
        options["method"] = method
    if day_count != "30/360":
        options["day_count"] = day_count
    return options


def post_disbursement(loan: Loan, *, amount: Decimal, fee: Decimal, as_of: date) -> None:
    """The disbursement's journal entry: Dr loan principal (the sanctioned amount), Cr cash (the net amount
    paid out), Cr fee income (the processing fee deducted); and its statement line."""
    from portal.ledger.models import Account
    from portal.ledger.services import Line, post
    from portal.servicing.models import LoanTransaction

    entry = post(loan.institution_id, kind="disbursement", reference=f"disbursement:{loan.id}", business_date=as_of,
                 loan_id=loan.id, memo=f"Loan {loan.id} disbursed",
                 lines=[Line(Account.LOAN_PRINCIPAL, debit=amount, loan_id=loan.id),
                        Line(Account.CASH, credit=amount - fee, loan_id=loan.id),
                        Line(Account.FEE_INCOME, credit=fee, loan_id=loan.id)])
    db.session.add(LoanTransaction(loan_id=loan.id, kind="disbursement", value_on=as_of, amount=amount,
                                   principal_amount=amount, fee_amount=fee, journal_entry_id=entry.id,
                                   note="Disbursement" + (", less the processing fee" if fee else "")))


def disburse(app: LoanApplication, *, amount: Decimal, interest_rate: Decimal, tenure: int, as_of: date, actor,
             processing_fee: Decimal = Decimal("0.00")) -> Loan:
    """Create the loan of a sanctioned application with its amortization schedule from ``as_of``."""
    product = app.product
    method = getattr(product, "interest_method", None) or "emi"
    day_count = getattr(product, "day_count", None) or "30/360"
    rows = amortization_schedule(amount, interest_rate, tenure, as_of, **schedule_options(method, day_count))
    loan = Loan(institution_id=app.institution_id, customer_id=app.customer_id, application=app,
                product_id=app.product_id, loan_amount=amount, tenure=tenure, interest_rate=interest_rate,
                monthly_installment=rows[0].installment, emis_paid_on_time=0, approved_on=as_of,
                disbursed_on=as_of, end_on=rows[-1].due_on, status=LoanStatus.ACTIVE.value, source="portal",
                serviced=True, kind="term_loan", interest_method=method, day_count=day_count,
                principal_outstanding_amount=amount, period_start_on=as_of, next_due_on=rows[0].due_on,
                period_interest_amount=rows[0].interest, period_accrued_amount=Decimal("0.00"))
    loan.installments = [Installment(seq=r.seq, due_on=r.due_on, principal_amount=r.principal,
                                     interest_amount=r.interest, installment_amount=r.installment,
                                     balance_amount=r.balance) for r in rows]
    db.session.add(loan)
    db.session.flush()
    post_disbursement(loan, amount=amount, fee=processing_fee, as_of=as_of)
    record(actor, "loan.disbursed", loan, changes={"loan_amount": loan.loan_amount, "interest_rate":
                                                   loan.interest_rate, "tenure": loan.tenure,
                                                   "disbursed_on": as_of, "monthly_installment":
                                                   loan.monthly_installment, "processing_fee": processing_fee,
                                                   "net_disbursed": amount - processing_fee})
    return loan


def reject_application(app: LoanApplication, *, actor, clock, note: str, reason_code: str) -> None:
    """Reject with a reason code from REJECTION_REASONS and a written note (both required; the customer sees
    both and is told in-app)."""
    check_decider(app, actor)
    if reason_code not in REJECTION_REASONS:
        raise DomainError("Choose the reason for the rejection from the list.")
    if not note or not note.strip():
        raise DomainError("Write the reason for the rejection; the customer will see it.")
    _ensure_in_review(app, actor=actor, clock=clock)
    now = clock.now()
    note = note.strip()
    _move(app, S.REJECTED, actor=actor, now=now, note=f"{REJECTION_REASONS[reason_code]}. {note}",
          audit_note=f"[{reason_code}] {note}")
    app.decided_at, app.decided_by_id, app.decision_note, app.rejection_code = now, actor.id, note, reason_code
    # RBI Fair Practices Code: the rejection and its main reasons, in writing (a legal event: always sent)
    tell_customer(app, "application.decided", now=now, application_id=app.id, decision="not approved",
                  reason=f"{REJECTION_REASONS[reason_code]}. {note}".rstrip(". "))


def withdraw_application(app: LoanApplication, *, customer: Customer, actor, clock) -> None:
    """The customer withdraws their own undecided application."""
    if app.customer_id != customer.id:
        raise PermissionDenied("this is not your application")
    if app.status not in CUSTOMER_WITHDRAWABLE:
        check_transition(app.status, S.WITHDRAWN)  # the table's message for the final statuses
        raise DomainError("An offer is declined, not withdrawn: use Decline on the offer.")
    _move(app, S.WITHDRAWN, actor=actor, now=clock.now(), note="Withdrawn by the customer")


# ---- the customer's answer to an offer, and expiry ---------------------------------------------------------
def _locked_offer(offer: Offer) -> Offer:
    """Re-read ``offer`` under a row lock (accept, decline and the expiry job race for it)."""
    return db.session.get(Offer, offer.id, with_for_update=True, populate_existing=True)


def _check_offer_open(offer: Offer, now) -> None:
    if offer.status != "offered":
        raise DomainError(f"This offer is {offer.status}; it can no longer be answered.", 409)
    if now >= offer.expires_at:
        raise DomainError(f"This offer expired on {offers.local_text(offer.expires_at)}. Apply again for a new "
                          "offer.", 409)


def accept_offer(offer: Offer, *, customer: Customer, shown_digest: str, ip: str | None, actor, clock) -> Loan:
    """The customer accepts ``offer`` after reading its Key Facts Statement: the KFS is stored as shown (the
    document whose SHA-256 the customer's page carried, ``shown_digest``), the application moves offered ->
    accepted -> sanctioned -> disbursed, and the loan is disbursed on the business date, net of the
    processing fee. 409 when the offer is no longer open or the KFS changed since it was shown."""
    app = offer.application
    if app.customer_id != customer.id:
        raise PermissionDenied("this is not your offer")
    offer = _locked_offer(offer)
    now = clock.now()
    _check_offer_open(offer, now)
    html = offers.render_kfs(offer)
    digest = offers.kfs_digest(html)
    if shown_digest != digest:
        raise DomainError("The Key Facts Statement changed after it was shown to you. Read it again, then "
                          "accept.", 409)
    offer.status, offer.decided_at, offer.accepted_at, offer.accepted_ip = "accepted", now, now, ip
    offer.kfs_html, offer.kfs_sha256 = html, digest
    record(actor, "offer.accepted", offer, institution_id=app.institution_id,
           changes={"status": ("offered", "accepted"), "kfs_sha256": digest, "accepted_ip": ip,
                    "amount": offer.amount, "interest_rate": offer.interest_rate, "tenure": offer.tenure,
                    "apr": offer.apr})
    _move(app, S.ACCEPTED, actor=actor, now=now,
          note=f"Accepted offer {offer.id} after reading its Key Facts Statement")
    as_of = current_business_date(app.institution_id, clock)
    _move(app, S.SANCTIONED, actor="system", now=now,
          note=f"Sanctioned {format_inr(offer.amount)} at {offer.interest_rate}% p.a. (fixed) for "
               f"{offer.tenure} months")
    loan = disburse(app, amount=offer.amount, interest_rate=offer.interest_rate, tenure=offer.tenure,
                    as_of=as_of, actor="system", processing_fee=offer.processing_fee_amount)
    _move(app, S.DISBURSED, actor="system", now=now,
          note=f"Disbursed {format_inr(offer.net_disbursed_amount)} on {as_of:%d %b %Y} as loan {loan.id} "
               f"({format_inr(offer.amount)} less the processing fee {format_inr(offer.processing_fee_amount)})")
    tell_customer(app, "loan.disbursed", now=now, loan_id=loan.id, net_amount=offer.net_disbursed_amount,
                  emi_amount=loan.monthly_installment, first_due_on=loan.installments[0].due_on)
    return loan


def decline_offer(offer: Offer, *, customer: Customer, actor, clock, reason: str | None = None) -> None:
    """The customer declines ``offer`` (offer declined; application offered -> withdrawn)."""
    app = offer.application
    if app.customer_id != customer.id:
        raise PermissionDenied("this is not your offer")
    offer = _locked_offer(offer)
    now = clock.now()
    _check_offer_open(offer, now)
    offer.status, offer.decided_at = "declined", now
    reason = (reason or "").strip()[:500] or None
    record(actor, "offer.declined", offer, institution_id=app.institution_id,
           changes={"status": ("offered", "declined")}, note=reason)
    _move(app, S.WITHDRAWN, actor=actor, now=now,
          note=f"Declined offer {offer.id}" + (f": {reason}" if reason else ""))


def expire_offers(*, now: datetime) -> int:
    """Expire every offer still open at ``now`` past its ``expires_at`` (offer expired; application offered ->
    expired; the customer is told). Idempotent; rows being answered right now are skipped (SKIP LOCKED) and
    picked up by the next run. Returns how many offers expired."""
    due = db.session.scalars(select(Offer).where(Offer.status == "offered", Offer.expires_at <= now)
                             .order_by(Offer.id).with_for_update(skip_locked=True)).all()
    for offer in due:
        app = offer.application
        offer.status, offer.decided_at = "expired", now
        record("system", "offer.expired", offer, institution_id=app.institution_id,
               changes={"status": ("offered", "expired"), "expires_at": offer.expires_at})
        if app.status == S.OFFERED:
            _move(app, S.EXPIRED, actor="system", now=now,
                  note=f"Offer {offer.id} expired on {offers.local_text(offer.expires_at)} without an answer")
            tell_customer(app, "offer.expired", now=now, application_id=app.id,
                          expired_on=_local(offer.expires_at).date())
    return len(due)


@dataclass(frozen=True)
class ScheduleLine:
    """A schedule row for display: stored (portal loans) or projected from the terms (imported loans)."""

    seq: int
    due_on: date
    principal: Decimal
    interest: Decimal
    installment: Decimal
    balance: Decimal
    paid: bool


def loan_schedule(loan: Loan, as_of: date) -> tuple[list[ScheduleLine], bool]:
    """The loan's amortization schedule and whether it is projected (imported loans keep only their terms:
    the schedule is rebuilt from amount, rate, tenure, approval date and the book's monthly payment, with
    the first ``emis_paid_on_time`` rows shown as paid)."""
    if loan.installments:
        return [ScheduleLine(i.seq, i.due_on, i.principal_amount, i.interest_amount, i.installment_amount,
                             i.balance_amount, i.paid_on is not None) for i in loan.installments], False
    rows = amortization_schedule(loan.loan_amount, loan.interest_rate, loan.tenure, loan.approved_on,
                                 installment=loan.monthly_installment)
    return [ScheduleLine(r.seq, r.due_on, r.principal, r.interest, r.installment, r.balance,
                         r.seq <= loan.emis_paid_on_time) for r in rows], True
