"""Admin import pages: upload, the self-polling status panel (page and fragment), rejected rows as CSV,
bad uploads refused with a message (never a 500), and staff scoping."""
from __future__ import annotations

import csv
import io
import os
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from portal.auth.models import Institution
from portal.auth.services import default_institution
from portal.extensions import db as _db
from portal.ingest import services
from portal.ingest.models import ImportBatch
from portal.ingest.workbook import CUSTOMER_HEADERS, LOAN_HEADERS
from portal.lending.models import Loan
from portal.onboarding.models import Customer
from tests.conftest import post_form
from tests.factories import make_staff

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "alemeno"
URL = "/admin/imports"


def real_bytes(name: str) -> bytes:
    path = DATA / name
    if not path.is_file():
        message = f"real data file {path} is missing"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path.read_bytes()


def xlsx(headers, rows) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


CUSTOMERS = xlsx(CUSTOMER_HEADERS, [[1, "Aarav", "Shah", 30, 9876543210, 50000, 1800000]])
LOANS = xlsx(LOAN_HEADERS, [[1, 7001, 100000, 12, 12, 8885, 3, date(2024, 1, 5), date(2025, 1, 5)],
                            [999, 7002, 50000, 6, 10, 8600, 1, date(2024, 2, 1), date(2024, 8, 1)]])


@contextmanager
def config(app, **values):
    previous = {k: app.config.get(k) for k in values}
    app.config.update(values)
    try:
        yield
    finally:
        app.config.update(previous)


def count(model) -> int:
    return _db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def admin(db, login_as):
    user = make_staff("admin")
    db.session.commit()
    return login_as(user)


def upload(client, customers: bytes, loans: bytes, names=("customer_data.xlsx", "loan_data.xlsx")):
    return post_form(client, URL, {"customers": (io.BytesIO(customers), names[0]),
                                   "loans": (io.BytesIO(loans), names[1])},
                     page=URL, content_type="multipart/form-data")


# ---- access -------------------------------------------------------------------------------------------------
def test_the_upload_page_for_an_admin(client, admin):
    response = client.get(URL)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in html
    assert 'type="file"' in html and 'name="customers"' in html and 'name="loans"' in html
    assert "No imports yet" in html


def test_a_loan_officer_may_not_import(client, db, login_as):
    user = make_staff("loan_officer")
    db.session.commit()
    login_as(user)
    assert client.get(URL).status_code == 403


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


