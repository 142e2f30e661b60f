"""Import the Alemeno loan book (seed 003): ``create_import`` stores the upload, ``run_import`` lands it.

``create_import`` runs in the request (or the CLI): cheap whole-file checks (size, emptiness, .xlsx, header
row) so a bad upload is refused at once with a message, then the bytes are kept on an :class:`ImportBatch`
and the job ``jobs.ingest.run_import`` is enqueued after the commit.

``run_import`` runs in the job: parse both workbooks (``portal.ingest.workbook``), then upsert customers by
their file id and loans by ``(customer_id, external_loan_id)`` in the job's single transaction. Existing
rows load with one query per table; new rows are inserted in bulk. Progress goes to the batch row through a
separate short transaction (``db.engine.begin()``) so the progress bar moves while the data transaction is
still open. Importing the same files twice changes nothing the second time.
"""
from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from flask import current_app
from sqlalchemy import select, text

from portal.audit.services import SYSTEM, apply_changes, record
from portal.errors import DomainError
from portal.extensions import db
from portal.ingest import workbook
from portal.ingest.models import ImportBatch
from portal.ingest.workbook import (
    CUSTOMER_HEADERS,
    LOAN_HEADERS,
    CustomerRow,
    LoanRow,
    RejectedRow,
    WorkbookError,
    rejected_rows_csv,
)
from portal.lending.models import Loan
from portal.onboarding.models import Customer
from portal.progress import RowProgress
from portal.progress import mark_failed as mark_row_failed

JOB = "jobs.ingest.run_import"
CHUNK = 250            # rows per flush (and per progress update)
IN_CHUNK = 5000        # ids per IN (...) list when loading existing rows
CUSTOMERS, LOANS = "customers", "loans"
RUNNING_STATES = ("queued", "running")


# ---- creating a batch --------------------------------------------------------------------------------------
def _clean_name(name: str | None, default: str) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    return (base or default)[:255]


def _named(data: bytes, name: str) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def _check_file(data: bytes | None, name: str, kind: str, max_bytes: int) -> None:
    """Cheap whole-file checks (``workbook.check_workbook``); DomainError (413 too large, else 422)."""
    try:
        workbook.check_workbook(_named(data or b"", name), kind=kind, max_bytes=max_bytes)
    except WorkbookError as exc:
        raise DomainError(f"The {kind} file: {exc}", 413 if exc.too_large else 422) from None


def create_import(*, customers_name: str, customers_bytes: bytes, loans_name: str, loans_bytes: bytes,
                  actor, institution_id: int, enqueue: bool = True) -> ImportBatch:
    """Store an upload of ``customer_data.xlsx`` + ``loan_data.xlsx`` as a queued ImportBatch.

    Checks each file before anything is stored: not empty, at most ``IMPORT_MAX_BYTES`` (DomainError 413),
    an .xlsx workbook with the expected header row and at least one data row (DomainError 422, the message
    names the file). Keeps the bytes and their SHA-256, audits ``import.created`` and, unless ``enqueue`` is
    False (the CLI runs the job itself), starts ``jobs.ingest.run_import`` after the commit. Flushes.
    """
    max_bytes = int(current_app.config["IMPORT_MAX_BYTES"])
    customers_name = _clean_name(customers_name, "customer_data.xlsx")
    loans_name = _clean_name(loans_name, "loan_data.xlsx")
    _check_file(customers_bytes, customers_name, CUSTOMERS, max_bytes)
    _check_file(loans_bytes, loans_name, LOANS, max_bytes)
    batch = ImportBatch(
        institution_id=institution_id, created_by_id=getattr(actor, "id", None), status="queued",
        customers_filename=customers_name, loans_filename=loans_name,
        customers_sha256=hashlib.sha256(customers_bytes).hexdigest(),
        loans_sha256=hashlib.sha256(loans_bytes).hexdigest(),
        customers_file=bytes(customers_bytes), loans_file=bytes(loans_bytes),
        progress_done=0, progress_total=0, rejected=[],
    )
    db.session.add(batch)
    db.session.flush()
    record(actor, "import.created", batch, institution_id=institution_id, changes={
        "customers_file": customers_name, "customers_sha256": batch.customers_sha256,
        "customers_bytes": len(customers_bytes), "loans_file": loans_name,
        "loans_sha256": batch.loans_sha256, "loans_bytes": len(loans_bytes)})
    if enqueue:
        from portal.queue import enqueue_after_commit

        enqueue_after_commit(JOB, batch.id)
    return batch


