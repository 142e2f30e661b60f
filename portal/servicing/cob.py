"""The close of business (COB): the nightly batch that ages an institution's book by one business date.

``run_close_of_business(institution_id, business_date, now=..., requested_by=...)`` creates or resumes the
``CobRun`` of (institution, business date) and runs its steps in order:

1. ``accrual``        interest of the day: term loans by the period formula of ``portal/servicing/__init__.py``,
                      credit lines at round(APR / 365, 3) % of principal; Accrual rows, loan balances, and one
                      journal entry per date for income (``accrual:<date>:income``) and one for suspense
                      (``accrual:<date>:suspense``), their totals read back from the Accrual rows of the date.
2. ``billing``        credit line bills (``portal.servicing.credit_line.bill_due_accounts`` when it exists).
3. ``due_marking``    term loans whose instalment falls due roll to the next period (the receivable then holds
                      exactly the scheduled interest of the instalment).
4. ``classification`` DPD of every open serviced loan, then the RBI asset class and loan status, borrower-wide
                      NPA (``npa:<date>`` moves the interest receivable of new NPA loans from income to suspense).
5. ``alerts``         DPD alerts (``portal.alerts.services.raise_dpd_alerts``): per active ``dpd_crossed`` rule, one
                      alert per loan and threshold crossing (``INSERT ... SELECT ... NOT EXISTS`` an open crossing;
                      a crossing ends when the DPD falls below the threshold), webhook deliveries in the outbox for
                      rules with a webhook, sent by ``jobs.alerts.deliver_due_webhooks`` after the commit.
6. ``snapshot``       the day's portfolio figures (``portal.reports``): one ``portfolio_snapshots`` row per
                      institution and date, written when absent (set-based aggregates, one commit).
7. ``reminders``      reminders in the notification outbox from the institution's templates
                      (``portal.servicing.reminders``): EMI / credit line minimum due in 3 days (``emi.due``,
                      ``bill.due``: by the customer's reminder preferences), overdue at DPD 1, 7, 15, 30, 60 and
                      90 (``emi.overdue``, legal: always); one row per loan, event, date and channel (a unique
                      dedupe key: ``INSERT ... ON CONFLICT DO NOTHING``); then one job on ``notifications`` sends
                      the date's SMS/email rows (``jobs.notifications.send_cob_reminders``).
8. ``advance_date``   the business date moves to the next day (only if it is still the run's date).

Speed, idempotency and resumption
---------------------------------
* Every step is set-based SQL (``INSERT ... SELECT``, ``UPDATE ... FROM``) over a range of ids: ``chunk_size``
  loan ids (customer ids for the borrower-wide classification), never one ORM object per loan. The SQL runs on
  PostgreSQL and on SQLite (the embedded database of ``make run``): the only dialect differences are date
  arithmetic (``_days``), row locks and the reminders' bulk insert (``unnest`` arrays on PostgreSQL).
* Each chunk commits together with the step's cursor in ``CobRun.steps``, so a worker killed at any moment
  resumes at the first chunk that was not committed. Every statement is also idempotent per business date on
  its own (one accrual per loan and date, periods roll only where ``next_due_on <= date``, the class is
  recomputed from the DPD, reminders are unique by their dedupe key, journal entries are unique by reference),
  and a run that is done does nothing the second time.
* One runner per institution at a time: a PostgreSQL advisory lock held on a connection of its own for the
  whole run; it dies with the worker. A second runner (a double enqueue) returns at once without work.
* This module commits after every chunk: the one deliberate exception to "services flush, the job commits",
  because a 1,000,000-loan batch in one transaction could neither show progress nor resume.

Amounts in the SQL are integer paise (the storage of ``portal.db.Money``); rates are integer ten-thousandths
of a percent (``portal.db.Rate``).
"""
from __future__ import annotations

import copy
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Date, bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError

from portal.business_date import BusinessDate, set_business_date
from portal.errors import DomainError
from portal.extensions import db
from portal.money import from_paise
from portal.servicing.models import CobRun
from portal.servicing.reminders import DUE_SOON_DAYS, OVERDUE_REMINDER_DPD

log = logging.getLogger(__name__)

STEPS = ("accrual", "billing", "due_marking", "classification", "alerts", "snapshot", "reminders", "advance_date")
STEP_LABELS = {"accrual": "Interest accrual", "billing": "Credit line billing", "due_marking": "Due marking",
               "classification": "DPD and asset classification", "snapshot": "Portfolio snapshot",
               "alerts": "DPD alerts", "reminders": "Reminders",
               "advance_date": "Next business date"}
#: loan ids (or customer ids) per chunk: one transaction each
CHUNK_SIZE = 50_000
OPEN_STATUSES = ("active", "overdue", "npa")
#: at most this many periods rolled per loan in one due marking (a 10-year monthly loan has 120)
MAX_ROLLS = 1200
#: first key of the PostgreSQL advisory lock (the second is the institution id)
LOCK_KEY = 5_001
ASSET_CLASSES = ("standard", "sma_0", "sma_1", "sma_2", "npa")
ASSET_CLASS_LABELS = {"standard": "Standard", "sma_0": "SMA-0", "sma_1": "SMA-1", "sma_2": "SMA-2", "npa": "NPA"}


class CobDateError(DomainError):
    """Close of business asked for a date the books are not on (422)."""


# ------------------------------------------------------------------------------------------------ pure rules


def asset_class_for(dpd: int) -> str:
    """The RBI asset class of one loan from its days past due (before the borrower-wide NPA rule):
    standard (0), sma_0 (1-30), sma_1 (31-60), sma_2 (61-90), npa (over 90). ValueError for a negative DPD."""
    if dpd < 0:
        raise ValueError(f"days past due cannot be negative, got {dpd}")
    if dpd == 0:
        return "standard"
    if dpd <= 30:
        return "sma_0"
    if dpd <= 60:
        return "sma_1"
    if dpd <= 90:
        return "sma_2"
    return "npa"


def sma_class(dpd: int) -> str:
    """The class of a loan that is not NPA, from its DPD: ``asset_class_for`` capped at SMA-2 (a payment re-ages
    a loan at once; NPA is decided only by the close of business, borrower-wide)."""
    return asset_class_for(min(max(dpd, 0), 90))