# ---- the real book through the page ---------------------------------------------------------------------------
def test_uploading_the_real_book_imports_it(client, admin):
    response = upload(client, real_bytes("customer_data.xlsx"), real_bytes("loan_data.xlsx"))

    assert response.status_code == 303
    batch = _db.session.scalar(select(ImportBatch))
    assert response.headers["Location"].endswith(f"{URL}/{batch.id}")
    _db.session.expire_all()
    batch = _db.session.get(ImportBatch, batch.id)
    assert batch.status == "done", batch.error  # eager jobs in tests
    assert count(Customer) == 300 and count(Loan) == 782

    page = client.get(f"{URL}/{batch.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html
    assert f'id="import-{batch.id}-status"' in html
    assert ">300<" in html and ">782<" in html
    assert "No rows rejected" in html
    assert "hx-trigger" not in html.split(f'id="import-{batch.id}-status"')[1].split(">")[0]

    listing = client.get(URL).get_data(as_text=True)
    assert "300 / 0 / 0" in listing and "782 / 0 / 0" in listing and 'data-status="done"' in listing


def test_the_status_fragment_for_htmx(client, admin):
    batch = services.create_import(customers_name="c.xlsx", customers_bytes=CUSTOMERS, loans_name="l.xlsx",
                                   loans_bytes=LOANS, actor=admin, institution_id=admin.institution_id,
                                   enqueue=False)
    _db.session.commit()

    fragment = client.get(f"{URL}/{batch.id}", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True).strip()
    assert fragment.status_code == 200 and "HX-Request" in fragment.headers["Vary"]
    assert html.startswith("<section") and "<html" not in html and "<nav" not in html
    assert f'id="import-{batch.id}-status"' in html
    assert f'hx-get="{URL}/{batch.id}"' in html
    assert 'hx-trigger="load delay:1s"' in html and 'hx-swap="outerHTML"' in html
    assert "Waiting for a worker" in html

    from jobs.ingest import run_import

    run_import(batch.id)
    html = client.get(f"{URL}/{batch.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in html and "Download rejected rows (CSV)" in html
    assert "<strong>1</strong> row rejected" in html


def test_rejected_rows_download_as_csv(client, admin):
    upload(client, CUSTOMERS, LOANS)
    batch = _db.session.scalar(select(ImportBatch))
    _db.session.refresh(batch)
    assert (batch.status, batch.customers_created, batch.loans_created, batch.rejected_count) == ("done", 1, 1, 1)

    page = client.get(f"{URL}/{batch.id}").get_data(as_text=True)
    assert f'href="{URL}/{batch.id}/rejected.csv"' in page
    response = client.get(f"{URL}/{batch.id}/rejected.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="import-{batch.id}-rejected.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1
    assert rows[0]["file"] == "loan_data.xlsx" and rows[0]["row_number"] == "3"
    assert rows[0]["Customer ID"] == "999" and rows[0]["Loan ID"] == "7002"
    assert "neither in the customers file nor in the portal" in rows[0]["reason"]


# ---- bad uploads ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("customers", "loans", "message"), [
    (LOANS, CUSTOMERS, "This looks like the loans workbook; upload it as loans."),
    (b"Customer ID,First Name\n1,Aarav\n", LOANS,
     "The customers file: customer_data.xlsx is not an .xlsx workbook (it looks like a text or CSV file)"),
    (CUSTOMERS, b"", "The loans file: loan_data.xlsx is empty (0 bytes)"),
    (b"%PDF-1.7 ...", LOANS, "it looks like a PDF document"),
], ids=["swapped-headers", "csv-renamed", "empty", "pdf"])
def test_bad_uploads_are_refused_with_a_message(client, admin, customers, loans, message):
    response = upload(client, customers, loans)

    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message.replace("'", "&#39;") in html
    assert 'id="import-form"' in html  # the form again, to try once more
    assert count(ImportBatch) == 0 and count(Customer) == 0 and count(Loan) == 0


def test_a_missing_file_is_refused(client, admin):
    response = post_form(client, URL, {"customers": (io.BytesIO(CUSTOMERS), "customer_data.xlsx")},
                         page=URL, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Choose the loans workbook (.xlsx)." in response.get_data(as_text=True)
    assert count(ImportBatch) == 0


def test_a_file_over_the_import_limit_gets_413_with_a_clear_message(client, admin, app):
    with config(app, IMPORT_MAX_BYTES=8192):
        response = upload(client, CUSTOMERS, b"PK\x03\x04" + b"\0" * 10_000)
    html = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "The loans file: loan_data.xlsx is too large (9.8 KB); the limit is 8 KB." in html
    assert count(ImportBatch) == 0


def test_a_50_mb_upload_gets_the_import_limit_message(client, admin):
    big = b"PK\x03\x04" + b"\0" * (50 * 1024 * 1024)
    response = upload(client, big, LOANS)
    assert response.status_code == 413
    assert "The customers file: customer_data.xlsx is too large (50 MB); the limit is 20 MB." in \
        response.get_data(as_text=True)
    assert count(ImportBatch) == 0


def test_a_request_over_the_request_cap_gets_413(client, admin, app):
    with config(app, MAX_CONTENT_LENGTH=64 * 1024):
        response = upload(client, CUSTOMERS, b"PK\x03\x04" + b"\0" * (100 * 1024))
    assert response.status_code == 413
    assert "The upload is too large" in response.get_data(as_text=True)
    assert count(ImportBatch) == 0


# ---- scoping ------------------------------------------------------------------------------------------------
def test_batches_of_another_institution_are_not_found(client, admin):
    other = Institution(slug="other-lender", name="Other Lender")
    _db.session.add(other)
    _db.session.flush()
    batch = ImportBatch(institution_id=other.id, customers_filename="c.xlsx", loans_filename="l.xlsx",
                        customers_sha256="0" * 64, loans_sha256="0" * 64, customers_file=CUSTOMERS,
                        loans_file=LOANS)
    _db.session.add(batch)
    _db.session.commit()
    assert admin.institution_id == default_institution().id != other.id

    assert client.get(f"{URL}/{batch.id}").status_code == 404
    assert client.get(f"{URL}/{batch.id}", headers={"HX-Request": "true"}).status_code == 404
    assert client.get(f"{URL}/{batch.id}/rejected.csv").status_code == 404
    assert "c.xlsx" not in client.get(URL).get_data(as_text=True)
