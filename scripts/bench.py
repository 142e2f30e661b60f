"""Benchmarks (``make bench``): scoring per 100,000 applicants, and the close of business of a serviced book.

    .venv/bin/python -m scripts.bench [--only scoring|cob] [--count 100000] [--db-count 20000] [--no-db]
                                      [--loans 100000] [--orm-loans 10000] [--chunk-size 50000]
    BENCH_LOANS=1000000 .venv/bin/python -m scripts.bench --only cob      # the full close-of-business run

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
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
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


def _seed_cob_book(conn, institution_id: int, loans: int) -> dict:
    """Fill the throw-away database with ``loans`` serviced 12-month term loans (SQL generate_series, no ORM):
    4 in 5 borrowers have one loan, 1 in 5 two; disbursed 1-330 days before the business date; 12 schedule
    rows each (equal principal, interest on the reducing balance); every instalment due before the business
    date paid except for a delinquent tail (6 % one instalment behind, 3 % two, 1 % three, 2 % four or more),
    so the book has SMA and NPA loans. Loan balances and periods are as the close of the previous day left
    them. The opening balances are not posted to the ledger (the close of business does not read it)."""
    from sqlalchemy import text

    customers = max(1, loans * 4 // 5)
    params = {"inst": institution_id, "n": loans, "c": customers, "d0": COB_DATE}
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
                               created_at, updated_at)
            SELECT g, :inst, ((g - 1) % :c) + 1, a.amount, 12, (12 + g % 13) * 10000, 0, 0, a.start, a.start,
                   (a.start + interval '12 months')::date, 'active', 'portal', true, 'term_loan', a.amount,
                   a.start, now(), now()
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
    from datetime import UTC, datetime

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmarks: scoring (engine and service) and the close of business.")
    parser.add_argument("--only", choices=("scoring", "cob"), help="run one part only (default: both)")
    parser.add_argument("--count", type=int, default=100_000, help="applicants for the engine (default 100000)")
    parser.add_argument("--db-count", type=int, default=20_000, help="customers in the database run (default 20000)")
    parser.add_argument("--no-db", action="store_true", help="skip the scoring database run")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--loans", type=int, default=int(os.environ.get("BENCH_LOANS", "100000")),
                        help="close of business: serviced loans in the book (default $BENCH_LOANS or 100000)")
    parser.add_argument("--orm-loans", type=int, default=10_000,
                        help="close of business: loans for the per-loan ORM comparison (default 10000)")
    parser.add_argument("--chunk-size", type=int, default=50_000, help="close of business: ids per chunk")
    args = parser.parse_args(argv)
    env = f"BENCH_LOANS={os.environ['BENCH_LOANS']} " if os.environ.get("BENCH_LOANS") else ""
    print(f"command: {env}{sys.executable} -m scripts.bench " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(f"python {sys.version.split()[0]}, seed {args.seed}, {os.cpu_count()} CPUs")
    if args.only in (None, "scoring"):
        print("scoring, engine only:")
        bench_engine(args.count, args.seed)
        if not args.no_db:
            print("scoring, service with the database:")
            bench_database(args.db_count, args.seed)
    if args.only in (None, "cob"):
        print("close of business:")
        bench_cob(args.loans, args.orm_loans, args.chunk_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
