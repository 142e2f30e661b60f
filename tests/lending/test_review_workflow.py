"""The review workflow through the services (PostgreSQL): every move through the transition table, claim and
assignment, information requests, escalation, maker-checker overrides, counter-offers, offers accepted, declined
and expired, and the Key Facts Statement stored as shown."""
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from jobs.lending import expire_offers
from portal.audit.models import AuditEvent
from portal.errors import DomainError, InvalidTransition, PermissionDenied
from portal.lending import offers, review, services
from portal.lending.models import ApplicationEvent, LoanApplication, Offer
from portal.lending.states import ALLOWED, ApplicationStatus
from portal.notifications.models import Notification
from tests.factories import accept_offer, make_customer, make_staff, term_product

S = ApplicationStatus


def scored(salary="20000", amount="250000", tenure=24, clock=None, **kwargs) -> LoanApplication:
    """A scored application; with the defaults it fails only the EMI burden check (score 40, EMI 12,003.22 of a
    20,000 salary)."""
    customer = make_customer(salary=salary, **kwargs)
    return services.submit_application(customer, term_product(), amount=Decimal(amount), tenure=tenure,
                                       actor=customer.user, clock=clock)


def eligible(clock) -> LoanApplication:
    return scored(salary="100000", amount="250000", clock=clock)


def actions(app) -> list[str]:
    return list(db_scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "loan_applications",
                                                           AuditEvent.entity_id == str(app.id))
                           .order_by(AuditEvent.id)))


def db_scalars(stmt):
    from portal.extensions import db

    return db.session.scalars(stmt).all()


def notes_for(customer) -> list[str]:
    return list(db_scalars(select(Notification.event).where(Notification.customer_id == customer.id)
                           .order_by(Notification.id)))


def sent_for(customer, event: str) -> dict[str, Notification]:
    """{channel: notification} of ``event`` written for ``customer`` (one per channel)."""
    rows = db_scalars(select(Notification).where(Notification.customer_id == customer.id,
                                                 Notification.event == event).order_by(Notification.id))
    by_channel = {n.channel: n for n in rows}
    assert len(by_channel) == len(rows), [n.channel for n in rows]
    return by_channel


# ---- the transition table, through _move ------------------------------------------------------------------
@pytest.mark.parametrize("current", list(S), ids=lambda s: s.value)
def test_every_move_goes_through_the_table(db, clock, current):
    """From ``current`` to every status: the table's moves happen (timeline + audit), the others are refused
    and change nothing."""
    app = scored(clock=clock)
    for new in S:
        app.status = current.value
        db.session.flush()
        before = len(app.events)
        if new in ALLOWED[current]:
            services._move(app, new, actor="system", now=clock.now(), note="test")
            assert app.status == new.value
            assert (app.events[-1].from_status, app.events[-1].to_status) == (current.value, new.value)
            assert actions(app)[-1] == f"application.{new.value}"
        else:
            with pytest.raises(InvalidTransition):
                services._move(app, new, actor="system", now=clock.now())
            assert app.status == current.value and len(app.events) == before


# ---- claim and assignment ---------------------------------------------------------------------------------
def test_claim_starts_the_review_and_assignment_is_audited(db, clock):
    officer, other = make_staff("loan_officer"), make_staff("risk_officer")
    app = eligible(clock)
    review.claim_application(app, actor=officer, clock=clock)
    assert app.status == "in_review" and app.assigned_to_id == officer.id and app.assigned_at == clock.now()
    review.assign_application(app, assignee=other, actor=officer, clock=clock)
    assert app.assigned_to_id == other.id
    assert "application.assigned" in actions(app)
    assert app.events[-1].kind == "assignment" and app.events[-1].internal
    support = make_staff("support")
    with pytest.raises(DomainError):
        review.assign_application(app, assignee=support, actor=officer, clock=clock)


def test_submission_sets_the_review_sla(db, clock):
    app = eligible(clock)
    assert app.sla_due_at == clock.now() + timedelta(days=2)  # Monday 23 Nov 2026 -> Wednesday


