"""Loan-book exports (issue 7 item 3): the file has exactly the rows and totals of the book (XLSX read back with
openpyxl, CSV with exact decimals), phones are masked without the PII permission, download links are for the
requester or an admin only and expire, and the page serves its full form and its fragment."""
import csv
import hashlib
import io
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.auth.models import Institution
from portal.clock import clock
from portal.extensions import db as _db
from portal.lending.models import Loan
from portal.reports import exports
from portal.reports.models import Export
from tests.conftest import post_form
from tests.factories import make_staff

HEADER = ["Loan ID", "Customer", "Phone", "Product", "Status", "Asset class", "DPD", "Disbursed on", "Loan amount",
          "Principal outstanding", "Interest receivable"]


# every test writes its export files to its own folder (tests/reports/conftest.py)
pytestmark = pytest.mark.usefixtures("upload_dir")


def _export(db, user, fmt: str, *, pii: bool, **filters) -> Export:
    export = exports.create_export(institution_id=user.institution_id, actor=user, fmt=fmt, filters=filters,
                                   pii=pii, now=clock().now())
    db.session.commit()  # eager jobs: the export runs after the commit
    db.session.expire_all()
    return db.session.get(Export, export.id)


def _file(upload_dir: Path, export: Export) -> Path:
    return upload_dir / "exports" / export.file_path


def test_xlsx_export_has_the_rows_and_totals_of_the_book(db, book, upload_dir):
    admin = make_staff("admin")
    export = _export(db, admin, "xlsx", pii=True)
    assert export.status == "done" and export.row_count == export.progress == 3
    path = _file(upload_dir, export)
    assert export.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and export.size_bytes == path.stat().st_size

    sheet = openpyxl.load_workbook(path).active
    assert sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER and all(cell.font.b for cell in sheet[1])
    body = rows[1:]
    assert [r[0] for r in body] == sorted(loan.id for loan in book)
    by_id = {loan.id: loan for loan in book}
    for r in body:
        loan = by_id[r[0]]
        assert r[2] == loan.customer.phone_number and r[4] == loan.status and r[6] == loan.dpd
        assert isinstance(r[7], datetime) and r[7].date() == loan.disbursed_on
        assert all(isinstance(v, (int, float)) for v in r[8:11])
    money_cells = [sheet.cell(row=2, column=c) for c in (9, 10, 11)]
    assert all(c.number_format == "#,##0.00" for c in money_cells)
    assert sheet.cell(row=2, column=8).is_date
    for col, field in ((8, "loan_amount"), (9, "principal_outstanding_amount"), (10, "interest_receivable_amount")):
        total = sum(Decimal(str(r[col])).quantize(Decimal("0.01")) for r in body)
        assert total == sum(getattr(loan, field) for loan in book), field
    assert sum(Decimal(str(r[9])) for r in body) == Decimal("425000.50")


def test_csv_export_has_exact_decimals_and_honours_filters(db, book, upload_dir, clock):
    admin = make_staff("admin")
    export = _export(db, admin, "csv", pii=True)
    rows = list(csv.reader(io.StringIO(_file(upload_dir, export).read_text(encoding="utf-8"))))
    assert rows[0] == HEADER and len(rows) == 4
    assert sorted(r[9] for r in rows[1:]) == ["100000.00", "250000.50", "75000.00"]
    assert sum(Decimal(r[9]) for r in rows[1:]) == sum(loan.principal_outstanding_amount for loan in book)
    assert {r[7] for r in rows[1:]} == {book[0].disbursed_on.isoformat()}

    none = _export(db, admin, "csv", pii=True, disbursed_from=(book[0].disbursed_on + timedelta(days=1)).isoformat())
    assert none.status == "done" and none.row_count == 0
    closed = _export(db, admin, "csv", pii=True, status="closed")
    assert closed.row_count == 0


def test_role_without_pii_permission_gets_masked_phones(client, db, book, login_as, upload_dir):
    risk = make_staff("risk_officer")
    _db.session.commit()
    login_as(risk)
    response = post_form(client, "/admin/exports", {"format": "csv"}, page="/admin/exports")
    assert response.status_code == 303
    export = _db.session.scalars(select(Export)).one()
    assert export.status == "done" and not export.pii and export.requested_by_id == risk.id
    download = client.get(f"/admin/exports/{export.id}/download")
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert sorted(r[2] for r in rows[1:]) == ["97XXXXXX01", "98XXXXXX10", "98XXXXXX10"]
    assert exports.mask_phone("9812345610") == "98XXXXXX10"
    events = _db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.downloaded")).all()
    assert [e.entity_id for e in events] == [str(export.id)]


