"""The close of business (portal/servicing/cob.py) on PostgreSQL: exact accrual day by day, idempotency per
business date, DPD and RBI buckets at their boundaries, borrower-wide NPA with its income moved to suspense,
upgrade only when every arrear is paid, reminders written once, the job, the cron entry and the CLI."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from portal.audit.models import AuditEvent
from portal.business_date import BusinessDate, set_business_date
from portal.ledger.check import check_ledger
from portal.ledger.models import Account, JournalEntry, LedgerAccount, Posting
from portal.lending.models import Loan
from portal.notifications.models import Notification
from portal.servicing import cob
from portal.servicing.models import Accrual, CobRun
from tests.factories import make_disbursed_loan
from tests.servicing.cob_support import (
    make_borrower,
    make_credit_line,
    make_serviced_loan,
    pay_installments,
    snapshot,
)

D0 = date(2026, 11, 23)  # the business date of the test clock


@pytest.fixture(autouse=True)
def _books_on_d0(db, clock):
    """The default institution's books are on D0 (the test clock's date)."""
    from portal.auth.services import default_institution
    from portal.business_date import current_business_date

    current_business_date(default_institution().id, clock)
    db.session.commit()


def close(db, institution_id: int, on: date | None = None, chunk_size: int = 3) -> CobRun:
    """One close of business for the books' date (or ``on``), as the job runs it."""
    on = on or db.session.get(BusinessDate, institution_id).current_on
    run = cob.run_close_of_business(institution_id, on, now=cob_now(), requested_by="test", chunk_size=chunk_size)
    db.session.commit()
    assert run is not None and run.status == "done", run and run.error
    return run


def cob_now():
    from portal.clock import clock

    return clock().now()


def books_on(db, institution_id: int) -> date:
    db.session.expire_all()
    return db.session.get(BusinessDate, institution_id).current_on


def jump_to(db, institution_id: int, on: date) -> None:
    set_business_date(institution_id, on, actor="test")
    db.session.commit()


def accrued(db, loan_id: int, start: date, end: date) -> Decimal:
    """Interest accrued for ``loan_id`` on business dates start < d <= end (rupees)."""
    rows = db.session.scalars(select(Accrual.amount).where(Accrual.loan_id == loan_id, Accrual.accrued_on > start,
                                                           Accrual.accrued_on <= end)).all()
    return sum(rows, Decimal("0.00"))


def account_balance(db, institution_id: int, code: Account) -> Decimal:
    total = db.session.execute(
        select(func.coalesce(func.sum(text("postings.debit_amount - postings.credit_amount")), 0))
        .select_from(Posting).join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(LedgerAccount.institution_id == institution_id, LedgerAccount.code == code.value)).scalar()
    return Decimal(int(total)) / 100


# ------------------------------------------------------------------------------------------------ accrual


def test_a_term_loan_aged_day_by_day_accrues_exactly_the_scheduled_interest(db, clock):
    loan = make_disbursed_loan(clock, amount="100000", tenure=12)  # the real workflow: 14 % p.a. from D0
    db.session.commit()
    inst, loan_id = loan.institution_id, loan.id
    rows = [(r.due_on, r.interest_amount) for r in loan.installments]
    period_start = D0
    for due_on, interest in rows[:3]:
        while books_on(db, inst) <= due_on:
            close(db, inst)
        # on each due date the period has accrued exactly the row's scheduled interest, day by day
        assert accrued(db, loan_id, period_start, due_on) == interest
        daily = db.session.scalars(select(Accrual.amount).where(
            Accrual.loan_id == loan_id, Accrual.accrued_on > period_start, Accrual.accrued_on <= due_on)).all()
        assert len(daily) == (due_on - period_start).days and all(a > 0 for a in daily)
        period_start = due_on
        result = check_ledger(inst, due_on)
        assert result.ok, result.problems
    db.session.expire_all()
    loan = db.session.get(Loan, loan_id)
    assert loan.interest_receivable_amount == sum(i for _, i in rows[:3]) + loan.period_accrued_amount
    assert (loan.period_start_on, loan.next_due_on, loan.period_interest_amount) == (rows[2][0], rows[3][0],
                                                                                     rows[3][1])
    # nothing was paid: 3 instalments unpaid, the oldest due on the first due date
    assert loan.dpd == (rows[2][0] - rows[0][0]).days == 62
    assert (loan.asset_class, loan.status) == ("sma_2", "overdue")
    assert account_balance(db, inst, Account.INTEREST_RECEIVABLE) == loan.interest_receivable_amount
    assert -account_balance(db, inst, Account.INTEREST_INCOME) == loan.interest_receivable_amount


