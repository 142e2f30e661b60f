"""Exports open in LibreOffice (issue 7 item 3): an XLSX of a small book, written by the real export job with each
XLSX engine, is converted by ``soffice --headless`` to CSV "as shown" and read back: the same rows and totals as
the book, dates shown as dates (dd-mmm-yyyy) and amounts with two decimals. Our CSV is imported by LibreOffice
(quotes, commas and non-ASCII names intact) and read back with the same rows and totals. A missing soffice skips
these tests, or fails them under CI=true (``tests.support.servers.unavailable``)."""
from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from portal.clock import clock
from portal.reports import exports, writers
from portal.reports.models import Export
from tests.factories import make_customer, make_disbursed_loan, make_staff
from tests.support.servers import unavailable

SOFFICE_TIMEOUT = 240  # seconds per conversion: the first start builds the profile; a busy machine is slow
HEADER = ["Loan ID", "Customer", "Phone", "Product", "Status", "Asset class", "DPD", "Disbursed on", "Loan amount",
          "Principal outstanding", "Interest receivable"]
# "Text - txt - csv (StarCalc)" options: comma, double quote, UTF-8, from line 1, -, language, quoted as text,
# detect special numbers, save cell contents AS SHOWN (so the formats are checked too)
CSV_AS_SHOWN = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true"
CSV_IMPORT = "CSV:44,34,76,1,,0,false,true,true"


@pytest.fixture(scope="module")
def soffice() -> str:
    path = shutil.which("soffice") or shutil.which("libreoffice")
    if path is None:
        unavailable("LibreOffice (soffice) not found: scripts/install-system-deps.sh installs libreoffice-calc-nogui")
    return path


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))
    return tmp_path / "uploads"


@pytest.fixture
def book(db, clock):
    """Three serviced loans; names with a quote, a comma and a non-ASCII letter."""
    people = (("100000", "9812345610", 'Zoë "Z"', "Rao, Jr."), ("250000.50", "9876543210", "Asha", "Iyer"),
              ("75000", "9700000001", "Ravi", "Kumar"))
    loans = [make_disbursed_loan(clock, amount=amount, customer=make_customer(salary="150000", phone=phone,
                                                                              first_name=first, last_name=last))
             for amount, phone, first, last in people]
    db.session.commit()
    return loans


def convert(soffice: str, source: Path, target: str, out: Path, *, infilter: str | None = None) -> Path:
    """``soffice --headless --convert-to target`` with a throw-away profile; the converted file."""
    profile = out / "lo-profile"
    args = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore"]
    if infilter:
        args.append(f"--infilter={infilter}")
    args += ["--convert-to", target, "--outdir", str(out), str(source)]
    env = {**os.environ, "HOME": str(out), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    done = subprocess.run(args, capture_output=True, text=True, timeout=SOFFICE_TIMEOUT, env=env, cwd=out)
    converted = out / (source.stem + "." + target.split(":")[0])
    assert done.returncode == 0 and converted.is_file(), f"soffice failed:\n{done.stdout}\n{done.stderr}"
    return converted


def _export(db, fmt: str) -> Export:
    admin = make_staff("admin")
    export = exports.create_export(institution_id=admin.institution_id, actor=admin, fmt=fmt, filters={},
                                   pii=True, now=clock().now())
    db.session.commit()  # eager jobs: the export runs after the commit
    db.session.expire_all()
    export = db.session.get(Export, export.id)
    assert export.status == "done", export.error
    return export


def _money(text: str) -> Decimal:
    assert re.fullmatch(r"\d{1,3}(,\d{2,3})*\.\d{2}", text), f"not an amount with two decimals: {text!r}"
    return Decimal(text.replace(",", ""))


@pytest.mark.parametrize("engine", writers.ENGINES)
def test_xlsx_opens_in_libreoffice_with_the_rows_totals_and_formats_of_the_book(db, book, upload_dir, tmp_path,
                                                                                  soffice, monkeypatch, engine):
    monkeypatch.setattr(writers, "XLSX_ENGINE", engine)
    export = _export(db, "xlsx")
    source = upload_dir / "exports" / export.file_path
    out = tmp_path / "lo"
    out.mkdir()
    rows = list(csv.reader(convert(soffice, source, CSV_AS_SHOWN, out).read_text(encoding="utf-8").splitlines()))

    assert rows[0] == HEADER and len(rows) == 1 + len(book) == 1 + export.row_count
    by_id = {loan.id: loan for loan in book}
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(by_id)
    for r in rows[1:]:
        loan = by_id[int(r[0])]
        assert r[1] == f"{loan.customer.first_name} {loan.customer.last_name}"
        assert r[2] == loan.customer.phone_number and r[4] == loan.status and int(r[6]) == loan.dpd
        assert r[7] == loan.disbursed_on.strftime("%d-%b-%Y")  # shown as a date, in the export's format
        assert _money(r[8]) == loan.loan_amount and _money(r[9]) == loan.principal_outstanding_amount
        assert _money(r[10]) == loan.interest_receivable_amount
    assert sum(_money(r[9]) for r in rows[1:]) == sum(loan.principal_outstanding_amount for loan in book)
    assert sum(_money(r[8]) for r in rows[1:]) == Decimal("425000.50")


def test_csv_opens_in_libreoffice_with_the_rows_and_totals_of_the_book(db, book, upload_dir, tmp_path, soffice):
    export = _export(db, "csv")
    source = upload_dir / "exports" / export.file_path
    out = tmp_path / "lo"
    out.mkdir()
    sheet = openpyxl.load_workbook(convert(soffice, source, "xlsx", out, infilter=CSV_IMPORT)).active
    rows = list(sheet.iter_rows(values_only=True))

    assert list(rows[0]) == HEADER and len(rows) == 1 + len(book) == 1 + export.row_count
    assert all(len(r) == len(HEADER) for r in rows)  # quotes and commas in names split nothing
    by_id = {loan.id: loan for loan in book}
    assert sorted(r[0] for r in rows[1:]) == sorted(by_id)
    for r in rows[1:]:
        loan = by_id[r[0]]
        assert r[1] == f"{loan.customer.first_name} {loan.customer.last_name}"
        assert isinstance(r[7], datetime) and r[7].date() == loan.disbursed_on
        for value, field in zip(r[8:11], ("loan_amount", "principal_outstanding_amount",
                                          "interest_receivable_amount"), strict=True):
            assert Decimal(str(value)).quantize(Decimal("0.01")) == getattr(loan, field), field
    assert sum(Decimal(str(r[9])) for r in rows[1:]) == sum(loan.principal_outstanding_amount for loan in book)


@pytest.mark.parametrize("engine", writers.ENGINES)
def test_an_empty_xlsx_export_opens_in_libreoffice_with_its_header(db, book, upload_dir, tmp_path, soffice,
                                                                   monkeypatch, engine):
    monkeypatch.setattr(writers, "XLSX_ENGINE", engine)
    admin = make_staff("admin")
    export = exports.create_export(institution_id=admin.institution_id, actor=admin, fmt="xlsx",
                                   filters={"status": "closed"}, pii=True, now=clock().now())
    db.session.commit()
    db.session.expire_all()
    export = db.session.get(Export, export.id)
    assert export.status == "done" and export.row_count == 0
    out = tmp_path / "lo"
    out.mkdir()
    converted = convert(soffice, upload_dir / "exports" / export.file_path, CSV_AS_SHOWN, out)
    assert list(csv.reader(converted.read_text(encoding="utf-8").splitlines())) == [HEADER]