def loan_status_for(asset_class: str, dpd: int) -> str:
    """Loan status from its class and DPD: npa, overdue (DPD >= 1) or active."""
    if asset_class == "npa":
        return "npa"
    return "overdue" if dpd > 0 else "active"


# SQL mirrors of the rules above (``l`` is the loan, ``g.npa`` the borrower-wide NPA flag of its borrower)
_CLASS_SQL = ("CASE WHEN g.npa = 1 THEN 'npa' WHEN l.dpd = 0 THEN 'standard' WHEN l.dpd <= 30 THEN 'sma_0' "
              "WHEN l.dpd <= 60 THEN 'sma_1' WHEN l.dpd <= 90 THEN 'sma_2' ELSE 'npa' END")
_STATUS_SQL = "CASE WHEN g.npa = 1 THEN 'npa' WHEN l.dpd > 0 THEN 'overdue' ELSE 'active' END"
_UNPAID_ROW = "(i.principal_paid_amount < i.principal_amount OR i.interest_paid_amount < i.interest_amount)"


# ------------------------------------------------------------------------------------------------ the run


@dataclass
class _Ctx:
    run_id: int
    institution_id: int
    on: date
    now: datetime
    actor: str
    chunk_size: int
    pg: bool
    started: float = 0.0  # perf_counter() when this attempt began (for finished_at)
    reminder_writer: object | None = None  # the reminders step's ReminderWriter (templates compiled once)

    def days(self, later: str, earlier: str) -> str:
        """SQL for the whole days from date expression ``earlier`` to ``later``."""
        if self.pg:
            return f"({later} - {earlier})"
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"

    def scope(self, alias: str) -> str:
        """The open serviced loans of the institution."""
        statuses = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
        return f"{alias}.institution_id = :inst AND {alias}.serviced AND {alias}.status IN ({statuses})"

    def params(self, **extra) -> dict:
        return {"inst": self.institution_id, "d": self.on, **extra}


def _checkpoint(run_id: int, step: str, cursor: int | None) -> None:
    """Called after every committed chunk (a seam for the crash tests; does nothing)."""


def _exec(sql: str, params: dict):
    """Execute raw SQL with date parameters bound as SQL dates (ISO text on SQLite)."""
    statement = text(sql)
    dates = [bindparam(k, type_=Date()) for k, v in params.items()
             if isinstance(v, date) and re.search(rf":{k}\b", sql)]
    if dates:
        statement = statement.bindparams(*dates)
    return db.session.execute(statement, params)


def initial_steps() -> list[dict]:
    """The steps of a new run, all pending."""
    return [{"name": name, "status": "pending", "count": 0, "seconds": 0.0, "cursor": None} for name in STEPS]


def run_close_of_business(institution_id: int, business_date: date, *, now: datetime, requested_by: str,
                          chunk_size: int = CHUNK_SIZE) -> CobRun | None:
    """Close the books of ``institution_id`` for ``business_date``: create or resume its CobRun, run the steps
    not yet done (committing after every chunk of ``chunk_size`` ids) and return the run (status done).

    ``now`` (aware UTC) stamps the run and the reminders; ``requested_by`` names who asked (``"cron"``,
    ``"cli"``, a user's email) for the audit trail. A run already done is returned unchanged. When another
    process is running this institution's close of business (PostgreSQL advisory lock), returns its run (or
    None) at once without doing anything. Raises CobDateError when no run exists for the date and the books
    are on another date; on any other error the run is marked failed with the message (it resumes when
    started again) and the error propagates.
    """
    with _exclusive(institution_id) as mine:
        if not mine:
            log.info("close of business of institution %s is running elsewhere", institution_id)
            return db.session.scalar(select(CobRun).where(CobRun.institution_id == institution_id,
                                                          CobRun.business_date == business_date))
        run = ensure_run(institution_id, business_date, requested_by=requested_by)
        _add_missing_steps(run)
        if run.status == "done":
            db.session.commit()
            return run
        ctx = _Ctx(run_id=run.id, institution_id=institution_id, on=business_date, now=now, actor=requested_by,
                   chunk_size=max(1, int(chunk_size)), pg=db.engine.dialect.name == "postgresql",
                   started=time.perf_counter())
        try:
            run.status, run.error = "running", None
            run.started_at = run.started_at or now
            if not run.loans_total:
                run.loans_total = _exec(f"SELECT COUNT(*) FROM loans l WHERE {ctx.scope('l')}",
                                        ctx.params()).scalar() or 0
            db.session.commit()
            for name in STEPS:
                if _step(run, name)["status"] != "done":
                    STEP_FUNCTIONS[name](ctx)
            run = db.session.get(CobRun, ctx.run_id)
            if run.status != "done":  # (the last step marks the run done in its own commit)
                _mark_done(ctx)
                db.session.commit()
            return run
        except Exception as exc:
            db.session.rollback()
            _mark_failed(ctx.run_id, f"{type(exc).__name__}: {exc}")
            raise


def ensure_run(institution_id: int, business_date: date, *, requested_by: str) -> CobRun:
    """The CobRun of (institution, date), created queued when missing (commits the new row).

    Raises CobDateError when there is no run yet and the institution's books are not on ``business_date``."""
    where = (CobRun.institution_id == institution_id, CobRun.business_date == business_date)
    run = db.session.scalar(select(CobRun).where(*where))
    if run is not None:
        return run
    books_on = db.session.get(BusinessDate, institution_id)
    if books_on is None:
        db.session.add(BusinessDate(institution_id=institution_id, current_on=business_date))
    elif books_on.current_on != business_date:
        raise CobDateError(f"The books are on {books_on.current_on:%d %b %Y}; close of business runs for that date "
                           f"only, not for {business_date:%d %b %Y}.")
    run = CobRun(institution_id=institution_id, business_date=business_date, status="queued",
                 steps=initial_steps(), requested_by=(requested_by or "system")[:120])
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:  # created at the same moment by another process (SQLite: no advisory lock)
        db.session.rollback()
        run = db.session.scalar(select(CobRun).where(*where))
    return run


def _add_missing_steps(run: CobRun) -> None:
    """A run created before a step was added to STEPS gets it, pending, in its place (flush)."""
    have = {s["name"] for s in run.steps or []}
    if run.status == "done" or have >= set(STEPS):
        return
    old = {s["name"]: s for s in copy.deepcopy(run.steps or [])}
    fresh = {s["name"]: s for s in initial_steps()}
    run.steps = [old.get(name, fresh[name]) for name in STEPS]
    db.session.flush()


