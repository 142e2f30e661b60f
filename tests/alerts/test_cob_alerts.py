"""DPD alerts raised by the close of business: a loan aged day by day raises exactly one alert per threshold
crossed (1, 30, 60, 90); rerunning or resuming a business date adds none; a cure ends a crossing and a later
climb raises a new alert; an inactive rule raises nothing; each institution's rules see only its loans."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.alerts.models import Alert, AlertRule
from portal.alerts.services import raise_dpd_alerts
from portal.audit.models import AuditEvent
from portal.auth.services import default_institution
from portal.business_date import BusinessDate
from portal.lending.models import Loan
from portal.servicing import cob
from portal.servicing.models import CobRun
from tests.alerts.conftest import builtin_rule
from tests.factories import make_disbursed_loan
from tests.servicing.cob_support import make_borrower, make_institution, make_serviced_loan, pay_installments
from tests.servicing.payments_support import close_days

D0 = date(2026, 11, 23)


def dpd_alerts(db, loan_id: int | None = None) -> list[Alert]:
    db.session.expire_all()
    query = select(Alert).where(Alert.kind == "dpd_crossed").order_by(Alert.threshold_days, Alert.id)
    if loan_id is not None:
        query = query.where(Alert.loan_id == loan_id)
    return list(db.session.scalars(query))


def books_on(db, institution_id: int) -> date:
    db.session.expire_all()
    return db.session.get(BusinessDate, institution_id).current_on


def close(db, institution_id: int, chunk_size: int = cob.CHUNK_SIZE) -> CobRun:
    on = books_on(db, institution_id)
    run = cob.run_close_of_business(institution_id, on, now=_now(), requested_by="test", chunk_size=chunk_size)
    db.session.commit()
    assert run is not None and run.status == "done", run and run.error
    return run


def _now():
    from portal.clock import clock

    return clock().now()


def test_a_loan_aged_from_dpd_0_to_95_raises_exactly_one_alert_per_threshold(db, clock):
    loan = make_disbursed_loan(clock, amount="100000", tenure=12)
    db.session.commit()
    loan_id, inst = loan.id, loan.institution_id
    first_due = min(r.due_on for r in loan.installments)
    seen = []  # (business date closed, DPD, thresholds alerted so far) each day
    while True:
        closed_on = books_on(db, inst)
        close_days(1, clock)
        dpd = db.session.get(Loan, loan_id).dpd
        seen.append((closed_on, dpd, [a.threshold_days for a in dpd_alerts(db, loan_id)]))
        if dpd >= 95:
            break
    alerts = dpd_alerts(db, loan_id)
    assert [(a.threshold_days, a.dpd) for a in alerts] == [(1, 1), (30, 30), (60, 60), (90, 90)]
    # each raised by the close of business of the day the DPD reached its threshold, and never before
    assert [a.raised_on for a in alerts] == [first_due + timedelta(days=n) for n in (1, 30, 60, 90)]
    for closed_on, dpd, thresholds in seen:
        assert thresholds == [t for t in (1, 30, 60, 90) if t <= dpd], (closed_on, dpd, thresholds)
    assert [a.rule.builtin_key for a in alerts] == ["dpd_1", "dpd_30", "dpd_60", "dpd_90"]
    assert [a.severity for a in alerts] == ["info", "warning", "warning", "critical"]
    assert all(a.status == "open" and a.cleared_on is None and a.customer_id == loan.customer_id for a in alerts)
    # the step is audited with its count on the day of each crossing
    counts = [e.changes["count"] for e in db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "cob.alerts").order_by(AuditEvent.id))]
    assert len(counts) == len(seen) and sum(counts) == 4

    # rerunning a closed date: the run is done and adds nothing
    last = seen[-1][0]
    cob.run_close_of_business(inst, last, now=_now(), requested_by="test")
    db.session.commit()
    assert len(dpd_alerts(db, loan_id)) == 4
    # ... nor does the step's SQL run again for that date, nor for the date after (DPD still >= every threshold)
    for on in (last, last + timedelta(days=1)):
        assert raise_dpd_alerts(institution_id=inst, on=on, now=_now(), lo=0, hi=loan_id + 1,
                                open_statuses=cob.OPEN_STATUSES) == 0
        db.session.commit()
    assert len(dpd_alerts(db, loan_id)) == 4


def test_rerunning_the_alerts_step_of_a_date_adds_none(db, clock):
    inst = default_institution().id
    people = [make_borrower() for _ in range(3)]
    loans = [make_serviced_loan(p, start=D0 - timedelta(days=days)) for p, days in zip(people, (40, 70, 125),
                                                                                          strict=True)]
    db.session.add(BusinessDate(institution_id=inst, current_on=D0))
    db.session.commit()
    run = close(db, inst, chunk_size=1)
    first = [(a.loan_id, a.threshold_days) for a in dpd_alerts(db)]
    expected = sorted((loan.id, t) for loan in loans for t in (1, 30, 60, 90)
                      if t <= db.session.get(Loan, loan.id).dpd)
    assert sorted(first) == expected and len(first) == 1 + 2 + 4  # DPD 9, 39, 94 on D0
    # the alerts step of the same date again (its record set back to pending, as after a crash before its end)
    steps = [dict(s, status="pending", cursor=None) if s["name"] == "alerts" else s for s in run.steps]
    db.session.get(CobRun, run.id).steps, db.session.get(CobRun, run.id).status = steps, "running"
    db.session.commit()
    cob.run_close_of_business(inst, D0, now=_now(), requested_by="test", chunk_size=1)
    db.session.commit()
    assert sorted((a.loan_id, a.threshold_days) for a in dpd_alerts(db)) == expected


class Crash(Exception):
    pass


def test_a_crash_inside_the_alerts_step_resumes_without_duplicates(db, clock, monkeypatch):
    inst = default_institution().id
    loans = [make_serviced_loan(make_borrower(), start=D0 - timedelta(days=days)) for days in (65, 66, 95, 125)]
    db.session.add(BusinessDate(institution_id=inst, current_on=D0))
    db.session.commit()
    calls = {"n": 0}

    def crash_after_first_alert_chunk(run_id, step, cursor):
        if step == "alerts" and cursor is not None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise Crash("worker died")

    monkeypatch.setattr(cob, "_checkpoint", crash_after_first_alert_chunk)
    with pytest.raises(Crash):
        cob.run_close_of_business(inst, D0, now=_now(), requested_by="test", chunk_size=1)
    db.session.rollback()
    partial = len(dpd_alerts(db))
    assert 0 < partial
    monkeypatch.setattr(cob, "_checkpoint", lambda *a: None)
    close(db, inst, chunk_size=1)
    got = sorted((a.loan_id, a.threshold_days) for a in dpd_alerts(db))
    expected = sorted((loan.id, t) for loan in loans for t in (1, 30, 60, 90)
                      if t <= db.session.get(Loan, loan.id).dpd)
    assert got == expected and len(got) == len(set(got)) > partial


def test_a_cured_loan_that_falls_behind_again_is_a_new_crossing(db, clock):
    inst = default_institution().id
    loan = make_serviced_loan(make_borrower(), start=D0 - timedelta(days=65))  # first due D0-34: DPD 34 on D0
    db.session.add(BusinessDate(institution_id=inst, current_on=D0))
    db.session.commit()
    close(db, inst)
    assert [(a.threshold_days, a.cleared_on) for a in dpd_alerts(db, loan.id)] == [(1, None), (30, None)]
    # every arrear paid: the next close of business ends both crossings
    pay_installments(db.session.get(Loan, loan.id), 1, 2, paid_on=D0 + timedelta(days=1))
    db.session.commit()
    close(db, inst)
    assert db.session.get(Loan, loan.id).dpd == 0
    assert [(a.threshold_days, a.cleared_on) for a in dpd_alerts(db, loan.id)] == [(1, D0 + timedelta(days=1)),
                                                                                 (30, D0 + timedelta(days=1))]
    # the third instalment goes unpaid: DPD 1 again the day after it falls due -> a new DPD 1 alert, once
    third = sorted(r.due_on for r in db.session.get(Loan, loan.id).installments)[2]
    while books_on(db, inst) <= third + timedelta(days=2):
        close(db, inst)
    alerts = dpd_alerts(db, loan.id)
    assert [(a.threshold_days, a.raised_on) for a in alerts] == [(1, D0), (1, third + timedelta(days=1)),
                                                                 (30, D0)]
    assert alerts[1].cleared_on is None and alerts[1].dpd == 1


def test_an_inactive_rule_raises_nothing_and_rules_stay_in_their_institution(db, clock):
    home = default_institution()
    other = make_institution("other-lender")
    builtin_rule("dpd_1").active = False
    mine = make_serviced_loan(make_borrower(), start=D0 - timedelta(days=40))    # DPD 9 on D0
    theirs = make_serviced_loan(make_borrower(other), start=D0 - timedelta(days=40))
    for inst in (home, other):
        db.session.add(BusinessDate(institution_id=inst.id, current_on=D0))
    db.session.commit()
    close(db, home.id)
    assert dpd_alerts(db) == []  # dpd_1 is off; 9 < 30
    close(db, other.id)  # the other lender gets the built-in rules at its first close of business
    alerts = dpd_alerts(db)
    assert [(a.loan_id, a.threshold_days, a.institution_id) for a in alerts] == [(theirs.id, 1, other.id)]
    assert alerts[0].rule.institution_id == other.id
    assert db.session.scalar(select(func.count()).select_from(AlertRule)
                             .where(AlertRule.institution_id == other.id)) == 8
    assert mine.id not in {a.loan_id for a in alerts}
