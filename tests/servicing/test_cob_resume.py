"""A close of business that crashes resumes where it stopped and ends exactly like an uninterrupted run.

Two institutions hold identical books (same loans, borrowers, dates, in the same order). The first one's run is
interrupted (an exception after a committed chunk, an exception inside a chunk before its commit, or a real RQ
worker process killed with SIGKILL in the middle of the run) and then run again; the second one's run is not.
Their balances, accruals, journal entries, reminders, run records and business dates must be equal."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.auth.services import default_institution
from portal.business_date import BusinessDate
from portal.ledger.check import check_ledger
from portal.servicing import cob
from portal.servicing.models import CobRun
from tests.servicing.cob_support import (
    make_borrower,
    make_credit_line,
    make_institution,
    make_serviced_loan,
    pay_installments,
    snapshot,
)

D0 = date(2026, 11, 23)
ROOT = Path(__file__).resolve().parents[2]
CHUNK = 2


class Crash(Exception):
    """The injected failure."""


def identical_book(institution) -> int:
    """Fourteen loans of nine borrowers: current, due today, due in three days, overdue, NPA (one borrower with a
    current loan too: borrower-wide), a partly paid one and two credit lines. Returns the institution id."""
    people = [make_borrower(institution, password="borrower-1") for _ in range(3)] + \
        [make_borrower(institution) for _ in range(6)]
    specs = [(0, 28), (0, 31), (1, 130), (1, 10), (2, 61), (3, 95), (4, 200), (5, 45), (6, 5), (7, 31), (8, 62),
             (8, 2)]
    for n, (who, days) in enumerate(specs):
        loan = make_serviced_loan(people[who], start=D0 - timedelta(days=days), amount=f"{40000 + 5000 * n}.00",
                                  rate=str(11 + n % 7), tenure=6 + n % 7)
        if n in (4, 6):
            pay_installments(loan, 1, 2)
    make_credit_line(people[2], start=D0 - timedelta(days=3), drawn="12000.00")
    make_credit_line(people[7], start=D0 - timedelta(days=40), drawn="33333.33", apr="36")
    institution_id = institution.id
    from portal.extensions import db

    if db.session.get(BusinessDate, institution_id) is None:
        db.session.add(BusinessDate(institution_id=institution_id, current_on=D0))
    return institution_id


@pytest.fixture
def books(db):
    """(crashing institution, reference institution), books identical, both on D0."""
    first = identical_book(default_institution())
    second = identical_book(make_institution("reference-lender"))
    db.session.commit()
    db.session.get(BusinessDate, first).current_on = D0
    db.session.commit()
    return first, second


def close_days(db, institution_id: int, days: int) -> None:
    for _ in range(days):
        db.session.expire_all()
        on = db.session.get(BusinessDate, institution_id).current_on
        run = cob.run_close_of_business(institution_id, on, now=_now(), requested_by="test", chunk_size=CHUNK)
        db.session.commit()
        assert run.status == "done"


def _now():
    from portal.clock import clock

    return clock().now()


def same(db, first: int, second: int) -> None:
    a, b = snapshot(first), snapshot(second)
    for key in ("loans", "accruals", "entries", "notifications", "business_date"):
        assert a[key] == b[key], key
    # the run records too: each step done with the same count (chunks done twice are not counted twice)
    assert [(d, s, steps) for d, s, steps in a["runs"]] == [(d, s, steps) for d, s, steps in b["runs"]]
    assert check_ledger(first, a["business_date"]).ok and check_ledger(second, b["business_date"]).ok


@pytest.mark.parametrize(("step", "after_chunks"), [
    ("accrual", 1), ("accrual", 4), ("billing", 0), ("due_marking", 2),
    ("classification", 1), ("classification", 9), ("snapshot", 0), ("reminders", 3), ("advance_date", 0),
])
def test_a_crash_after_a_committed_chunk_resumes_to_the_same_result(db, books, monkeypatch, step, after_chunks):
    first, second = books
    close_days(db, first, 1)
    seen = {"chunks": 0}

    def crash(run_id, name, cursor):
        if name == step:
            if cursor is None or seen["chunks"] == after_chunks:  # cursor None: the step has just finished
                raise Crash(f"killed after {name} chunk {seen['chunks']}")
            seen["chunks"] += 1

    monkeypatch.setattr(cob, "_checkpoint", crash)
    on = D0 + timedelta(days=1)
    with pytest.raises(Crash):
        cob.run_close_of_business(first, on, now=_now(), requested_by="test", chunk_size=CHUNK)
    db.session.rollback()
    crashed = db.session.scalar(select(CobRun).where(CobRun.institution_id == first, CobRun.business_date == on))
    if step == "advance_date":  # the crash came after the last commit, which also marked the run done
        assert crashed.status == "done"
    else:
        assert crashed.status == "failed" and "killed after" in crashed.error and cob.progress(crashed) < 100
    monkeypatch.setattr(cob, "_checkpoint", lambda *args: None)

    close_days(db, first, 1 if step == "advance_date" else 2)  # resumes the crashed date (if not done), one more
    close_days(db, second, 3)
    same(db, first, second)


@pytest.mark.parametrize("chunk_function", ["_accrue_chunk", "_due_chunk", "_dpd_chunk", "_classify_chunk",
                                            "_reminders_chunk"])
def test_a_crash_inside_a_chunk_before_its_commit_loses_nothing(db, books, monkeypatch, chunk_function):
    first, second = books
    original = getattr(cob, chunk_function)
    calls = {"n": 0}

    def half_done(ctx, lo, hi):
        result = original(ctx, lo, hi)  # the chunk's SQL ran ...
        calls["n"] += 1
        if calls["n"] == 3:
            raise Crash("... and the worker died before the commit")
        return result

    monkeypatch.setattr(cob, chunk_function, half_done)
    with pytest.raises(Crash):
        cob.run_close_of_business(first, D0, now=_now(), requested_by="test", chunk_size=CHUNK)
    db.session.rollback()
    monkeypatch.setattr(cob, chunk_function, original)
    close_days(db, first, 2)
    close_days(db, second, 2)
    same(db, first, second)


WORKER = """
import sys, time
sys.path.insert(0, {root!r})
from portal.servicing import cob
_save_step = cob._save_step