def _mark_done(ctx: _Ctx) -> None:
    run = db.session.get(CobRun, ctx.run_id)
    run.status, run.error = "done", None
    run.finished_at = ctx.now + timedelta(seconds=time.perf_counter() - ctx.started)


def _mark_failed(run_id: int, message: str) -> None:
    run = db.session.get(CobRun, run_id)
    if run is None or run.status == "done":
        return
    run.status, run.error = "failed", message[:2000]
    steps = copy.deepcopy(run.steps)
    for step in steps:
        if step["status"] == "running":
            step["status"] = "failed"
    run.steps = steps
    db.session.commit()


@contextmanager
def _exclusive(institution_id: int) -> Iterator[bool]:
    """Hold the institution's COB advisory lock (PostgreSQL) on a connection of its own; yields False when
    another session holds it. On SQLite (one embedded process) always True."""
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    conn = db.engine.connect()
    try:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k, :i)"), {"k": LOCK_KEY, "i": institution_id}).scalar()
        conn.commit()
        try:
            yield bool(got)
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k, :i)"), {"k": LOCK_KEY, "i": institution_id})
                conn.commit()
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------ step records


def _step(run: CobRun, name: str) -> dict:
    return next(s for s in run.steps if s["name"] == name)


def _save_step(ctx: _Ctx, name: str, **values) -> CobRun:
    """Update one step's record on the run (flush; the caller commits with the chunk's work)."""
    run = db.session.get(CobRun, ctx.run_id)
    steps = copy.deepcopy(run.steps)
    for step in steps:
        if step["name"] == name:
            step.update(values, updated_at=datetime.now(ctx.now.tzinfo).isoformat(timespec="seconds"))
    run.steps = steps
    db.session.flush()
    return run


class _Timer:
    """Seconds spent on a step, carried over resumptions (includes the commits)."""

    def __init__(self, base: float) -> None:
        self.base, self.mark = float(base or 0.0), time.perf_counter()

    @property
    def seconds(self) -> float:
        return round(self.base + time.perf_counter() - self.mark, 3)


def _id_bounds(ctx: _Ctx, column: str) -> tuple[int, int]:
    lo, hi = _exec(f"SELECT MIN(l.{column}), MAX(l.{column}) FROM loans l WHERE {ctx.scope('l')}",
                   ctx.params()).one()
    return (int(lo), int(hi)) if lo is not None else (0, -1)


def _chunks(ctx: _Ctx, name: str, phase: str, column: str, work: Callable[[int, int], int],
            timer: _Timer) -> None:
    """Run ``work(lo, hi)`` over [first, last] of ``column`` in chunks, committing each with the cursor.

    The step record keeps ``phase``, ``first``, ``last`` and ``cursor`` (the next id to do); a resumed step
    starts at the cursor of its phase."""
    run = db.session.get(CobRun, ctx.run_id)
    step = _step(run, name)
    if step.get("phase") != phase or step.get("cursor") is None:
        first, last = _id_bounds(ctx, column)
        _save_step(ctx, name, status="running", phase=phase, first=first, last=last, cursor=first,
                   seconds=timer.seconds)
        db.session.commit()
        step = _step(db.session.get(CobRun, ctx.run_id), name)
    cursor, last, count = step["cursor"], step["last"], step.get("count", 0)
    while cursor <= last:
        end = cursor + ctx.chunk_size
        if ctx.pg:  # short statements over an id range: compiling them (JIT) costs more than it saves
            _exec("SET LOCAL jit = off", {})
            # Lock the chunk's loans before reading them: a repayment (which locks its loan) in flight finishes
            # first and this chunk's statements then see it; a repayment arriving now waits for this commit.
            # Without it, an INSERT ... SELECT computed from a snapshot taken before the repayment committed
            # would add an accrual on top of the repayment's catch-up (tests/servicing/test_concurrency.py).
            _exec(f"SELECT 1 FROM loans l WHERE {ctx.scope('l')} AND l.{column} >= :lo AND l.{column} < :hi "
                  "FOR NO KEY UPDATE", ctx.params(lo=cursor, hi=end))
        count += work(cursor, end)
        cursor = end
        _save_step(ctx, name, status="running", cursor=cursor, count=count, seconds=timer.seconds)
        db.session.commit()
        _checkpoint(ctx.run_id, name, cursor)


def _finish_step(ctx: _Ctx, name: str, timer: _Timer, **values) -> None:
    """Mark the step done with one audit event carrying its counts (same transaction), and commit."""
    from portal.audit.services import record

    run = _save_step(ctx, name, status="done", seconds=timer.seconds, **values)
    step = _step(run, name)
    record(ctx.actor, f"cob.{name}", ("cob_runs", ctx.run_id), institution_id=ctx.institution_id,
           changes={"business_date": ctx.on, "count": step.get("count", 0), "seconds": step["seconds"],
                    **({"detail": step["detail"]} if step.get("detail") else {})})
    db.session.commit()
    _checkpoint(ctx.run_id, name, None)


def _begin(ctx: _Ctx, name: str) -> _Timer:
    run = db.session.get(CobRun, ctx.run_id)
    step = _step(run, name)
    if step["status"] != "running":
        _save_step(ctx, name, status="running")
        db.session.commit()
    return _Timer(step.get("seconds", 0.0))


# ------------------------------------------------------------------------------------------------ 1. accrual


