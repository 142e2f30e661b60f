"""KYC documents (seed 002): upload, OCR and review.

``upload_document`` accepts a file by its content (magic bytes, and images must decode), stores it outside
``static/`` under a random name with its SHA-256, supersedes the previous document of that kind (history
kept), audits, and starts the OCR job (``jobs.ocr.run_ocr`` on the ``ocr`` queue) after the commit.
``process_ocr`` is what that job runs. ``approve_document`` / ``reject_document`` are the loan officer's
review; the customer's ``kyc_status`` follows (``refresh_kyc_status``) and the customer gets an in-app
notification. Services flush, never commit; the actor and the time are arguments.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import secrets
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from portal.audit.services import record
from portal.errors import DomainError, NotFound
from portal.extensions import db
from portal.onboarding.models import Customer, KycDocument

log = logging.getLogger(__name__)

DOCUMENT_KINDS: dict[str, str] = {
    "pan_card": "PAN card",
    "aadhaar": "Aadhaar",
    "voter_id": "Voter ID",
    "driving_licence": "Driving licence",
    "vehicle_rc": "Vehicle RC",
    "bank_statement": "Bank statement (PDF)",
    "photo": "Photo",
}
REQUIRED_KINDS: tuple[str, ...] = ("pan_card", "aadhaar")
OCR_KINDS = frozenset(DOCUMENT_KINDS) - {"photo"}
PDF_ONLY_KINDS = frozenset({"bank_statement"})
IMAGE_ONLY_KINDS = frozenset({"photo"})
OCR_JOB = "jobs.ocr.run_ocr"
OCR_PENDING_STATES = ("pending", "running")

JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"
EXTENSIONS = {JPEG: ".jpg", PNG: ".png", PDF: ".pdf"}
TYPE_LABELS = {JPEG: "JPEG image", PNG: "PNG image", PDF: "PDF"}
_FILES_KEY = "kyc_files_written"
MAX_IMAGE_PIXELS = 60_000_000  # a 5 MB JPEG from a phone is at most ~50 megapixels


# ---- checks -----------------------------------------------------------------------------------------------
def human_size(size: int) -> str:
    """1536 -> '1.5 KB'; 5242880 -> '5 MB'."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            if unit == "bytes":
                return f"{int(value)} bytes"
            return f"{value:.1f}".rstrip("0").rstrip(".") + f" {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover


def sniff_content_type(data: bytes) -> str | None:
    """JPEG, PNG or PDF by the file's first bytes (magic numbers); None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def _check_image_decodes(data: bytes, name: str) -> None:
    """Refuse an image that Pillow cannot decode completely (truncated, garbage after the header)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as probe:
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise DomainError(f"{name} is too large an image ({image.width} x {image.height} pixels); "
                                  "scan it at a lower resolution.")
            image.load()
    except DomainError:
        raise
    except Exception:  # Pillow raises OSError, SyntaxError, ValueError, DecompressionBombError...
        raise DomainError(f"{name} looks like an image but cannot be opened (it may be damaged or incomplete). "
                          "Take the photo or scan again and upload it.") from None


def _check_pdf(data: bytes, name: str) -> None:
    if b"%%EOF" not in data[-2048:]:
        raise DomainError(f"{name} looks like a PDF but is incomplete (no end-of-file marker). "
                          "Download or save it again and upload it.")


def clean_filename(filename: str | None, kind: str) -> str:
    """The file's base name for display only (never used for the path); Aadhaar-like numbers masked."""
    from portal.onboarding.ocr import mask_aadhaar_numbers

    base = os.path.basename((filename or "").replace("\\", "/"))
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    base = mask_aadhaar_numbers(base) or ""
    return (base or f"{kind}-upload")[:255]


