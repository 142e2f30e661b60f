"""How long scoring takes per 100,000 applicants on this machine (``make bench``).

    .venv/bin/python -m scripts.bench [--count 100000] [--db-count 20000] [--no-db]

1. Engine only (``portal.scoring.engine``, pure): N synthetic applicants through both built-in scorecards
   (``savings-balance`` from a balance; ``loan-history`` from the seed 003 features of a synthetic loan history;
   deriving those features with ``portal.lending.rules.credit_score`` is timed separately).
2. Through the service with a database (unless --no-db): a throw-away SQLite database built by the migrations,
   filled with M synthetic customers, their loans and savings transactions, then the recalculation service
   (``portal.scoring.runs.run_recalculation``: features in bulk queries, scoring, storing every ScoreResult)
   timed and scaled to 100,000.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="applicants for the engine (default 100000)")
    parser.add_argument("--db-count", type=int, default=20_000, help="customers in the database run (default 20000)")
    parser.add_argument("--no-db", action="store_true", help="skip the database run")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    print(f"command: {sys.executable} -m scripts.bench " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(f"python {sys.version.split()[0]}, seed {args.seed}")
    print("engine only:")
    bench_engine(args.count, args.seed)
    if not args.no_db:
        print("service with the database:")
        bench_database(args.db_count, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
