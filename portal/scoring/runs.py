"""Long scoring runs: a backtest of a version over the whole book, and the score recalculation.

Backtest: score every subject of the scorecard's source (all customers for loan history, all savings accounts
for savings) with the candidate version and with the current version, and summarise: distribution by band,
approval rate (share of subjects in bands marked ``approve``), average score, and how many decisions change.
Nothing but the run's summary is stored.

Recalculation: score every subject with the current version of each scorecard the institution uses and keep
the ScoreResults (``purpose="recalculation"``). Idempotent per ``as_of``: a second run for the same date replaces
the first one's results. Weekly on Sundays 02:00 IST (``jobs/schedule.py``), or on demand for one customer.

Progress goes to the ScoringRun row in short transactions of its own, so the progress bar moves while the job's
transaction is open (PostgreSQL).
"""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import delete, insert, select

from portal.audit.services import SYSTEM, record
from portal.business_date import current_business_date
from portal.errors import DomainError
from portal.extensions import db
from portal.progress import RowProgress
from portal.progress import mark_failed as mark_row_failed
from portal.scoring import engine, services
from portal.scoring.models import SavingsAccount, Scorecard, ScorecardVersion, ScoreResult, ScoringRun

BACKTEST_JOB = "jobs.scoring.run_backtest"
RECALC_JOB = "jobs.scoring.recalculate_scores"
CUSTOMER_JOB = "jobs.scoring.recalculate_customer"
PROGRESS_EVERY = 100


def _row_progress(run_id: int, total: int, *, committed: bool = True) -> RowProgress:
    """Progress on the run row every PROGRESS_EVERY customers (``portal.progress``); nothing is written while the
    row is not committed (``committed=False``: the weekly job creates its runs in its own transaction)."""
    return RowProgress(ScoringRun, run_id, total, every=PROGRESS_EVERY, committed=committed)


def mark_failed(run_id: int, message: str, *, now: datetime) -> None:
    """Mark the run failed with ``message`` in a fresh transaction of its own (after a job's rollback)."""
    mark_row_failed(ScoringRun, run_id, message, now=now)


def book_features(source: str, *, institution_id: int, as_of: date) -> dict[str, dict]:
    """Features of the whole book of ``source``, keyed by subject ref."""
    if source == "loan_history":
        rows = services.loan_history_features_bulk(institution_id, as_of)
        return {f"customer:{cid}": values for cid, values in rows.items()}
    users = dict(db.session.execute(select(SavingsAccount.id, SavingsAccount.external_user).where(
        SavingsAccount.institution_id == institution_id)).all())
    rows = services.savings_features_bulk(institution_id)
    return {f"savings:{users[aid]}": values for aid, values in rows.items()}


# ------------------------------------------------------------------------------------------------ backtest


def create_backtest(version: ScorecardVersion, *, institution_id: int, actor, clock) -> ScoringRun:
    """Queue a backtest of ``version`` against the current version of its scorecard (validated first)."""
    services.normalise_definition(services.definition_of(version), version.scorecard.source)
    try:
        baseline = services.current_version(version.scorecard, institution_id=institution_id)
    except DomainError:
        baseline = None
    run = ScoringRun(institution_id=institution_id, kind="backtest", version_id=version.id,
                     baseline_version_id=baseline.id if baseline else None,
                     as_of=current_business_date(institution_id, clock), status="queued",
                     created_by_id=getattr(actor, "id", None))
    db.session.add(run)
    db.session.flush()
    record(actor, "scorecard.backtest_started", run, institution_id=institution_id,
           changes={"version": version.id, "baseline": run.baseline_version_id, "as_of": run.as_of})
    from portal.queue import enqueue_after_commit

    enqueue_after_commit(BACKTEST_JOB, run.id)
    return run


