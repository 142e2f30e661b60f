"""The Bright Money transactions CSV (seed 004): the real file lands in full through the job, twice without
duplicates; bad rows are rejected with reasons; a wrong header, an empty or non-CSV file is refused (4xx) before
anything is stored; the savings-balance score of every user equals the seed 004 formula."""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.errors import DomainError
from portal.scoring import runs, savings, services
from portal.scoring.models import SavingsAccount, SavingsTransaction, TransactionImport
from tests.scoring.conftest import import_transactions
from tests.scoring.test_engine import seed_004

HEADER = "user,date,transaction_type,amount\n"
USER_A = "f5abc955-889d-4a17-87b9-45b362eb673b"
USER_B = "0a1b2c3d-0000-4000-8000-00000000000b"


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_real_file_imports_in_full(db, transactions, csv_bytes):
    batch = transactions
    assert batch.status == "done", batch.error
    assert (batch.rows_imported, batch.users_count, batch.rejected_count) == (5203, 200, 0)
    assert batch.progress_done == batch.progress_total == 5203 and batch.percent == 100
    assert count(db, SavingsTransaction) == 5203 and count(db, SavingsAccount) == 200
    # the stored balances equal the file's, user by user, and score as seed 004 says
    expected = defaultdict(int)
    for row in csv.DictReader(io.StringIO(csv_bytes.decode())):
        expected[row["user"]] += int(row["amount"]) * (1 if row["transaction_type"] == "CREDIT" else -1)
    book = runs.book_features("savings", institution_id=batch.institution_id, as_of=None)
    assert len(book) == 200
    card = services.compiled(services.current_version("savings-balance", institution_id=batch.institution_id))
    for ref, values in book.items():
        user = ref.removeprefix("savings:")
        assert values["balance"] == Decimal(expected[user])
        assert card.score(values).score == seed_004(expected[user])
    done = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "transactions_import.completed"))
    assert done.changes["imported"] == 5203 and done.changes["users"] == 200


def test_importing_the_same_file_again_changes_nothing(db, transactions, csv_bytes):
    before = runs.book_features("savings", institution_id=1, as_of=None)
    again = import_transactions(db, csv_bytes)
    assert again.status == "done" and again.rows_imported == 5203
    assert count(db, SavingsTransaction) == 5203 and count(db, SavingsAccount) == 200
    assert runs.book_features("savings", institution_id=1, as_of=None) == before


def test_bad_rows_are_rejected_with_reasons_and_the_rest_lands(db):
    text = HEADER + "\n".join([
        f"{USER_A},2020-10-30,CREDIT,64709",        # 2 good
        f"{USER_A},2020-11-01,DEBIT,1000.50",       # 3 good (paise)
        f"{USER_A},2020-11-02,DEBIT,-500",          # 4 negative
        f"{USER_A},2020-11-03,TRANSFER,500",        # 5 unknown type
        f"{USER_A},2020-13-03,CREDIT,500",          # 6 bad date
        f"{USER_A},30/10/2020,CREDIT,500",          # 7 bad date format
        f"{USER_A},2020-11-04,CREDIT,abc",          # 8 not a number
        f"{USER_A},2020-11-05,CREDIT,0",            # 9 zero
        ",2020-11-05,CREDIT,10",                     # 10 no user
        f"{USER_B},2020-11-06,credit,100",          # 11 good (type case-insensitive)
        f"{USER_B},2020-11-06,CREDIT",              # 12 missing column
        f"{USER_B},2020-11-07,DEBIT,1.234",         # 13 3 decimals
    ]) + "\n"
    batch = import_transactions(db, text.encode())
    assert batch.status == "done"
    assert (batch.rows_imported, batch.users_count, batch.rejected_count) == (3, 2, 9)
    reasons = {r["row_number"]: r["reason"] for r in batch.rejected}
    assert "negative" in reasons[4]
    assert "unknown transaction_type 'TRANSFER'" in reasons[5]
    assert "not a date" in reasons[6] and "not a date" in reasons[7]
    assert "not a number" in reasons[8] and "zero" in reasons[9]
    assert "user is missing" in reasons[10] and "expected 4 columns" in reasons[12]
    assert "2 decimal places" in reasons[13]
    assert batch.rejected[0]["values"] == {"user": USER_A, "date": "2020-11-02", "transaction_type": "DEBIT",
                                           "amount": "-500"}
    report = list(csv.reader(io.StringIO(savings.rejected_csv(batch))))
    assert report[0] == ["row_number", "reason", "user", "date", "transaction_type", "amount"]
    assert [r[0] for r in report[1:]] == ["4", "5", "6", "7", "8", "9", "10", "12", "13"]
    assert report[1][:2] == ["4", reasons[4]] and report[1][5] == "-500"  # a plain number stays as it is
    book = runs.book_features("savings", institution_id=1, as_of=None)
    assert book[f"savings:{USER_A}"]["balance"] == Decimal("63708.50")
    assert book[f"savings:{USER_B}"]["balance"] == Decimal("100")


