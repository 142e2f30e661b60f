"""The audit log viewer (issue 7 item 4): filters by actor, action, object and date (days in IST), keyset pages,
each event's before/after in a table for every shape record() writes, another institution's events never
shown, VIEW_AUDIT only, and an export of exactly the filtered events that is itself audited."""
from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.audit.services import record
from portal.audit.views import ChangeRow, change_rows
from portal.extensions import db as _db
from portal.reports.models import Export
from tests.conftest import post_form
from tests.factories import make_staff
from tests.servicing.cob_support import make_institution


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path))
    return tmp_path


def event(actor, action, entity, at: datetime, **kwargs) -> AuditEvent:
    e = record(actor, action, entity, **kwargs)
    e.occurred_at = at
    _db.session.flush()
    return e


@pytest.fixture
def log(db):
    """Events by two officers and the system on 20, 21 and 22 Nov 2026 (IST), of several shapes; and one
    event of another institution."""
    alice, bob = make_staff("loan_officer"), make_staff("risk_officer")
    alice.display_name, bob.display_name = "Alice Officer", "Bob Risk"
    admin = make_staff("admin")
    inst = admin.institution_id
    ev = {
        "pair": event(alice, "loan.status_changed", ("loans", 7), datetime(2026, 11, 20, 5, 0, tzinfo=UTC),
                      changes={"status": ("active", "overdue"), "dpd": (0, 31)}, institution_id=inst),
        "value": event(bob, "application.approved", ("loan_applications", 3), datetime(2026, 11, 21, 5, 0, tzinfo=UTC),
                       changes={"amount": Decimal("1200.50"), "fields_changed": ["amount", "tenure", "rate"],
                                "allocation": {"principal": "100.00", "interest": "20.00"}, "ok": True},
                       institution_id=inst, note="approved after call"),
        # 23:30 UTC on 21 Nov is 05:00 IST on 22 Nov
        "late": event(None, "loan.npa", ("loans", 7), datetime(2026, 11, 21, 23, 30, tzinfo=UTC),
                      changes={"asset_class": (None, "npa")}, institution_id=inst),
    }
    other = make_institution("elsewhere")
    event(None, "loan.npa", ("loans", 99), datetime(2026, 11, 21, 5, 0, tzinfo=UTC), institution_id=other.id,
          changes={"secret": "other-institution"})
    _db.session.commit()
    return {"admin": admin, "alice": alice, "bob": bob, **{k: v.id for k, v in ev.items()}}


def ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-event-id="(\d+)"', html)]


def test_change_rows_handle_every_shape_record_writes():
    assert change_rows(None) == [] and change_rows({}) == []
    assert change_rows({"status": ["active", "overdue"]}) == [ChangeRow("status", "active", "overdue", True)]
    assert change_rows({"amount": "10.00", "n": 3}) == [ChangeRow("amount", None, "10.00", False),
                                                        ChangeRow("n", None, 3, False)]
    assert change_rows({"allocation": {"principal": "1.00", "fee": ["0", "1"]}}) == [
        ChangeRow("allocation.principal", None, "1.00", False), ChangeRow("allocation.fee", "0", "1", True)]
    assert change_rows({"bills": [1, 2, 3]}) == [ChangeRow("bills", None, [1, 2, 3], False)]
    assert change_rows({"rows": [[1, "a"], [2, "b"]]})[0].pair is False
    assert change_rows({"empty": {}}) == [ChangeRow("empty", None, {}, False)]