def _accrue_chunk(ctx: _Ctx, lo: int, hi: int) -> int:
    """Accrual rows of the business date for the open loans [lo, hi) not yet accrued for it, and the same
    amounts added to the loans' balances (one statement on PostgreSQL, two on SQLite). Returns the rows made."""
    elapsed, length = ctx.days(":d", "l.period_start_on"), ctx.days("l.next_due_on", "l.period_start_on")
    not_yet = "(l.last_accrued_on IS NULL OR l.last_accrued_on < :d)"
    # seed 004: "interest accrual starts from Day 1": a line accrues from the day after it opened (as a term
    # loan accrues nothing on its disbursement day); later drawdowns accrue from their own day.
    # daily rate = round(APR / 365, 3) % -> k thousandths of a percent = round_half_up(rate / 3650)
    # (rate in ten-thousandths of a percent); interest = round_half_up(principal paise * k / 100000)
    select_amounts = f"""
        SELECT x.id, :d, x.amount, x.to_suspense
        FROM (SELECT l.id, (l.asset_class = 'npa') AS to_suspense,
                     CASE WHEN l.kind = 'credit_line' THEN
                            (2 * l.principal_outstanding_amount * ((2 * l.interest_rate + 3650) / 7300) + 100000)
                              / 200000
                          WHEN {elapsed} >= {length} THEN l.period_interest_amount - l.period_accrued_amount
                          WHEN {elapsed} <= 0 THEN 0
                          ELSE (2 * l.period_interest_amount * {elapsed} + {length}) / (2 * {length})
                               - l.period_accrued_amount END AS amount
              FROM loans l
              WHERE {ctx.scope('l')} AND l.id >= :lo AND l.id < :hi AND {not_yet}
                AND ((l.kind = 'term_loan' AND l.period_start_on IS NOT NULL AND l.next_due_on > l.period_start_on)
                     OR (l.kind = 'credit_line' AND l.principal_outstanding_amount > 0
                         AND (l.disbursed_on IS NULL OR l.disbursed_on < :d)))) x
        WHERE x.amount > 0
        ON CONFLICT (loan_id, accrued_on) DO NOTHING"""
    add = """interest_receivable_amount = loans.interest_receivable_amount + a.amount,
          interest_suspense_amount = loans.interest_suspense_amount
                                     + CASE WHEN a.to_suspense THEN a.amount ELSE 0 END,
          period_accrued_amount = loans.period_accrued_amount + a.amount,
          last_accrued_on = :d"""
    params = ctx.params(lo=lo, hi=hi)
    if ctx.pg:
        return _exec(f"""
            WITH a AS (INSERT INTO accruals (loan_id, accrued_on, amount, to_suspense) {select_amounts}
                       RETURNING loan_id, amount, to_suspense)
            UPDATE loans SET {add} FROM a WHERE loans.id = a.loan_id""", params).rowcount or 0
    made = _exec(f"INSERT INTO accruals (loan_id, accrued_on, amount, to_suspense) {select_amounts}",
                 params).rowcount or 0
    _exec(f"""UPDATE loans SET {add} FROM accruals a
              WHERE a.loan_id = loans.id AND a.accrued_on = :d AND loans.id >= :lo AND loans.id < :hi
                AND loans.institution_id = :inst
                AND (loans.last_accrued_on IS NULL OR loans.last_accrued_on < :d)""", params)
    return made


def accrual_totals(institution_id: int, on: date) -> dict[bool, int]:
    """``{to_suspense: paise}``: the institution's accruals of business date ``on``."""
    rows = _exec("""SELECT a.to_suspense, SUM(a.amount) FROM accruals a JOIN loans l ON l.id = a.loan_id
                    WHERE a.accrued_on = :d AND l.institution_id = :inst GROUP BY a.to_suspense""",
                 {"inst": institution_id, "d": on}).all()
    totals = {False: 0, True: 0}
    for to_suspense, paise in rows:
        totals[bool(to_suspense)] += int(paise or 0)
    return totals


def _post_accruals(ctx: _Ctx, totals: dict[bool, int], reference: str) -> None:
    from portal.ledger.models import Account
    from portal.ledger.services import Line, post

    for to_suspense, credit_account, suffix in ((False, Account.INTEREST_INCOME, "income"),
                                                (True, Account.INTEREST_SUSPENSE, "suspense")):
        amount = from_paise(totals.get(to_suspense, 0))
        if amount > 0:
            post(ctx.institution_id, kind="accrual", reference=f"{reference}:{suffix}", business_date=ctx.on,
                 memo=f"Interest accrued on {ctx.on:%d %b %Y}" + (" (NPA loans, in suspense)" if to_suspense else ""),
                 lines=[Line(Account.INTEREST_RECEIVABLE, debit=amount), Line(credit_account, credit=amount)])


def step_accrual(ctx: _Ctx) -> None:
    timer = _begin(ctx, "accrual")
    _chunks(ctx, "accrual", "loans", "id", lambda lo, hi: _accrue_chunk(ctx, lo, hi), timer)
    totals = accrual_totals(ctx.institution_id, ctx.on)
    _post_accruals(ctx, totals, f"accrual:{ctx.on.isoformat()}")
    _finish_step(ctx, "accrual", timer, detail={"income": str(from_paise(totals[False])),
                                                "suspense": str(from_paise(totals[True]))})


# ------------------------------------------------------------------------------------------------ 2. billing


def step_billing(ctx: _Ctx) -> None:
    timer = _begin(ctx, "billing")
    try:
        from portal.servicing.credit_line import bill_due_accounts
    except ImportError:  # the credit line module has not landed yet
        count, detail = 0, {"note": "credit line billing is not available"}
    else:
        count, detail = int(bill_due_accounts(ctx.institution_id, ctx.on) or 0), None
    _finish_step(ctx, "billing", timer, count=count, **({"detail": detail} if detail else {}))


# ------------------------------------------------------------------------------------------------ 3. due marking


