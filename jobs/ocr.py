"""Job adapter for OCR of a KYC document: mark it running, call the service, commit once."""
from __future__ import annotations

from portal.clock import clock
from portal.extensions import db
from portal.onboarding import documents


def run_ocr(document_id: int) -> str | None:
    """OCR KYC document ``document_id`` (``portal.onboarding.documents.process_ocr``) and commit; returns its
    OCR status (None when the document is gone or was superseded before the job ran).

    The running status is written in a short transaction of its own so the customer's panel shows it while
    Tesseract works. A missing OCR engine or an unreadable file is an outcome (unavailable / failed), not an
    error; an unexpected error rolls back, marks the document failed in a fresh transaction and re-raises so
    RQ records the failure.
    """
    document_id = int(document_id)
    if not documents.mark_ocr_running(document_id):
        return None
    try:
        doc = documents.process_ocr(document_id, now=clock().now())
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        documents.mark_ocr_failed(document_id, f"OCR stopped with an unexpected error ({type(exc).__name__}).")
        raise
    return doc.ocr_status if doc else None
