"""Periodic jobs as data, for RQ's built-in cron scheduler (RQ >= 2.5; ``rq.cron``).

Start the scheduler next to the workers with ``flask --app wsgi rq-cron`` (or ``rq cron jobs.schedule``).
RQ evaluates cron expressions in UTC, so IST (UTC+05:30) times are written in UTC here:

    name                  when (IST)          cron (UTC)      queue    job
    score-recalculation   Sundays 02:00       30 20 * * 6     default  jobs.scoring.recalculate_scores
    offer-expiry          every 15 minutes    */15 * * * *    default  jobs.lending.expire_offers
    close-of-business     nightly 23:30       0 18 * * *      billing  jobs.servicing.close_of_business_nightly

(Sunday 02:00 IST is Saturday 20:30 UTC.) The jobs take no arguments and read each institution's business date;
the nightly close of business queues one ``jobs.servicing.close_of_business`` per institution for that date.
"""
from __future__ import annotations

from rq import cron

from jobs import lending, scoring, servicing

SCHEDULE = [
    # (name, function, queue, cron in UTC, what it is in IST)
    ("score-recalculation", scoring.recalculate_scores, "default", "30 20 * * 6", "Sundays 02:00 IST"),
    ("offer-expiry", lending.expire_offers, "default", "*/15 * * * *", "every 15 minutes"),
    ("close-of-business", servicing.close_of_business_nightly, "billing", "0 18 * * *", "nightly 23:30 IST"),
]

for _name, _func, _queue, _cron, _ist in SCHEDULE:
    cron.register(_func, _queue, cron=_cron, name=_name, job_timeout=3600)