def _due_chunk(ctx: _Ctx, lo: int, hi: int) -> int:
    """Roll the period of the term loans [lo, hi) whose instalment is due on or before the business date to the
    next instalment, after accruing any shortfall of the period's scheduled interest (none when the close of
    business ran every day: the accrual step reaches the full period interest on the due date). A loan more
    than one period behind (the books were moved on without a close of business) rolls until its next due date
    is after the business date, each past period fully accrued, so that running the step again rolls nothing.
    Returns the number of periods rolled."""
    params = ctx.params(lo=lo, hi=hi)
    due = f"{ctx.scope('l')} AND l.kind = 'term_loan' AND l.id >= :lo AND l.id < :hi AND l.next_due_on <= :d"
    totals = {False: 0, True: 0}
    rolled = 0
    for _ in range(MAX_ROLLS):
        for loan_id, paise, to_suspense in _exec(f"""
                SELECT l.id, l.period_interest_amount - l.period_accrued_amount, (l.asset_class = 'npa')
                FROM loans l WHERE {due} AND l.period_accrued_amount < l.period_interest_amount""", params).all():
            totals[bool(to_suspense)] += int(paise)
            p = {"loan": loan_id, "d": ctx.on, "amount": int(paise), "sus": bool(to_suspense)}
            if not _exec("UPDATE accruals SET amount = amount + :amount WHERE loan_id = :loan AND accrued_on = :d",
                         p).rowcount:
                _exec("INSERT INTO accruals (loan_id, accrued_on, amount, to_suspense) "
                      "VALUES (:loan, :d, :amount, :sus)", p)
            _exec("""UPDATE loans SET interest_receivable_amount = interest_receivable_amount + :amount,
                       interest_suspense_amount = interest_suspense_amount + CASE WHEN :sus THEN :amount ELSE 0 END,
                       period_accrued_amount = period_interest_amount, last_accrued_on = :d
                     WHERE id = :loan""", p)
        count = _exec(f"""
            UPDATE loans SET
              period_start_on = loans.next_due_on,
              next_due_on = (SELECT MIN(i.due_on) FROM installments i
                             WHERE i.loan_id = loans.id AND i.due_on > loans.next_due_on),
              period_interest_amount = COALESCE((SELECT i.interest_amount FROM installments i
                                                 WHERE i.loan_id = loans.id AND i.due_on > loans.next_due_on
                                                 ORDER BY i.due_on LIMIT 1), 0),
              period_accrued_amount = 0
            WHERE {ctx.scope('loans')} AND loans.kind = 'term_loan' AND loans.id >= :lo AND loans.id < :hi
              AND loans.next_due_on <= :d""", params).rowcount or 0
        rolled += count
        if not count:
            break
    if totals[False] or totals[True]:
        _post_accruals(ctx, totals, f"accrual:{ctx.on.isoformat()}:due:{lo}")
    return rolled


def step_due_marking(ctx: _Ctx) -> None:
    timer = _begin(ctx, "due_marking")
    _chunks(ctx, "due_marking", "loans", "id", lambda lo, hi: _due_chunk(ctx, lo, hi), timer)
    _finish_step(ctx, "due_marking", timer)


# ------------------------------------------------------------------------------------------------ 4. classification


def _dpd_chunk(ctx: _Ctx, lo: int, hi: int) -> int:
    """DPD of the open loans [lo, hi): days from the oldest due date with something unpaid (0 if none).
    Writes only the loans whose DPD changes; returns how many."""
    params = ctx.params(lo=lo, hi=hi)
    changed = 0
    for kind, rows, oldest_unpaid in (
            ("term_loan", "installments", _UNPAID_ROW),
            ("credit_line", "billing_statements", "(i.paid_amount < i.minimum_due_amount)")):
        changed += _exec(f"""
            UPDATE loans SET dpd = x.dpd
            FROM (SELECT i.loan_id, MAX({ctx.days(':d', 'i.due_on')}) AS dpd FROM {rows} i
                  WHERE i.loan_id >= :lo AND i.loan_id < :hi AND i.due_on <= :d AND {oldest_unpaid}
                  GROUP BY i.loan_id) x
            WHERE loans.id = x.loan_id AND loans.id >= :lo AND loans.id < :hi AND {ctx.scope('loans')}
              AND loans.kind = '{kind}' AND loans.dpd <> x.dpd""", params).rowcount or 0
        changed += _exec(f"""
            UPDATE loans SET dpd = 0
            WHERE {ctx.scope('loans')} AND loans.kind = '{kind}' AND loans.id >= :lo AND loans.id < :hi
              AND loans.dpd <> 0
              AND NOT EXISTS (SELECT 1 FROM {rows} i WHERE i.loan_id = loans.id AND i.due_on <= :d
                              AND {oldest_unpaid})""", params).rowcount or 0
    return changed


def _borrowers_sql(ctx: _Ctx) -> str:
    """Borrowers (customers [lo, hi)) with their NPA flag: NPA when a loan is over 90 DPD, or when one of their
    loans is already NPA and any of their loans still has arrears (upgrade only when all arrears are paid).
    Only borrowers with a loan that is overdue or not standard and active are listed: for the others (most of
    the book) every loan is and stays standard and active."""
    return f"""SELECT b.customer_id,
                      CASE WHEN MAX(b.dpd) > 90
                             OR (MAX(CASE WHEN b.asset_class = 'npa' THEN 1 ELSE 0 END) = 1 AND MAX(b.dpd) > 0)
                           THEN 1 ELSE 0 END AS npa
               FROM loans b
               WHERE {ctx.scope('b')} AND b.customer_id >= :lo AND b.customer_id < :hi
               GROUP BY b.customer_id
               HAVING MAX(b.dpd) > 0 OR MAX(CASE WHEN b.asset_class <> 'standard' OR b.status <> 'active'
                                                   OR b.npa_since_on IS NOT NULL THEN 1 ELSE 0 END) = 1"""


