"""Score recalculation: weekly on Sundays 02:00 IST through RQ's cron scheduler, idempotent per business
date, on demand for one customer; the backtest job marks a failure on its run."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal.scoring import runs
from portal.scoring.models import ScoreResult, ScoringRun


def test_the_weekly_job_is_registered_for_sunday_0200_ist(redis_server):
    from redis import Redis
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=Redis.from_url(redis_server.url))
    scheduler.load_config_from_file("jobs.schedule")
    [job] = [j for j in scheduler.get_jobs() if j.name == "score-recalculation"]
    assert (job.func_name, job.queue_name, job.cron) == ("jobs.scoring.recalculate_scores", "default",
                                                        "30 20 * * 6")
    from croniter import croniter

    ist = ZoneInfo("Asia/Kolkata")
    moments = croniter(job.cron, datetime(2026, 11, 23, tzinfo=UTC))
    for _ in range(3):
        when = moments.get_next(datetime).astimezone(ist)
        assert (when.strftime("%A"), when.hour, when.minute) == ("Sunday", 2, 0)


def test_the_weekly_job_scores_the_book_and_is_idempotent(db, book, transactions):
    from jobs.scoring import recalculate_scores

    [run_id] = recalculate_scores()
    run = db.session.get(ScoringRun, run_id)
    assert run.status == "done" and run.result["scorecards"]["loan-history"]["scored"] == 300
    assert run.result["scorecards"]["savings-balance"]["scored"] == 200
    assert db.session.scalar(select(func.count()).select_from(ScoreResult)) == 500
    first = dict(db.session.execute(select(ScoreResult.subject_ref, ScoreResult.score)).all())
    recalculate_scores()  # the same business date again: results are replaced, not added
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ScoreResult)) == 500
    assert dict(db.session.execute(select(ScoreResult.subject_ref, ScoreResult.score)).all()) == first


def test_one_customer_on_demand(db, book):
    from jobs.scoring import recalculate_customer
    from portal.onboarding.models import Customer

    ids = recalculate_customer(14)
    assert len(ids) == 1  # loan history only: customer 14 has no linked savings account
    result = db.session.get(ScoreResult, ids[0])
    assert result.customer_id == 14 and result.purpose == "on_demand" and result.version.scorecard.slug == \
        "loan-history"
    assert recalculate_customer(999999) == []
    assert db.session.get(Customer, 14) is not None


def test_a_failing_backtest_is_marked_failed(db, monkeypatch, clock):
    import portal.queue
    from jobs.scoring import run_backtest
    from portal.scoring import services

    monkeypatch.setattr(portal.queue, "enqueue_after_commit", lambda *args, **kwargs: None)
    version = services.current_version("loan-history", institution_id=1)
    run = runs.create_backtest(version, institution_id=1, actor="cli", clock=clock)
    db.session.commit()
    run_id = run.id

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runs, "book_features", boom)
    with pytest.raises(RuntimeError):
        run_backtest(run_id)
    db.session.expire_all()
    failed = db.session.get(ScoringRun, run_id)
    assert failed.status == "failed" and failed.error == "RuntimeError: disk on fire"
