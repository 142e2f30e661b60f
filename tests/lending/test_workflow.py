"""The term-loan workflow through the services, on PostgreSQL: apply -> score -> review -> approve (an offer;
the customer accepts it: sanction + disburse with a schedule) or reject; every status change audited in the
same transaction."""
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.errors import DomainError, InvalidTransition, PermissionDenied
from portal.lending import services
from portal.lending.models import ApplicationEvent, Loan
from portal.notifications.models import Notification
from tests.factories import approve_and_disburse, make_customer, make_loan, make_staff, term_product


def test_submit_scores_and_keeps_the_explanation(db, clock):
    customer = make_customer(salary="50000")
    app = services.submit_application(customer, term_product(), amount=Decimal("250000"), tenure=24,
                                      actor=customer.user, clock=clock)
    db.session.commit()
    assert app.status == "scored"
    assert app.credit_score is not None and 0 <= app.credit_score <= 100
    assert app.score_detail["components"] and app.score_detail["checks"]
    assert [e.to_status for e in app.events] == ["submitted", "scored"]
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity_id == str(app.id))).all()
    assert {"application.created", "application.submitted", "application.scored"} <= set(actions)


def test_approval_sanctions_disburses_on_the_business_date_with_a_schedule(db, clock):
    officer = make_staff("loan_officer")
    customer = make_customer(salary="100000")
    make_loan(customer, amount="100000", tenure=12, paid_on_time=12, approved_on=date(2024, 1, 10))
    app = services.submit_application(customer, term_product(), amount=Decimal("250000"), tenure=24,
                                      interest_rate=Decimal("12"), actor=customer.user, clock=clock)
    assert app.eligible, app.score_detail
    loan = approve_and_disburse(app, officer, clock, note="good history")
    db.session.commit()
    assert app.status == "disbursed"
    assert loan.disbursed_on == date(2026, 11, 23)
    assert loan.monthly_installment == Decimal(app.monthly_installment)
    assert len(loan.installments) == 24
    assert sum(i.principal_amount for i in loan.installments) == Decimal("250000.00")
    assert loan.installments[0].due_on == date(2026, 12, 23)
    statuses = [e.to_status for e in db.session.scalars(select(ApplicationEvent)
                                                        .where(ApplicationEvent.application_id == app.id))]
    assert statuses == ["submitted", "scored", "in_review", "approved", "offered", "accepted", "sanctioned",
                        "disbursed"]
    def actor_of(action: str) -> int:
        return db.session.scalar(select(AuditEvent).where(AuditEvent.action == action)).actor_id

    assert actor_of("application.approved") == officer.id
    assert actor_of("offer.accepted") == customer.user.id


def test_seed_003_emi_at_12_percent(db, clock):
    customer = make_customer(salary="100000")
    make_loan(customer, amount="100000", tenure=12, paid_on_time=12, approved_on=date(2024, 1, 10))
    app = services.submit_application(customer, term_product(), amount=Decimal("250000"), tenure=24,
                                      interest_rate=Decimal("12"), actor=customer.user, clock=clock)
    if app.corrected_interest_rate == Decimal("12"):
        assert app.monthly_installment == Decimal("11768.37")


def test_reject_needs_a_reason_and_is_final(db, clock):
    officer = make_staff("loan_officer")
    customer = make_customer()
    app = services.submit_application(customer, term_product(), amount=Decimal("50000"), tenure=12,
                                      actor=customer.user, clock=clock)
    with pytest.raises(DomainError):
        services.reject_application(app, actor=officer, clock=clock, note="  ", reason_code="income_unverified")
    with pytest.raises(DomainError, match="reason"):
        services.reject_application(app, actor=officer, clock=clock, note="no code", reason_code="made-up")
    services.reject_application(app, actor=officer, clock=clock, note="income not verified",
                                reason_code="income_unverified")
    db.session.commit()
    assert app.status == "rejected" and app.rejection_code == "income_unverified"
    # the customer is told with the legal notice application.decided: the decision and its reasons in writing
    notes = db.session.scalars(select(Notification).where(Notification.customer_id == customer.id,
                                                          Notification.event == "application.decided")).all()
    assert sorted(n.channel for n in notes) == ["in_app", "sms"]  # no email address on file
    [in_app] = [n for n in notes if n.channel == "in_app"]
    assert (in_app.category, in_app.user_id, in_app.subject) == ("legal", customer.user_id,
                                                                 f"Application {app.id}: not approved")
    assert in_app.body == (f"Your application {app.id} was not approved: The income could not be verified. "
                           "income not verified. See the details on the application's page.")
    with pytest.raises(InvalidTransition):
        services.approve_application(app, actor=officer, clock=clock)


def test_ineligible_application_cannot_be_approved(db, clock):
    officer = make_staff("loan_officer")
    customer = make_customer(salary="20000")  # EMI of 40 lakh would exceed half the salary
    app = services.submit_application(customer, term_product(), amount=Decimal("4000000"), tenure=24,
                                      actor=customer.user, clock=clock)
    assert app.eligible is False
    with pytest.raises(DomainError, match="eligibility"):
        services.approve_application(app, actor=officer, clock=clock)


def test_amount_outside_the_product_is_refused(db, clock):
    customer = make_customer()
    with pytest.raises(DomainError, match="positive"):
        services.submit_application(customer, term_product(), amount=Decimal("-5"), tenure=12,
                                    actor=customer.user, clock=clock)
    with pytest.raises(DomainError, match="runs"):
        services.submit_application(customer, term_product(), amount=Decimal("50000"), tenure=1000,
                                    actor=customer.user, clock=clock)


def test_idempotency_key_returns_the_first_application(db, clock):
    customer = make_customer()
    a = services.submit_application(customer, term_product(), amount=Decimal("50000"), tenure=12,
                                    actor=customer.user, clock=clock, idempotency_key="k-1")
    b = services.submit_application(customer, term_product(), amount=Decimal("50000"), tenure=12,
                                    actor=customer.user, clock=clock, idempotency_key="k-1")
    assert a.id == b.id
    other = make_customer()
    with pytest.raises(PermissionDenied):
        services.submit_application(other, term_product(), amount=Decimal("50000"), tenure=12,
                                    actor=other.user, clock=clock, idempotency_key="k-1")


def test_customer_cannot_withdraw_someone_elses_application(db, clock):
    owner, other = make_customer(), make_customer()
    app = services.submit_application(owner, term_product(), amount=Decimal("50000"), tenure=12,
                                      actor=owner.user, clock=clock)
    with pytest.raises(PermissionDenied):
        services.withdraw_application(app, customer=other, actor=other.user, clock=clock)
    services.withdraw_application(app, customer=owner, actor=owner.user, clock=clock)
    assert app.status == "withdrawn"


def test_current_debt_counts_loans_ending_after_the_business_date(db, clock):
    customer = make_customer(salary="100000")
    make_loan(customer, amount="100000", approved_on=date(2020, 1, 1), tenure=12)  # ended 2021
    make_loan(customer, amount="300000", approved_on=date(2026, 1, 1), tenure=24, emi="14000")  # current
    result = services.assess(customer, amount=Decimal("10000"), tenure=12, interest_rate=Decimal("14"),
                             as_of=date(2026, 11, 23))
    assert result.current_debt == Decimal("300000.00")
    assert result.current_emis == Decimal("14000.00")
    assert db.session.scalar(select(Loan.id).where(Loan.customer_id == customer.id)) is not None
