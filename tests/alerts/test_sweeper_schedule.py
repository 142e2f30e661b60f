"""The webhook outbox sweeper (``jobs.alerts.deliver_due_webhooks``) is on RQ's cron every 5 minutes on the
``notifications`` queue; enqueued by the cron entry and run by a real RQ worker, it delivers an alert webhook
whose own job was lost (Redis down when the alert was committed)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.alerts.models import AlertRule, WebhookDelivery
from portal.alerts.services import raise_event_alert
from tests.alerts.conftest import make_rule


def _cron_entry(connection):
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=connection)
    scheduler.load_config_from_file("jobs.schedule")
    [job] = [j for j in scheduler.get_jobs() if j.name == "alert-webhook-sweep"]
    return job


def test_the_sweeper_is_registered_every_five_minutes_on_the_notifications_queue(redis_server):
    from croniter import croniter
    from redis import Redis

    job = _cron_entry(Redis.from_url(redis_server.url))
    assert (job.func_name, job.queue_name, job.cron) == ("jobs.alerts.deliver_due_webhooks", "notifications",
                                                        "*/5 * * * *")
    moments = croniter(job.cron, datetime(2026, 11, 23, 4, 32, tzinfo=UTC))
    runs = [moments.get_next(datetime) for _ in range(4)]
    assert runs[0] == datetime(2026, 11, 23, 4, 35, tzinfo=UTC)
    assert {b - a for a, b in zip(runs, runs[1:], strict=False)} == {timedelta(minutes=5)}


def test_the_cron_entry_run_by_a_worker_delivers_a_lost_delivery(app, db, clock, receiver, redis_server,
                                                                  monkeypatch):
    from redis import Redis
    from rq import Queue, SimpleWorker
    from rq.registry import FailedJobRegistry

    import portal.queue
    from portal.queue import FlaskJob

    for rule in db.session.scalars(select(AlertRule).where(AlertRule.builtin_key.is_not(None))):
        rule.active = False  # only the test's own rule raises
    rule = make_rule("two_bounces", webhook_url=receiver.url)
    db.session.commit()
    monkeypatch.setattr(portal.queue, "enqueue_after_commit", lambda *a, **k: None)  # the queue was down
    raise_event_alert("two_bounces", institution_id=rule.institution_id, now=clock.now())
    db.session.commit()
    monkeypatch.undo()
    delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.status == "pending" and receiver.requests == []

    connection = Redis.from_url(redis_server.url)
    queue = Queue("notifications", connection=connection)
    queue.empty()
    _cron_entry(connection).enqueue(connection)  # what the cron scheduler does every 5 minutes
    assert queue.count == 1
    previous, FlaskJob._app = getattr(FlaskJob, "_app", None), app
    try:
        SimpleWorker([queue], connection=connection, job_class=FlaskJob).work(burst=True)
    finally:
        FlaskJob._app = previous
    assert FailedJobRegistry(queue=queue).count == 0 and queue.count == 0
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, delivery.id).status == "delivered"
    assert len(receiver.requests) == 1