def _classify_chunk(ctx: _Ctx, lo: int, hi: int) -> int:
    """Asset class, status and NPA date of the loans of customers [lo, hi); income moved to suspense for the
    loans that become NPA (journal entry ``npa:<date>``, one posting pair per loan); an audit event per NPA
    transition. Returns the number of loans whose class or status changed."""
    from portal.audit.services import record

    params = ctx.params(lo=lo, hi=hi)
    joined = (f"FROM loans l JOIN ({_borrowers_sql(ctx)}) g ON g.customer_id = l.customer_id "
              f"WHERE {ctx.scope('l')} AND l.customer_id >= :lo AND l.customer_id < :hi")
    moves = _exec(f"""SELECT l.id, l.customer_id, l.asset_class, {_CLASS_SQL} AS cls, l.dpd {joined}
                      AND ((l.asset_class <> 'npa' AND {_CLASS_SQL} = 'npa')
                           OR (l.asset_class = 'npa' AND {_CLASS_SQL} <> 'npa'))""", params).all()
    entering = [m for m in moves if m.cls == "npa"]
    amounts: dict[int, tuple[int, int]] = {}
    if entering:
        lock = " FOR UPDATE" if ctx.pg else ""
        ids = [m.id for m in entering]
        for i in range(0, len(ids), 1000):
            part = ids[i:i + 1000]
            names = ", ".join(f":id{n}" for n in range(len(part)))
            for loan_id, receivable, suspense in _exec(
                    f"SELECT id, interest_receivable_amount, interest_suspense_amount FROM loans "
                    f"WHERE id IN ({names}){lock}", {f"id{n}": v for n, v in enumerate(part)}):
                amounts[loan_id] = (int(receivable), int(suspense))
    changed = _exec(f"""
        UPDATE loans SET asset_class = x.cls, status = x.st,
          npa_since_on = CASE WHEN x.cls = 'npa' THEN COALESCE(loans.npa_since_on, :d) ELSE NULL END,
          interest_suspense_amount = CASE WHEN x.cls = 'npa' AND loans.asset_class <> 'npa'
                                          THEN loans.interest_receivable_amount
                                          ELSE loans.interest_suspense_amount END
        FROM (SELECT l.id, {_CLASS_SQL} AS cls, {_STATUS_SQL} AS st {joined}) x
        WHERE loans.id = x.id AND loans.customer_id >= :lo AND loans.customer_id < :hi
          AND (loans.asset_class <> x.cls OR loans.status <> x.st
               OR (x.cls = 'npa' AND loans.npa_since_on IS NULL)
               OR (x.cls <> 'npa' AND loans.npa_since_on IS NOT NULL))""", params).rowcount or 0
    if entering:
        _post_npa_moves(ctx, {loan_id: receivable - suspense for loan_id, (receivable, suspense) in amounts.items()})
    for m in moves:
        if m.cls == "npa":
            receivable, suspense = amounts.get(m.id, (0, 0))
            record(ctx.actor, "loan.npa", ("loans", m.id), institution_id=ctx.institution_id,
                   changes={"asset_class": (m.asset_class, "npa"), "dpd": m.dpd, "npa_since_on": ctx.on,
                            "interest_to_suspense": from_paise(receivable - suspense)},
                   note=f"Close of business {ctx.on:%d %b %Y}: non-performing (borrower-wide)")
        else:
            record(ctx.actor, "loan.npa_upgraded", ("loans", m.id), institution_id=ctx.institution_id,
                   changes={"asset_class": ("npa", m.cls), "dpd": m.dpd},
                   note=f"Close of business {ctx.on:%d %b %Y}: every arrear of the borrower is paid")
    return changed


def _post_npa_moves(ctx: _Ctx, moved: dict[int, int]) -> None:
    """Dr 4000 interest income / Cr 2100 interest suspense, per loan (paise), on the date's ``npa:<date>``
    entry (created by the first chunk that needs it; every chunk adds balanced pairs)."""
    from portal.ledger.models import Account, JournalEntry, Posting
    from portal.ledger.services import account_ids

    moved = {loan_id: paise for loan_id, paise in moved.items() if paise > 0}
    if not moved:
        return
    reference = f"npa:{ctx.on.isoformat()}"
    entry = db.session.scalar(select(JournalEntry).where(JournalEntry.institution_id == ctx.institution_id,
                                                         JournalEntry.reference == reference))
    if entry is None:
        entry = JournalEntry(institution_id=ctx.institution_id, business_date=ctx.on, kind="npa",
                             reference=reference, memo=f"Interest of loans become NPA on {ctx.on:%d %b %Y} "
                                                       "moved from income to suspense")
        db.session.add(entry)
        db.session.flush()
    ids = account_ids(ctx.institution_id)
    rows = []
    for loan_id, paise in sorted(moved.items()):
        amount = from_paise(paise)
        rows.append({"entry_id": entry.id, "account_id": ids[Account.INTEREST_INCOME], "loan_id": loan_id,
                     "debit_amount": amount, "credit_amount": from_paise(0)})
        rows.append({"entry_id": entry.id, "account_id": ids[Account.INTEREST_SUSPENSE], "loan_id": loan_id,
                     "debit_amount": from_paise(0), "credit_amount": amount})
    db.session.execute(insert(Posting), rows)


def class_counts(institution_id: int) -> dict[str, int]:
    """``{asset_class: open serviced loans}`` of the institution, every class present (0 when none)."""
    statuses = ", ".join(f"'{s}'" for s in OPEN_STATUSES)
    rows = _exec(f"""SELECT asset_class, COUNT(*) FROM loans WHERE institution_id = :inst AND serviced
                     AND status IN ({statuses}) GROUP BY asset_class""", {"inst": institution_id}).all()
    counts = dict.fromkeys(ASSET_CLASSES, 0)
    counts.update({cls: int(n) for cls, n in rows})
    return counts


def step_classification(ctx: _Ctx) -> None:
    timer = _begin(ctx, "classification")
    step = _step(db.session.get(CobRun, ctx.run_id), "classification")
    if step.get("phase") in (None, "dpd"):
        _chunks(ctx, "classification", "dpd", "id", lambda lo, hi: _dpd_chunk(ctx, lo, hi), timer)
        dpd_changed = _step(db.session.get(CobRun, ctx.run_id), "classification").get("count", 0)
        _save_step(ctx, "classification", phase="class", cursor=None, count=0, detail={"dpd_changed": dpd_changed})
        db.session.commit()
    _chunks(ctx, "classification", "class", "customer_id", lambda lo, hi: _classify_chunk(ctx, lo, hi), timer)
    detail = dict(_step(db.session.get(CobRun, ctx.run_id), "classification").get("detail") or {})
    detail["classes"] = class_counts(ctx.institution_id)
    detail["npa_today"] = _exec("SELECT COUNT(*) FROM loans WHERE institution_id = :inst AND npa_since_on = :d",
                                ctx.params()).scalar() or 0
    _finish_step(ctx, "classification", timer, detail=detail)


# ------------------------------------------------------------------------------------------------ 5. alerts