def _rate(part: int, whole: int) -> str:
    if not whole:
        return "0.0"
    return str((Decimal(100 * part) / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _summary(card: engine.CompiledScorecard, outcomes: list[engine.ScoreOutcome | None]) -> dict:
    scored = [o for o in outcomes if o is not None]
    bands = Counter(o.band for o in scored)
    approved = sum(1 for o in scored if o.approve)
    mean = (Decimal(sum(o.score for o in scored)) / len(scored)).quantize(Decimal("0.1"), ROUND_HALF_UP) \
        if scored else None
    return {"scored": len(scored), "errors": len(outcomes) - len(scored),
            "bands": [{"band": b.label, "min": b.min, "max": b.max, "approve": b.approve, "count": bands[b.label],
                       "percent": _rate(bands[b.label], len(scored))}
                      for b in sorted(card.bands, key=lambda b: -b.min)],
            "approved": approved, "approval_rate": _rate(approved, len(scored)),
            "mean_score": None if mean is None else str(mean),
            "min": min((o.score for o in scored), default=None), "max": max((o.score for o in scored), default=None)}


def _score_all(card: engine.CompiledScorecard, book: dict[str, dict], progress: RowProgress | None):
    outcomes = []
    for values in book.values():
        try:
            outcomes.append(card.score(values))
        except engine.MissingFeatures:
            outcomes.append(None)
        if progress:
            progress.advance()
    return outcomes


def run_backtest(run_id: int, *, now: datetime) -> ScoringRun:
    """Score the whole book with the candidate and the baseline and store the summary on the run."""
    run = db.session.get(ScoringRun, run_id)
    if run is None or run.kind != "backtest":
        raise DomainError(f"backtest {run_id} does not exist", 404)
    if run.status in ("done", "failed"):
        return run
    version = run.version
    book = book_features(version.scorecard.source, institution_id=run.institution_id, as_of=run.as_of)
    baseline = run.baseline_version
    progress = _row_progress(run.id, len(book) * (2 if baseline else 1))
    progress.set(status="running", started_at=now, progress_done=0, progress_total=progress.total, error=None)
    candidate_card = services.compiled(version)
    candidate = _score_all(candidate_card, book, progress)
    result = {"subjects": len(book), "as_of": run.as_of.isoformat(), "source": version.scorecard.source,
              "candidate": {"version_id": version.id, "label": f"v{version.number}",
                            **_summary(candidate_card, candidate)}}
    if baseline is not None:
        baseline_card = services.compiled(baseline)
        current = _score_all(baseline_card, book, progress)
        origin = "built-in " if baseline.scorecard.institution_id is None else ""
        result["baseline"] = {"version_id": baseline.id, "label": f"{origin}v{baseline.number}",
                              **_summary(baseline_card, current)}
        pairs = [(a, b) for a, b in zip(candidate, current, strict=True) if a is not None and b is not None]
        result["changes"] = {
            "newly_approved": sum(1 for a, b in pairs if a.approve and not b.approve),
            "newly_declined": sum(1 for a, b in pairs if b.approve and not a.approve),
            "band_changed": sum(1 for a, b in pairs if a.band != b.band),
            "score_up": sum(1 for a, b in pairs if a.score > b.score),
            "score_down": sum(1 for a, b in pairs if a.score < b.score),
        }
    run.result = result
    run.progress_total = run.progress_done = progress.total
    run.status, run.started_at, run.finished_at, run.error = "done", run.started_at or now, now, None
    record(run.created_by or SYSTEM, "scorecard.backtest_completed", run, institution_id=run.institution_id,
           changes={"subjects": len(book), "approval_rate": result["candidate"]["approval_rate"]})
    return run


# ------------------------------------------------------------------------------------------------ recalculation


def scorecards_in_use(institution_id: int) -> list[ScorecardVersion]:
    """The current version of every scorecard visible to the institution that has one."""
    versions = []
    for card in services.visible_scorecards(institution_id):
        try:
            versions.append(services.current_version(card, institution_id=institution_id))
        except DomainError:
            continue
    return versions


def create_recalculation(*, institution_id: int, as_of: date, actor) -> ScoringRun:
    run = ScoringRun(institution_id=institution_id, kind="recalculation", as_of=as_of, status="queued",
                     created_by_id=getattr(actor, "id", None))
    db.session.add(run)
    db.session.flush()
    record(actor, "scores.recalculation_started", run, institution_id=institution_id, changes={"as_of": as_of})
    from portal.queue import enqueue_after_commit

    enqueue_after_commit(RECALC_JOB, run.id)
    return run


def run_recalculation(run: ScoringRun, *, now: datetime, committed: bool = True) -> ScoringRun:
    """Score the whole book with every scorecard in use; results for ``run.as_of`` replace earlier ones.
    ``committed=False`` when the run row was created in the current transaction (no separate progress writes)."""
    if run.status in ("done", "failed"):
        return run
    institution_id, as_of = run.institution_id, run.as_of
    versions = scorecards_in_use(institution_id)
    books = {source: book_features(source, institution_id=institution_id, as_of=as_of)
             for source in {v.scorecard.source for v in versions}}
    progress = _row_progress(run.id, sum(len(books[v.scorecard.source]) for v in versions), committed=committed)
    progress.set(status="running", started_at=now, progress_done=0, progress_total=progress.total, error=None)
    progress.writing = True
    customer_of = dict(db.session.execute(select(SavingsAccount.external_user, SavingsAccount.customer_id).where(
        SavingsAccount.institution_id == institution_id)).all())
    summary = {}
    for version in versions:
        db.session.execute(delete(ScoreResult).where(
            ScoreResult.institution_id == institution_id, ScoreResult.version_id == version.id,
            ScoreResult.purpose == "recalculation", ScoreResult.as_of == as_of))
        card = services.compiled(version)
        rows, errors = [], 0
        for ref, values in books[version.scorecard.source].items():
            progress.advance()
            try:
                outcome = card.score(values)
            except engine.MissingFeatures:
                errors += 1
                continue
            kind, _, key = ref.partition(":")
            customer_id = int(key) if kind == "customer" else customer_of.get(key)
            rows.append({"institution_id": institution_id, "version_id": version.id, "customer_id": customer_id,
                         "subject_ref": ref[:100], "purpose": "recalculation", "as_of": as_of,
                         "features": services._json_features(values), "score": outcome.score,
                         "band": outcome.band, "contributions": outcome.contributions_json(), "created_at": now})
        for start in range(0, len(rows), 1000):
            db.session.execute(insert(ScoreResult), rows[start:start + 1000])
        summary[version.scorecard.slug] = {"version_id": version.id, "scored": len(rows), "errors": errors}
    run.result = {"as_of": as_of.isoformat(), "scorecards": summary}
    run.progress_total = run.progress_done = progress.total
    run.status, run.started_at, run.finished_at, run.error = "done", run.started_at or now, now, None
    record(run.created_by or SYSTEM, "scores.recalculated", run, institution_id=institution_id,
           changes={slug: s["scored"] for slug, s in summary.items()})
    return run


def recalculate_all(*, clock, now: datetime) -> list[ScoringRun]:
    """The weekly job: one recalculation run per institution on its business date."""
    from portal.auth.models import Institution

    runs = []
    for institution in db.session.scalars(select(Institution).order_by(Institution.id)):
        as_of = current_business_date(institution.id, clock)
        run = ScoringRun(institution_id=institution.id, kind="recalculation", as_of=as_of, status="running",
                         started_at=now)
        db.session.add(run)
        db.session.flush()
        runs.append(run_recalculation(run, now=now, committed=False))
    return runs


def recalculate_customer(customer, *, clock, actor=None) -> list[ScoreResult]:
    """Score one customer now with every scorecard in use that applies (loan history; savings when linked)."""
    as_of = current_business_date(customer.institution_id, clock)
    subject = services.customer_subject(customer)
    results = []
    for version in scorecards_in_use(customer.institution_id):
        try:
            results.append(services.score_subject(version, subject, institution_id=customer.institution_id,
                                                  as_of=as_of, purpose="on_demand", actor=actor))
        except DomainError:
            continue  # e.g. no linked savings account
    record(actor or SYSTEM, "customer.rescored", ("customers", customer.id), institution_id=customer.institution_id,
           changes={r.version.scorecard.slug: r.score for r in results})
    return results


def request_customer_recalculation(customer, *, actor) -> None:
    """Queue ``recalculate_customer`` for one customer (after the commit)."""
    from portal.queue import enqueue_after_commit

    record(actor, "customer.rescore_requested", ("customers", customer.id), institution_id=customer.institution_id)
    enqueue_after_commit(CUSTOMER_JOB, customer.id)


def latest_run(kind: str, *, institution_id: int) -> ScoringRun | None:
    return db.session.scalar(select(ScoringRun).where(ScoringRun.kind == kind,
                                                      ScoringRun.institution_id == institution_id)
                             .order_by(ScoringRun.id.desc()).limit(1))


def backtests_of(card: Scorecard, *, institution_id: int, limit: int = 10) -> list[ScoringRun]:
    ids = [v.id for v in card.versions]
    if not ids:
        return []
    return list(db.session.scalars(select(ScoringRun).where(
        ScoringRun.kind == "backtest", ScoringRun.institution_id == institution_id,
        ScoringRun.version_id.in_(ids)).order_by(ScoringRun.id.desc()).limit(limit)))
