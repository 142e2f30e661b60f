"""The term-loan workflow (seed 003 rules): eligibility, apply, review, approve (sanction + disburse),
reject, withdraw. Services flush and audit; the caller commits once."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from portal.audit.services import record
from portal.business_date import current_business_date
from portal.errors import DomainError, PermissionDenied
from portal.extensions import db
from portal.lending import rules
from portal.lending.models import ApplicationEvent, Installment, Loan, LoanApplication, Product
from portal.lending.schedule import amortization_schedule
from portal.lending.states import ApplicationStatus as S
from portal.lending.states import LoanStatus, check_transition
from portal.onboarding.consents import check_scoring_allowed
from portal.onboarding.models import Customer

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
    """Every loan of ``customer`` (imported and portal), oldest first."""
    return list(db.session.scalars(select(Loan).where(Loan.customer_id == customer.id).order_by(Loan.approved_on)))


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


def _event(app: LoanApplication, to_status: str | None, actor, note: str | None, now) -> None:
    label = actor if isinstance(actor, str) else (f"{actor.display_name} ({actor.role})" if actor else "system")
    db.session.add(ApplicationEvent(application=app, from_status=app.status if to_status else None,
                                    to_status=to_status, actor_id=getattr(actor, "id", None),
                                    actor_label=label, note=note, occurred_at=now))


def _move(app: LoanApplication, new: S, *, actor, now, note: str | None = None) -> None:
    """Change status through the transition table, with a timeline event and an audit event."""
    check_transition(app.status, new)
    old = app.status
    _event(app, new, actor, note, now)
    app.status = new.value
    record(actor, f"application.{new.value}", app, changes={"status": (old, new.value)}, note=note)


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


def _check_staff_scope(app: LoanApplication, actor) -> None:
    if actor.institution_id != app.institution_id:
        raise PermissionDenied("this application belongs to another institution")


def start_review(app: LoanApplication, *, actor, clock) -> None:
    """An officer claims a scored application (scored -> in_review, assigned to the officer)."""
    _check_staff_scope(app, actor)
    if app.status == S.IN_REVIEW and app.assigned_to_id == actor.id:
        return
    _move(app, S.IN_REVIEW, actor=actor, now=clock.now(), note="Review started")
    app.assigned_to_id = actor.id


def approve_application(app: LoanApplication, *, actor, clock, note: str | None = None) -> Loan:
    """Approve, sanction and disburse on the business date, creating the loan and its schedule.

    The loan takes the corrected interest rate (seed 003 slab floor). Refuses (422) an application that
    failed the eligibility checks (overrides with maker-checker come with the review workflow issue).
    """
    _check_staff_scope(app, actor)
    if app.status in (S.SUBMITTED, S.SCORED):
        start_review(app, actor=actor, clock=clock)
    if not app.eligible:
        failed = "; ".join(c["detail"] for c in (app.score_detail or {}).get("checks", []) if not c["passed"])
        raise DomainError(f"This application failed the eligibility checks ({failed}); it can only be rejected.")
    now = clock.now()
    as_of = current_business_date(app.institution_id, clock)
    _move(app, S.APPROVED, actor=actor, now=now, note=note)
    app.decided_at, app.decided_by_id, app.decision_note = now, actor.id, note
    _move(app, S.SANCTIONED, actor=actor, now=now,
          note=f"Sanctioned Rs {app.amount:,} at {app.corrected_interest_rate}% for {app.tenure} months")
    loan = disburse(app, as_of=as_of, actor=actor)
    _move(app, S.DISBURSED, actor=actor, now=now, note=f"Disbursed on {as_of:%d %b %Y} as loan {loan.id}")
    return loan


def disburse(app: LoanApplication, *, as_of: date, actor) -> Loan:
    """Create the loan for a sanctioned application with its amortization schedule from ``as_of``."""
    rows = amortization_schedule(app.amount, app.corrected_interest_rate, app.tenure, as_of)
    loan = Loan(institution_id=app.institution_id, customer_id=app.customer_id, application=app,
                loan_amount=app.amount, tenure=app.tenure, interest_rate=app.corrected_interest_rate,
                monthly_installment=rows[0].installment, emis_paid_on_time=0, approved_on=as_of,
                disbursed_on=as_of, end_on=rows[-1].due_on, status=LoanStatus.ACTIVE.value, source="portal")
    loan.installments = [Installment(seq=r.seq, due_on=r.due_on, principal_amount=r.principal,
                                     interest_amount=r.interest, installment_amount=r.installment,
                                     balance_amount=r.balance) for r in rows]
    db.session.add(loan)
    db.session.flush()
    record(actor, "loan.disbursed", loan, changes={"loan_amount": loan.loan_amount, "interest_rate":
                                                   loan.interest_rate, "tenure": loan.tenure,
                                                   "disbursed_on": as_of, "monthly_installment":
                                                   loan.monthly_installment})
    return loan


def reject_application(app: LoanApplication, *, actor, clock, note: str) -> None:
    """Reject with a written reason (required)."""
    _check_staff_scope(app, actor)
    if not note or not note.strip():
        raise DomainError("Write the reason for the rejection; the customer will see it.")
    if app.status in (S.SUBMITTED, S.SCORED):
        start_review(app, actor=actor, clock=clock)
    now = clock.now()
    _move(app, S.REJECTED, actor=actor, now=now, note=note.strip())
    app.decided_at, app.decided_by_id, app.decision_note = now, actor.id, note.strip()


def withdraw_application(app: LoanApplication, *, customer: Customer, actor, clock) -> None:
    """The customer withdraws their own undecided application."""
    if app.customer_id != customer.id:
        raise PermissionDenied("this is not your application")
    _move(app, S.WITHDRAWN, actor=actor, now=clock.now(), note="Withdrawn by the customer")


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