def test_emis_paid_on_their_due_dates_leave_nothing_receivable_and_a_balanced_ledger(db, clock):
    from portal.servicing.services import record_repayment

    loan = make_disbursed_loan(clock, amount="50000", tenure=6)
    db.session.commit()
    inst, loan_id = loan.institution_id, loan.id
    dues = [(r.due_on, r.installment_amount) for r in loan.installments]
    for n, (due_on, emi) in enumerate(dues[:2]):
        while books_on(db, inst) < due_on:
            close(db, inst)
        record_repayment(db.session.get(Loan, loan_id), amount=emi, idempotency_key=f"emi-{n}", channel="officer",
                         actor=None, clock=clock)
        db.session.commit()
        close(db, inst)  # the due date itself: accrual, due marking, DPD
        loan = db.session.get(Loan, loan_id)
        assert (loan.dpd, loan.status, loan.asset_class) == (0, "active", "standard")
        assert loan.interest_receivable_amount == loan.period_accrued_amount
        result = check_ledger(inst, books_on(db, inst))
        assert result.ok, result.problems


def test_credit_lines_accrue_round_apr_over_365_to_3_places_percent_a_day(db):
    inst = _default_institution_id(db)
    line = make_credit_line(make_borrower(), start=D0 - timedelta(days=1), drawn="20000.00", apr="24")
    db.session.commit()
    close(db, inst)
    close(db, inst)
    # round(24 / 365, 3) = 0.066 % of 20,000 = 13.20 a day
    assert db.session.scalars(select(Accrual.amount).where(Accrual.loan_id == line.id)
                              .order_by(Accrual.accrued_on)).all() == [Decimal("13.20"), Decimal("13.20")]
    assert db.session.get(Loan, line.id).interest_receivable_amount == Decimal("26.40")
    entry = db.session.scalar(select(JournalEntry).where(JournalEntry.reference == f"accrual:{D0}:income"))
    assert {(p.debit_amount, p.credit_amount) for p in entry.postings} == {
        (Decimal("13.20"), Decimal("0.00")), (Decimal("0.00"), Decimal("13.20"))}
    assert check_ledger(inst, D0 + timedelta(days=1)).ok


def _default_institution_id(db) -> int:
    from portal.auth.services import default_institution

    return default_institution().id


def _mixed_book(db, institution=None) -> list[Loan]:
    """Current, overdue and NPA term loans (one borrower with two loans), and a credit line."""
    one, two, three = make_borrower(institution, password="borrower-1"), make_borrower(institution), \
        make_borrower(institution)
    loans = [make_serviced_loan(one, start=D0 - timedelta(days=28)),       # due in 3 days: a reminder
             make_serviced_loan(one, start=D0 - timedelta(days=31), amount="40000.00"),  # falls due today
             make_serviced_loan(two, start=D0 - timedelta(days=130), rate="18"),   # 4 rows unpaid: NPA
             make_serviced_loan(three, start=D0 - timedelta(days=61), tenure=6),   # 1 day overdue tomorrow...
             make_credit_line(three, start=D0 - timedelta(days=5))]
    pay_installments(loans[3], 1)
    db.session.commit()
    return loans


# ------------------------------------------------------------------------------------------------ idempotency


def test_close_of_business_twice_for_one_date_changes_nothing_the_second_time(db):
    inst = _default_institution_id(db)
    _mixed_book(db)
    run = close(db, inst)
    before = snapshot(inst)
    audit_before = db.session.scalar(select(func.count(AuditEvent.id)))
    assert before["notifications"] and any(e[1] == "npa" for e in before["entries"])

    again = cob.run_close_of_business(inst, D0, now=cob_now(), requested_by="test")  # a done run: no work
    db.session.commit()
    assert again.id == run.id and snapshot(inst) == before
    assert db.session.scalar(select(func.count(AuditEvent.id))) == audit_before

    # every step again, as if the run record had been lost: each statement is idempotent for the date
    jump_back = db.session.get(BusinessDate, inst)
    jump_back.current_on = D0
    stored = db.session.get(CobRun, run.id)
    stored.status, stored.steps = "running", cob.initial_steps()
    db.session.commit()
    cob.run_close_of_business(inst, D0, now=cob_now(), requested_by="test", chunk_size=2)
    db.session.commit()
    after = snapshot(inst)
    assert after["loans"] == before["loans"]
    assert after["accruals"] == before["accruals"]
    assert after["entries"] == before["entries"]
    assert after["notifications"] == before["notifications"]
    assert after["business_date"] == before["business_date"] == D0 + timedelta(days=1)


