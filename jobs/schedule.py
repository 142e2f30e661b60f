"""Periodic jobs as data, for RQ's built-in cron scheduler (RQ >= 2.5; ``rq.cron``).

Start the scheduler next to the workers with ``flask --app wsgi rq-cron`` (or ``rq cron jobs.schedule``).
RQ evaluates cron expressions in UTC, so IST (UTC+05:30) times are written in UTC here:

    name                  when (IST)          cron (UTC)      queue    job
    score-recalculation   Sundays 02:00       30 20 * * 6     default  jobs.scoring.recalculate_scores
    offer-expiry          every 15 minutes    */15 * * * *    default  jobs.lending.expire_offers
    close-of-business     nightly 23:30       0 18 * * *      billing  jobs.servicing.close_of_business_nightly
    promise-evaluation    daily 01:00         30 19 * * *     default  jobs.delinquency.evaluate_promises_daily
    notifications-relay   every minute        * * * * *       notifications  jobs.notifications.relay_pending
    onboarding-drip       daily 10:00         30 4 * * *      notifications  jobs.notifications.run_drip_campaigns
    alert-webhook-sweep   every 5 minutes     */5 * * * *     notifications  jobs.alerts.deliver_due_webhooks

(Sunday 02:00 IST is Saturday 20:30 UTC.) The jobs take no arguments and read each institution's business date;
the nightly close of business queues one ``jobs.servicing.close_of_business`` per institution for that date.
The alert webhook sweep sends the deliveries whose job was lost (Redis down when the alert was committed) or
whose retry is due when the worker's own retry schedule was lost; a duplicate job is harmless (the delivery row
is locked and only a due, unfinished delivery is attempted).
"""
from __future__ import annotations

from rq import cron

from jobs import alerts, delinquency, lending, notifications, scoring, servicing

SCHEDULE = [
    # (name, function, queue, cron in UTC, what it is in IST)
    ("score-recalculation", scoring.recalculate_scores, "default", "30 20 * * 6", "Sundays 02:00 IST"),
    ("offer-expiry", lending.expire_offers, "default", "*/15 * * * *", "every 15 minutes"),
    ("close-of-business", servicing.close_of_business_nightly, "billing", "0 18 * * *", "nightly 23:30 IST"),
    ("promise-evaluation", delinquency.evaluate_promises_daily, "default", "30 19 * * *",
     "daily 01:00 IST, after the close of business"),
    ("notifications-relay", notifications.relay_pending, "notifications", "* * * * *", "every minute"),
    ("onboarding-drip", notifications.run_drip_campaigns, "notifications", "30 4 * * *", "daily 10:00 IST"),
    ("alert-webhook-sweep", alerts.deliver_due_webhooks, "notifications", "*/5 * * * *", "every 5 minutes"),
]

for _name, _func, _queue, _cron, _ist in SCHEDULE:
    cron.register(_func, _queue, cron=_cron, name=_name, job_timeout=3600)
