"""portal.ingest.services + jobs.ingest: the real Alemeno book lands in full, twice without changes, on
PostgreSQL; bad files are refused before anything is stored; rejected rows are kept with their reasons."""
from __future__ import annotations

import csv
import io
import os
from collections import Counter
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.auth.services import default_institution
from portal.errors import DomainError
from portal.extensions import db as _db
from portal.ingest import services
from portal.ingest.models import ImportBatch
from portal.ingest.workbook import CUSTOMER_HEADERS, LOAN_HEADERS
from portal.lending.models import Loan
from portal.onboarding.models import Customer
from tests.factories import make_customer, make_staff

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "alemeno"


def real_bytes(name: str) -> bytes:
    path = DATA / name
    if not path.is_file():
        message = f"real data file {path} is missing"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path.read_bytes()


@pytest.fixture
def book() -> tuple[bytes, bytes]:
    return real_bytes("customer_data.xlsx"), real_bytes("loan_data.xlsx")


def xlsx(headers, rows) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Sheet1"
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


CUSTOMER = [1, "Aarav", "Shah", 30, 9876543210, 50000, 1800000]
LOAN = [1, 7001, 100000, 12, 12, 8885, 3, date(2024, 1, 5), date(2025, 1, 5)]


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


def import_book(db, customers: bytes, loans: bytes, *, actor="cli",
                names=("customer_data.xlsx", "loan_data.xlsx")) -> ImportBatch:
    """Create a batch and commit: the eager job (TestConfig) runs it after the commit."""
    batch = services.create_import(customers_name=names[0], customers_bytes=customers, loans_name=names[1],
                                   loans_bytes=loans, actor=actor, institution_id=default_institution().id)
    db.session.commit()
    db.session.expire_all()
    return db.session.get(ImportBatch, batch.id)


# ---- the real book -----------------------------------------------------------------------------------------
def test_real_book_imports_in_full(db, book):
    batch = import_book(db, *book)

    assert batch.status == "done", batch.error
    assert (batch.customers_created, batch.customers_updated, batch.customers_unchanged) == (300, 0, 0)
    assert (batch.loans_created, batch.loans_updated, batch.loans_unchanged) == (782, 0, 0)
    assert batch.rejected_count == 0 and batch.rejected == []
    assert batch.progress_done == batch.progress_total == 1082 and batch.percent == 100
    assert batch.started_at is not None and batch.finished_at is not None
    assert count(Customer) == 300 and count(Loan) == 782
    assert db.session.scalar(select(func.min(Customer.id))) == 1
    assert db.session.scalar(select(func.max(Customer.id))) == 300
    assert set(db.session.scalars(select(Customer.source))) == {"import"}
    assert set(db.session.scalars(select(Loan.source))) == {"import"}
    completed = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "import.completed"))
    assert completed.changes["customers_created"] == 300 and completed.changes["loans_created"] == 782
    assert completed.changes["rejected"] == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "import.created")) == 1


def test_customer_14_keeps_its_id_and_the_files_values(db, book):
    import_book(db, *book)

    customer = db.session.get(Customer, 14)
    assert (customer.first_name, customer.last_name, customer.age) == ("Adaline", "Diaz", 65)
    assert customer.phone_number == "9519253076"
    assert customer.monthly_salary == Decimal("253000.00")
    assert customer.approved_limit == Decimal("3900000.00")  # the file's value, not 36 x salary
    loan = db.session.scalar(select(Loan).where(Loan.customer_id == 14, Loan.external_loan_id == 5930))
    assert loan.loan_amount == Decimal("900000.00") and loan.tenure == 129
    assert loan.interest_rate == Decimal("8.20")
    assert loan.monthly_installment == Decimal("15344.00")  # the file's Monthly payment, kept as given
    assert loan.emis_paid_on_time == 114
    assert (loan.approved_on, loan.end_on) == (date(2017, 3, 9), date(2027, 12, 9))


def test_second_import_of_the_same_files_changes_nothing(db, book):
    first = import_book(db, *book)
    events_before = count(AuditEvent)
    second = import_book(db, *book)

    assert second.id != first.id and second.status == "done"
    assert (second.customers_created, second.customers_updated, second.customers_unchanged) == (0, 0, 300)
    assert (second.loans_created, second.loans_updated, second.loans_unchanged) == (0, 0, 782)
    assert second.rejected_count == 0
    assert count(Customer) == 300 and count(Loan) == 782
    # only the batch's own events: import.created + import.completed, no row updates
    assert count(AuditEvent) == events_before + 2