@pytest.mark.parametrize(("data", "status", "message"), [
    (b"", 422, "empty"),
    (b"\n\n", 422, "empty"),
    (b"user,date,type,amount\nx,2020-01-01,CREDIT,1\n", 422, "header row must be user,date,transaction_type,amount"),
    (b"amount,user,date,transaction_type\n1,x,2020-01-01,CREDIT\n", 422, "header row"),
    (HEADER.encode(), 422, "no transactions"),
    (b"PK\x03\x04\x14\x00\x06\x00binary zip", 422, "not a CSV file"),
    (b"\x00\x01\x02\x03 binary", 422, "not a CSV file"),
    ("user,date,transaction_type,amount\nü,2020-01-01,CREDIT,1\n".encode("latin-1"), 422, "not UTF-8"),
])
def test_whole_file_problems_are_refused_before_anything_is_stored(db, data, status, message):
    with pytest.raises(DomainError) as caught:
        savings.create_transaction_import(filename="t.csv", data=data, actor="cli", institution_id=1)
    assert caught.value.http_status == status and message in caught.value.message
    db.session.rollback()
    assert count(db, TransactionImport) == 0


def test_a_bom_and_windows_line_ends_are_fine(db):
    text = "\ufeffuser,date,transaction_type,amount\r\n" + f"{USER_A},2020-10-30,CREDIT,5\r\n"
    batch = import_transactions(db, text.encode("utf-8"))
    assert batch.status == "done" and batch.rows_imported == 1 and batch.rejected_count == 0


def test_too_large_is_413(db, app):
    app.config["IMPORT_MAX_BYTES"], previous = 100, app.config["IMPORT_MAX_BYTES"]
    try:
        with pytest.raises(DomainError) as caught:
            savings.create_transaction_import(filename="t.csv", data=(HEADER + "x" * 200).encode(), actor="cli",
                                              institution_id=1)
        assert caught.value.http_status == 413
    finally:
        app.config["IMPORT_MAX_BYTES"] = previous


def test_a_finished_import_is_not_run_again(db):
    batch = import_transactions(db, (HEADER + f"{USER_A},2020-10-30,CREDIT,5\n").encode())
    from jobs.scoring import run_transaction_import

    assert run_transaction_import(batch.id) == batch.id
    assert count(db, SavingsTransaction) == 1


def test_the_real_file_through_a_real_rq_worker(db, app, csv_bytes, redis_server):
    from rq import SimpleWorker

    from portal.queue import FlaskJob, get_queue

    previous = {k: app.config.get(k) for k in ("JOBS_MODE", "REDIS_URL")}
    previous_app = getattr(FlaskJob, "_app", None)
    app.config.update(JOBS_MODE="rq", REDIS_URL=redis_server.url)
    try:
        queue = get_queue("default")
        queue.empty()
        batch = savings.create_transaction_import(filename="transactions_data_backend.csv", data=csv_bytes,
                                                  actor="cli", institution_id=1)
        db.session.commit()
        batch_id = batch.id
        assert queue.count == 1 and db.session.get(TransactionImport, batch_id).status == "queued"
        FlaskJob._app = app
        worker = SimpleWorker([queue], connection=queue.connection, job_class=FlaskJob)
        assert worker.work(burst=True)
    finally:
        FlaskJob._app = previous_app
        app.config.update(previous)
    db.session.expire_all()
    batch = db.session.get(TransactionImport, batch_id)
    assert batch.status == "done", batch.error
    assert (batch.rows_imported, batch.users_count, batch.rejected_count) == (5203, 200, 0)


def test_progress_is_visible_to_other_connections_while_the_job_runs(db, csv_bytes, monkeypatch):
    from portal.extensions import db as _db

    seen = []
    from portal.progress import RowProgress

    original = RowProgress.set

    def watching(self, **values):
        original(self, **values)
        with _db.engine.connect() as conn:
            seen.append(tuple(conn.execute(select(TransactionImport.status, TransactionImport.progress_done,
                                                  TransactionImport.progress_total)
                                           .where(TransactionImport.id == self.row_id)).one()))

    monkeypatch.setattr(RowProgress, "set", watching)
    batch = import_transactions(db, csv_bytes)
    assert batch.status == "done"
    assert seen[0] == ("running", 0, 0) and ("running", 0, 5203) in seen
    done = [d for status, d, total in seen if total == 5203]
    assert done == sorted(done) and done[-1] == 5203 and len(done) > 5