def step_alerts(ctx: _Ctx) -> None:
    """DPD alerts of the business date (after classification: today's DPD), chunk by chunk over loan ids; then
    the outbox sweeper ``jobs.alerts.deliver_due_webhooks`` is queued (after the commit) when the institution
    has webhook deliveries due (this date's new ones, and any whose job was lost: a nightly safety net).
    Idempotent per date (``raise_dpd_alerts``). Count: alerts raised. The institution's built-in rules are
    created first when missing (``ensure_builtin_rules``, idempotent)."""
    from sqlalchemy import func

    from portal.alerts.models import WebhookDelivery
    from portal.alerts.services import ensure_builtin_rules, raise_dpd_alerts
    from portal.queue import enqueue_after_commit

    timer = _begin(ctx, "alerts")
    if ensure_builtin_rules(ctx.institution_id):
        db.session.commit()
    _chunks(ctx, "alerts", "loans", "id",
            lambda lo, hi: raise_dpd_alerts(institution_id=ctx.institution_id, on=ctx.on, now=ctx.now, lo=lo, hi=hi,
                                            open_statuses=OPEN_STATUSES), timer)
    pending = db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
        WebhookDelivery.institution_id == ctx.institution_id, WebhookDelivery.status.in_(("pending", "retrying")),
        WebhookDelivery.next_attempt_at <= ctx.now)) or 0
    if pending:
        enqueue_after_commit("jobs.alerts.deliver_due_webhooks", queue="notifications")
    _finish_step(ctx, "alerts", timer, detail={"webhook_deliveries": int(pending)} if pending else None)


# ------------------------------------------------------------------------------------------------ 6. snapshot


def step_snapshot(ctx: _Ctx) -> None:
    """The portfolio snapshot of the business date (after classification: today's DPD and classes), written
    once (a resumed or repeated run finds it and writes nothing). Count: the open loans it covers."""
    from portal.reports.services import write_snapshot

    timer = _begin(ctx, "snapshot")
    row, created = write_snapshot(ctx.institution_id, ctx.on)
    figures = row.figures or {}
    _finish_step(ctx, "snapshot", timer, count=int(figures.get("open_loans", 0)),
                 detail={"aum": str(row.aum), "par30": figures.get("par30"), "written": created})


# ------------------------------------------------------------------------------------------------ 7. reminders


def _reminders_chunk(ctx: _Ctx, lo: int, hi: int) -> int:
    """Reminders for the loans [lo, hi) (``portal.servicing.reminders``): ``emi.due`` (term loan EMI due in
    DUE_SOON_DAYS days), ``bill.due`` (credit line minimum due in DUE_SOON_DAYS days), ``emi.overdue`` at the DPD
    of OVERDUE_REMINDER_DPD; one row per channel, written in one bulk insert that skips the dedupe keys already
    written. The customers' ``reminders`` preferences come from one query. Returns the rows inserted."""
    from portal.servicing.reminders import DUE_EVENTS, Due, ReminderWriter

    writer = ctx.reminder_writer or ReminderWriter(ctx.institution_id)
    soon = ctx.on + timedelta(days=DUE_SOON_DAYS)
    params = ctx.params(lo=lo, hi=hi, soon=soon)
    person = ("l.id, l.customer_id, c.user_id, c.first_name, c.last_name, c.phone_number, "
              "COALESCE(c.email, u.email) AS email")

    def loans_of_chunk(join: str = "") -> str:
        return (f"FROM loans l JOIN customers c ON c.id = l.customer_id LEFT JOIN users u ON u.id = c.user_id "
                f"{join} WHERE {ctx.scope('l')} AND l.id >= :lo AND l.id < :hi")

    def due(event: str, r, on: date, **context) -> Due:
        return Due(event=event, loan_id=r.id, customer_id=r.customer_id, user_id=r.user_id,
                   name=f"{r.first_name or ''} {r.last_name or ''}".strip(), phone=r.phone_number, email=r.email,
                   on=on, context={"loan_id": r.id, **context})

    dues = [due("emi.due", r, soon, emi_amount=from_paise(int(r.due)), due_on=soon) for r in _exec(f"""
            SELECT {person}, i.installment_amount - i.principal_paid_amount - i.interest_paid_amount AS due
            {loans_of_chunk('JOIN installments i ON i.loan_id = l.id AND i.due_on = l.next_due_on')}
              AND l.kind = 'term_loan' AND l.next_due_on = :soon AND {_UNPAID_ROW}""", params)]
    dues += [due("bill.due", r, soon, minimum_due=from_paise(int(r.due)), due_on=soon) for r in _exec(f"""
            SELECT {person}, SUM(s.minimum_due_amount - s.paid_amount) AS due
            {loans_of_chunk('JOIN billing_statements s ON s.loan_id = l.id')}
              AND l.kind = 'credit_line' AND s.due_on = :soon AND s.paid_amount < s.minimum_due_amount
            GROUP BY l.id, l.customer_id, c.user_id, c.first_name, c.last_name, c.phone_number, c.email,
                     u.email""", params)]
    dpds = ", ".join(str(n) for n in OVERDUE_REMINDER_DPD)
    dues += [due("emi.overdue", r, ctx.on, dpd=int(r.dpd), overdue_amount=from_paise(int(r.due or 0)))
             for r in _exec(f"""
            SELECT {person}, l.dpd,
                   CASE WHEN l.kind = 'credit_line'
                        THEN (SELECT SUM(s.minimum_due_amount - s.paid_amount) FROM billing_statements s
                              WHERE s.loan_id = l.id AND s.due_on <= :d AND s.paid_amount < s.minimum_due_amount)
                        ELSE (SELECT SUM(i.installment_amount - i.principal_paid_amount - i.interest_paid_amount)
                              FROM installments i WHERE i.loan_id = l.id AND i.due_on <= :d AND {_UNPAID_ROW})
                   END AS due
            {loans_of_chunk()} AND l.dpd IN ({dpds})""", params)]
    preferences: dict[tuple[int, str], bool] = {}
    if any(d.user_id is not None and d.event in DUE_EVENTS for d in dues):
        # the stored reminder choices of the chunk's borrowers with a login (absent rows: the defaults)
        preferences = {(r.user_id, r.channel): bool(r.enabled) for r in _exec(f"""
            SELECT DISTINCT p.user_id, p.channel, p.enabled
            FROM loans l JOIN customers c ON c.id = l.customer_id
            JOIN notification_preferences p ON p.user_id = c.user_id AND p.category = 'reminders'
            WHERE {ctx.scope('l')} AND l.id >= :lo AND l.id < :hi""", params)}
    now = ctx.now + timedelta(seconds=time.perf_counter() - ctx.started)  # this chunk's moment (the run's clock)
    return writer.write(dues, preferences, now=now)


