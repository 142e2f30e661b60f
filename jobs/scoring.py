"""Job adapters for scoring: coerce ids / ISO dates, call one service, commit once.

* ``run_transaction_import(batch_id)``: land a savings-transactions CSV (seed 004).
* ``run_backtest(run_id)``: backtest a scorecard version over the whole book.
* ``recalculate_scores(run_id=None)``: the score recalculation; without a run id (the weekly cron, Sundays
  02:00 IST, ``jobs/schedule.py``) one run per institution on its business date.
* ``recalculate_customer(customer_id)``: re-score one customer on demand.
"""
from __future__ import annotations

from portal.clock import clock
from portal.extensions import db
from portal.scoring import runs, savings


def run_transaction_import(batch_id: int) -> int:
    batch_id = int(batch_id)
    try:
        batch = savings.run_transaction_import(batch_id, now=clock().now())
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        savings.mark_failed(batch_id, f"{type(exc).__name__}: {exc}", now=clock().now())
        raise
    return batch.id


def run_backtest(run_id: int) -> int:
    run_id = int(run_id)
    try:
        run = runs.run_backtest(run_id, now=clock().now())
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        runs.mark_failed(run_id, f"{type(exc).__name__}: {exc}", now=clock().now())
        raise
    return run.id


def recalculate_scores(run_id: int | None = None) -> list[int]:
    from portal.scoring.models import ScoringRun

    if run_id is None:
        done = runs.recalculate_all(clock=clock(), now=clock().now())
        db.session.commit()
        return [run.id for run in done]
    run_id = int(run_id)
    try:
        run = runs.run_recalculation(db.session.get(ScoringRun, run_id), now=clock().now())
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        runs.mark_failed(run_id, f"{type(exc).__name__}: {exc}", now=clock().now())
        raise
    return [run.id]


def recalculate_customer(customer_id: int) -> list[int]:
    from portal.onboarding.models import Customer

    customer = db.session.get(Customer, int(customer_id))
    if customer is None:
        return []
    results = runs.recalculate_customer(customer, clock=clock())
    db.session.commit()
    return [r.id for r in results]