def test_a_run_for_a_date_the_books_are_not_on_is_refused(db):
    inst = _default_institution_id(db)
    with pytest.raises(cob.CobDateError, match="books are on 23 Nov 2026"):
        cob.run_close_of_business(inst, D0 + timedelta(days=1), now=cob_now(), requested_by="test")
    db.session.rollback()
    assert db.session.scalar(select(func.count(CobRun.id))) == 0


def test_a_second_runner_returns_at_once_while_the_first_holds_the_lock(db):
    inst = _default_institution_id(db)
    _mixed_book(db)
    with db.engine.connect() as other:
        assert other.execute(text("SELECT pg_try_advisory_lock(:k, :i)"), {"k": cob.LOCK_KEY, "i": inst}).scalar()
        assert cob.run_close_of_business(inst, D0, now=cob_now(), requested_by="test") is None
        other.execute(text("SELECT pg_advisory_unlock(:k, :i)"), {"k": cob.LOCK_KEY, "i": inst})
        other.commit()
    assert db.session.scalar(select(func.count(Accrual.id))) == 0
    assert close(db, inst).status == "done"


# ------------------------------------------------------------------------------------------------ DPD and classes


@pytest.mark.parametrize(("dpd", "asset_class", "status"), [
    (0, "standard", "active"),
    (1, "sma_0", "overdue"),
    (30, "sma_0", "overdue"),
    (31, "sma_1", "overdue"),
    (60, "sma_1", "overdue"),
    (61, "sma_2", "overdue"),
    (90, "sma_2", "overdue"),
    (91, "npa", "npa"),
])
def test_dpd_and_the_rbi_asset_class_at_the_boundaries(db, dpd, asset_class, status):
    inst = _default_institution_id(db)
    loan = make_serviced_loan(make_borrower(), start=D0)
    db.session.commit()
    first_due = loan.installments[0].due_on  # 23 Dec 2026, unpaid
    jump_to(db, inst, first_due + timedelta(days=dpd))
    close(db, inst)
    loan = db.session.get(Loan, loan.id)
    assert (loan.dpd, loan.asset_class, loan.status) == (dpd, asset_class, status)
    assert cob.asset_class_for(dpd) == asset_class and cob.loan_status_for(asset_class, dpd) == status
    assert loan.npa_since_on == (first_due + timedelta(days=dpd) if dpd > 90 else None)
    if dpd > 90:  # the interest receivable left income for suspense, per loan, on the npa:<date> entry
        assert loan.interest_suspense_amount == loan.interest_receivable_amount > 0
        entry = db.session.scalar(select(JournalEntry).where(JournalEntry.reference == f"npa:{loan.npa_since_on}"))
        assert {(p.loan_id, p.debit_amount + p.credit_amount) for p in entry.postings} == {
            (loan.id, loan.interest_receivable_amount)}
    else:
        assert loan.interest_suspense_amount == 0
    assert check_ledger(inst, books_on(db, inst)).ok


def test_a_row_due_today_is_0_dpd_and_1_dpd_tomorrow(db):
    inst = _default_institution_id(db)
    loan = make_serviced_loan(make_borrower(), start=D0 - timedelta(days=31))  # first due 23 Nov 2026 = D0
    db.session.commit()
    assert loan.installments[0].due_on == D0
    close(db, inst)
    assert db.session.get(Loan, loan.id).dpd == 0
    close(db, inst)
    assert db.session.get(Loan, loan.id).dpd == 1