# ---- progress, outside the job's transaction ---------------------------------------------------------------
def _row_progress(batch_id: int) -> RowProgress:
    """Progress on the batch row (``portal.progress``)."""
    return RowProgress(ImportBatch, batch_id)


def mark_failed(batch_id: int, message: str, *, now: datetime) -> None:
    """Mark the batch failed with ``message`` in a fresh transaction of its own (after a job's rollback)."""
    mark_row_failed(ImportBatch, batch_id, message, now=now)


# ---- running a batch ---------------------------------------------------------------------------------------
def _chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _load_customers(ids: Iterable[int]) -> dict[int, Customer]:
    ids = sorted(set(ids))
    found: dict[int, Customer] = {}
    for part in _chunks(ids, IN_CHUNK):
        found.update((c.id, c) for c in db.session.scalars(select(Customer).where(Customer.id.in_(part))))
    return found


def _load_loans(customer_ids: Iterable[int]) -> dict[tuple[int, int], Loan]:
    ids = sorted(set(customer_ids))
    found: dict[tuple[int, int], Loan] = {}
    for part in _chunks(ids, IN_CHUNK):
        query = select(Loan).where(Loan.customer_id.in_(part), Loan.external_loan_id.is_not(None))
        found.update(((loan.customer_id, loan.external_loan_id), loan) for loan in db.session.scalars(query))
    return found


def _rejected_entry(kind: str, filename: str, row: RejectedRow) -> dict:
    return {"file": filename, "kind": kind, "row_number": row.row_number, "reason": row.reason,
            "values": dict(row.values)}


def _row_values(row, headers: Sequence[str]) -> dict[str, str]:
    """The original values of a parsed row, as text keyed by the file's headers (for a rejected row)."""
    if isinstance(row, CustomerRow):
        values = [row.customer_id, row.first_name, row.last_name, row.age, row.phone_number,
                  row.monthly_salary, row.approved_limit]
    else:
        values = [row.customer_id, row.loan_id, row.loan_amount, row.tenure, row.interest_rate,
                  row.monthly_payment, row.emis_paid_on_time, row.approved_on, row.end_on]
    return {h: workbook._as_text(v) for h, v in zip(headers, values, strict=True)}


def _customer_fields(row: CustomerRow) -> dict:
    return {"first_name": row.first_name, "last_name": row.last_name, "age": row.age,
            "phone_number": row.phone_number, "monthly_salary": row.monthly_salary,
            "approved_limit": row.approved_limit}


def _loan_fields(row: LoanRow) -> dict:
    return {"loan_amount": row.loan_amount, "tenure": row.tenure, "interest_rate": row.interest_rate,
            "monthly_installment": row.monthly_payment, "emis_paid_on_time": row.emis_paid_on_time,
            "approved_on": row.approved_on, "end_on": row.end_on}


def _parse(batch: ImportBatch, max_bytes: int):
    customers = workbook.parse_customers(_named(batch.customers_file, batch.customers_filename),
                                         max_bytes=max_bytes)
    loans = workbook.parse_loans(_named(batch.loans_file, batch.loans_filename), max_bytes=max_bytes)
    return customers, loans