def step_reminders(ctx: _Ctx) -> None:
    """Reminders of the business date, chunk by chunk over loan ids (``_reminders_chunk``), with the
    institution's published templates loaded once for the step. Then ONE job
    ``jobs.notifications.send_cob_reminders(institution, date)`` is queued on ``notifications`` (after the
    commit) when SMS/email reminders of the date are pending (this run's, or a crashed run's). Count: outbox rows
    written (all channels)."""
    from portal.queue import enqueue_after_commit
    from portal.servicing.reminders import SEND_JOB, ReminderWriter, pending_reminders

    timer = _begin(ctx, "reminders")
    ctx.reminder_writer = ReminderWriter(ctx.institution_id)
    _chunks(ctx, "reminders", "loans", "id", lambda lo, hi: _reminders_chunk(ctx, lo, hi), timer)
    detail = None
    if pending_reminders(ctx.institution_id, ctx.on):
        enqueue_after_commit(SEND_JOB, ctx.institution_id, ctx.on.isoformat(), queue="notifications")
        detail = {"send_job": True}
    failures = {f"{event}/{channel}": n for (event, channel), n in ctx.reminder_writer.templates.failures.items()}
    if failures:
        detail = {**(detail or {}), "template_failures": failures}
    _finish_step(ctx, "reminders", timer, **({"detail": detail} if detail else {}))


# ------------------------------------------------------------------------------------------------ 8. next date


def step_advance_date(ctx: _Ctx) -> None:
    timer = _begin(ctx, "advance_date")
    row = db.session.get(BusinessDate, ctx.institution_id)
    advanced = 0
    if row is None or row.current_on == ctx.on:
        set_business_date(ctx.institution_id, ctx.on + timedelta(days=1), actor=ctx.actor)
        advanced = 1
    _mark_done(ctx)  # in the same commit as the new business date
    _finish_step(ctx, "advance_date", timer, count=advanced,
                 detail={"business_date": (ctx.on + timedelta(days=1)).isoformat()} if advanced else None)


STEP_FUNCTIONS: dict[str, Callable[[_Ctx], None]] = {
    "accrual": step_accrual, "billing": step_billing, "due_marking": step_due_marking,
    "classification": step_classification, "alerts": step_alerts, "snapshot": step_snapshot,
    "reminders": step_reminders,
    "advance_date": step_advance_date,
}


# ------------------------------------------------------------------------------------------------ reading runs


def progress(run: CobRun) -> int:
    """Percent done (0-100) of a run: whole steps done plus the share of ids the running step has passed."""
    steps = run.steps or []
    if run.status == "done":
        return 100
    if not steps:
        return 0
    done = 0.0
    for step in steps:
        if step["status"] == "done":
            done += 1
        elif step.get("cursor") is not None and step.get("last") is not None:
            span = max(1, step["last"] - step["first"] + 1)
            part = min(1.0, max(0.0, (step["cursor"] - step["first"]) / span))
            if step["name"] == "classification":
                part = part / 2 + (0.5 if step.get("phase") == "class" else 0.0)
            done += part
    return int(100 * done / len(steps))


@dataclass(frozen=True)
class StepView:
    """One step of a run as the admin page shows it."""

    name: str
    label: str
    status: str
    count: int
    seconds: float
    per_second: int | None
    detail: dict


def step_views(run: CobRun) -> list[StepView]:
    """The run's steps with labels and throughput (loans per second over the run's open loans)."""
    out = []
    for step in run.steps or []:
        seconds = float(step.get("seconds") or 0.0)
        rate = None
        if step["status"] == "done" and seconds > 0 and run.loans_total and step["name"] not in (
                "billing", "advance_date"):
            rate = int(run.loans_total / seconds)
        out.append(StepView(name=step["name"], label=STEP_LABELS.get(step["name"], step["name"]),
                            status=step["status"], count=int(step.get("count") or 0), seconds=seconds,
                            per_second=rate, detail=step.get("detail") or {}))
    return out


def total_seconds(run: CobRun) -> float:
    """Seconds spent on the run's steps so far."""
    return round(sum(float(s.get("seconds") or 0.0) for s in run.steps or []), 3)


def latest_runs(institution_id: int, limit: int = 30) -> list[CobRun]:
    """The institution's runs, newest business date first."""
    return list(db.session.scalars(select(CobRun).where(CobRun.institution_id == institution_id)
                                   .order_by(CobRun.business_date.desc()).limit(limit)))


def last_progress_at(run: CobRun) -> datetime | None:
    """When the run last recorded progress (the newest step ``updated_at``), or None."""
    stamps = [datetime.fromisoformat(s["updated_at"]) for s in run.steps or [] if s.get("updated_at")]
    return max(stamps) if stamps else None


def request_close_of_business(institution_id: int, business_date: date, *, actor, days: int = 1) -> CobRun:
    """Queue the close of business of ``business_date`` (the books' date) after the commit, on the ``billing``
    queue (in-process without Redis); ``days`` > 1 runs that many consecutive dates (demo mode). The run row is
    created at once (committed) so the page shows it; a run under way or failed is resumed (harmless: one
    runner at a time). Audited as ``cob.requested`` in the caller's transaction. Raises CobDateError for a
    date the books are not on, DomainError when the date is already closed."""
    from portal.audit.services import record
    from portal.queue import enqueue_after_commit

    label = getattr(actor, "email", None) or getattr(actor, "display_name", None) or str(actor or "system")
    run = ensure_run(institution_id, business_date, requested_by=label)
    if run.status == "done" and days <= 1:
        raise DomainError(f"The books of {business_date:%d %b %Y} are already closed.")
    if days > 1:
        enqueue_after_commit("jobs.servicing.close_of_business_days", institution_id, int(days), queue="billing")
    else:
        enqueue_after_commit("jobs.servicing.close_of_business", institution_id, business_date.isoformat(),
                             queue="billing")
    record(actor, "cob.requested", run, institution_id=institution_id,
           changes={"business_date": business_date, "days": int(days), "status": run.status})
    return run


__all__ = ["ASSET_CLASSES", "CHUNK_SIZE", "STEPS", "CobDateError", "StepView", "accrual_totals", "asset_class_for",
           "class_counts", "ensure_run", "initial_steps", "last_progress_at", "latest_runs", "loan_status_for",
           "progress",
           "request_close_of_business", "run_close_of_business", "step_views", "total_seconds"]
