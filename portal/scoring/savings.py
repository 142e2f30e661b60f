"""Import the Bright Money savings-transactions CSV (seed 004) behind the ``savings-balance`` score.

``create_transaction_import`` runs in the request (or the CLI): whole-file checks so that an empty file, a file
that is not CSV text or a wrong header is refused at once (4xx), then the bytes are kept on a
:class:`TransactionImport` and ``jobs.scoring.run_transaction_import`` is enqueued after the commit.

``run_transaction_import`` runs in the job: every row is checked (user, ISO date, CREDIT/DEBIT, a positive
amount in rupees with at most 2 decimals); bad rows are kept with their reason for the rejected-rows CSV and the
others land. The file is the statement of record for each user it contains: that user's earlier transactions
are replaced, so importing the same file twice changes nothing. Progress is written in short transactions of its
own so the progress bar moves while the job's transaction is open (PostgreSQL).
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask import current_app
from sqlalchemy import delete, insert, select

from portal.audit.services import SYSTEM, record
from portal.errors import DomainError
from portal.extensions import db
from portal.ingest.workbook import RejectedRow, rejected_rows_csv
from portal.progress import RowProgress
from portal.progress import mark_failed as mark_row_failed
from portal.scoring.models import SavingsAccount, SavingsTransaction, TransactionImport

JOB = "jobs.scoring.run_transaction_import"
HEADERS = ("user", "date", "transaction_type", "amount")
TYPES = ("CREDIT", "DEBIT")
CHUNK = 500
MAX_AMOUNT = Decimal("1000000000000")
USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CsvFileError(DomainError):
    """The upload as a whole is not the transactions CSV (422, or 413 when too large)."""


@dataclass(frozen=True)
class TransactionRow:
    row_number: int
    user: str
    transacted_on: date
    transaction_type: str
    amount: Decimal


def _clean_name(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    return (base or "transactions.csv")[:255]


def decode_csv(data: bytes | None, *, max_bytes: int) -> str:
    """The upload as text, or CsvFileError: empty, too large, binary (NUL bytes, a zip/xlsx) or not UTF-8."""
    if not data:
        raise CsvFileError("The file is empty.")
    if len(data) > max_bytes:
        raise CsvFileError(f"The file is larger than {max_bytes // (1024 * 1024)} MB.", 413)
    if data[:4] == b"PK\x03\x04" or b"\x00" in data[:4096]:
        raise CsvFileError("This is not a CSV file (it looks like a binary file or a spreadsheet); "
                           "export it as CSV (comma-separated values) and upload that.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvFileError("This is not a CSV file: it is not UTF-8 text.") from None
    return text


def check_header(text: str) -> None:
    """CsvFileError unless the first line is ``user,date,transaction_type,amount`` and a data row follows."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise CsvFileError("The file is empty.")
    try:
        header = next(csv.reader([lines[0]]))
    except csv.Error:
        header = []
    found = tuple(h.strip().lower() for h in header)
    if found != HEADERS:
        shown = ",".join(header)[:120] or "(nothing)"
        raise CsvFileError(f"The header row must be {','.join(HEADERS)}; found {shown}.")
    if len(lines) < 2:
        raise CsvFileError("The file has a header row but no transactions.")


def parse_rows(text: str) -> tuple[list[TransactionRow], list[RejectedRow], int]:
    """Check every row: ``(rows, rejected, total data rows)``. Row numbers count the header as row 1."""
    rows: list[TransactionRow] = []
    rejected: list[RejectedRow] = []
    total = 0
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        total += 1
        values = {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(HEADERS)}
        reason = None
        if len(cells) != len(HEADERS):
            reason = f"expected {len(HEADERS)} columns, found {len(cells)}"
        user = values["user"].strip()
        kind = values["transaction_type"].strip().upper()
        raw_date, raw_amount = values["date"].strip(), values["amount"].strip()
        on = amount = None
        if reason is None:
            if not USER_RE.match(user):
                reason = "user is missing or not an id (letters, digits, '-', at most 64 characters)"
            elif kind not in TYPES:
                reason = f"unknown transaction_type {values['transaction_type'].strip()!r} (use CREDIT or DEBIT)"
        if reason is None:
            try:
                if not DATE_RE.match(raw_date):
                    raise ValueError
                on = date.fromisoformat(raw_date)
            except ValueError:
                reason = f"date {raw_date!r} is not a date in YYYY-MM-DD form"
        if reason is None:
            try:
                amount = Decimal(raw_amount)
                if not amount.is_finite():
                    raise InvalidOperation
            except InvalidOperation:
                reason = f"amount {raw_amount!r} is not a number"
            else:
                if amount < 0:
                    reason = f"amount {raw_amount} is negative; amounts are positive and the type gives the sign"
                elif amount == 0:
                    reason = "amount is zero"
                elif amount != amount.quantize(Decimal("0.01")):
                    reason = f"amount {raw_amount} has more than 2 decimal places"
                elif amount > MAX_AMOUNT:
                    reason = f"amount {raw_amount} is too large"
        if reason:
            rejected.append(RejectedRow(row_number=number, reason=reason, values=values))
        else:
            rows.append(TransactionRow(number, user, on, kind, amount))
    return rows, rejected, total


