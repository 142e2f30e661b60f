"""Job adapter for the loan-book import: coerce the id, call the service, commit once."""
from __future__ import annotations

from portal.clock import clock
from portal.extensions import db
from portal.ingest import services


def run_import(batch_id: int) -> int:
    """Run import batch ``batch_id`` (``portal.ingest.services.run_import``) and commit; returns its id.

    On an unexpected error the transaction is rolled back (no data lands), the batch is marked failed with
    the error text in a fresh transaction, and the error is re-raised so RQ records the failure.
    """
    batch_id = int(batch_id)
    try:
        batch = services.run_import(batch_id, now=clock().now())
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        services.mark_failed(batch_id, f"{type(exc).__name__}: {exc}", now=clock().now())
        raise
    return batch.id