def check_upload(*, kind: str, filename: str, data: bytes | None, max_bytes: int) -> str:
    """Check an upload; return its content type. DomainError 413 when too large, 422 otherwise."""
    if kind not in DOCUMENT_KINDS:
        raise DomainError("Choose which document this is (PAN card, Aadhaar, ...).")
    label = DOCUMENT_KINDS[kind]
    if not data:
        raise DomainError(f"{filename} is empty (0 bytes). Choose the file of your {label} again.")
    if len(data) > max_bytes:
        raise DomainError(f"{filename} is too large ({human_size(len(data))}); the limit is "
                          f"{human_size(max_bytes)} per document. Scan it at a lower resolution or compress it.",
                          413)
    content_type = sniff_content_type(data)
    if content_type is None:
        raise DomainError(f"{filename} is not a JPEG, PNG or PDF file (whatever its name says). "
                          "Upload a photo or scan (JPEG or PNG) or a PDF.")
    if kind in PDF_ONLY_KINDS and content_type != PDF:
        raise DomainError(f"The {label.replace(' (PDF)', '').lower()} must be a PDF; {filename} is a "
                          f"{TYPE_LABELS[content_type]}. Download the statement as a PDF from your bank.")
    if kind in IMAGE_ONLY_KINDS and content_type == PDF:
        raise DomainError(f"The {label.lower()} must be an image (JPEG or PNG); {filename} is a PDF.")
    check_decodes(data, filename, content_type)
    return content_type


def check_decodes(data: bytes, filename: str, content_type: str) -> None:
    """The file really is what its first bytes say: a PDF that opens, an image that decodes (within
    MAX_IMAGE_PIXELS). DomainError (422) otherwise. Shared by KYC documents and ticket attachments."""
    if content_type == PDF:
        _check_pdf(data, filename)
    else:
        _check_image_decodes(data, filename)


# ---- storage ----------------------------------------------------------------------------------------------
def upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) / "kyc"


def document_path(doc: KycDocument) -> Path:
    """Where ``doc``'s bytes live (a random name chosen at upload; never the customer's file name)."""
    if not re.fullmatch(r"[0-9a-f]{32}\.(jpg|png|pdf)", doc.storage_name):
        raise NotFound("There is no such document.")
    return upload_dir() / doc.storage_name


def read_document_bytes(doc: KycDocument) -> bytes:
    try:
        return document_path(doc).read_bytes()
    except FileNotFoundError:
        raise NotFound("The file of this document is missing from storage.") from None