# ---- information requests ---------------------------------------------------------------------------------
def test_information_request_round_trip(db, clock):
    officer = make_staff("loan_officer")
    app = eligible(clock)
    customer = app.customer
    request = review.request_information(app, question="Send your latest salary slip, please.", actor=officer,
                                         clock=clock)
    assert app.status == "info_requested" and app.open_info_request is request
    assert "application.info_requested" in notes_for(customer)
    with pytest.raises(PermissionDenied):
        review.answer_information_request(app, customer=make_customer(), answer="x", actor=None, clock=clock)
    with pytest.raises(DomainError):
        review.answer_information_request(app, customer=customer, answer="  ", actor=customer.user, clock=clock)
    clock.advance(days=3)
    review.answer_information_request(app, customer=customer, answer="Uploaded: slip for October.",
                                      actor=customer.user, clock=clock)
    assert app.status == "scored"  # info_requested -> submitted -> scored again
    assert request.answer == "Uploaded: slip for October." and app.open_info_request is None
    assert app.sla_due_at == clock.now() + timedelta(days=4)  # Thursday 26 Nov -> Monday 30 Nov (weekend)
    assert [e.to_status for e in app.events if e.to_status][-4:] == ["in_review", "info_requested", "submitted",
                                                                     "scored"]
    with pytest.raises(DomainError):  # nothing is asked any more
        review.answer_information_request(app, customer=customer, answer="again", actor=customer.user, clock=clock)


# ---- escalation -------------------------------------------------------------------------------------------
def test_escalated_application_is_decided_by_a_risk_officer(db, clock):
    officer, risk = make_staff("loan_officer"), make_staff("risk_officer")
    app = eligible(clock)
    with pytest.raises(DomainError):
        review.escalate_application(app, reason="", actor=officer, clock=clock)
    review.escalate_application(app, reason="Large amount for a first loan.", actor=officer, clock=clock)
    assert app.status == "escalated"
    internal = [e for e in app.events if e.internal]
    assert internal[-1].kind == "escalation" and "Large amount" in internal[-1].note
    assert "Large amount" not in " ".join(e.note or "" for e in review.customer_timeline(app))
    from portal.extensions import db as database
    from portal.lending.queries import escalations

    assert app in database.session.scalars(escalations(app.institution_id)).all()
    with pytest.raises(PermissionDenied):
        services.approve_application(app, actor=officer, clock=clock)
    with pytest.raises(PermissionDenied):
        services.reject_application(app, actor=officer, clock=clock, note="no", reason_code="policy")
    with pytest.raises(InvalidTransition):  # escalated -> info_requested is not in the table
        review.request_information(app, question="Anything else?", actor=risk, clock=clock)
    offer = services.approve_application(app, actor=risk, clock=clock, note="Checked the file.")
    assert app.status == "offered" and offer.offered_by_id == risk.id and app.decided_by_id == risk.id


# ---- maker-checker overrides ------------------------------------------------------------------------------
def test_override_needs_a_second_person_who_is_a_risk_officer(db, clock):
    officer, risk, other_risk = make_staff("loan_officer"), make_staff("risk_officer"), make_staff("risk_officer")
    app = scored(clock=clock)
    assert [c["name"] for c in services.failed_checks(app)] == ["emi_burden"]
    with pytest.raises(DomainError, match="eligibility"):
        services.approve_application(app, actor=officer, clock=clock)
    with pytest.raises(DomainError, match="failed"):
        review.request_override(app, rule="credit_score", reason="It passed anyway, see file.", actor=officer,
                                clock=clock)
    with pytest.raises(DomainError):
        review.request_override(app, rule="emi_burden", reason="short", actor=officer, clock=clock)
    override = review.request_override(app, rule="emi_burden", actor=officer, clock=clock,
                                       reason="Spouse's income of Rs 40,000 a month is verified.")
    assert override.status == "pending"
    with pytest.raises(DomainError, match="eligibility"):  # a pending override does not unblock
        services.approve_application(app, actor=officer, clock=clock)
    with pytest.raises(PermissionDenied, match="maker-checker"):  # the maker never checks their own
        review.check_override(override, approve=True, note=None, actor=officer, clock=clock)
    other_officer = make_staff("loan_officer")
    with pytest.raises(PermissionDenied, match="risk officer"):  # a non-risk role is refused
        review.check_override(override, approve=True, note=None, actor=other_officer, clock=clock)
    review.check_override(override, approve=True, note="Income documents seen.", actor=risk, clock=clock)
    assert override.status == "approved" and override.checker_id == risk.id
    with pytest.raises(DomainError):  # decided once
        review.check_override(override, approve=False, note="no", actor=other_risk, clock=clock)
    offer = services.approve_application(app, actor=officer, clock=clock)
    assert app.status == "offered" and "override of emi_burden" in app.decision_note
    from portal.extensions import db as database

    audited = database.session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type ==
                                                                       "application_overrides")).all()
    assert audited == ["override.requested", "override.approved"]
    assert offer.amount == app.amount