def test_npa_is_borrower_wide_and_upgraded_only_when_every_arrear_is_paid(db):
    inst = _default_institution_id(db)
    borrower = make_borrower()
    late = make_serviced_loan(borrower, start=D0 - timedelta(days=130))  # 4 rows due, none paid
    good = make_serviced_loan(borrower, start=D0 - timedelta(days=10), amount="30000.00")  # nothing due yet
    other = make_serviced_loan(make_borrower(), start=D0 - timedelta(days=10))
    db.session.commit()
    close(db, inst)
    late, good, other = (db.session.get(Loan, x.id) for x in (late, good, other))
    assert late.dpd > 90 and good.dpd == 0
    assert (late.asset_class, good.asset_class, other.asset_class) == ("npa", "npa", "standard")
    assert (late.status, good.status, other.status) == ("npa", "npa", "active")
    assert late.npa_since_on == good.npa_since_on == D0
    assert good.interest_suspense_amount == good.interest_receivable_amount > 0
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "loan.npa")).all()
    assert sorted(int(e.entity_id) for e in events) == sorted([late.id, good.id])

    # accruals of NPA loans go to suspense, not income
    close(db, inst)
    assert db.session.scalar(select(JournalEntry.id).where(
        JournalEntry.reference == f"accrual:{D0 + timedelta(days=1)}:suspense")) is not None
    assert all(a.to_suspense for a in db.session.scalars(select(Accrual).where(
        Accrual.loan_id.in_([late.id, good.id]), Accrual.accrued_on == D0 + timedelta(days=1))))
    assert check_ledger(inst, books_on(db, inst)).ok

    # some arrears paid: still NPA (both loans)
    late = db.session.get(Loan, late.id)
    pay_installments(late, 1, 2, 3)
    db.session.commit()
    close(db, inst)
    late, good = db.session.get(Loan, late.id), db.session.get(Loan, good.id)
    assert 0 < late.dpd <= 90 and (late.asset_class, good.asset_class) == ("npa", "npa")

    # every arrear paid: both upgraded to standard
    pay_installments(late, 4, 5)
    db.session.commit()
    close(db, inst)
    late, good = db.session.get(Loan, late.id), db.session.get(Loan, good.id)
    assert (late.dpd, good.dpd) == (0, 0)
    assert [(x.asset_class, x.status, x.npa_since_on) for x in (late, good)] == [("standard", "active", None)] * 2
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "loan.npa_upgraded")) == 2


def test_a_new_loan_of_an_npa_borrower_is_npa_at_once(db):
    inst = _default_institution_id(db)
    borrower = make_borrower()
    make_serviced_loan(borrower, start=D0 - timedelta(days=130))
    db.session.commit()
    close(db, inst)
    fresh = make_serviced_loan(borrower, start=books_on(db, inst))
    db.session.commit()
    close(db, inst)
    assert db.session.get(Loan, fresh.id).asset_class == "npa"


# ------------------------------------------------------------------------------------------------ reminders