def test_customer_registered_after_the_import_gets_the_next_id(db, book):
    import_book(db, *book)

    customer = make_customer(phone="9000000301")
    db.session.commit()
    assert customer.id == 301


def test_the_29_loan_ids_shared_by_two_customers_all_land(db, book):
    import_book(db, *book)

    per_id = Counter(db.session.scalars(select(Loan.external_loan_id)))
    shared = {loan_id for loan_id, n in per_id.items() if n > 1}
    assert len(shared) == 29
    assert all(per_id[i] == 2 for i in shared)
    owners = db.session.execute(select(Loan.external_loan_id, Loan.customer_id)
                                .where(Loan.external_loan_id.in_(shared))).all()
    assert len({(i, c) for i, c in owners}) == 58  # always two different customers


def test_changed_rows_are_updated_with_an_audit_diff(db, book):
    customers, loans = book
    import_book(db, customers, loans)

    workbook = load_workbook(io.BytesIO(customers))
    sheet = workbook.active
    assert sheet.cell(row=15, column=1).value == 14
    sheet.cell(row=15, column=6).value = 260000  # Monthly Salary of customer 14
    buffer = io.BytesIO()
    workbook.save(buffer)
    batch = import_book(db, buffer.getvalue(), loans, names=("customers-v2.xlsx", "loan_data.xlsx"))

    assert (batch.customers_created, batch.customers_updated, batch.customers_unchanged) == (0, 1, 299)
    assert (batch.loans_created, batch.loans_updated, batch.loans_unchanged) == (0, 0, 782)
    customer = db.session.get(Customer, 14)
    assert customer.monthly_salary == Decimal("260000.00")
    assert customer.approved_limit == Decimal("3900000.00")  # still the file's limit
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.updated"))
    assert event.entity_type == "customers" and event.entity_id == "14"
    assert event.changes == {"monthly_salary": ["253000.00", "260000.00"]}


# ---- rejected rows -----------------------------------------------------------------------------------------
def test_a_loan_of_an_unknown_customer_is_rejected_with_its_reason(db):
    customers = xlsx(CUSTOMER_HEADERS, [CUSTOMER, [2, "Bela", "Iyer", 41, 9876500000, 80000, "not money"]])
    loans = xlsx(LOAN_HEADERS, [LOAN, [999, 7002, 50000, 6, 10, 8600, 1, date(2024, 2, 1), date(2024, 8, 1)]])
    batch = import_book(db, customers, loans)

    assert batch.status == "done"
    assert (batch.customers_created, batch.loans_created, batch.rejected_count) == (1, 1, 2)
    by_file = {r["file"]: r for r in batch.rejected}
    assert by_file["customer_data.xlsx"]["row_number"] == 3
    assert "Approved Limit" in by_file["customer_data.xlsx"]["reason"]
    loan = by_file["loan_data.xlsx"]
    assert loan["row_number"] == 3 and loan["kind"] == "loans"
    assert "Customer ID 999 is neither in the customers file nor in the portal" in loan["reason"]
    assert loan["values"]["Loan ID"] == "7002" and loan["values"]["Date of Approval"] == "2024-02-01"
    assert count(Customer) == 1 and count(Loan) == 1

    rows = list(csv.DictReader(io.StringIO(services.rejected_csv(batch))))
    assert [(r["file"], r["row_number"]) for r in rows] == [("customer_data.xlsx", "3"),
                                                            ("loan_data.xlsx", "3")]
    assert rows[1]["Customer ID"] == "999" and "neither in the customers file" in rows[1]["reason"]
    assert rows[0]["Approved Limit"] == "not money"


def test_a_loan_whose_customer_row_was_rejected_says_so(db):
    customers = xlsx(CUSTOMER_HEADERS, [CUSTOMER, [2, "Bela", "Iyer", 41, 9876500000, -5, 100000]])
    loans = xlsx(LOAN_HEADERS, [[2, 7002, 50000, 6, 10, 8600, 1, date(2024, 2, 1), date(2024, 8, 1)]])
    batch = import_book(db, customers, loans)

    loan = next(r for r in batch.rejected if r["kind"] == "loans")
    assert "its row in the customers file was rejected (row 3)" in loan["reason"]