def test_a_risk_officer_maker_cannot_check_their_own_override(db, clock):
    risk = make_staff("risk_officer")
    app = scored(clock=clock)
    override = review.request_override(app, rule="emi_burden", actor=risk, clock=clock,
                                       reason="Bonus income is regular, verified.")
    with pytest.raises(PermissionDenied):
        review.check_override(override, approve=True, note=None, actor=risk, clock=clock)


def test_rejected_override_keeps_the_application_blocked(db, clock):
    officer, risk = make_staff("loan_officer"), make_staff("risk_officer")
    app = scored(clock=clock)
    override = review.request_override(app, rule="emi_burden", actor=officer, clock=clock,
                                       reason="The customer says a raise is coming.")
    with pytest.raises(DomainError, match="why"):
        review.check_override(override, approve=False, note="", actor=risk, clock=clock)
    review.check_override(override, approve=False, note="No evidence of the raise.", actor=risk, clock=clock)
    with pytest.raises(DomainError, match="eligibility"):
        services.approve_application(app, actor=officer, clock=clock)


# ---- institution scoping ----------------------------------------------------------------------------------
def test_staff_of_another_institution_cannot_touch_the_application(db, clock):
    from portal.auth.models import Institution
    from portal.auth.services import create_user

    other = Institution(slug="other-lender", name="Other Lender")
    db.session.add(other)
    db.session.flush()
    stranger = create_user(email="stranger@other.test", role="risk_officer", password="long-password-1",
                           institution=other)
    app = scored(clock=clock)
    for call in (lambda: review.claim_application(app, actor=stranger, clock=clock),
                 lambda: services.approve_application(app, actor=stranger, clock=clock),
                 lambda: review.add_note(app, body="hello", actor=stranger, clock=clock),
                 lambda: review.request_override(app, rule="emi_burden", reason="long enough reason",
                                                 actor=stranger, clock=clock)):
        with pytest.raises(PermissionDenied):
            call()


# ---- counter-offers and offers ----------------------------------------------------------------------------
def test_counter_offer_accepted_becomes_the_loan(db, clock):
    officer = make_staff("loan_officer")
    app = scored(clock=clock)
    with pytest.raises(DomainError, match="eligibility"):  # still too much of the salary
        services.counter_offer(app, amount=Decimal("220000"), interest_rate=Decimal("14"), tenure=24,
                               actor=officer, clock=clock)
    with pytest.raises(DomainError, match="lends between"):
        services.counter_offer(app, amount=Decimal("5000"), interest_rate=Decimal("14"), tenure=24, actor=officer,
                               clock=clock)
    offer = services.counter_offer(app, amount=Decimal("100000"), interest_rate=Decimal("14"), tenure=24,
                                   actor=officer, clock=clock, note="What the salary carries.")
    assert (offer.kind, offer.status, app.status) == ("counter", "offered", "offered")
    assert offer.emi_amount == Decimal("4801.29") and offer.processing_fee_amount == Decimal("1000.00")
    # the offer is the templated legal notice offer.made: in-app and SMS (the customer has no email address),
    # with the terms and the moment it lapses (made Monday 23 Nov 10:00 IST, valid 7 days)
    made = sent_for(app.customer, "offer.made")
    assert set(made) == {"in_app", "sms"} and {n.category for n in made.values()} == {"legal"}
    assert made["in_app"].body == ("We offer you Rs 1,00,000.00 at 14.00% p.a. for 24 months. Read the Key Facts "
                                   "Statement and accept the offer by 30 Nov 2026, 10:00 IST.")
    assert made["sms"].recipient == f"+91{app.customer.phone_number}"
    assert "application.offered" not in notes_for(app.customer)
    loan = accept_offer(offer, clock)
    assert app.status == "disbursed" and offer.status == "accepted"
    assert (loan.loan_amount, loan.tenure, loan.interest_rate) == (Decimal("100000.00"), 24, Decimal("14.00"))
    assert loan.monthly_installment == offer.emi_amount
    disbursed = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "loan.disbursed"))
    assert disbursed.changes["net_disbursed"] == "99000.00" and disbursed.changes["processing_fee"] == "1000.00"


def test_counter_offer_declined_withdraws_the_application(db, clock):
    officer = make_staff("loan_officer")
    app = scored(clock=clock)
    offer = services.counter_offer(app, amount=Decimal("100000"), interest_rate=Decimal("14"), tenure=24,
                                   actor=officer, clock=clock)
    with pytest.raises(PermissionDenied):
        services.decline_offer(offer, customer=make_customer(), actor=None, clock=clock)
    services.decline_offer(offer, customer=app.customer, actor=app.customer.user, clock=clock,
                           reason="I need the full amount.")
    assert offer.status == "declined" and app.status == "withdrawn"
    with pytest.raises(DomainError):
        accept_offer(offer, clock)


