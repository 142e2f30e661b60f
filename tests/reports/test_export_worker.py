"""Exports through a real RQ worker (issue 7 item 3): the admin asks for an export on the page (client POST),
the job waits on the ``exports`` queue of a real Redis (the suite's ``redis_server``), an rq SimpleWorker runs it in
burst mode in the app context, and the file downloaded through the export log's link has the book's rows and the
SHA-256 shown in the log. A job that fails on the worker leaves the export marked failed, with its reason."""
from __future__ import annotations

import csv
import hashlib
import io
import re
from contextlib import contextmanager
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from portal.extensions import db as _db
from portal.reports import exports
from portal.reports.models import Export
from tests.conftest import post_form
from tests.factories import make_staff

# every test writes its export files to its own folder (tests/reports/conftest.py)
pytestmark = pytest.mark.usefixtures("upload_dir")


@contextmanager
def rq_exports(app, redis_server):
    """Inside the block jobs go to the ``exports`` queue on the test Redis; yields the queue."""
    from portal.queue import get_queue

    keys = ("JOBS_MODE", "REDIS_URL")
    previous = {k: app.config.get(k) for k in keys}
    app.config.update(JOBS_MODE="rq", REDIS_URL=redis_server.url)
    queue = get_queue("exports")
    queue.empty()
    try:
        yield queue
    finally:
        queue.empty()
        app.config.update(previous)


def work(app, queue) -> None:
    """Run the queue's jobs on an rq SimpleWorker in burst mode, each job in its own app context (FlaskJob)."""
    from rq import SimpleWorker

    from portal.queue import FlaskJob

    previous_app = getattr(FlaskJob, "_app", None)
    FlaskJob._app = app
    try:
        SimpleWorker([queue], connection=queue.connection, job_class=FlaskJob).work(burst=True)
    finally:
        FlaskJob._app = previous_app
    assert queue.count == 0


def log_entry(client, export_id: int) -> dict:
    """The export's row in the export log page: row count, full SHA-256 and the download link."""
    html = client.get("/admin/exports").get_data(as_text=True)
    row = re.search(rf'<tr data-export-id="{export_id}">(.*?)</tr>', html, re.S)
    assert row, f"export {export_id} is not in the log"
    cells = row.group(1)
    count = re.search(r'<td class="num">([\d,]+)</td>', cells)
    sha = re.search(r'title="([0-9a-f]{64})"', cells)
    link = re.search(r'href="(/admin/exports/\d+/download)"', cells)
    return {"rows": int(count.group(1).replace(",", "")) if count else None, "sha256": sha and sha.group(1),
            "link": link and link.group(1)}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_runs_on_a_real_worker_and_the_log_link_gives_the_book(app, client, db, book, login_as,
                                                                      redis_server, fmt):
    admin = make_staff("admin")
    _db.session.commit()
    login_as(admin)
    with rq_exports(app, redis_server) as queue:
        response = post_form(client, "/admin/exports", {"format": fmt}, page="/admin/exports")
        assert response.status_code == 303
        export = _db.session.scalars(select(Export)).one()
        assert export.status == "queued" and export.requested_by_id == admin.id
        assert queue.count == 1
        job = queue.jobs[0]
        assert job.func_name == exports.JOB and job.args == (export.id,) and job.origin == "exports"
        assert log_entry(client, export.id) == {"rows": None, "sha256": None, "link": None}  # waiting

        work(app, queue)

    _db.session.expire_all()
    export = _db.session.get(Export, export.id)
    assert export.status == "done" and export.row_count == len(book)
    entry = log_entry(client, export.id)
    assert entry["rows"] == len(book) and entry["sha256"] == export.sha256 and entry["link"]
    download = client.get(entry["link"])
    assert download.status_code == 200
    data = download.get_data()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]

    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))[1:]
        ids, principal = [int(r[0]) for r in rows], [Decimal(r[9]) for r in rows]
    else:
        rows = list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))[1:]
        ids, principal = [int(r[0]) for r in rows], [Decimal(str(r[9])).quantize(Decimal("0.01")) for r in rows]
    assert ids == sorted(loan.id for loan in book)
    assert sum(principal) == sum(loan.principal_outstanding_amount for loan in book) == Decimal("425000.50")


def test_a_job_failing_on_the_worker_marks_the_export_failed(app, client, db, book, login_as, redis_server,
                                                             monkeypatch):
    from rq.registry import FailedJobRegistry

    admin = make_staff("admin")
    _db.session.commit()
    login_as(admin)

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(exports, "open_writer", broken)
    with rq_exports(app, redis_server) as queue:
        assert post_form(client, "/admin/exports", {"format": "csv"}, page="/admin/exports").status_code == 303
        export_id = _db.session.scalars(select(Export.id)).one()
        work(app, queue)
        assert FailedJobRegistry(queue=queue).count == 1

    _db.session.expire_all()
    export = _db.session.get(Export, export_id)
    assert export.status == "failed" and "No space left on device" in export.error and export.file_path is None
    assert log_entry(client, export_id)["link"] is None
    assert "No space left on device" in client.get(f"/admin/exports/{export_id}").get_data(as_text=True)