def run_import(batch_id: int, *, now: datetime) -> ImportBatch:
    """Land batch ``batch_id`` in the current transaction (the job commits once). Returns the batch.

    A batch already done or failed is returned as it is (a job delivered twice does nothing). A whole-file
    problem (WorkbookError) marks the batch failed with the message and lands nothing. Otherwise:

    * customers by id (the file's Customer ID): new -> created (``source="import"``); existing with the same
      values -> unchanged; different -> updated, with a ``customer.updated`` audit event of the diff. An id
      used by a customer of another institution, or by a customer registered in the portal with another
      phone number, is rejected (never overwritten);
    * loans by ``(customer_id, external_loan_id)`` the same way; a loan whose customer is neither in the file
      nor in the database (or whose customer row was refused) is rejected with the reason;
    * the file's Approved Limit and Monthly payment are kept as given;
    * every rejected row of both files goes to ``batch.rejected`` with the file name, row number, reason and
      original values; counters filled; ``import.completed`` audited with the counts.
    """
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None:
        raise DomainError(f"import batch {batch_id} does not exist", 404)
    if batch.status in ("done", "failed"):
        return batch
    progress = _row_progress(batch.id)
    progress.set(status="running", started_at=now, progress_done=0, progress_total=0, error=None)
    actor = batch.created_by or SYSTEM
    institution_id = batch.institution_id
    max_bytes = max(int(current_app.config["IMPORT_MAX_BYTES"]), len(batch.customers_file or b""),
                    len(batch.loans_file or b""))
    try:
        parsed_customers, parsed_loans = _parse(batch, max_bytes)
    except WorkbookError as exc:
        # Nothing has been written in this transaction; the batch row is updated only here, at the end.
        batch.status, batch.error, batch.started_at, batch.finished_at = "failed", str(exc), now, now
        record(actor, "import.failed", batch, note=str(exc), institution_id=institution_id)
        return batch

    rejected: list[dict] = [_rejected_entry(CUSTOMERS, batch.customers_filename, r)
                            for r in parsed_customers.rejected]
    rejected += [_rejected_entry(LOANS, batch.loans_filename, r) for r in parsed_loans.rejected]
    progress.total = len(parsed_customers.rows) + len(parsed_loans.rows)
    progress.set(progress_done=0, progress_total=progress.total)

    counts = dict.fromkeys(("customers_created", "customers_updated", "customers_unchanged",
                            "loans_created", "loans_updated", "loans_unchanged"), 0)
    note = f"import batch {batch.id}"

    # One query per table for everything the files mention.
    file_ids = {r.customer_id for r in parsed_customers.rows}
    existing_customers = _load_customers(file_ids | {r.customer_id for r in parsed_loans.rows})
    existing_loans = _load_loans({r.customer_id for r in parsed_loans.rows})

    # Customers.
    refused: dict[int, str] = {}
    progress.writing = True
    for part in _chunks(parsed_customers.rows, CHUNK):
        new = []
        for row in part:
            current = existing_customers.get(row.customer_id)
            fields = _customer_fields(row)
            if current is None:
                customer = Customer(id=row.customer_id, institution_id=institution_id, source="import",
                                    import_batch_id=batch.id, **fields)
                new.append(customer)
                existing_customers[row.customer_id] = customer
                counts["customers_created"] += 1
                continue
            reason = None
            if current.institution_id != institution_id:
                reason = f"Customer ID {row.customer_id} belongs to another institution"
            elif current.source != "import" and current.phone_number != row.phone_number:
                reason = (f"Customer ID {row.customer_id} is already used by a customer registered in the "
                          f"portal ({current.name}, another phone number); not overwritten")
            if reason:
                refused[row.customer_id] = reason
                rejected.append({"file": batch.customers_filename, "kind": CUSTOMERS,
                                 "row_number": row.row_number, "reason": reason,
                                 "values": _row_values(row, CUSTOMER_HEADERS)})
                continue
            changes = apply_changes(current, fields)
            if changes:
                current.import_batch_id = batch.id
                record(actor, "customer.updated", ("customers", current.id), changes=changes, note=note,
                       institution_id=institution_id)
                counts["customers_updated"] += 1
            else:
                counts["customers_unchanged"] += 1
        db.session.add_all(new)
        db.session.flush()
        progress.advance(len(part))

    if counts["customers_created"] and db.engine.dialect.name == "postgresql":
        # Explicit ids do not move the serial: customers registered later must get ids after the highest.
        db.session.execute(text("SELECT setval(pg_get_serial_sequence('customers', 'id'), "
                                "(SELECT MAX(id) FROM customers))"))

    # Loans. Customer ids of rejected customer rows, when readable, explain why a loan has no customer.
    unreadable: dict[int, int] = {}
    for r in parsed_customers.rejected:
        raw = r.values.get("Customer ID", "").strip()
        if raw.isdigit():
            unreadable.setdefault(int(raw), r.row_number)
    for part in _chunks(parsed_loans.rows, CHUNK):
        new = []
        for row in part:
            customer = existing_customers.get(row.customer_id)
            reason = None
            if row.customer_id in refused:
                reason = f"the customer was not imported: {refused[row.customer_id]}"
            elif customer is None and row.customer_id in unreadable:
                reason = (f"Customer ID {row.customer_id}: its row in the customers file was rejected "
                          f"(row {unreadable[row.customer_id]}), so the loan has no customer")
            elif customer is None:
                reason = (f"Customer ID {row.customer_id} is neither in the customers file nor in the "
                          "portal; import the customer first")
            elif customer.institution_id != institution_id:
                reason = f"Customer ID {row.customer_id} belongs to another institution"
            if reason:
                rejected.append({"file": batch.loans_filename, "kind": LOANS, "row_number": row.row_number,
                                 "reason": reason, "values": _row_values(row, LOAN_HEADERS)})
                continue
            fields = _loan_fields(row)
            current = existing_loans.get((row.customer_id, row.loan_id))
            if current is None:
                loan = Loan(institution_id=institution_id, customer_id=row.customer_id,
                            external_loan_id=row.loan_id, source="import", status="active",
                            import_batch_id=batch.id, **fields)
                new.append(loan)
                existing_loans[(row.customer_id, row.loan_id)] = loan
                counts["loans_created"] += 1
                continue
            changes = apply_changes(current, fields)
            if changes:
                current.import_batch_id = batch.id
                record(actor, "loan.updated", ("loans", current.id), changes=changes, note=note,
                       institution_id=institution_id)
                counts["loans_updated"] += 1
            else:
                counts["loans_unchanged"] += 1
        db.session.add_all(new)
        db.session.flush()
        progress.advance(len(part))

    # The batch row is written by this transaction only now, after the last progress update.
    rejected.sort(key=lambda r: (r["kind"] != CUSTOMERS, r["row_number"]))
    for name, value in counts.items():
        setattr(batch, name, value)
    batch.rejected = rejected
    batch.rejected_count = len(rejected)
    batch.progress_total = batch.progress_done = progress.total
    batch.status, batch.error, batch.started_at, batch.finished_at = "done", None, now, now
    record(actor, "import.completed", batch, institution_id=institution_id,
           changes={**counts, "rejected": len(rejected), "customers_rows": parsed_customers.total_rows,
                    "loans_rows": parsed_loans.total_rows})
    return batch


# ---- reading a batch ---------------------------------------------------------------------------------------
REJECTED_CSV_HEADERS: tuple[str, ...] = (
    "file", *CUSTOMER_HEADERS, *(h for h in LOAN_HEADERS if h not in CUSTOMER_HEADERS))


def rejected_csv(batch: ImportBatch) -> str:
    """The batch's rejected rows as CSV: row_number, reason, file, then the columns of both workbooks."""
    rows = [RejectedRow(row_number=r["row_number"], reason=r["reason"],
                        values={**r.get("values", {}), "file": r.get("file", "")})
            for r in (batch.rejected or [])]
    return rejected_rows_csv(rows, REJECTED_CSV_HEADERS)