def test_offers_expire_through_the_job_idempotently(db, clock):
    officer = make_staff("loan_officer")
    app = eligible(clock)
    offer = services.approve_application(app, actor=officer, clock=clock)
    db.session.commit()
    assert offer.expires_at == clock.now() + timedelta(days=7)
    assert expire_offers((clock.now() + timedelta(days=6)).isoformat()) == 0
    clock.advance(days=7, minutes=1)
    with pytest.raises(DomainError, match="expired"):
        accept_offer(offer, clock)
    db.session.rollback()
    assert expire_offers(clock.now().isoformat()) == 1
    assert expire_offers(clock.now().isoformat()) == 0  # idempotent
    db.session.expire_all()
    assert offer.status == "expired" and app.status == "expired"
    # the templated service event offer.expired, once (the second job run wrote nothing)
    expired = sent_for(app.customer, "offer.expired")
    assert set(expired) == {"in_app"} and expired["in_app"].category == "service"
    assert expired["in_app"].body == (f"The offer for application {app.id} expired on 30 Nov 2026 without an "
                                      "answer. Apply again whenever you are ready.")


def test_expiry_job_defaults_to_the_clock(db, clock):
    app = eligible(clock)
    services.approve_application(app, actor=make_staff("loan_officer"), clock=clock)
    db.session.commit()
    clock.advance(days=8)
    assert expire_offers() == 1


# ---- the Key Facts Statement ------------------------------------------------------------------------------
def test_kfs_is_stored_as_shown_and_audited(db, clock):
    officer = make_staff("loan_officer")
    app = eligible(clock)
    offer = services.approve_application(app, actor=officer, clock=clock)
    kfs = offer.kfs
    assert kfs["sanctioned_amount"] == "250000.00" and kfs["rate_type"] == "Fixed"
    assert kfs["processing_fee_amount"] == "2500.00" and kfs["net_disbursed_amount"] == "247500.00"
    assert kfs["apr"] == str(offer.apr) and len(kfs["schedule"]) == 24 and kfs["cooling_off_days"] == 3
    assert "12 x the monthly internal rate of return" in kfs["apr_method"]
    html = offers.render_kfs(offer)
    assert offers.render_kfs(offer) == html  # deterministic
    with pytest.raises(DomainError, match="changed"):
        services.accept_offer(offer, customer=app.customer, shown_digest="0" * 64, ip="10.0.0.1",
                              actor=app.customer.user, clock=clock)
    services.accept_offer(offer, customer=app.customer, shown_digest=offers.kfs_digest(html), ip="10.0.0.1",
                          actor=app.customer.user, clock=clock)
    assert offer.kfs_html == html and offer.kfs_sha256 == offers.kfs_digest(html)
    assert offer.accepted_ip == "10.0.0.1" and offer.accepted_at == clock.now()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "offer.accepted"))
    assert event.changes["kfs_sha256"] == offer.kfs_sha256 and event.actor_id == app.customer.user_id


def test_timeline_events_for_the_customer_hide_internal_notes(db, clock):
    officer = make_staff("loan_officer")
    app = eligible(clock)
    review.add_note(app, body="Called the employer: confirmed.", actor=officer, clock=clock)
    with pytest.raises(DomainError):
        review.add_note(app, body=" ", actor=officer, clock=clock)
    assert any(e.kind == "note" for e in review.staff_timeline(app))
    assert not any(e.kind == "note" for e in review.customer_timeline(app))
    assert db.session.scalar(select(ApplicationEvent).where(ApplicationEvent.kind == "note")).internal


def test_withdrawing_an_offered_application_means_declining(db, clock):
    app = eligible(clock)
    services.approve_application(app, actor=make_staff("loan_officer"), clock=clock)
    with pytest.raises(DomainError, match="declined"):
        services.withdraw_application(app, customer=app.customer, actor=app.customer.user, clock=clock)
    assert db.session.scalar(select(Offer.status)) == "offered"


def test_expire_offers_command(app, db, clock):
    app_ = eligible(clock)
    services.approve_application(app_, actor=make_staff("loan_officer"), clock=clock)
    db.session.commit()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["expire-offers", "--as-of", "nonsense"]).exit_code == 2
    result = runner.invoke(args=["expire-offers", "--as-of", (clock.now() + timedelta(days=8)).isoformat()])
    assert result.exit_code == 0 and "expired 1 offer" in result.output
    assert "expired 0 offers" in runner.invoke(args=["expire-offers"]).output