def test_reminders_are_written_once_per_loan_and_date(db):
    inst = _default_institution_id(db)
    borrower = make_borrower(password="borrower-1")
    soon = make_serviced_loan(borrower, start=D0 - timedelta(days=28))  # due 26 Nov: 3 days after D0
    late = make_serviced_loan(make_borrower(), start=D0 - timedelta(days=31))  # due 23 Nov, unpaid
    db.session.commit()
    close(db, inst)
    notes = db.session.scalars(select(Notification).order_by(Notification.id)).all()
    # in the portal and by SMS (no email address); the SMS is sent by the reminders job after the step
    assert [(n.event, n.channel, n.subject, n.dedupe_key) for n in notes] == [
        ("emi.due", "in_app", f"Loan {soon.id}: EMI due 26 Nov 2026", f"emi.due:{soon.id}:2026-11-26:in_app"),
        ("emi.due", "sms", None, f"emi.due:{soon.id}:2026-11-26:sms")]
    assert notes[0].user_id == borrower.user_id and "Rs 8,884.88" in notes[0].body
    assert notes[1].recipient == f"+91{borrower.phone_number}" and "Rs 8,884.88" in notes[1].body
    assert [n.status for n in notes] == ["sent", "sent"]

    close(db, inst)  # 24 Nov: day 1 overdue
    for _ in range(6):  # to 30 Nov: day 7
        close(db, inst)
    overdue = db.session.execute(select(Notification.subject, Notification.dedupe_key).where(
        Notification.event == "emi.overdue", Notification.channel == "in_app",
        Notification.dedupe_key.like(f"emi.overdue:{late.id}:%")).order_by(Notification.id)).all()
    assert overdue == [(f"Loan {late.id} is 1 day overdue", f"emi.overdue:{late.id}:2026-11-24:in_app"),
                       (f"Loan {late.id} is 7 days overdue", f"emi.overdue:{late.id}:2026-11-30:in_app")]

    # the reminders step again for a date already reminded: nothing new
    count = db.session.scalar(select(func.count(Notification.id)))
    run = db.session.scalar(select(CobRun).where(CobRun.business_date == date(2026, 11, 30)))
    steps = [dict(s) for s in run.steps]
    [reminders] = [s for s in steps if s["name"] == "reminders"]
    reminders.update(status="pending", cursor=None, count=0)
    run.steps, run.status = steps, "running"
    db.session.commit()
    cob.run_close_of_business(inst, date(2026, 11, 30), now=cob_now(), requested_by="test")
    db.session.commit()
    db.session.expire_all()
    run = db.session.scalar(select(CobRun).where(CobRun.business_date == date(2026, 11, 30)))
    rerun = next(s for s in run.steps if s["name"] == "reminders")
    assert rerun["status"] == "done" and rerun["count"] == 0  # the step really ran again, and wrote nothing
    assert db.session.scalar(select(func.count(Notification.id))) == count


# ------------------------------------------------------------------------------------------------ run records


def test_each_step_records_its_count_time_and_one_audit_event(db):
    inst = _default_institution_id(db)
    _mixed_book(db)
    run = close(db, inst)
    assert [s["name"] for s in run.steps] == list(cob.STEPS)
    assert all(s["status"] == "done" and s["seconds"] >= 0 for s in run.steps)
    counts = {s["name"]: s["count"] for s in run.steps}
    # the book's loans start in the past in their first period: they roll every period due by D0 (1 + 4 + 2)
    assert counts["accrual"] == 5 and counts["due_marking"] == 7 and counts["advance_date"] == 1
    assert run.loans_total == 5 and cob.progress(run) == 100 and run.finished_at >= run.started_at
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "cob_runs")).all()
    assert sorted(actions) == sorted(f"cob.{name}" for name in cob.STEPS)
    assert books_on(db, inst) == D0 + timedelta(days=1)


def test_the_job_closes_the_books_once_and_the_nightly_job_covers_every_institution(db):
    from jobs.servicing import close_of_business, close_of_business_nightly

    inst = _default_institution_id(db)
    _mixed_book(db)
    run_id = close_of_business(inst, D0.isoformat())
    assert close_of_business(inst, D0.isoformat()) == run_id
    assert books_on(db, inst) == D0 + timedelta(days=1)
    assert close_of_business_nightly() == [inst]  # eager in tests: the queued job ran after the commit
    db.session.expire_all()
    assert db.session.scalar(select(func.count(CobRun.id)).where(CobRun.status == "done")) == 2
    assert books_on(db, inst) == D0 + timedelta(days=2)


def test_the_nightly_entry_is_registered_for_2330_ist_on_the_billing_queue(redis_server):
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from croniter import croniter
    from redis import Redis
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=Redis.from_url(redis_server.url))
    scheduler.load_config_from_file("jobs.schedule")
    [job] = [j for j in scheduler.get_jobs() if j.name == "close-of-business"]
    assert (job.func_name, job.queue_name) == ("jobs.servicing.close_of_business_nightly", "billing")
    when = croniter(job.cron, datetime(2026, 11, 23, tzinfo=UTC)).get_next(datetime).astimezone(
        ZoneInfo("Asia/Kolkata"))
    assert (when.hour, when.minute) == (23, 30)


def test_the_cli_runs_n_days_in_process_and_prints_each_step(app, db):
    inst = _default_institution_id(db)
    _mixed_book(db)
    result = app.test_cli_runner().invoke(args=["close-of-business", "--days", "3"])
    assert result.exit_code == 0, result.output
    for name in cob.STEPS:
        assert result.output.count(f"  {name} ") == 3
    assert "books now on 2026-11-26" in result.output
    assert books_on(db, inst) == date(2026, 11, 26)
