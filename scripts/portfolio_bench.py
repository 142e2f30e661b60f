"""Bench of the portfolio dashboard's live figures (issue 7 item 1): the trigger-maintained aggregates against the
full aggregates over the book, on a throw-away PostgreSQL seeded as ``scripts.bench`` seeds the load test.

    .venv/bin/python -m scripts.portfolio_bench --loans 1000000 [--before /tmp/portfolio_head.py]

Seeds ``--loans`` serviced loans (``_seed_cob_book``) and their scored applications (``_seed_load_extras``; the
statement triggers keep the aggregates through both), checks that the aggregates equal the migration's backfill
(a full recomputation), then prints the median of ``--runs`` timings of each piece from both sources, the
``EXPLAIN ANALYZE`` of the book query from both, and, with ``--before``, the figures of another version of
``portal/reports/portfolio.py`` (e.g. ``git show HEAD:portal/reports/portfolio.py > /tmp/portfolio_head.py``)."""
from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time


def _median_ms(fn, runs: int) -> float:
    fn()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", help="a portfolio.py to time as 'before' (its portfolio_figures)")
    args = parser.parse_args(argv)

    from sqlalchemy import text

    from portal.extensions import db
    from portal.reports import portfolio
    from scripts.bench import COB_DATE, _seed_load_extras, _start_book

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min)")
    with tempfile.TemporaryDirectory(prefix="portfolio-bench-") as tmp:
        started = time.perf_counter()
        server, app, inst, _, product_id, timings, ready = _start_book(tmp, "portfolio_bench", args.loans)
        try:
            with app.app_context():
                with db.engine.connect() as conn:
                    timings.update(_seed_load_extras(conn, inst, product_id, args.loans))
                print(f"book: {args.loans:,} serviced loans with scored applications; seeded in "
                      f"{time.perf_counter() - started - ready:.1f} s: "
                      + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
                from tests.reports.test_portfolio_aggregates import _migration

                for statement in filter(str.strip, _migration().BACKFILL.split(";")):
                    table, columns = statement.split("INSERT INTO ", 1)[1].split(" ", 1)
                    columns = columns[columns.index("(") + 1:columns.index(")")]
                    counters = [c.strip() for c in columns.split(",") if c.strip().endswith(("_count", "_amount"))]
                    # groups that netted to zero stay in the table (bounded by the groups); the backfill has none
                    kept = f"SELECT {columns} FROM {table} WHERE " + " OR ".join(f"{c} <> 0" for c in counters)
                    differ, rows = db.session.execute(text(
                        f"""WITH kept AS ({kept}), rebuilt AS ({_select_of(statement)})
                        SELECT (SELECT COUNT(*) FROM (SELECT * FROM kept EXCEPT SELECT * FROM rebuilt) a)
                             + (SELECT COUNT(*) FROM (SELECT * FROM rebuilt EXCEPT SELECT * FROM kept) b),
                               (SELECT COUNT(*) FROM kept)""")).one()
                    print(f"{table}: {rows} rows; rows differing from a full recomputation: {differ}")
                    if differ:
                        for row in db.session.execute(text(
                                f"""WITH kept AS ({kept}), rebuilt AS ({_select_of(statement)})
                                (SELECT 'kept', * FROM kept EXCEPT SELECT 'kept', * FROM rebuilt) UNION ALL
                                (SELECT 'rebuilt', * FROM rebuilt EXCEPT SELECT 'rebuilt', * FROM kept)
                                LIMIT 12""")):
                            print("    ", tuple(row))
                on = COB_DATE
                pieces = {
                    "book (class x DPD x band)": lambda s: portfolio.book_cells(inst, s),
                    "flows MTD/YTD": lambda s: portfolio._flows(inst, on, s),
                    "ledger principal": lambda s: portfolio.ledger_principal(inst, on, s),
                    "all figures": lambda s: portfolio.portfolio_figures(inst, on, s),
                }
                print(f"median of {args.runs} runs, ms        live (book)   aggregates")
                for name, fn in pieces.items():
                    live = _median_ms(lambda fn=fn: fn("live"), args.runs)
                    agg = _median_ms(lambda fn=fn: fn("aggregates"), args.runs)
                    print(f"  {name:<30} {live:>11.1f} {agg:>12.1f}")
                for source in ("live", "aggregates"):
                    ms = _median_ms(lambda source=source: portfolio._other_figures(inst, on, source), args.runs)
                    print(f"  customers/applications/imported ({source}): {ms:.1f} ms")
                if args.before:
                    spec = importlib.util.spec_from_file_location("portfolio_before", args.before)
                    before = importlib.util.module_from_spec(spec)
                    sys.modules["portfolio_before"] = before
                    spec.loader.exec_module(before)
                    ms = _median_ms(lambda: before.portfolio_figures(inst, on), args.runs)
                    same = (before.portfolio_figures(inst, on).to_json()
                            == portfolio.portfolio_figures(inst, on).to_json())
                    print(f"  before ({args.before}) all figures: {ms:.1f} ms; same figures as after: {same}")
                    if not same:
                        old = before.portfolio_figures(inst, on).to_json()
                        new = portfolio.portfolio_figures(inst, on).to_json()
                        for key in old:
                            if old[key] != new.get(key):
                                print(f"    {key}: before {old[key]} after {new.get(key)}")
                for source in ("live", "aggregates"):
                    statement, params = _captured(lambda source=source: portfolio.book_cells(inst, source))
                    plan = db.session.connection().exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}",
                                                                   params).scalars().all()
                    print(f"EXPLAIN ANALYZE book query, {source}:\n    " + "\n    ".join(plan))
                db.session.remove()
                db.engine.dispose()
        finally:
            server.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min)")
    return 0


def _select_of(insert_sql: str) -> str:
    """The SELECT of an ``INSERT INTO t (cols) SELECT ...`` statement."""
    return insert_sql[insert_sql.index("SELECT"):]


def _captured(call) -> tuple[str, object]:
    """The (driver SQL, parameters) of the last query ``call`` runs, caught with an event listener."""
    from sqlalchemy import event

    from portal.extensions import db

    seen: list[tuple[str, object]] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    return seen[-1]


if __name__ == "__main__":
    raise SystemExit(main())
