"""Run the locust load test headless and print p50/p95 per page and requests per second.

    .venv/bin/python -m scripts.loadtest.run --host http://127.0.0.1:8000 --targets targets.json \\
        [--users 16] [--duration 60] [--wait 0.5,2]

``python -m scripts.bench --only load`` seeds a throw-away book, starts gunicorn on it, writes the targets file
and calls ``run_locust`` here; this module can also be pointed at any running portal whose accounts are in a
targets file (see ``locustfile.py`` for its shape).
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
PAGES = ("officer review queue", "application review screen", "customer loan page", "portfolio dashboard")


def run_locust(host: str, targets: str, *, users: int = 16, duration: int = 60, wait: str = "0.5,2",
               classes: tuple[str, ...] = ()) -> dict:
    """Run locust headless (``users`` users spawned at once, ``duration`` seconds, statistics reset once all
    users are spawned) against ``host``; returns ``{name: {"requests", "failures", "p50", "p95", "rps"}}`` in
    milliseconds and requests per second, with the ``"Aggregated"`` line and the logins too. ``classes``: only
    these user classes of the locustfile (``Officer``, ``Customer``, ``Admin``; default all, by weight)."""
    with tempfile.TemporaryDirectory(prefix="locust-") as tmp:
        prefix = os.path.join(tmp, "run")
        env = {**os.environ, "LOADTEST_TARGETS": targets, "LOADTEST_WAIT": wait}
        locust = Path(sys.executable).with_name("locust")
        command = [str(locust), "-f", str(LOCUSTFILE), "--headless", "--host", host, "-u", str(users),
                   "-r", str(users), "-t", f"{duration}s", "--csv", prefix, "--reset-stats", "--only-summary",
                   "--loglevel", "WARNING", "--stop-timeout", "5", *classes]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 120)
        stats = Path(prefix + "_stats.csv")
        if not stats.is_file():
            raise RuntimeError(f"locust failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        out = {}
        with open(stats, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                out[row["Name"]] = {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                                    "p50": float(row["50%"] or 0), "p95": float(row["95%"] or 0),
                                    "rps": float(row["Requests/s"] or 0)}
        failures = Path(prefix + "_failures.csv")
        out["_failures"] = failures.read_text(encoding="utf-8") if failures.is_file() else ""
        return out


def report(stats: dict, *, target_p95: float = 150.0) -> None:
    """Print the per-page table (p50, p95 in ms; requests/s) and whether each page meets ``target_p95``."""
    print(f"    {'page':<27} {'requests':>9} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7} {'req/s':>7}  "
          f"p95 <= {target_p95:.0f}")
    for name in (*PAGES, "Aggregated"):
        s = stats.get(name)
        if s is None:
            print(f"    {name:<27} (no requests)")
            continue
        verdict = "" if name == "Aggregated" else ("met" if s["p95"] <= target_p95 and not s["failures"] else
                                                   "NOT met")
        print(f"    {name:<27} {s['requests']:>9,} {s['failures']:>5} {s['p50']:>7.0f} {s['p95']:>7.0f} "
              f"{s['rps']:>7.1f}  {verdict}")
    if stats.get("_failures", "").count("\n") > 1:
        print("    failures:\n" + "\n".join("      " + line for line in stats["_failures"].splitlines()[:10]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--targets", required=True, help="JSON file of accounts and ids (see locustfile.py)")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--wait", default="0.5,2", help="think time between pages, 'min,max' seconds")
    parser.add_argument("--classes", default="", help="only these user classes, e.g. Officer,Customer")
    args = parser.parse_args(argv)
    report(run_locust(args.host, args.targets, users=args.users, duration=args.duration, wait=args.wait,
                      classes=tuple(c for c in args.classes.split(",") if c)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