def write_file(storage_name: str, data: bytes, folder: Path | None = None) -> Path:
    """Write ``data`` as ``folder/storage_name`` (default: the KYC upload folder) atomically; the file is removed
    again if the transaction rolls back (nothing would point at it). Returns the path."""
    folder = folder or upload_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o750)
    path = folder / storage_name
    tmp = folder / f".{storage_name}.part"
    with open(tmp, "xb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    # remove the file again if this transaction rolls back (nothing would point at it)
    db.session().info.setdefault(_FILES_KEY, []).append(path)
    return path


@event.listens_for(Session, "after_commit")
def _keep_written_files(session: Session) -> None:
    session.info.pop(_FILES_KEY, None)


@event.listens_for(Session, "after_soft_rollback")
def _remove_written_files(session: Session, previous_transaction) -> None:
    if previous_transaction.nested:
        return
    for path in session.info.pop(_FILES_KEY, []):
        try:
            path.unlink()
        except OSError:
            pass


# ---- queries ----------------------------------------------------------------------------------------------
def _kind_order(doc: KycDocument) -> int:
    return list(DOCUMENT_KINDS).index(doc.kind) if doc.kind in DOCUMENT_KINDS else len(DOCUMENT_KINDS)


def current_documents(customer: Customer) -> list[KycDocument]:
    """The customer's current (not superseded) documents, in the order of DOCUMENT_KINDS."""
    docs = db.session.scalars(select(KycDocument).where(KycDocument.customer_id == customer.id,
                                                        KycDocument.superseded_at.is_(None))
                              .order_by(KycDocument.id)).all()
    return sorted(docs, key=_kind_order)


def document_history(customer: Customer) -> list[KycDocument]:
    """Superseded documents of the customer, newest first (the history kept on re-upload)."""
    return list(db.session.scalars(select(KycDocument).where(KycDocument.customer_id == customer.id,
                                                             KycDocument.superseded_at.is_not(None))
                                   .order_by(KycDocument.superseded_at.desc(), KycDocument.id.desc())))


def required_kinds(customer: Customer) -> tuple[str, ...]:
    """Kinds that must be approved for KYC to be verified: PAN card and Aadhaar (the same for a business)."""
    return REQUIRED_KINDS


def missing_required_kinds(customer: Customer) -> list[str]:
    """Required kinds the customer has not uploaded yet (for the wizard's documents step)."""
    have = {d.kind for d in current_documents(customer)}
    return [k for k in required_kinds(customer) if k not in have]


def ocr_in_progress(documents: list[KycDocument]) -> bool:
    return any(d.ocr_status in OCR_PENDING_STATES for d in documents)


def customer_document(customer: Customer, document_id: int) -> KycDocument:
    """The customer's own document ``document_id`` (any version); NotFound (404) for anyone else's."""
    doc = db.session.get(KycDocument, document_id)
    if doc is None or doc.customer_id != customer.id:
        raise NotFound("There is no such document.")
    return doc


def institution_document(institution_id: int, document_id: int) -> KycDocument:
    """Document ``document_id`` of a customer of ``institution_id``; NotFound (404) otherwise."""
    doc = db.session.get(KycDocument, document_id)
    if doc is None or doc.customer.institution_id != institution_id:
        raise NotFound("There is no such document.")
    return doc


# ---- KYC status -------------------------------------------------------------------------------------------
def computed_kyc_status(customer: Customer, documents: list[KycDocument] | None = None) -> str:
    """What ``kyc_status`` should be given the current documents: rejected when any is rejected; verified when
    every required kind is approved; else submitted (after the wizard's submit, or when it was already
    submitted/verified/rejected) or in_progress."""
    documents = current_documents(customer) if documents is None else documents
    if any(d.review_status == "rejected" for d in documents):
        return "rejected"
    approved = {d.kind for d in documents if d.review_status == "approved"}
    if all(kind in approved for kind in required_kinds(customer)):
        return "verified"
    if customer.onboarding_submitted_at or customer.kyc_status in ("submitted", "verified", "rejected"):
        return "submitted"
    return "in_progress" if documents else customer.kyc_status


def refresh_kyc_status(customer: Customer, *, actor) -> str:
    """Set ``customer.kyc_status`` from the current documents; audit ``customer.kyc_status_changed``."""
    db.session.flush()
    new = computed_kyc_status(customer)
    old = customer.kyc_status
    if new != old:
        customer.kyc_status = new
        record(actor, "customer.kyc_status_changed", customer, changes={"kyc_status": (old, new)})
    return new


# ---- upload -----------------------------------------------------------------------------------------------
def upload_document(customer: Customer, *, kind: str, filename: str, data: bytes, actor, now: datetime
                    ) -> KycDocument:
    """Store a KYC document of ``kind`` for ``customer`` and return it (flushed, not committed).

    Refuses with DomainError: 422 for an unknown kind, an empty file, a file that is not JPEG/PNG/PDF by its
    content, a bank statement that is not a PDF, a photo that is not an image, an image that does not
    decode; 413 for more than ``KYC_MAX_BYTES``. The previous current document of that kind is superseded
    (``superseded_at``; history kept). Writes the file under ``UPLOAD_DIR`` (removed again if the
    transaction rolls back), audits ``kyc_document.uploaded``, refreshes the customer's ``kyc_status`` and,
    for OCR-able kinds, starts ``jobs.ocr.run_ocr`` on the ``ocr`` queue after the commit.
    """
    display_name = clean_filename(filename, kind)
    content_type = check_upload(kind=kind, filename=display_name, data=data,
                                max_bytes=int(current_app.config["KYC_MAX_BYTES"]))
    # one upload per customer at a time, so two concurrent uploads of a kind cannot both stay current
    db.session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())
    previous = db.session.scalar(select(KycDocument).where(
        KycDocument.customer_id == customer.id, KycDocument.kind == kind, KycDocument.superseded_at.is_(None)))
    if previous is not None:
        previous.superseded_at = now
    storage_name = secrets.token_hex(16) + EXTENSIONS[content_type]
    sha256 = hashlib.sha256(data).hexdigest()
    write_file(storage_name, data)
    doc = KycDocument(customer_id=customer.id, kind=kind, original_filename=display_name,
                      storage_name=storage_name, content_type=content_type, size_bytes=len(data), sha256=sha256,
                      uploaded_at=now, uploaded_by_id=getattr(actor, "id", None),
                      ocr_status="pending" if kind in OCR_KINDS else "not_applicable", review_status="pending")
    db.session.add(doc)
    db.session.flush()
    record(actor, "kyc_document.uploaded", doc, institution_id=customer.institution_id, changes={
        "customer_id": customer.id, "kind": kind, "file": display_name, "content_type": content_type,
        "size_bytes": len(data), "sha256": sha256, "supersedes": previous.id if previous else None})
    refresh_kyc_status(customer, actor=actor)
    if kind in OCR_KINDS:
        from portal.queue import enqueue_after_commit

        enqueue_after_commit(OCR_JOB, doc.id, queue="ocr")
    return doc


