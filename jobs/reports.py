"""Job adapter for exports (``exports`` queue): coerce the id, call the service, commit once."""
from __future__ import annotations

from portal.clock import clock
from portal.extensions import db
from portal.reports import exports


def run_export(export_id: int) -> int:
    """Write export ``export_id`` (``portal.reports.exports.run_export``) and commit; returns its row count.

    On an error the transaction is rolled back, the export is marked failed with the error text in a fresh
    transaction, and the error is re-raised so RQ records the failure.
    """
    export_id = int(export_id)
    try:
        export = exports.run_export(export_id, now=clock().now())
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        exports.mark_failed(export_id, f"{type(exc).__name__}: {exc}", now=clock().now())
        raise
    return export.row_count or 0
