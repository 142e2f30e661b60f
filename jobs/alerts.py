"""Job adapters of the alert engine (``notifications`` queue): coerce ids, call one service, commit once.

* ``deliver_webhook(delivery_id)``: the next attempt of one webhook delivery (``portal.alerts.webhooks``);
  a failed attempt schedules the next one by the backoff schedule. Idempotent: a finished or not-yet-due
  delivery is left as it is.
* ``deliver_due_webhooks()``: the outbox sweeper: queue ``deliver_webhook`` for every delivery due now (after a
  close of business that raised alerts on rules with webhooks, or when the queue was down at commit time).
"""
from __future__ import annotations

from portal.clock import clock
from portal.extensions import db


def deliver_webhook(delivery_id: int) -> str | None:
    """Attempt delivery ``delivery_id`` now; commit; return its status (None when it does not exist)."""
    from portal.alerts.webhooks import attempt_delivery

    delivery = attempt_delivery(int(delivery_id), now=clock().now())
    status = delivery.status if delivery else None
    db.session.commit()
    return status


def deliver_due_webhooks() -> int:
    """Queue one ``deliver_webhook`` per delivery due now (after the commit); return how many."""
    from portal.alerts.webhooks import due_delivery_ids
    from portal.queue import enqueue_after_commit

    ids = due_delivery_ids(clock().now())
    for delivery_id in ids:
        enqueue_after_commit("jobs.alerts.deliver_webhook", delivery_id, queue="notifications")
    db.session.commit()
    return len(ids)