# ---- OCR (run by jobs.ocr.run_ocr) ------------------------------------------------------------------------
def typed_values(customer: Customer):
    """What the customer typed, for comparison with OCR (the whole Aadhaar is decrypted in memory only)."""
    from portal.crypto import decrypt
    from portal.onboarding.ocr import TypedValues

    aadhaar = None
    if customer.aadhaar_encrypted:
        try:
            aadhaar = decrypt(customer.aadhaar_encrypted)
        except ValueError:
            log.warning("customer %s: the stored Aadhaar cannot be decrypted with this key", customer.id)
    name = customer.name if (customer.first_name or customer.last_name) else None
    return TypedValues(name=name, date_of_birth=customer.date_of_birth, pan=customer.pan, aadhaar=aadhaar)


def mark_ocr_running(document_id: int) -> bool:
    """Set ``ocr_status`` running in a short transaction of its own (so the customer's panel shows it while the
    job works). False when the document is gone, superseded or not OCR-able."""
    with db.engine.begin() as conn:
        result = conn.execute(update(KycDocument)
                              .where(KycDocument.id == document_id, KycDocument.superseded_at.is_(None),
                                     KycDocument.ocr_status != "not_applicable")
                              .values(ocr_status="running"))
    return result.rowcount == 1


def mark_ocr_failed(document_id: int, message: str) -> None:
    """Record an unexpected OCR failure in a fresh transaction (after the job's rollback)."""
    with db.engine.begin() as conn:
        conn.execute(update(KycDocument).where(KycDocument.id == document_id)
                     .values(ocr_status="failed", ocr_fields={"message": message[:500]}))


