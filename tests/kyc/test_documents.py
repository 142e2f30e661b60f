"""KYC documents: uploads through the customer's page, OCR through a real RQ worker, the self-polling list,
the ugly uploads refused with a message, ownership, supersede with history, and Aadhaar never shown whole."""
from __future__ import annotations

import hashlib
import io
import logging
from datetime import UTC, datetime

import pytest
from PIL import Image
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.auth.models import Institution
from portal.errors import DomainError
from portal.extensions import db as _db
from portal.onboarding import documents
from portal.onboarding.models import KycDocument
from tests.conftest import csrf_token
from tests.factories import make_staff
from tests.kyc.conftest import (
    AADHAAR,
    PAN,
    aadhaar_png,
    app_config,
    make_kyc_customer,
    pan_png,
    upload,
)

NOW = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)
GROUPED = " ".join(AADHAAR[i:i + 4] for i in range(0, 12, 4))


def aadhaar_whole_in(text: str) -> bool:
    squeezed = "".join(ch for ch in text if not ch.isspace() and ch != "-")
    return AADHAAR in text or GROUPED in text or AADHAAR in squeezed


@pytest.fixture
def customer(db, login_as, client):
    customer = make_kyc_customer()
    db.session.commit()
    login_as(customer.user)
    return customer


def only_doc(customer_id: int, kind: str) -> KycDocument:
    _db.session.expire_all()
    return _db.session.scalar(select(KycDocument).where(KycDocument.customer_id == customer_id,
                                                        KycDocument.kind == kind,
                                                        KycDocument.superseded_at.is_(None)))