def test_loans_may_attach_to_customers_already_in_the_portal(db):
    import_book(db, xlsx(CUSTOMER_HEADERS, [CUSTOMER]), xlsx(LOAN_HEADERS, [LOAN]))
    other_loan = [1, 7003, 20000, 6, 11, 3450, 0, date(2024, 3, 1), date(2024, 9, 1)]
    batch = import_book(db, xlsx(CUSTOMER_HEADERS, [[5, "Chitra", "Nair", 35, 9811111111, 40000, 1400000]]),
                        xlsx(LOAN_HEADERS, [LOAN, other_loan]))

    assert (batch.customers_created, batch.loans_created, batch.loans_unchanged) == (1, 1, 1)
    assert batch.rejected_count == 0


def test_a_portal_customer_is_never_overwritten_by_another_person(db):
    portal_customer = make_customer(phone="9123456789", first_name="Meera")
    db.session.commit()
    row = [portal_customer.id, "Aarav", "Shah", 30, 9876543210, 50000, 1800000]
    loan = [portal_customer.id, 7001, 100000, 12, 12, 8885, 3, date(2024, 1, 5), date(2025, 1, 5)]
    batch = import_book(db, xlsx(CUSTOMER_HEADERS, [row]), xlsx(LOAN_HEADERS, [loan]))

    assert batch.customers_created == batch.customers_updated == batch.loans_created == 0
    assert batch.rejected_count == 2
    assert "registered in the portal" in batch.rejected[0]["reason"]
    assert "the customer was not imported" in batch.rejected[1]["reason"]
    db.session.expire_all()
    assert db.session.get(Customer, portal_customer.id).first_name == "Meera"


# ---- whole-file problems -----------------------------------------------------------------------------------
def test_bad_files_are_refused_before_anything_is_stored(db, app):
    good_customers = xlsx(CUSTOMER_HEADERS, [CUSTOMER])
    good_loans = xlsx(LOAN_HEADERS, [LOAN])
    cases = [
        (b"", good_loans, 422, "The customers file: customer_data.xlsx is empty"),
        (b"Customer ID,First Name\n1,A\n", good_loans, 422,
         "is not an .xlsx workbook (it looks like a text or CSV"),
        (good_loans, good_customers, 422, "This looks like the loans workbook"),
        (good_customers, xlsx(LOAN_HEADERS, []), 422, "has a header row but no data rows"),
    ]
    for customers, loans, status, message in cases:
        with pytest.raises(DomainError) as caught:
            services.create_import(customers_name="customer_data.xlsx", customers_bytes=customers,
                                   loans_name="loan_data.xlsx", loans_bytes=loans, actor="cli",
                                   institution_id=default_institution().id)
        assert caught.value.http_status == status
        assert message in caught.value.message
    with config(app, IMPORT_MAX_BYTES=1024), pytest.raises(DomainError) as caught:
        services.create_import(customers_name="big.xlsx", customers_bytes=b"PK\x03\x04" + b"\0" * 5000,
                               loans_name="loan_data.xlsx", loans_bytes=good_loans, actor="cli",
                               institution_id=default_institution().id)
    assert caught.value.http_status == 413
    assert caught.value.message == "The customers file: big.xlsx is too large (4.9 KB); the limit is 1 KB."
    db.session.rollback()
    assert count(ImportBatch) == 0


def test_a_workbook_error_in_the_job_fails_the_batch_and_lands_nothing(db):
    # Bypass create_import's checks, as if the stored bytes were bad.
    batch = ImportBatch(institution_id=default_institution().id, customers_filename="c.xlsx",
                        loans_filename="l.xlsx", customers_sha256="0" * 64, loans_sha256="0" * 64,
                        customers_file=xlsx(CUSTOMER_HEADERS, [CUSTOMER]), loans_file=b"not a workbook")
    db.session.add(batch)
    db.session.commit()
    from jobs.ingest import run_import

    assert run_import(batch.id) == batch.id
    db.session.expire_all()
    batch = db.session.get(ImportBatch, batch.id)
    assert batch.status == "failed"
    assert "l.xlsx is not an .xlsx workbook" in batch.error
    assert count(Customer) == 0 and count(Loan) == 0