def create_transaction_import(*, filename: str, data: bytes, actor, institution_id: int,
                              enqueue: bool = True) -> TransactionImport:
    """Store an upload of the transactions CSV as a queued import (checks first: CsvFileError 413/422)."""
    max_bytes = int(current_app.config["IMPORT_MAX_BYTES"])
    check_header(decode_csv(data, max_bytes=max_bytes))
    batch = TransactionImport(institution_id=institution_id, created_by_id=getattr(actor, "id", None),
                              status="queued", filename=_clean_name(filename),
                              sha256=hashlib.sha256(data).hexdigest(), file=bytes(data), progress_done=0,
                              progress_total=0, rejected=[])
    db.session.add(batch)
    db.session.flush()
    record(actor, "transactions_import.created", batch, institution_id=institution_id,
           changes={"file": batch.filename, "sha256": batch.sha256, "bytes": len(data)})
    if enqueue:
        from portal.queue import enqueue_after_commit

        enqueue_after_commit(JOB, batch.id)
    return batch


def _row_progress(batch_id: int) -> RowProgress:
    """Progress on the import row (``portal.progress``)."""
    return RowProgress(TransactionImport, batch_id)


def mark_failed(batch_id: int, message: str, *, now: datetime) -> None:
    """Mark the import failed with ``message`` in a fresh transaction of its own (after a job's rollback)."""
    mark_row_failed(TransactionImport, batch_id, message, now=now)


def run_transaction_import(batch_id: int, *, now: datetime) -> TransactionImport:
    """Land the batch in the current transaction (the job commits once); a batch done or failed is left as is."""
    batch = db.session.get(TransactionImport, batch_id)
    if batch is None:
        raise DomainError(f"transactions import {batch_id} does not exist", 404)
    if batch.status in ("done", "failed"):
        return batch
    actor = batch.created_by or SYSTEM
    institution_id = batch.institution_id
    progress = _row_progress(batch.id)
    progress.set(status="running", started_at=now, progress_done=0, progress_total=0, error=None)
    try:
        text = decode_csv(batch.file, max_bytes=max(len(batch.file or b""), 1))
        check_header(text)
    except CsvFileError as exc:
        batch.status, batch.error, batch.started_at, batch.finished_at = "failed", exc.message, now, now
        record(actor, "transactions_import.failed", batch, note=exc.message, institution_id=institution_id)
        return batch
    rows, rejected, total = parse_rows(text)
    progress.total = len(rows)
    progress.set(progress_total=progress.total)

    users = sorted({row.user for row in rows})
    accounts: dict[str, int] = dict(db.session.execute(select(SavingsAccount.external_user, SavingsAccount.id).where(
        SavingsAccount.institution_id == institution_id, SavingsAccount.external_user.in_(users))).all()) \
        if users else {}
    progress.writing = True
    new_users = [u for u in users if u not in accounts]
    for start in range(0, len(new_users), CHUNK):
        db.session.execute(insert(SavingsAccount), [
            {"institution_id": institution_id, "external_user": u, "import_batch_id": batch.id, "created_at": now}
            for u in new_users[start:start + CHUNK]])
    if new_users:
        accounts.update(db.session.execute(select(SavingsAccount.external_user, SavingsAccount.id).where(
            SavingsAccount.institution_id == institution_id, SavingsAccount.external_user.in_(new_users))).all())
    replaced = 0
    for start in range(0, len(users), CHUNK):
        part = [accounts[u] for u in users[start:start + CHUNK]]
        replaced += db.session.execute(delete(SavingsTransaction).where(
            SavingsTransaction.savings_account_id.in_(part))).rowcount or 0
    for start in range(0, len(rows), CHUNK):
        part = rows[start:start + CHUNK]
        db.session.execute(insert(SavingsTransaction), [
            {"institution_id": institution_id, "import_batch_id": batch.id, "savings_account_id": accounts[r.user],
             "external_user": r.user, "row_number": r.row_number, "transacted_on": r.transacted_on,
             "transaction_type": r.transaction_type, "amount": r.amount} for r in part])
        progress.advance(len(part))

    batch.rejected = [{"row_number": r.row_number, "reason": r.reason, "values": dict(r.values)} for r in rejected]
    batch.rejected_count = len(rejected)
    batch.rows_imported = len(rows)
    batch.users_count = len(users)
    batch.progress_total = batch.progress_done = len(rows)
    batch.status, batch.error, batch.started_at, batch.finished_at = "done", None, now, now
    record(actor, "transactions_import.completed", batch, institution_id=institution_id,
           changes={"rows": total, "imported": len(rows), "rejected": len(rejected), "users": len(users),
                    "new_accounts": len(new_users), "replaced_transactions": replaced})
    return batch


def rejected_csv(batch: TransactionImport) -> str:
    """The rejected rows as CSV: row_number, reason, then the file's columns."""
    rows = [RejectedRow(row_number=r["row_number"], reason=r["reason"], values=r.get("values", {}))
            for r in (batch.rejected or [])]
    return rejected_rows_csv(rows, HEADERS)


def link_customer(account: SavingsAccount, customer, *, actor) -> SavingsAccount:
    """Link a savings account (the CSV's user) to a customer of the same institution, so the customer can be
    scored with ``savings-balance``."""
    if customer.institution_id != account.institution_id:
        raise DomainError("The customer belongs to another institution.", 404)
    taken = db.session.scalar(select(SavingsAccount).where(SavingsAccount.customer_id == customer.id))
    if taken is not None and taken.id != account.id:
        raise DomainError(f"Customer #{customer.id} is already linked to another savings account.", 409)
    old = account.customer_id
    account.customer_id = customer.id
    db.session.flush()
    record(actor, "savings_account.linked", account, institution_id=account.institution_id,
           changes={"customer_id": (old, customer.id)})
    return account