# ---- end to end through a real RQ worker -------------------------------------------------------------------
def test_pan_card_upload_is_ocrd_by_a_real_worker_and_matches(client, customer, rq_ocr, upload_dir):
    response = upload(client, "pan_card", pan_png(), "pan.png")
    assert response.status_code == 200, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    assert f'id="customer-{customer.id}-documents"' in html
    assert 'hx-trigger="load delay:2s"' in html and "/me/documents/panel" in html  # polls while OCR is queued
    assert response.headers["HX-Trigger"] == "kyc-documents-changed"
    doc = only_doc(customer.id, "pan_card")
    assert doc.ocr_status == "pending" and rq_ocr.queue.count == 1

    assert rq_ocr.work() == 1
    doc = only_doc(customer.id, "pan_card")
    assert doc.ocr_status == "done" and doc.match_result == "match"
    assert doc.ocr_fields["pan"] == PAN and doc.ocr_fields["checks"]["pan"] == "match"
    assert doc.ocr_ms > 0 and "ABCPE1234F" in doc.ocr_text
    # stored outside static/ under a random name, with its SHA-256
    stored = upload_dir / "kyc" / doc.storage_name
    assert stored.read_bytes() == pan_png()
    assert doc.storage_name != "pan.png" and doc.original_filename == "pan.png"
    assert doc.sha256 == hashlib.sha256(pan_png()).hexdigest() and doc.size_bytes == len(pan_png())

    panel = client.get("/me/documents/panel", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-ocr-status="done"' in panel and 'data-match="match"' in panel
    assert "hx-trigger" not in panel  # done: it stops polling


def test_aadhaar_upload_matches_and_is_never_whole(client, customer, rq_ocr, caplog):
    caplog.set_level(logging.DEBUG)
    assert upload(client, "aadhaar", aadhaar_png(), f"aadhaar {GROUPED}.png").status_code == 200
    rq_ocr.work()
    doc = only_doc(customer.id, "aadhaar")
    assert doc.match_result == "match" and doc.ocr_fields["aadhaar_masked"] == f"XXXX XXXX {AADHAAR[-4:]}"
    assert not aadhaar_whole_in(doc.ocr_text) and f"XXXX XXXX {AADHAAR[-4:]}" in doc.ocr_text
    assert not aadhaar_whole_in(repr(doc.ocr_fields)) and not aadhaar_whole_in(doc.original_filename)
    for url in ("/me/documents", "/me/documents/panel"):
        assert not aadhaar_whole_in(client.get(url).get_data(as_text=True))
    events = _db.session.scalars(select(AuditEvent)).all()
    assert not any(aadhaar_whole_in(repr(e.changes)) for e in events)
    assert not aadhaar_whole_in(caplog.text)


def test_a_typed_pan_that_differs_is_a_mismatch(client, db, login_as, rq_ocr):
    customer = make_kyc_customer(pan="ABCPE9999F")
    db.session.commit()
    login_as(customer.user)
    upload(client, "pan_card", pan_png(), "pan.png")
    rq_ocr.work()
    doc = only_doc(customer.id, "pan_card")
    assert doc.match_result == "mismatch" and doc.ocr_fields["checks"]["pan"] == "mismatch"
    assert 'data-match="mismatch"' in client.get("/me/documents").get_data(as_text=True)


def test_a_pdf_is_ocrd_through_pdftoppm(client, customer, rq_ocr, monkeypatch):
    from portal.onboarding import ocr

    calls = []
    real_run = ocr.subprocess.run

    def spy(args, **kwargs):
        calls.append((args, kwargs.get("timeout")))
        return real_run(args, **kwargs)

    monkeypatch.setattr(ocr.subprocess, "run", spy)
    assert upload(client, "pan_card", pan_png(fmt="PDF"), "pan.pdf").status_code == 200
    rq_ocr.work()
    doc = only_doc(customer.id, "pan_card")
    assert doc.content_type == "application/pdf" and doc.storage_name.endswith(".pdf")
    assert doc.ocr_status == "done" and doc.match_result == "match"
    assert calls and calls[0][0][:7] == ["pdftoppm", "-r", "200", "-f", "1", "-l", "1"] and calls[0][1]


def test_a_bank_statement_pdf_is_accepted_and_a_photo_needs_no_ocr(client, customer):
    assert upload(client, "bank_statement", pan_png(fmt="PDF"), "statement.pdf").status_code == 200
    assert upload(client, "photo", pan_png(fmt="JPEG"), "me.jpg").status_code == 200
    assert only_doc(customer.id, "bank_statement").ocr_status == "done"      # eager jobs in tests
    photo = only_doc(customer.id, "photo")
    assert photo.ocr_status == "not_applicable" and photo.content_type == "image/jpeg"


def test_ocr_unavailable_gives_a_clear_status_not_a_crash(client, customer, monkeypatch):
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    response = upload(client, "pan_card", pan_png(), "pan.png")
    assert response.status_code == 200
    doc = only_doc(customer.id, "pan_card")
    assert doc.ocr_status == "unavailable" and doc.match_result is None
    assert "Tesseract" in doc.ocr_fields["message"]
    page = client.get("/me/documents")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "OCR unavailable" in html and "not installed" in html


def test_a_document_whose_file_is_missing_fails_ocr_with_a_message(client, customer, monkeypatch, upload_dir):
    from jobs.ocr import run_ocr
    from portal import queue

    monkeypatch.setattr(queue, "enqueue_after_commit", lambda *args, **kwargs: None)
    upload(client, "pan_card", pan_png(), "pan.png")
    doc = only_doc(customer.id, "pan_card")
    (upload_dir / "kyc" / doc.storage_name).unlink()
    assert run_ocr(doc.id) == "failed"
    doc = only_doc(customer.id, "pan_card")
    assert doc.ocr_status == "failed" and "missing" in doc.ocr_fields["message"]
    assert run_ocr(999999) is None


# ---- the customer's page and fragment ----------------------------------------------------------------------
def test_documents_page_and_fragment(client, customer):
    page = client.get("/me/documents")
    assert page.status_code == 200 and "HX-Request" in page.headers["Vary"]
    html = page.get_data(as_text=True)
    assert "<html" in html and 'id="kyc-upload-form"' in html and 'hx-encoding="multipart/form-data"' in html
    assert f'hx-target="#customer-{customer.id}-documents"' in html and "No documents yet" in html
    assert '<a class="nav-link active" href="/me/documents" aria-current="page">Documents</a>' in html
    fragment = client.get("/me/documents", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and fragment.lstrip().startswith(f'<section id="customer-{customer.id}-documents"')
    panel = client.get("/me/documents/panel").get_data(as_text=True)
    assert "<html" not in panel and f'id="customer-{customer.id}-documents"' in panel


def test_upload_without_htmx_redirects_with_a_flash(client, customer):
    response = upload(client, "aadhaar", aadhaar_png(), "a.png", htmx=False)
    assert response.status_code == 303 and response.headers["Location"].endswith("/me/documents")
    assert "Aadhaar uploaded." in client.get("/me/documents").get_data(as_text=True)


def test_the_list_shows_kind_name_size_time_and_status(client, customer):
    upload(client, "pan_card", pan_png(), "my pan.png")
    html = client.get("/me/documents/panel").get_data(as_text=True)
    assert "PAN card" in html and "my pan.png" in html and "KB" in html and "IST" in html
    assert 'data-ocr-status="done"' in html and 'data-review="pending"' in html


def test_the_list_polls_while_ocr_is_running(client, customer, monkeypatch):
    from portal import queue

    started = []
    monkeypatch.setattr(queue, "enqueue_after_commit", lambda *args, **kwargs: started.append((args, kwargs)))
    upload(client, "pan_card", pan_png(), "pan.png")
    doc = only_doc(customer.id, "pan_card")
    assert started == [(("jobs.ocr.run_ocr", doc.id), {"queue": "ocr"})]
    assert documents.mark_ocr_running(doc.id)
    _db.session.expire_all()  # the test shares its session with the request
    html = client.get("/me/documents/panel", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-ocr-status="running"' in html
    assert 'hx-get="/me/documents/panel" hx-trigger="load delay:2s" hx-swap="outerHTML"' in html


# ---- ugly uploads ------------------------------------------------------------------------------------------
def _refused(response, status: int, text: str):
    assert response.status_code == status, response.get_data(as_text=True)
    assert text in response.get_data(as_text=True)


def test_a_text_file_renamed_jpg_is_refused(client, customer):
    response = upload(client, "pan_card", b"this is my PAN card, honest\n" * 10, "pan.jpg")
    _refused(response, 422, "is not a JPEG, PNG or PDF file")
    assert response.headers["HX-Retarget"] == "#kyc-upload-form"
    assert 'id="kyc-upload-form"' in response.get_data(as_text=True)
    assert _db.session.scalar(select(func.count(KycDocument.id))) == 0


def test_a_six_megabyte_file_is_refused(client, customer, upload_dir):
    big = b"\xff\xd8\xff\xe0" + b"\0" * (6 * 1024 * 1024)
    _refused(upload(client, "pan_card", big, "big.jpg"), 413, "too large")
    _refused(upload(client, "pan_card", big, "big.jpg", htmx=False), 413, "the limit is 5 MB")
    assert _db.session.scalar(select(func.count(KycDocument.id))) == 0
    assert not list(upload_dir.glob("kyc/*"))


def test_an_empty_file_is_refused(client, customer):
    _refused(upload(client, "pan_card", b"", "empty.png"), 422, "is empty")


def test_a_png_bank_statement_is_refused(client, customer):
    _refused(upload(client, "bank_statement", pan_png(), "statement.png"), 422, "must be a PDF")


def test_a_pdf_photo_is_refused(client, customer):
    _refused(upload(client, "photo", pan_png(fmt="PDF"), "me.pdf"), 422, "must be an image")


def test_a_truncated_jpeg_is_refused(client, customer):
    data = pan_png(fmt="JPEG")
    _refused(upload(client, "pan_card", data[: len(data) // 2], "cut.jpg"), 422, "cannot be opened")
    garbage = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
    _refused(upload(client, "pan_card", garbage, "garbage.jpg"), 422, "cannot be opened")


def test_an_unknown_kind_and_a_missing_file_are_refused(client, customer):
    _refused(upload(client, "passport", pan_png(), "p.png"), 422, "Not a valid choice")
    response = client.post("/me/documents", headers={"HX-Request": "true"},
                           data={"kind": "pan_card", "csrf_token": csrf_token(client, "/me/documents")})
    _refused(response, 422, "Choose the file")


def test_the_service_refuses_with_domain_errors(db, app):
    customer = make_kyc_customer()
    with pytest.raises(DomainError) as too_big:
        with app_config(app, KYC_MAX_BYTES=1000):
            documents.upload_document(customer, kind="pan_card", filename="x.png", data=pan_png(), actor=None,
                                      now=NOW)
    assert too_big.value.http_status == 413
    with pytest.raises(DomainError) as bad_kind:
        documents.upload_document(customer, kind="selfie", filename="x.png", data=pan_png(), actor=None,
                                  now=NOW)
    assert bad_kind.value.http_status == 422


# ---- ownership ---------------------------------------------------------------------------------------------
def test_a_customer_downloads_only_their_own_documents(client, customer, db, login_as):
    upload(client, "pan_card", pan_png(), "pan.png")
    mine = only_doc(customer.id, "pan_card")
    own = client.get(f"/me/documents/{mine.id}/file")
    assert own.status_code == 200 and own.data == pan_png() and own.mimetype == "image/png"
    assert own.headers["X-Content-Type-Options"] == "nosniff"

    other = make_kyc_customer(first_name="Ravi", last_name="Kumar")
    db.session.commit()
    login_as(other.user)
    assert client.get(f"/me/documents/{mine.id}/file").status_code == 404
    assert client.get("/me/documents/999999/file").status_code == 404


def test_staff_of_another_institution_get_404(client, customer, db, login_as):
    upload(client, "pan_card", pan_png(), "pan.png")
    doc = only_doc(customer.id, "pan_card")
    other = Institution(slug="other-lender", name="Other Lender")
    db.session.add(other)
    db.session.flush()
    from portal.auth.services import create_user

    officer = create_user(email="lo@other.test", role="loan_officer", password="correct-horse-1",
                          display_name="Other Officer", institution=other)
    db.session.commit()
    login_as(officer)
    assert client.get(f"/staff/kyc/documents/{doc.id}/file").status_code == 404
    assert client.get(f"/staff/kyc/{customer.id}").status_code == 404
    assert post_as_staff(client, f"/staff/kyc/documents/{doc.id}/approve").status_code == 404
    assert customer.name not in client.get("/staff/kyc").get_data(as_text=True)
    own_officer = make_staff("loan_officer")
    db.session.commit()
    login_as(own_officer)
    assert client.get(f"/staff/kyc/documents/{doc.id}/file").status_code == 200


def post_as_staff(client, url, data=None):
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client, "/staff/kyc")},
                       headers={"HX-Request": "true"})


# ---- re-upload ---------------------------------------------------------------------------------------------
def test_a_re_upload_supersedes_and_keeps_history(client, customer, clock, upload_dir):
    upload(client, "pan_card", pan_png(pan="ABCPE9999F"), "old.png")
    first = only_doc(customer.id, "pan_card")
    clock.advance(minutes=5)
    upload(client, "pan_card", pan_png(), "new.png")
    _db.session.expire_all()
    rows = _db.session.scalars(select(KycDocument).where(KycDocument.customer_id == customer.id)
                               .order_by(KycDocument.id)).all()
    assert [r.original_filename for r in rows] == ["old.png", "new.png"]
    assert rows[0].superseded_at == clock.now() and rows[1].superseded_at is None
    assert (upload_dir / "kyc" / rows[0].storage_name).exists()     # the old file is kept
    assert [d.id for d in documents.current_documents(customer)] == [rows[1].id]
    assert [d.id for d in documents.document_history(customer)] == [first.id]
    page = client.get("/me/documents").get_data(as_text=True)
    assert "Earlier uploads (1)" in page and "old.png" in page
    audit = _db.session.scalars(select(AuditEvent).where(AuditEvent.action == "kyc_document.uploaded")
                                .order_by(AuditEvent.id)).all()
    assert len(audit) == 2 and audit[1].changes["supersedes"] == first.id
    # the customer's own old version is still downloadable; the history is theirs
    assert client.get(f"/me/documents/{first.id}/file").status_code == 200


def test_a_failed_transaction_removes_the_written_file(db, upload_dir):
    customer = make_kyc_customer()
    db.session.commit()
    documents.upload_document(customer, kind="aadhaar", filename="a.png", data=aadhaar_png(), actor=None,
                              now=NOW)
    assert len(list((upload_dir / "kyc").iterdir())) == 1
    db.session.rollback()
    assert list((upload_dir / "kyc").iterdir()) == []


def test_uploading_moves_kyc_status_along(client, customer):
    assert customer.kyc_status == "not_started"
    upload(client, "pan_card", pan_png(), "pan.png")
    _db.session.expire_all()
    assert _db.session.get(type(customer), customer.id).kyc_status == "in_progress"


def test_images_are_checked_by_content_not_name(client, customer):
    png = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(png, "PNG")
    response = upload(client, "photo", png.getvalue(), "photo.pdf")  # a PNG named .pdf is a PNG
    assert response.status_code == 200
    doc = only_doc(customer.id, "photo")
    assert doc.content_type == "image/png" and doc.storage_name.endswith(".png")