def test_an_unexpected_error_rolls_back_and_marks_the_batch_failed(db, monkeypatch):
    batch = services.create_import(customers_name="c.xlsx",
                                   customers_bytes=xlsx(CUSTOMER_HEADERS, [CUSTOMER]), loans_name="l.xlsx",
                                   loans_bytes=xlsx(LOAN_HEADERS, [LOAN]), actor="cli",
                                   institution_id=default_institution().id, enqueue=False)
    db.session.commit()

    def explode(row):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "_loan_fields", explode)  # after the customers were flushed
    from jobs.ingest import run_import

    with pytest.raises(RuntimeError, match="disk on fire"):
        run_import(batch.id)
    db.session.expire_all()
    batch = db.session.get(ImportBatch, batch.id)
    assert batch.status == "failed" and batch.error == "RuntimeError: disk on fire"
    assert count(Customer) == 0 and count(Loan) == 0


def test_a_finished_batch_is_not_run_again(db):
    batch = import_book(db, xlsx(CUSTOMER_HEADERS, [CUSTOMER]), xlsx(LOAN_HEADERS, [LOAN]))
    from jobs.ingest import run_import

    assert run_import(batch.id) == batch.id
    db.session.expire_all()
    assert db.session.get(ImportBatch, batch.id).customers_created == 1
    assert count(Customer) == 1


def test_the_batch_remembers_who_started_it(db):
    admin = make_staff("admin")
    batch = import_book(db, xlsx(CUSTOMER_HEADERS, [CUSTOMER]), xlsx(LOAN_HEADERS, [LOAN]), actor=admin)
    assert batch.created_by_id == admin.id
    created = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "import.created"))
    assert created.actor_id == admin.id and created.changes["customers_file"] == "customer_data.xlsx"


# ---- a real RQ worker --------------------------------------------------------------------------------------
def test_the_real_book_through_a_real_rq_worker(db, app, book, redis_server):
    from rq import SimpleWorker

    from portal.queue import FlaskJob, get_queue

    previous_app = getattr(FlaskJob, "_app", None)
    with config(app, JOBS_MODE="rq", REDIS_URL=redis_server.url):
        queue = get_queue("default")
        queue.empty()
        batch = services.create_import(customers_name="customer_data.xlsx", customers_bytes=book[0],
                                       loans_name="loan_data.xlsx", loans_bytes=book[1], actor="cli",
                                       institution_id=default_institution().id)
        db.session.commit()
        batch_id = batch.id
        assert db.session.get(ImportBatch, batch_id).status == "queued"
        assert queue.count == 1
        FlaskJob._app = app
        try:
            worker = SimpleWorker([queue], connection=queue.connection, job_class=FlaskJob)
            assert worker.work(burst=True)
        finally:
            FlaskJob._app = previous_app
    db.session.expire_all()
    batch = db.session.get(ImportBatch, batch_id)
    assert batch.status == "done", batch.error
    assert (batch.customers_created, batch.loans_created, batch.rejected_count) == (300, 782, 0)
    assert count(Customer) == 300 and count(Loan) == 782


def test_progress_is_visible_to_other_connections_while_the_job_runs(db, book, monkeypatch):
    seen: list[tuple[str, int, int]] = []
    from portal.progress import RowProgress

    original = RowProgress.set

    def watching(self, **values):
        original(self, **values)
        with _db.engine.connect() as conn:  # another connection: sees only what is committed
            row = conn.execute(select(ImportBatch.status, ImportBatch.progress_done, ImportBatch.progress_total)
                               .where(ImportBatch.id == self.row_id)).one()
        seen.append(tuple(row))

    monkeypatch.setattr(RowProgress, "set", watching)
    monkeypatch.setattr(services, "CHUNK", 100)
    batch = import_book(db, *book)

    assert batch.status == "done"
    assert seen[0] == ("running", 0, 0)
    assert ("running", 0, 1082) in seen
    done = [d for status, d, total in seen if status == "running" and total == 1082]
    assert done == sorted(done) and done[-1] == 1082 and len(done) == 1 + 3 + 8  # 300 + 782 rows by 100
