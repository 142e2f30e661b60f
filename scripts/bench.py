"""Benchmarks (``make bench``): scoring per 100,000 applicants, the close of business of a serviced book, exports
of the loan book; and, when asked, the load test.

    .venv/bin/python -m scripts.bench [--only scoring|cob|export|load] [--count 100000] [--db-count 20000]
                                      [--no-db] [--loans 100000] [--orm-loans 10000] [--chunk-size 50000]
                                      [--rows 100000] [--xlsx-engines rust,xlsxwriter]
                                      [--users 16] [--duration 60] [--workers 5] [--wait 0.5,2]
                                      [--proposed-indexes]
    BENCH_LOANS=1000000 .venv/bin/python -m scripts.bench --only cob      # the full close-of-business run
    BENCH_ROWS=1000000 .venv/bin/python -m scripts.bench --only export    # issue 7: exports of 1,000,000 rows
    BENCH_LOANS=1000000 .venv/bin/python -m scripts.bench --only load     # issue 7: load test on 1,000,000 loans

Scoring:
1. Engine only (``portal.scoring.engine``, pure): N synthetic applicants through both built-in scorecards
   (``savings-balance`` from a balance; ``loan-history`` from the seed 003 features of a synthetic loan history;
   deriving those features with ``portal.lending.rules.credit_score`` is timed separately).
2. Through the service with a database (unless --no-db): a throw-away SQLite database built by the migrations,
   filled with M synthetic customers, their loans and savings transactions, then the recalculation service
   (``portal.scoring.runs.run_recalculation``: features in bulk queries, scoring, storing every ScoreResult)
   timed and scaled to 100,000.

Close of business (``portal.servicing.cob``):
3. A throw-away PostgreSQL server (``tests/support/servers.py``: fsync off), schema by the migrations, seeded by
   SQL (generate_series) with N serviced 12-month term loans (default 100,000; ``BENCH_LOANS`` or --loans) and
   their 12 schedule rows each, some of them delinquent; then one close of business, timed step by step (seconds
   and loans per second), and the same accrual + DPD/classification work done by a naive per-loan ORM loop on
   10,000 loans, as a ratio.

Exports (issue 7: ``portal.reports.exports``, ``portal.reports.writers``):
4. The same throw-away PostgreSQL and seeding with N loans (``BENCH_ROWS`` or --rows, default 100,000), then,
   each in a child process of its own: PostgreSQL's own ``COPY (<the export's query>) TO STDOUT`` through psycopg
   into a file (the floor), the CSV export and the XLSX export with each engine through ``jobs.reports.run_export``
   (the RQ job's function: count, stream, write, hash, commit). Seconds, rows per second, peak memory of the child
   (``getrusage(RUSAGE_SELF).ru_maxrss``, interpreter and app included, and what the work added) and the ratio to
   COPY; the issue's targets (CSV within 3x of COPY; XLSX >= 50,000 rows/s under 200 MB) are checked.

Load (issue 7 item 6, only with ``--only load``):
5. The same book (N = ``BENCH_LOANS`` or --loans) plus the application of every loan, 2,000 applications waiting
   for a decision and sign-in accounts; a throw-away Redis; gunicorn (``scripts/loadtest/wsgi.py``, production
   config, made-up secrets in its environment only) on 127.0.0.1; locust headless (``scripts/loadtest``) with 16
   users (officers: review queue and review screen; customers: their loan page; admins: the portfolio dashboard,
   signed in with their TOTP) for 60 s; p50/p95 per page and requests per second.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from portal.lending.rules import PastLoan
from portal.lending.schedule import add_months
from portal.scoring import engine, features
from portal.scoring.builtins import builtin

AS_OF = date(2026, 11, 23)
PER = 100_000


def synthetic_history(rng: random.Random) -> tuple[list[PastLoan], Decimal, Decimal, int]:
    salary = Decimal(rng.randrange(15_000, 300_000, 500))
    limit = (salary * 36 / 100_000).quantize(Decimal(1)) * 100_000
    loans = []
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4, 6))):
        tenure = rng.choice((6, 12, 24, 36, 60, 120))
        approved = AS_OF - timedelta(days=rng.randint(0, 365 * 12))
        amount = Decimal(rng.randrange(10_000, 2_000_000, 1000))
        loans.append(PastLoan(loan_amount=amount, tenure=tenure, emis_paid_on_time=rng.randint(0, tenure),
                              monthly_installment=(amount / tenure).quantize(Decimal("0.01")), approved_on=approved,
                              end_on=add_months(approved, tenure)))
    return loans, limit, salary, rng.randint(21, 70)


def per_100k(seconds: float, n: int) -> str:
    return f"{seconds / n * PER:8.2f} s per 100,000  ({n / seconds:,.0f} per second, n={n:,})"


def bench_engine(count: int, seed: int) -> None:
    rng = random.Random(seed)
    savings = engine.compile_scorecard(builtin("savings-balance"))
    loan_history = engine.compile_scorecard(builtin("loan-history"))

    balances = [Decimal(rng.randint(-1_000_000, 1_500_000)) for _ in range(count)]
    started = time.perf_counter()
    for balance in balances:
        savings.score({"balance": balance})
    print(f"  savings-balance  engine           {per_100k(time.perf_counter() - started, count)}")

    histories = [synthetic_history(rng) for _ in range(count)]
    started = time.perf_counter()
    rows = [features.loan_history_features(loans, approved_limit=limit, as_of=AS_OF, monthly_salary=salary, age=age)
            for loans, limit, salary, age in histories]
    derive = time.perf_counter() - started
    started = time.perf_counter()
    for values in rows:
        loan_history.score(values)
    scoring = time.perf_counter() - started
    print(f"  loan-history     features (seed 003 credit_score)  {per_100k(derive, count)}")
    print(f"  loan-history     engine           {per_100k(scoring, count)}")
    print(f"  loan-history     features+engine  {per_100k(derive + scoring, count)}")


def bench_database(count: int, seed: int) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import insert

    from portal import create_app
    from portal.bootstrap import ensure_reference_data
    from portal.config import TestConfig
    from portal.db import utcnow
    from portal.extensions import db
    from portal.lending.models import Loan
    from portal.onboarding.models import Customer
    from portal.scoring import runs
    from portal.scoring.models import SavingsAccount, SavingsTransaction, ScoringRun, TransactionImport

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        config = TestConfig()
        config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        app = create_app(config)
        with app.app_context():
            upgrade()
            institution, _ = ensure_reference_data()
            now = utcnow()
            customers, loans = [], []
            for cid in range(1, count + 1):
                history, limit, salary, age = synthetic_history(rng)
                customers.append({"id": cid, "institution_id": institution.id, "first_name": f"C{cid}",
                                  "last_name": "Bench", "age": age, "phone_number": f"9{cid:09d}",
                                  "monthly_salary": salary, "approved_limit": limit, "source": "import"})
                loans += [{"institution_id": institution.id, "customer_id": cid, "external_loan_id": i + 1,
                           "loan_amount": ln.loan_amount, "tenure": ln.tenure, "interest_rate": Decimal("12"),
                           "monthly_installment": ln.monthly_installment, "emis_paid_on_time": ln.emis_paid_on_time,
                           "approved_on": ln.approved_on, "end_on": ln.end_on, "source": "import",
                           "status": "active"} for i, ln in enumerate(history)]
            db.session.execute(insert(Customer), customers)
            db.session.execute(insert(Loan), loans)
            batch = TransactionImport(institution_id=institution.id, status="done", filename="bench.csv",
                                      sha256="0" * 64, file=b"")
            db.session.add(batch)
            db.session.flush()
            db.session.execute(insert(SavingsAccount), [
                {"institution_id": institution.id, "external_user": f"user-{i}", "import_batch_id": batch.id,
                 "created_at": now} for i in range(count)])
            txns = []
            for account_id in range(1, count + 1):
                for _ in range(rng.randint(10, 40)):
                    txns.append({"institution_id": institution.id, "import_batch_id": batch.id,
                                 "savings_account_id": account_id, "external_user": f"user-{account_id - 1}",
                                 "row_number": len(txns) + 2, "transacted_on": date(2020, 1, 1),
                                 "transaction_type": rng.choice(("CREDIT", "DEBIT")),
                                 "amount": Decimal(rng.randint(3, 99_982))})
            db.session.execute(insert(SavingsTransaction), txns)
            run = ScoringRun(institution_id=institution.id, kind="recalculation", as_of=AS_OF, status="queued")
            db.session.add(run)
            db.session.commit()
            print(f"  database: SQLite, {count:,} customers, {len(loans):,} loans, {count:,} savings accounts, "
                  f"{len(txns):,} transactions")
            started = time.perf_counter()
            result = runs.run_recalculation(run, now=utcnow())
            db.session.commit()
            elapsed = time.perf_counter() - started
            scored = sum(s["scored"] for s in result.result["scorecards"].values())
            print(f"  both built-ins   service+DB (features by query, score, store) "
                  f"{per_100k(elapsed, scored)}")


COB_DATE = date(2026, 11, 23)


def _run_timed_steps(conn, steps: list[tuple[str, str]], params: dict) -> dict[str, float]:
    """Run each named SQL seeding step (one commit each), then VACUUM ANALYZE; returns seconds per step."""
    from sqlalchemy import text

    timings = {}
    for name, sql in steps:
        started = time.perf_counter()
        conn.execute(text(sql), params)
        conn.commit()
        timings[name] = time.perf_counter() - started
    started = time.perf_counter()
    conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    timings["vacuum analyze"] = time.perf_counter() - started
    return timings


def _seed_cob_book(conn, institution_id: int, loans: int, product_id: int | None = None) -> dict:
    """Fill the throw-away database with ``loans`` serviced 12-month term loans (SQL generate_series, no ORM):
    4 in 5 borrowers have one loan, 1 in 5 two; disbursed 1-330 days before the business date; 12 schedule
    rows each (equal principal, interest on the reducing balance); every instalment due before the business
    date paid except for a delinquent tail (6 % one instalment behind, 3 % two, 1 % three, 2 % four or more),
    so the book has SMA and NPA loans. Loan balances and periods are as the close of the previous day left
    them. The opening balances are not posted to the ledger (the close of business does not read it).
    ``product_id``: the loans' product (None for the close-of-business bench, as before)."""

    customers = max(1, loans * 4 // 5)
    params = {"inst": institution_id, "n": loans, "c": customers, "d0": COB_DATE, "prod": product_id}
    steps = [
        ("customers", """
            INSERT INTO customers (id, institution_id, first_name, last_name, phone_number, monthly_salary,
                                   approved_limit, source, is_business, kyc_status, created_at, updated_at)
            SELECT g, :inst, 'Bench', 'Borrower ' || g, '7' || lpad(g::text, 9, '0'), 8000000, 300000000,
                   'import', false, 'verified', now(), now()
            FROM generate_series(1, :c) g"""),
        ("loans", """
            INSERT INTO loans (id, institution_id, customer_id, loan_amount, tenure, interest_rate,
                               monthly_installment, emis_paid_on_time, approved_on, disbursed_on, end_on, status,
                               source, serviced, kind, principal_outstanding_amount, period_start_on,
                               created_at, updated_at, product_id)
            SELECT g, :inst, ((g - 1) % :c) + 1, a.amount, 12, (12 + g % 13) * 10000, 0, 0, a.start, a.start,
                   (a.start + interval '12 months')::date, 'active', 'portal', true, 'term_loan', a.amount,
                   a.start, now(), now(), CAST(:prod AS integer)
            FROM generate_series(1, :n) g
            CROSS JOIN LATERAL (SELECT (50000 + (g * 37) % 450 * 1000)::bigint * 100 AS amount,
                                       CAST(:d0 AS date) - 1 - (g::bigint * 7919 % 330)::int AS start) a"""),
        ("installments", """
            INSERT INTO installments (loan_id, seq, due_on, principal_amount, interest_amount, installment_amount,
                                      balance_amount, principal_paid_amount, interest_paid_amount, paid_on)
            SELECT r.loan_id, r.seq, r.due_on, r.principal, r.interest, r.principal + r.interest,
                   r.opening - r.principal,
                   CASE WHEN r.paid THEN r.principal ELSE 0 END, CASE WHEN r.paid THEN r.interest ELSE 0 END,
                   CASE WHEN r.paid THEN r.due_on END
            FROM (SELECT l.id AS loan_id, s AS seq, (l.approved_on + make_interval(months => s))::date AS due_on,
                         CASE WHEN s = 12 THEN l.loan_amount - 11 * (l.loan_amount / 12) ELSE l.loan_amount / 12 END
                           AS principal,
                         l.loan_amount - (s - 1) * (l.loan_amount / 12) AS opening,
                         (2 * (l.loan_amount - (s - 1) * (l.loan_amount / 12)) * l.interest_rate + 12000000)
                           / 24000000 AS interest,
                         (l.approved_on + make_interval(months => s))::date < CAST(:d0 AS date)
                           AND s <= due.rows - CASE WHEN l.id % 100 < 88 THEN 0 WHEN l.id % 100 < 94 THEN 1
                                                    WHEN l.id % 100 < 97 THEN 2 WHEN l.id % 100 < 98 THEN 3
                                                    ELSE 5 END AS paid
                  FROM loans l
                  CROSS JOIN LATERAL (SELECT COUNT(*) AS rows FROM generate_series(1, 12) k
                                      WHERE (l.approved_on + make_interval(months => k))::date
                                            < CAST(:d0 AS date)) due
                  CROSS JOIN generate_series(1, 12) s WHERE l.institution_id = :inst) r"""),
        ("loan balances", """
            UPDATE loans SET
              principal_outstanding_amount = loans.loan_amount - x.principal_paid,
              monthly_installment = x.first_installment,
              period_start_on = COALESCE(x.last_due, loans.approved_on), next_due_on = x.next_due,
              period_interest_amount = COALESCE(x.next_interest, 0),
              period_accrued_amount = x.accrued, interest_receivable_amount = x.accrued + x.overdue_interest,
              last_accrued_on = CAST(:d0 AS date) - 1,
              dpd = x.dpd,
              asset_class = CASE WHEN x.dpd = 0 THEN 'standard' WHEN x.dpd <= 30 THEN 'sma_0'
                                 WHEN x.dpd <= 60 THEN 'sma_1' WHEN x.dpd <= 90 THEN 'sma_2' ELSE 'npa' END,
              status = CASE WHEN x.dpd > 90 THEN 'npa' WHEN x.dpd > 0 THEN 'overdue' ELSE 'active' END,
              npa_since_on = CASE WHEN x.dpd > 90 THEN CAST(:d0 AS date) - x.dpd + 90 END
            FROM (SELECT y.*, CASE WHEN y.next_due IS NULL THEN 0
                                   ELSE (2 * y.next_interest * (CAST(:d0 AS date) - 1 - y.pstart)
                                         + (y.next_due - y.pstart)) / (2 * (y.next_due - y.pstart)) END AS accrued
                  FROM (SELECT i.loan_id, SUM(i.principal_paid_amount) AS principal_paid,
                               MIN(i.installment_amount) FILTER (WHERE i.seq = 1) AS first_installment,
                               MAX(i.due_on) FILTER (WHERE i.due_on < CAST(:d0 AS date)) AS last_due,
                               COALESCE(MAX(i.due_on) FILTER (WHERE i.due_on < CAST(:d0 AS date)),
                                        MIN(l.approved_on)) AS pstart,
                               MIN(i.due_on) FILTER (WHERE i.due_on >= CAST(:d0 AS date)) AS next_due,
                               (array_agg(i.interest_amount ORDER BY i.due_on)
                                  FILTER (WHERE i.due_on >= CAST(:d0 AS date)))[1] AS next_interest,
                               COALESCE(SUM(i.interest_amount - i.interest_paid_amount)
                                        FILTER (WHERE i.due_on < CAST(:d0 AS date)), 0) AS overdue_interest,
                               COALESCE(CAST(:d0 AS date) - 1 - MIN(i.due_on) FILTER (
                                   WHERE i.due_on < CAST(:d0 AS date) AND i.paid_on IS NULL), 0) AS dpd
                        FROM installments i JOIN loans l ON l.id = i.loan_id WHERE l.institution_id = :inst
                        GROUP BY i.loan_id) y) x
            WHERE loans.id = x.loan_id"""),
        ("sequences", """
            SELECT setval('customers_id_seq', (SELECT MAX(id) FROM customers)),
                   setval('loans_id_seq', (SELECT MAX(id) FROM loans))"""),
    ]
    return _run_timed_steps(conn, steps, params)


def _orm_loop(count: int, on: date) -> float:
    """The naive way, for comparison: the same accrual and DPD/classification work loan by loan through ORM
    objects (load the loan and its schedule, compute in Python, add an Accrual, update the loan), one commit."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from portal.extensions import db
    from portal.lending.models import Loan
    from portal.money import quantize
    from portal.servicing.cob import asset_class_for, loan_status_for
    from portal.servicing.models import Accrual

    started = time.perf_counter()
    loans = db.session.scalars(select(Loan).where(Loan.serviced.is_(True)).order_by(Loan.id).limit(count)
                               .options(selectinload(Loan.installments))).all()
    for loan in loans:
        if loan.next_due_on and loan.period_start_on and loan.last_accrued_on < on:
            length = (loan.next_due_on - loan.period_start_on).days
            elapsed = min(length, max(0, (on - loan.period_start_on).days))
            accrued_to = quantize(loan.period_interest_amount * elapsed / length)
            amount = accrued_to - loan.period_accrued_amount
            if amount > 0:
                db.session.add(Accrual(loan_id=loan.id, accrued_on=on, amount=amount,
                                       to_suspense=loan.asset_class == "npa"))
                loan.interest_receivable_amount += amount
                loan.period_accrued_amount += amount
                if loan.asset_class == "npa":
                    loan.interest_suspense_amount += amount
            loan.last_accrued_on = on
        unpaid = [i.due_on for i in loan.installments if i.due_on <= on and i.amount_due > 0]
        loan.dpd = (on - min(unpaid)).days if unpaid else 0
        loan.asset_class = asset_class_for(loan.dpd)  # (without the borrower-wide rule: the naive loop is kinder)
        loan.status = loan_status_for(loan.asset_class, loan.dpd)
    db.session.commit()
    return time.perf_counter() - started


def bench_cob(loans: int, orm_loans: int, chunk_size: int) -> None:
    """Seed a throw-away PostgreSQL with ``loans`` serviced loans, time one close of business (each step), then
    the naive per-loan ORM loop on ``orm_loans`` loans for the next date; print the ratio."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from portal import create_app
    from portal.bootstrap import ensure_reference_data
    from portal.business_date import BusinessDate
    from portal.config import TestConfig
    from portal.extensions import db
    from portal.servicing import cob
    from tests.support.servers import start_postgres

    with tempfile.TemporaryDirectory(prefix="cob-bench-") as tmp:
        started = time.perf_counter()
        server = start_postgres(tmp, database="cob_bench")
        try:
            config = TestConfig()
            config.SQLALCHEMY_DATABASE_URI = server.url
            app = create_app(config)
            with app.app_context():
                upgrade()
                institution, _ = ensure_reference_data()
                institution_id = institution.id
                db.session.add(BusinessDate(institution_id=institution_id, current_on=COB_DATE))
                db.session.commit()
                with db.engine.connect() as conn:
                    timings = _seed_cob_book(conn, institution_id, loans)
                rows = db.session.execute(text("SELECT COUNT(*) FROM installments")).scalar()
                print(f"  PostgreSQL (throw-away, fsync off, shared_buffers 64MB), schema by the migrations; "
                      f"started and migrated in {time.perf_counter() - started - sum(timings.values()):.1f} s")
                print(f"  book: {loans:,} serviced term loans, {rows:,} schedule rows, seeded in "
                      + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
                before = cob.class_counts(institution_id)
                print("  classes before: " + ", ".join(f"{cob.ASSET_CLASS_LABELS[k]} {v:,}" for k, v in before.items()))
                run = cob.run_close_of_business(institution_id, COB_DATE, now=datetime.now(UTC),
                                                requested_by="bench", chunk_size=chunk_size)
                total = cob.total_seconds(run)
                print(f"  close of business of {COB_DATE} (chunks of {chunk_size:,} ids): {run.status}, "
                      f"{run.loans_total:,} open loans")
                print(f"    {'step':<15} {'count':>10} {'seconds':>9} {'loans/s':>11}")
                for step in cob.step_views(run):
                    rate = (f"{run.loans_total / step.seconds:>11,.0f}" if step.seconds and step.name not in
                            ("billing", "advance_date") else f"{'-':>11}")
                    print(f"    {step.name:<15} {step.count:>10,} {step.seconds:>9.2f} {rate}")
                print(f"    {'total':<15} {'':>10} {total:>9.2f} {run.loans_total / total:>11,.0f}")
                after = cob.class_counts(institution_id)
                print("  classes after:  " + ", ".join(f"{cob.ASSET_CLASS_LABELS[k]} {v:,}" for k, v in after.items()))
                print(f"  => {total / run.loans_total * 1_000_000:.1f} s per 1,000,000 loans at this rate "
                      f"(target: 60 s for 1,000,000)")
                set_based = sum(s.seconds for s in cob.step_views(run) if s.name in ("accrual", "classification"))
                orm_count = min(orm_loans, loans)
                orm_seconds = _orm_loop(orm_count, COB_DATE + timedelta(days=1))
                per_set, per_orm = set_based / run.loans_total, orm_seconds / orm_count
                print(f"  accrual + DPD/classification: set-based {run.loans_total / set_based:,.0f} loans/s; "
                      f"per-loan ORM loop on {orm_count:,} loans {orm_seconds:.2f} s = {orm_count / orm_seconds:,.0f} "
                      f"loans/s; ratio {per_orm / per_set:.1f}x")
                db.session.remove()
                db.engine.dispose()
        finally:
            server.stop()


# ---- exports (issue 7): COPY floor, CSV and XLSX through the real job ------------------------------------------
EXPORT_ENGINES = ("rust", "xlsxwriter")


def _mb(kilobytes: int) -> float:
    return kilobytes / 1024


def _child(spec: dict) -> dict:
    """Run one measured piece of work in this (child) process and return its figures. ``peak_kb`` is this
    process's peak resident set (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: interpreter, app and the work),
    ``base_kb`` the same just before the work started (so ``peak_kb - base_kb`` is what the work added)."""
    import resource

    from portal import create_app
    from portal.config import TestConfig

    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = spec["url"]
    config.UPLOAD_DIR = spec.get("upload_dir", config.UPLOAD_DIR)
    app = create_app(config)
    with app.app_context():
        from portal.extensions import db

        if spec["what"] == "copy":
            import psycopg

            db.session.execute(db.text("SELECT 1"))  # the same imports and pool as the export child
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.perf_counter()
            raw = psycopg.connect(spec["dsn"])
            size = 0
            with raw, raw.cursor() as cur, open(spec["out"], "wb") as out, \
                    cur.copy(f"COPY ({spec['sql']}) TO STDOUT (FORMAT csv, HEADER)") as copy:
                for block in copy:
                    out.write(block)
                    size += len(block)
            seconds = time.perf_counter() - started
            rows = sum(1 for _ in open(spec["out"], "rb")) - 1
            return {"seconds": seconds, "rows": rows, "size": size, "base_kb": base,
                    "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        from jobs.reports import run_export
        from portal.reports import exports, writers
        from portal.reports.models import Export

        if spec.get("engine") == "pyexcelerate":
            exports.open_writer = _pyexcelerate_open_writer
        elif spec.get("engine"):
            writers.XLSX_ENGINE = spec["engine"]
        db.session.execute(db.text("SELECT 1"))
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        rows = run_export(spec["export_id"])  # the RQ job's function: query, write, hash, commit
        seconds = time.perf_counter() - started
        export = db.session.get(Export, spec["export_id"])
        return {"seconds": seconds, "rows": rows, "size": export.size_bytes, "base_kb": base,
                "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "sha256": export.sha256}


class _PyExcelerateWriter:
    """Bench only (not a product engine): pyexcelerate builds the whole sheet in memory, then saves it."""

    def __init__(self, path, columns, sheet):
        self.path, self.columns, self.sheet = path, columns, sheet

    def write_rows(self, rows) -> int:
        from pyexcelerate import Font, Format, Panes, Style, Workbook  # pip install pyexcelerate==0.13.0

        kinds = [c.kind for c in self.columns]
        data = [[c.header for c in self.columns]]
        for row in rows:
            data.append([float(v) if k == "money" and v is not None else v for k, v in zip(kinds, row, strict=True)])
        book = Workbook()
        sheet = book.new_sheet(self.sheet, data=data)
        sheet.panes = Panes(0, 1)
        sheet.set_row_style(1, Style(font=Font(bold=True)))
        for i, c in enumerate(self.columns, 1):
            number = {"money": "#,##0.00", "date": "dd-mmm-yyyy"}.get(c.kind)
            sheet.set_col_style(i, Style(size=c.width, format=Format(number) if number else None))
        book.save(str(self.path))
        return len(data) - 1

    def close(self) -> None:
        pass


def _pyexcelerate_open_writer(path, fmt, columns, *, sheet="Export"):
    return _PyExcelerateWriter(path, columns, sheet)


def _run_child(spec: dict) -> dict:
    import json
    import subprocess

    done = subprocess.run([sys.executable, "-m", "scripts.bench", "--child", json.dumps(spec)],
                          capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)) or ".")
    if done.returncode != 0:
        raise RuntimeError(f"child {spec['what']} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _start_book(tmp: str, database: str, loans: int):
    """A throw-away PostgreSQL with the schema by the migrations, the reference data, an admin and ``loans``
    seeded serviced loans of the term-loan product (``_seed_cob_book``). Returns (server, app, institution id,
    admin user id, product id, seeding timings, seconds to start and migrate)."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.auth.services import create_user
    from portal.bootstrap import ensure_reference_data
    from portal.business_date import BusinessDate
    from portal.config import TestConfig
    from portal.extensions import db
    from tests.support.servers import start_postgres

    started = time.perf_counter()
    server = start_postgres(tmp, database=database)
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = server.url
    app = create_app(config)
    with app.app_context():
        upgrade()
        institution, product = ensure_reference_data()
        institution_id, product_id = institution.id, product.id
        db.session.add(BusinessDate(institution_id=institution_id, current_on=COB_DATE))
        admin = create_user(email="bench-admin@example.test", role="admin", password="bench-password-1",
                            display_name="Bench Admin", institution=institution)
        db.session.commit()
        admin_id = admin.id
        ready = time.perf_counter() - started
        with db.engine.connect() as conn:
            timings = _seed_cob_book(conn, institution_id, loans, product_id=product_id)
        db.session.remove()
    return server, app, institution_id, admin_id, product_id, timings, ready


def bench_export(loans: int, engines: tuple[str, ...]) -> dict:
    """Seed ``loans`` loans, then in child processes: PostgreSQL's own COPY of the export's query (the floor),
    the CSV export and the XLSX export with each of ``engines`` through ``jobs.reports.run_export``."""
    from sqlalchemy.dialects import postgresql

    from portal.extensions import db
    from portal.reports.exports import loan_book_query
    from portal.reports.models import Export

    results = {}
    with tempfile.TemporaryDirectory(prefix="export-bench-") as tmp:
        server, app, institution_id, admin_id, _product_id, timings, ready = _start_book(tmp, "export_bench", loans)
        try:
            print(f"  PostgreSQL (throw-away, fsync off, shared_buffers 64MB), started and migrated in {ready:.1f} s; "
                  f"{loans:,} serviced loans seeded in {sum(timings.values()):.1f} s")
            with app.app_context():
                query = loan_book_query(institution_id, {})
                sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
                now = datetime.now(UTC)
                jobs = [("CSV", "csv", None)] + [(f"XLSX {e}", "xlsx", e) for e in engines]
                ids = {}
                for label, fmt, _engine in jobs:
                    export = Export(institution_id=institution_id, requested_by_id=admin_id, format=fmt,
                                    filters={}, pii=True, status="queued", created_at=now,
                                    expires_at=now + timedelta(days=1))
                    db.session.add(export)
                    db.session.flush()
                    ids[label] = export.id
                db.session.commit()
                db.session.remove()
                db.engine.dispose()
            upload = os.path.join(tmp, "uploads")
            base = {"url": server.url, "upload_dir": upload}
            copy = _run_child({**base, "what": "copy", "dsn": server.dsn, "sql": sql,
                               "out": os.path.join(tmp, "copy.csv")})
            results["COPY"] = copy
            for label, _fmt, engine in jobs:
                if engine == "pyexcelerate":
                    try:
                        __import__("pyexcelerate")
                    except ImportError:
                        print("  XLSX pyexcelerate: skipped (pip install pyexcelerate==0.13.0 to measure it)")
                        continue
                results[label] = _run_child({**base, "what": "export", "export_id": ids[label], "engine": engine})
        finally:
            server.stop()
    print(f"  load average after: {os.getloadavg()[0]:.2f} (1 min)")
    floor = results["COPY"]["seconds"]
    print(f"  query: loan_book_query (all serviced loans, PII unmasked), {loans:,} rows; each line is one child "
          "process; memory = its peak RSS (getrusage RUSAGE_SELF ru_maxrss: interpreter + app + work) and what "
          "the work added to it")
    print(f"    {'what':<42} {'rows':>10} {'seconds':>8} {'rows/s':>10} {'peak MB':>8} {'+work MB':>9} "
          f"{'file MB':>8} {'x COPY':>7}")
    names = {"COPY": "COPY (query) TO STDOUT csv (floor)", "CSV": "CSV jobs.reports.run_export"}
    for label, r in results.items():
        name = names.get(label, f"{label} jobs.reports.run_export")
        print(f"    {name:<42} {r['rows']:>10,} {r['seconds']:>8.2f} {r['rows'] / r['seconds']:>10,.0f} "
              f"{_mb(r['peak_kb']):>8.0f} {_mb(r['peak_kb'] - r['base_kb']):>9.0f} {r['size'] / 2**20:>8.1f} "
              f"{r['seconds'] / floor:>7.2f}")
    csv_ratio = results["CSV"]["seconds"] / floor
    print(f"  target CSV within 3x of COPY: {csv_ratio:.2f}x -> {'met' if csv_ratio <= 3 else 'NOT met'}")
    for label, r in results.items():
        if label.startswith("XLSX"):
            rate, peak = r["rows"] / r["seconds"], _mb(r["peak_kb"])
            ok = rate >= 50_000 and peak < 200
            print(f"  target {label}: >= 50,000 rows/s and peak < 200 MB: {rate:,.0f} rows/s, {peak:.0f} MB -> "
                  f"{'met' if ok else 'NOT met'}")
    return results


# ---- load (issue 7 item 6): gunicorn on a seeded book, locust with 16 users -----------------------------------
LOAD_OPEN_APPLICATIONS = 2_000   # waiting for a decision: a fixed queue, whatever the size of the book
LOAD_ACCOUNTS = 16               # sign-in accounts per role (each simulated user signs in as its own)
LOAD_PASSWORD = "bench-password-1"
LOAD_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # the bench admins' TOTP secret (base32; bench only)
#: Indexes on trial: ``--proposed-indexes`` creates them after seeding so the load test can be compared with and
#: without, before a migration adds them. Empty now: the review queue's ix_loan_applications_open_queue, measured
#: here first (EXPLAIN ANALYZE 19.5 ms -> 0.04 ms at 100,000 loans), is created by migration f6queueidx01.
PROPOSED_INDEXES: tuple[str, ...] = ()


def _seed_load_extras(conn, institution_id: int, product_id: int, loans: int) -> dict:
    """On top of ``_seed_cob_book``: the application each loan came from (status disbursed, scored in a band,
    ``loans.application_id`` set) and ``LOAD_OPEN_APPLICATIONS`` applications waiting for a decision (submitted,
    scored, in review, escalated; SLA due in the next days), by customers of the book."""

    customers = max(1, loans * 4 // 5)
    params = {"inst": institution_id, "prod": product_id, "n": loans, "c": customers, "k": LOAD_OPEN_APPLICATIONS,
              "d0": COB_DATE}
    steps = [
        ("applications of the loans", """
            INSERT INTO loan_applications (id, institution_id, customer_id, product_id, amount, tenure,
                                           interest_rate, status, credit_score, score_band, eligible,
                                           monthly_installment, submitted_at, decided_at)
            SELECT l.id, l.institution_id, l.customer_id, :prod, l.loan_amount, l.tenure, l.interest_rate,
                   'disbursed', 40 + l.id % 60, (ARRAY['AA','A','B','C','D'])[1 + l.id % 5], true,
                   l.monthly_installment, l.approved_on - 3, l.approved_on
            FROM loans l WHERE l.institution_id = :inst"""),
        ("loan -> application", "UPDATE loans SET application_id = id WHERE institution_id = :inst"),
        ("open applications", """
            INSERT INTO loan_applications (id, institution_id, customer_id, product_id, amount, tenure,
                                           interest_rate, status, credit_score, score_band, eligible,
                                           monthly_installment, submitted_at, sla_due_at)
            SELECT :n + g, :inst, 1 + (g * 7919) % :c, :prod, (50000 + g % 400 * 1000)::bigint * 100, 12,
                   140000, (ARRAY['submitted','scored','in_review','escalated'])[1 + g % 4], 30 + g % 70,
                   (ARRAY['AA','A','B','C','D'])[1 + g % 5], true, 900000,
                   CAST(:d0 AS timestamptz) - (g % 72) * interval '1 hour',
                   CAST(:d0 AS timestamptz) + (48 - g % 72) * interval '1 hour'
            FROM generate_series(1, :k) g"""),
        ("sequences", "SELECT setval('loan_applications_id_seq', (SELECT MAX(id) FROM loan_applications))"),
    ]
    return _run_timed_steps(conn, steps, params)


def _load_accounts(institution_id: int, loans: int) -> dict:
    """``LOAD_ACCOUNTS`` loan officers (no MFA for the role), admins (MFA on, secret ``LOAD_TOTP_SECRET``) and
    customer logins (mobile number + password) for the first customers of the book; returns the targets file's
    content for ``scripts/loadtest/locustfile.py``."""
    from sqlalchemy import select

    from portal.auth.services import create_user
    from portal.extensions import db
    from portal.lending.models import Loan, LoanApplication
    from portal.onboarding.models import Customer

    targets = {"officers": [], "admins": [], "customers": [], "applications": []}
    for i in range(1, LOAD_ACCOUNTS + 1):
        create_user(email=f"officer{i}@bench.test", role="loan_officer", password=LOAD_PASSWORD,
                    display_name=f"Bench Officer {i}")
        targets["officers"].append({"login": f"officer{i}@bench.test", "password": LOAD_PASSWORD})
        admin = create_user(email=f"admin{i}@bench.test", role="admin", password=LOAD_PASSWORD,
                            display_name=f"Bench Admin {i}")
        admin.totp_secret, admin.mfa_enabled = LOAD_TOTP_SECRET, True
        targets["admins"].append({"login": f"admin{i}@bench.test", "password": LOAD_PASSWORD,
                                  "totp_secret": LOAD_TOTP_SECRET})
    customers = db.session.scalars(select(Customer).where(Customer.institution_id == institution_id)
                                   .order_by(Customer.id).limit(LOAD_ACCOUNTS)).all()
    for customer in customers:
        user = create_user(email=None, phone=customer.phone_number, role="customer", password=LOAD_PASSWORD,
                           display_name=f"{customer.first_name} {customer.last_name}")
        customer.user = user
        loan_ids = db.session.scalars(select(Loan.id).where(Loan.customer_id == customer.id)).all()
        targets["customers"].append({"login": customer.phone_number, "password": LOAD_PASSWORD,
                                     "loan_ids": loan_ids})
    targets["applications"] = db.session.scalars(
        select(LoanApplication.id).where(LoanApplication.id > loans).order_by(LoanApplication.id)).all()
    db.session.commit()
    return targets


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, proc, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer {url} within {timeout:.0f} s")


def bench_load(loans: int, *, users: int, duration: int, workers: int, wait: str,
               proposed_indexes: bool = False, classes: tuple[str, ...] = ()) -> dict:
    """Seed a throw-away PostgreSQL with ``loans`` loans (``_seed_cob_book`` + ``_seed_load_extras``) and the
    sign-in accounts, start a throw-away Redis and gunicorn (PORTAL_ENV=production, secrets made up for the run,
    in the child's environment only) on 127.0.0.1, run locust headless (``scripts/loadtest``) and print p50/p95
    per page and requests per second."""
    import json
    import secrets
    import signal
    import subprocess

    from cryptography.fernet import Fernet

    from portal.extensions import db
    from scripts.loadtest.run import report, run_locust
    from tests.support.servers import start_redis

    workers = workers or 2 * (os.cpu_count() or 1) + 1
    with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
        server, app, institution_id, _admin_id, product_id, timings, ready = _start_book(tmp, "load_bench", loans)
        redis = gunicorn = None
        try:
            with app.app_context():
                with db.engine.connect() as conn:
                    extra = _seed_load_extras(conn, institution_id, product_id, loans)
                    if proposed_indexes:
                        for sql in PROPOSED_INDEXES:
                            conn.execute(db.text(sql))
                        conn.execute(db.text("ANALYZE"))
                        conn.commit()
                targets = _load_accounts(institution_id, loans)
                db.session.remove()
                db.engine.dispose()
            print(f"  PostgreSQL (throw-away, fsync off, shared_buffers 64MB) started and migrated in {ready:.1f} s; "
                  f"book seeded in {sum(timings.values()) + sum(extra.values()):.1f} s: {loans:,} serviced loans, "
                  f"{loans * 12:,} schedule rows, {loans * 4 // 5:,} customers, {loans:,} disbursed applications "
                  f"+ {LOAD_OPEN_APPLICATIONS:,} waiting for a decision"
                  + ("; with the PROPOSED_INDEXES" if proposed_indexes else ""))
            targets_path = os.path.join(tmp, "targets.json")
            with open(targets_path, "w", encoding="utf-8") as handle:
                json.dump(targets, handle)
            redis = start_redis(tmp)
            port = _free_port()
            env = {**os.environ, "PORTAL_ENV": "production", "DATABASE_URL": server.url, "REDIS_URL": redis.url,
                   "SECRET_KEY": secrets.token_hex(32), "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                   "PAYMENT_WEBHOOK_SECRET": secrets.token_hex(32), "UPLOAD_DIR": os.path.join(tmp, "uploads")}
            log = open(os.path.join(tmp, "gunicorn.log"), "wb")
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            gunicorn = subprocess.Popen(
                [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "-w", str(workers), "-b",
                 f"127.0.0.1:{port}", "--timeout", "60", "scripts.loadtest.wsgi:app"],
                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            _wait_http(f"http://127.0.0.1:{port}/healthz", gunicorn)
            print(f"  gunicorn {workers} sync workers on 127.0.0.1:{port} (PORTAL_ENV=production, "
                  f"scripts/loadtest/wsgi.py: session cookie not Secure over loopback HTTP); locust: {users} "
                  "users (officers : customers : admins = 2 : 1 : 1, each signed in as its own account), think "
                  f"time {wait} s, {duration} s after all are spawned")
            load = os.getloadavg()
            if classes:
                print(f"  only the user classes {', '.join(classes)}")
            stats = run_locust(f"http://127.0.0.1:{port}", targets_path, users=users, duration=duration, wait=wait,
                               classes=classes)
            print(f"  load average before: {load[0]:.2f} (1 min), after: {os.getloadavg()[0]:.2f}")
            report(stats)
            return stats
        finally:
            if gunicorn is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(gunicorn.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    gunicorn.wait(20)
            if redis is not None:
                redis.stop()
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks: scoring, the close of business, exports, load.")
    parser.add_argument("--only", choices=("scoring", "cob", "export", "load"),
                        help="run one part only (default: scoring, cob and export; load only when asked)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one measured piece of work (JSON spec)
    parser.add_argument("--count", type=int, default=100_000, help="applicants for the engine (default 100000)")
    parser.add_argument("--db-count", type=int, default=20_000, help="customers in the database run (default 20000)")
    parser.add_argument("--no-db", action="store_true", help="skip the scoring database run")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--loans", type=int, default=int(os.environ.get("BENCH_LOANS", "100000")),
                        help="close of business: serviced loans in the book (default $BENCH_LOANS or 100000)")
    parser.add_argument("--orm-loans", type=int, default=10_000,
                        help="close of business: loans for the per-loan ORM comparison (default 10000)")
    parser.add_argument("--chunk-size", type=int, default=50_000, help="close of business: ids per chunk")
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_ROWS", "100000")),
                        help="export: loans in the book, i.e. rows exported (default $BENCH_ROWS or 100000)")
    parser.add_argument("--xlsx-engines", default=",".join(EXPORT_ENGINES),
                        help="export: XLSX engines to measure, comma-separated, among "
                             f"{', '.join(EXPORT_ENGINES + ('pyexcelerate',))} (default: %(default)s)")
    parser.add_argument("--users", type=int, default=16, help="load: concurrent locust users (default 16)")
    parser.add_argument("--duration", type=int, default=60, help="load: seconds of load (default 60)")
    parser.add_argument("--workers", type=int, default=0,
                        help="load: gunicorn worker processes (default 2 x CPUs + 1)")
    parser.add_argument("--wait", default="0.5,2", help="load: think time between pages, 'min,max' seconds")
    parser.add_argument("--proposed-indexes", action="store_true",
                        help="load: create the indexes proposed for a migration (PROPOSED_INDEXES) after seeding")
    parser.add_argument("--load-classes", default="",
                        help="load: only these locust user classes, e.g. Officer,Customer (default: all, by weight)")
    args = parser.parse_args(argv)
    if args.child:
        import json

        print(json.dumps(_child(json.loads(args.child))))
        return 0
    env = " ".join(f"{k}={os.environ[k]}" for k in ("BENCH_LOANS", "BENCH_ROWS") if os.environ.get(k))
    env = env + " " if env else ""
    print(f"command: {env}{sys.executable} -m scripts.bench " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(f"python {sys.version.split()[0]}, seed {args.seed}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} (1 min; other work on the machine makes every figure an upper bound)")
    if args.only in (None, "scoring"):
        print("scoring, engine only:")
        bench_engine(args.count, args.seed)
        if not args.no_db:
            print("scoring, service with the database:")
            bench_database(args.db_count, args.seed)
    if args.only in (None, "cob"):
        print("close of business:")
        bench_cob(args.loans, args.orm_loans, args.chunk_size)
    if args.only in (None, "export"):
        print("exports (CSV and XLSX through the export job, beside PostgreSQL's COPY):")
        bench_export(args.rows, tuple(e for e in args.xlsx_engines.split(",") if e))
    if args.only == "load":
        print("load (gunicorn + locust):")
        bench_load(args.loans, users=args.users, duration=args.duration, workers=args.workers, wait=args.wait,
                   proposed_indexes=args.proposed_indexes,
                   classes=tuple(c for c in args.load_classes.split(",") if c))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