def test_another_users_link_is_refused_and_expired_links_give_410(client, db, book, login_as, clock):
    owner, other, admin = make_staff("risk_officer"), make_staff("risk_officer"), make_staff("admin")
    export = _export(db, owner, "xlsx", pii=False)
    url = f"/admin/exports/{export.id}/download"
    login_as(other)
    assert client.get(url).status_code == 403
    login_as(admin)
    assert client.get(url).status_code == 200
    login_as(owner)
    clock.advance(hours=25)
    assert client.get(url).status_code == 410

    stranger = Institution(slug="other-exports", name="Other Lender")
    _db.session.add(stranger)
    _db.session.flush()
    foreign = Export(institution_id=stranger.id, requested_by_id=admin.id, format="csv", filters={},
                     status="done", file_path="x.csv", expires_at=clock.now() + timedelta(hours=1))
    _db.session.add(foreign)
    _db.session.commit()
    login_as(admin)
    assert client.get(f"/admin/exports/{foreign.id}/download").status_code == 404
    assert client.get(f"/admin/exports/{foreign.id}").status_code == 404


def test_exports_page_full_and_fragment(client, db, book, login_as):
    admin = make_staff("admin")
    export = _export(db, admin, "xlsx", pii=True)
    login_as(admin)
    page = client.get("/admin/exports")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Export the loan book" in html and 'id="export-log"' in html
    assert f"/admin/exports/{export.id}/download" in html and export.sha256[:12] in html
    fragment = client.get("/admin/exports", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and body.lstrip().startswith("<section") and "<html" not in body
    assert 'id="export-log"' in body and "Export the loan book" not in body
    status = client.get(f"/admin/exports/{export.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert status.lstrip().startswith(f'<div id="export-{export.id}-status"') and "hx-get" not in status
    assert client.get(f"/admin/exports/{export.id}").status_code == 200


def test_running_export_polls_with_a_progress_bar(client, db, login_as, clock):
    admin = make_staff("admin")
    export = Export(institution_id=admin.institution_id, requested_by_id=admin.id, format="csv", filters={},
                    status="running", progress=40, progress_total=80, expires_at=clock.now() + timedelta(hours=24))
    _db.session.add(export)
    _db.session.commit()
    login_as(admin)
    body = client.get(f"/admin/exports/{export.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-trigger="load delay:1s"' in body and 'aria-valuenow="50"' in body and "Written 40 of 80 rows" in body


def test_bad_format_or_filter_is_422_and_officers_may_not_export(client, db, login_as):
    admin = make_staff("admin")
    officer = make_staff("loan_officer")
    _db.session.commit()
    login_as(admin)
    assert post_form(client, "/admin/exports", {"format": "pdf"}, page="/admin/exports").status_code == 422
    bad_range = {"format": "csv", "disbursed_from": "2026-11-20", "disbursed_to": "2026-11-01"}
    response = post_form(client, "/admin/exports", bad_range, page="/admin/exports")
    assert response.status_code == 422 and "ends before it starts" in response.get_data(as_text=True)
    assert _db.session.scalars(select(Export)).all() == []
    login_as(officer)
    assert client.get("/admin/exports").status_code == 403


def test_failed_export_is_marked_failed(db, monkeypatch, clock):
    from jobs.reports import run_export

    admin = make_staff("admin")
    export = Export(institution_id=admin.institution_id, requested_by_id=admin.id, format="csv", filters={},
                    status="queued", expires_at=clock.now() + timedelta(hours=24))
    _db.session.add(export)
    _db.session.commit()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "open_writer", boom)
    with pytest.raises(RuntimeError):
        run_export(export.id)
    _db.session.expire_all()
    export = _db.session.get(Export, export.id)
    assert export.status == "failed" and "disk full" in export.error


def test_loan_book_query_is_serviced_loans_only(db, book):
    ids = _db.session.scalars(select(Loan.id).where(Loan.serviced.is_(True))).all()
    rows = _db.session.execute(exports.loan_book_query(book[0].institution_id, {})).all()
    assert sorted(r[0] for r in rows) == sorted(ids) and len(ids) == 3