# ---- the review queue's counts and its partial index (load test: work independent of the book size) -------
def _book_of_decided_applications(n: int, clock) -> int:
    """``n`` disbursed applications and 40 waiting for a decision (10 of each open status) of one customer,
    inserted in bulk, then ANALYZE: a book where the planner must pick an index to stay off the decided rows.
    Returns the institution id."""
    from sqlalchemy import text

    from portal.extensions import db as database

    app = eligible(clock)
    database.session.execute(text("""
        INSERT INTO loan_applications (institution_id, customer_id, product_id, amount, tenure, interest_rate,
                                       status)
        SELECT :inst, :customer, :product, 25000000, 24, 140000,
               CASE WHEN g <= :n THEN 'disbursed'
                    ELSE (ARRAY['submitted', 'scored', 'in_review', 'escalated'])[1 + g % 4] END
        FROM generate_series(1, :n + 40) g"""),
        {"inst": app.institution_id, "customer": app.customer_id, "product": app.product_id, "n": n})
    database.session.commit()
    database.session.execute(text("ANALYZE loan_applications"))
    return app.institution_id


def _plan(statement) -> str:
    """PostgreSQL's plan of ``statement`` (literal values, as the planner sees the bound ones)."""
    from sqlalchemy import text

    from portal.extensions import db as database

    sql = str(statement.compile(dialect=database.engine.dialect, compile_kwargs={"literal_binds": True}))
    return "\n".join(database.session.execute(text("EXPLAIN " + sql)).scalars())


def test_status_counts_are_the_open_queue_only(db, clock):
    from portal.lending.queries import status_counts

    officer, risk = make_staff("loan_officer"), make_staff("risk_officer")
    apps = [eligible(clock) for _ in range(7)]
    services.start_review(apps[1], actor=officer, clock=clock)
    review.escalate_application(apps[2], reason="Large amount for a first loan.", actor=officer, clock=clock)
    review.request_information(apps[3], question="Which employer?", actor=officer, clock=clock)
    services.reject_application(apps[4], actor=officer, clock=clock, note="no", reason_code="policy")
    services.approve_application(apps[5], actor=risk, clock=clock)
    apps[6].status = S.SUBMITTED.value  # submitted, not scored yet (scoring is synchronous in the services)
    db.session.commit()
    assert [a.status for a in apps] == ["scored", "in_review", "escalated", "info_requested", "rejected", "offered",
                                        "submitted"]
    counts = dict(db.session.execute(status_counts(apps[0].institution_id)).all())
    # waiting for the customer (info_requested, offered) and decided (rejected) are not counted here
    assert counts == {"submitted": 1, "scored": 1, "in_review": 1, "escalated": 1}
    assert dict(db.session.execute(status_counts(apps[0].institution_id + 1000)).all()) == {}


def test_open_queue_index_exists_after_migrations_with_the_open_statuses(db):
    """The schema of the ``db`` fixture is built by the migrations (tests/conftest.py)."""
    import re

    from sqlalchemy import text

    from portal.lending.states import OPEN_FOR_REVIEW

    indexdef = db.session.execute(text(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'loan_applications' "
        "AND indexname = 'ix_loan_applications_open_queue'")).scalar_one()
    assert "(institution_id, id)" in indexdef and " WHERE " in indexdef, indexdef
    predicate = indexdef.split(" WHERE ", 1)[1]
    assert set(re.findall(r"'(\w+)'", predicate)) == {s.value for s in OPEN_FOR_REVIEW}, indexdef


def test_the_default_queue_reads_only_open_applications_from_an_index(db, clock):
    """First page, total and status counts of the default view on a book of 20,000 decided applications: each
    reads an index bounded to the open statuses (the partial index, or the status prefix of
    ix_loan_applications_queue), never a sequential scan or a walk of the decided rows (a status Filter)."""
    from sqlalchemy import func

    from portal.lending import queries

    inst = _book_of_decided_applications(20_000, clock)
    base = queries.review_queue(inst)  # the default view: waiting for a decision, oldest first
    first_page = _plan(queries.keyset_page(base, sort="oldest", after=None, size=25))
    assert "ix_loan_applications_open_queue" in first_page and "Sort" not in first_page, first_page
    assert "ix_loan_applications_open_queue" in _plan(queries.keyset_page(base, sort="oldest", after=":40", size=25))
    assert "ix_loan_applications_open_queue" in _plan(select(func.count()).select_from(base.subquery()))
    counts = _plan(queries.status_counts(inst))
    assert "Seq Scan" not in counts and "Filter" not in counts and "Index" in counts, counts
    assert sum(dict(db.session.execute(queries.status_counts(inst)).all()).values()) == 40 + 1  # + the scored one