def test_filters_by_actor_action_object_and_date(client, db, log, login_as):
    login_as(log["admin"])
    page = client.get("/admin/audit").get_data(as_text=True)
    assert {log["pair"], log["value"], log["late"]} <= set(ids(page)) and "other-institution" not in page
    assert ids(client.get("/admin/audit?actor=alice").get_data(as_text=True)) == [log["pair"]]
    assert ids(client.get("/admin/audit?actor=system&action=loan.").get_data(as_text=True)) == [log["late"]]
    assert ids(client.get("/admin/audit?action=loan.").get_data(as_text=True)) == [log["late"], log["pair"]]
    assert ids(client.get("/admin/audit?action=application.approved").get_data(as_text=True)) == [log["value"]]
    assert ids(client.get("/admin/audit?entity_type=loans&entity_id=7").get_data(as_text=True)) == [log["late"],
                                                                                                  log["pair"]]
    one_day = client.get("/admin/audit?date_from=2026-11-21&date_to=2026-11-21").get_data(as_text=True)
    assert ids(one_day) == [log["value"]]  # the 23:30 UTC event is on 22 Nov in IST
    assert ids(client.get("/admin/audit?date_from=2026-11-22&action=loan.").get_data(as_text=True)) == [log["late"]]
    assert ids(client.get("/admin/audit?date_to=2026-11-20&action=loan.").get_data(as_text=True)) == [log["pair"]]
    fragment = client.get("/admin/audit?actor=bob", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="audit-table"') and "<html" not in fragment


def test_each_event_shows_before_and_after_of_each_change(client, db, log, login_as):
    login_as(log["admin"])
    html = client.get("/admin/audit?entity_type=loans&entity_id=7").get_data(as_text=True)
    assert re.search(r'data-field="status"><th scope="row"><code>status</code></th><td data-before>active</td>'
                     r'<td data-after>overdue</td>', html)
    assert re.search(r'data-field="dpd">.*?<td data-before>0</td><td data-after>31</td>', html)
    assert re.search(r'data-field="asset_class">.*?<td data-before>—</td><td data-after>npa</td>', html)
    assert "<details>" in html and "2 changes: status, dpd" in html
    other = client.get("/admin/audit?action=application.").get_data(as_text=True)
    assert re.search(r'data-field="allocation.principal">.*?<td data-after>100.00</td>', other)
    assert re.search(r'data-field="fields_changed">.*?<td data-after>amount, tenure, rate</td>', other)
    assert re.search(r'data-field="ok">.*?<td data-after>yes</td>', other) and "approved after call" in other


def test_keyset_pages(client, db, log, login_as):
    admin = log["admin"]
    for n in range(55):
        record(admin, "test.filler", ("things", n), changes={"n": n})
    _db.session.commit()
    login_as(admin)
    first = client.get("/admin/audit?action=test.").get_data(as_text=True)
    assert len(ids(first)) == 50
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = client.get(next_url).get_data(as_text=True)
    assert len(ids(second)) == 5 and set(ids(first)).isdisjoint(ids(second)) and 'rel="next"' not in second
    assert max(ids(second)) < min(ids(first))


def test_only_view_audit_may_see_it_and_bad_dates_are_400(client, db, log, login_as):
    login_as(log["alice"])
    assert client.get("/admin/audit").status_code == 403
    login_as(log["bob"])  # a risk officer may export reports but not read the audit log
    assert client.get("/admin/audit").status_code == 403
    assert post_form(client, "/admin/audit/export", {"format": "csv"}, page="/admin/reports").status_code == 403
    login_as(log["admin"])
    assert client.get("/admin/audit?date_from=yesterday").status_code == 400
    assert client.get("/admin/audit?date_from=2026-11-22&date_to=2026-11-01").status_code == 422
    assert _db.session.scalars(select(Export)).all() == []


def test_export_has_the_filtered_rows_and_is_audited(client, db, log, login_as):
    admin = log["admin"]
    login_as(admin)
    response = post_form(client, "/admin/audit/export", {"format": "csv", "action": "loan.", "date_to": "2026-11-21"},
                         page="/admin/audit")
    assert response.status_code == 303
    _db.session.expire_all()
    export = _db.session.scalars(select(Export)).one()
    assert export.kind == "audit_log" and export.status == "done" and export.row_count == 1
    download = client.get(f"/admin/exports/{export.id}/download")
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert rows[0][:4] == ["Event ID", "Occurred at (UTC)", "Actor", "Action"]
    assert [int(r[0]) for r in rows[1:]] == [log["pair"]]
    assert rows[1][1] == "2026-11-20T05:00:00+00:00" and rows[1][3] == "loan.status_changed"
    assert '"status": ["active", "overdue"]' in rows[1][6]
    requested = _db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export.requested")).one()
    assert requested.actor_id == admin.id and requested.changes["kind"] == "audit_log"
    assert requested.changes["filters"]["action"] == "loan." and requested.changes["filters"]["date_to"] == "2026-11-21"

    post_form(client, "/admin/audit/export", {"format": "xlsx", "actor": "bob"}, page="/admin/audit")
    _db.session.expire_all()
    xlsx = _db.session.scalars(select(Export).order_by(Export.id.desc())).first()
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(client.get(f"/admin/exports/{xlsx.id}/download").get_data())).active
    body = list(sheet.iter_rows(values_only=True))[1:]
    assert [r[0] for r in body] == [log["value"]] and xlsx.row_count == 1