def slow_save(*args, **kwargs):          # inside the chunk's transaction, before its commit
    time.sleep(0.04)
    return _save_step(*args, **kwargs)

cob._save_step = slow_save
cob._checkpoint = lambda *args: time.sleep(0.04)   # after the commit
from redis import Redis
from rq import Queue, Worker
from portal.queue import FlaskJob
connection = Redis.from_url({redis!r})
Worker([Queue("billing", connection=connection, job_class=FlaskJob)], connection=connection,
       job_class=FlaskJob).work(burst=True)
"""


def kill_worker(pid: int) -> None:
    """SIGKILL an RQ worker and its work horse (RQ forks a child per job, in a process group of its own), as when
    the machine or the container dies."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children += [int(c) for c in (task / "children").read_text().split()]
    for child in children:
        os.kill(child, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)


def test_a_real_rq_worker_killed_with_sigkill_mid_run_resumes_to_the_same_result(db, books, pg_server,
                                                                                    redis_server):
    from redis import Redis
    from rq import Queue

    from portal.queue import FlaskJob

    first, second = books
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    Queue("billing", connection=connection, job_class=FlaskJob).enqueue(
        "jobs.servicing.close_of_business", first, D0.isoformat(), CHUNK, job_timeout=600)
    env = {**os.environ, "DATABASE_URL": pg_server.url, "REDIS_URL": redis_server.url, "PORTAL_ENV": "test",
           "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-c", WORKER.format(root=str(ROOT), redis=redis_server.url)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        killed_in = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and killed_in is None:
            db.session.expire_all()
            run = db.session.scalar(select(CobRun).where(CobRun.institution_id == first, CobRun.business_date == D0))
            step = next((s for s in run.steps if s["name"] == "classification"), None) if run else None
            if step and step.get("phase") == "dpd" and step.get("cursor") and step["cursor"] > step["first"]:
                kill_worker(worker.pid)  # in the middle of DPD and classification
                killed_in = step["cursor"]
            elif run and run.status in ("done", "failed"):
                break
            db.session.rollback()
            time.sleep(0.01)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            kill_worker(worker.pid)
            worker.wait()
    output = worker.stdout.read().decode(errors="replace")
    assert killed_in is not None, f"the worker finished before it could be killed:\n{output}"
    assert worker.returncode == -signal.SIGKILL
    db.session.expire_all()
    run = db.session.scalar(select(CobRun).where(CobRun.institution_id == first, CobRun.business_date == D0))
    assert run.status == "running" and 0 < cob.progress(run) < 100
    assert [s["status"] for s in run.steps][:3] == ["done", "done", "done"]
    db.session.rollback()

    # the dead worker's connection (and its advisory lock) goes away; then the run resumes here
    deadline = time.monotonic() + 20
    while True:
        resumed = cob.run_close_of_business(first, D0, now=_now(), requested_by="test", chunk_size=CHUNK)
        db.session.commit()
        if resumed is not None and resumed.status == "done":
            break
        assert time.monotonic() < deadline, "the killed worker's lock was never released"
        time.sleep(0.2)
    close_days(db, first, 1)
    close_days(db, second, 2)
    same(db, first, second)