def process_ocr(document_id: int, *, now: datetime) -> KycDocument | None:
    """Read document ``document_id`` with OCR and store the outcome (status, masked text, fields, elapsed ms,
    match result). Returns the document, or None when it no longer exists. A missing OCR engine gives status
    ``unavailable`` and a broken file ``failed``, each with a message in ``ocr_fields["message"]``; neither
    raises. Flushes; the job commits."""
    from portal.onboarding.ocr import ocr_document

    doc = db.session.get(KycDocument, document_id)
    if doc is None:
        return None
    if doc.kind not in OCR_KINDS:
        doc.ocr_status = "not_applicable"
        return doc
    try:
        data = read_document_bytes(doc)
    except NotFound as exc:
        doc.ocr_status, doc.ocr_fields, doc.match_result = "failed", {"message": exc.message}, None
        log.warning("OCR of kyc_document %s: the file is missing from storage", doc.id)
        return doc
    outcome = ocr_document(data, doc.content_type, doc.kind, typed_values(doc.customer))
    doc.ocr_status = outcome.status
    doc.ocr_text = outcome.text
    doc.ocr_fields = outcome.fields
    doc.ocr_ms = outcome.ms
    doc.match_result = outcome.match_result if outcome.status == "done" else None
    db.session.flush()
    # ids, kinds and outcomes only: never the text or any number read from the document
    log.info("OCR of kyc_document %s (%s): %s, %s, %d ms", doc.id, doc.kind, outcome.status,
             doc.match_result or "-", outcome.ms)
    if doc.match_result == "mismatch":  # issue 6: OCR and the typed data disagree -> kyc_mismatch alert
        from portal.alerts.services import raise_event_alert

        customer = doc.customer
        raise_event_alert("kyc_mismatch", institution_id=customer.institution_id, now=now, customer_id=customer.id,
                          dedupe_key=f"kyc_document:{doc.id}",
                          detail={"document_id": doc.id, "document_kind": doc.kind})
    return doc


# ---- review -----------------------------------------------------------------------------------------------
def _reviewable(doc: KycDocument) -> None:
    if doc.superseded_at is not None:
        raise DomainError("This document has been replaced by a newer upload; review the current one.", 409)


def _tell_customer(customer: Customer, event: str, *, now: datetime, **context) -> None:
    """Tell ``customer`` about ``event`` (``kyc.document_approved`` | ``kyc.document_rejected``) with ``context``:
    the institution's templates, on the event's channels as the customer's preferences allow."""
    from portal.notifications.services import notify_event

    notify_event(event, customer=customer, now=now, context=context)


def approve_document(doc: KycDocument, *, actor, now: datetime) -> KycDocument:
    """A loan officer approves ``doc``: audited, the customer's KYC status follows, the customer is told."""
    _reviewable(doc)
    old = doc.review_status
    doc.review_status, doc.reviewed_by_id, doc.reviewed_at, doc.review_reason = (
        "approved", getattr(actor, "id", None), now, None)
    record(actor, "kyc_document.approved", doc, institution_id=doc.customer.institution_id,
           changes={"review_status": (old, "approved"), "kind": doc.kind, "customer_id": doc.customer_id})
    status = refresh_kyc_status(doc.customer, actor=actor)
    _tell_customer(doc.customer, "kyc.document_approved", now=now, document=DOCUMENT_KINDS.get(doc.kind, doc.kind),
                   kyc_verified=status == "verified")
    return doc


def reject_document(doc: KycDocument, *, reason: str, actor, now: datetime) -> KycDocument:
    """A loan officer rejects ``doc`` with a ``reason`` (required): audited, KYC status rejected, customer told."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Give a reason for the rejection; the customer will see it.")
    if len(reason) > 1000:
        raise DomainError("Keep the reason under 1,000 characters.")
    _reviewable(doc)
    old = doc.review_status
    doc.review_status, doc.reviewed_by_id, doc.reviewed_at, doc.review_reason = (
        "rejected", getattr(actor, "id", None), now, reason)
    record(actor, "kyc_document.rejected", doc, institution_id=doc.customer.institution_id,
           changes={"review_status": (old, "rejected"), "kind": doc.kind, "customer_id": doc.customer_id},
           note=reason)
    refresh_kyc_status(doc.customer, actor=actor)
    _tell_customer(doc.customer, "kyc.document_rejected", now=now, document=DOCUMENT_KINDS.get(doc.kind, doc.kind),
                   reason=reason.rstrip("."))
    return doc

