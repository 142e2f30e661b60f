"""Parse and validate the Alemeno workbooks of seed 003: ``customer_data.xlsx`` and ``loan_data.xlsx``.

Pure module: no Flask, no SQLAlchemy. It turns the bytes of an uploaded (or seeded) workbook into plain frozen
dataclasses plus a list of rejected rows with reasons; the import service decides what to store.

Two kinds of problem are kept apart:

* a whole-file problem (not an .xlsx, damaged, empty, too large, no data rows, wrong headers) raises
  :class:`WorkbookError` with a message a person can act on;
* a bad row (missing value, text in a number column, negative amount, duplicate id, ...) becomes a
  :class:`RejectedRow` with its reason, and the other rows still land.

Units: amounts are ``Decimal`` rupees with two places (``portal.money``; never float), interest rates are
``Decimal`` percent per annum with at most two places, tenures and EMI counts are months / instalments.
Quirks of the real files (see ``shared/data/README.md``): the customer sheet has three empty trailing rows
(skipped, not counted); ``Loan ID`` is unique only per customer (29 ids occur twice for different customers);
phone numbers are numeric cells; dates are datetime cells at midnight; ``Approved Limit`` and
``Monthly payment`` are kept as given.
"""

from __future__ import annotations

import csv
import io
import math
import os
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, BinaryIO, TypeAlias

from openpyxl import load_workbook

from portal.money import PAISA, money

MAX_BYTES = 20 * 1024 * 1024
"""Default upper limit on the size of the uploaded .xlsx file (20 MiB)."""

MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
"""Upper limit on the declared uncompressed size of all parts of the .xlsx zip (guards against zip bombs)."""

MAX_AMOUNT = Decimal("1000000000000")
"""Largest amount accepted from a sheet, exclusive: Rs 1,00,000 crore (anything above is a typo)."""

MAX_ID = 2_147_483_647
"""Largest id accepted (fits a 32-bit signed INTEGER column on both SQLite and PostgreSQL)."""

MAX_TENURE_MONTHS = 600
"""Longest tenure accepted, in months (50 years). The real file's longest is 180."""

MIN_AGE, MAX_AGE = 18, 120
"""Accepted age range in years when an age is given (the real file holds 20..70)."""

MAX_NAME_LENGTH = 100
"""Longest first or last name accepted, in characters."""

ZIP_MAGIC = b"PK\x03\x04"

CUSTOMER_HEADERS: tuple[str, ...] = (
    "Customer ID",
    "First Name",
    "Last Name",
    "Age",
    "Phone Number",
    "Monthly Salary",
    "Approved Limit",
)
"""Header of ``customer_data.xlsx`` (matched case- and whitespace-insensitively, in any order)."""

LOAN_HEADERS: tuple[str, ...] = (
    "Customer ID",
    "Loan ID",
    "Loan Amount",
    "Tenure",
    "Interest Rate",
    "Monthly payment",
    "EMIs paid on Time",
    "Date of Approval",
    "End Date",
)
"""Header of ``loan_data.xlsx`` (matched case- and whitespace-insensitively, in any order)."""

Source: TypeAlias = "bytes | bytearray | memoryview | str | os.PathLike[str] | BinaryIO"


class WorkbookError(ValueError):
    """The file as a whole cannot be imported; ``str(error)`` is a message to show the person who uploaded it.

    Raised for: a file that is not an .xlsx workbook (CSV, PDF, old .xls renamed), a damaged zip, an empty
    file, a file over ``max_bytes``, a workbook without a worksheet, an empty sheet, a header row with
    missing, unexpected or repeated headers (the message names the expected and the found headers), and a
    header row without data rows. ``too_large`` is True when the file is over the size limit (HTTP 413).
    """

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class CustomerRow:
    """One valid row of ``customer_data.xlsx`` (seed 003).

    ``row_number`` is the 1-based row in the sheet (the header is row 1). ``customer_id`` is the file's id,
    an external reference. ``age`` in years or None when blank. ``phone_number`` digits only (the sheet stores
    numbers). ``monthly_salary`` and ``approved_limit`` are Decimal rupees (two places); the approved limit is
    kept as given, it is not recomputed from the salary (see ``shared/data/README.md``).
    """

    row_number: int
    customer_id: int
    first_name: str
    last_name: str
    age: int | None
    phone_number: str
    monthly_salary: Decimal
    approved_limit: Decimal


@dataclass(frozen=True)
class LoanRow:
    """One valid row of ``loan_data.xlsx`` (seed 003).

    ``row_number`` is the 1-based row in the sheet. ``loan_id`` is unique only together with ``customer_id``.
    ``loan_amount`` and ``monthly_payment`` are Decimal rupees (two places; the payment is kept as given, it
    is not the standard EMI). ``tenure`` in months (>= 1), ``interest_rate`` Decimal % per annum (0..100,
    two places), ``emis_paid_on_time`` a count of instalments (0..tenure). ``end_on`` is never before
    ``approved_on``.
    """

    row_number: int
    customer_id: int
    loan_id: int
    loan_amount: Decimal
    tenure: int
    interest_rate: Decimal
    monthly_payment: Decimal
    emis_paid_on_time: int
    approved_on: date
    end_on: date


@dataclass(frozen=True)
class RejectedRow:
    """A data row that was not accepted.

    ``row_number`` is the 1-based row in the sheet, ``reason`` names every problem found in the row (joined by
    "; "), ``values`` holds the original cell values as text keyed by the expected header names (blank -> "").
    """

    row_number: int
    reason: str
    values: dict[str, str]


@dataclass
class ParseResult:
    """Outcome of parsing one workbook.

    ``rows``: the valid rows in sheet order (:class:`CustomerRow` or :class:`LoanRow`); ``rejected``: the
    :class:`RejectedRow` list in sheet order; ``total_rows``: the number of non-empty data rows, so
    ``total_rows == len(rows) + len(rejected)``. Fully empty rows are neither rows nor counted.
    """

    rows: list = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    total_rows: int = 0


# ----------------------------------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------------------------------


def parse_customers(source: Source, *, max_bytes: int = MAX_BYTES) -> ParseResult:
    """Parse ``customer_data.xlsx`` (seed 003) into :class:`CustomerRow` items and rejected rows.

    ``source`` is the file as ``bytes``, a path (``str`` / ``PathLike``) or a binary file object (anything
    with ``read()``, e.g. a Werkzeug ``FileStorage``). The first worksheet is read; its header must be exactly
    :data:`CUSTOMER_HEADERS` (any order, case and spacing free). ``max_bytes`` limits the file size.

    Row rules: Customer ID a positive whole number, unique in the file (a repeat is rejected and names the
    row that had it first); first and last name non-empty text; Age blank or a whole number 18..120; phone
    number 7..15 digits (numeric cells allowed; spaces, dashes and a leading + are dropped); Monthly Salary
    and Approved Limit positive rupee amounts with at most two decimal places.

    Raises :class:`WorkbookError` for whole-file problems (see its docstring), ``TypeError`` for a source of
    the wrong type (e.g. a file opened in text mode). The real file gives 300 rows and 0 rejected.
    """
    result = ParseResult()
    seen: dict[int, int] = {}
    for row_number, values in _records(source, max_bytes, CUSTOMER_HEADERS, LOAN_HEADERS, "loans"):
        result.total_rows += 1
        reasons: list[str] = []
        get = _Getter(values, reasons)
        customer_id = get("Customer ID", _whole, minimum=1, maximum=MAX_ID)
        first_name = get("First Name", _name)
        last_name = get("Last Name", _name)
        age = get("Age", _whole, minimum=MIN_AGE, maximum=MAX_AGE, optional=True)
        phone_number = get("Phone Number", _phone)
        monthly_salary = get("Monthly Salary", _amount)
        approved_limit = get("Approved Limit", _amount)
        if customer_id is not None:
            if customer_id in seen:
                reasons.append(f"duplicate Customer ID {customer_id} (first seen on row {seen[customer_id]})")
            else:
                seen[customer_id] = row_number
        if reasons:
            result.rejected.append(_rejected(row_number, reasons, values))
            continue
        result.rows.append(
            CustomerRow(
                row_number=row_number,
                customer_id=customer_id,
                first_name=first_name,
                last_name=last_name,
                age=age,
                phone_number=phone_number,
                monthly_salary=monthly_salary,
                approved_limit=approved_limit,
            )
        )
    return result


def parse_loans(source: Source, *, max_bytes: int = MAX_BYTES) -> ParseResult:
    """Parse ``loan_data.xlsx`` (seed 003) into :class:`LoanRow` items and rejected rows.

    ``source`` as for :func:`parse_customers`; the header must be exactly :data:`LOAN_HEADERS`.

    Row rules: Customer ID and Loan ID positive whole numbers; the pair (Customer ID, Loan ID) unique in the
    file (a repeat is rejected; the same Loan ID under different customers is fine, the real file has 29 such
    ids); Loan Amount and Monthly payment positive rupee amounts with at most two decimal places; Tenure a
    whole number of months 1..600; Interest Rate % per annum 0..100 with at most two decimal places; EMIs
    paid on Time a whole number 0..tenure; Date of Approval and End Date date cells or ISO text (YYYY-MM-DD),
    the end date not before the approval date. Customer IDs are not checked against the customer file here.

    Raises :class:`WorkbookError` for whole-file problems and ``TypeError`` for a source of the wrong type.
    The real file gives 782 rows and 0 rejected.
    """
    result = ParseResult()
    seen: dict[tuple[int, int], int] = {}
    for row_number, values in _records(source, max_bytes, LOAN_HEADERS, CUSTOMER_HEADERS, "customers"):
        result.total_rows += 1
        reasons: list[str] = []
        get = _Getter(values, reasons)
        customer_id = get("Customer ID", _whole, minimum=1, maximum=MAX_ID)
        loan_id = get("Loan ID", _whole, minimum=1, maximum=MAX_ID)
        loan_amount = get("Loan Amount", _amount)
        tenure = get("Tenure", _whole, minimum=1, maximum=MAX_TENURE_MONTHS)
        interest_rate = get("Interest Rate", _rate)
        monthly_payment = get("Monthly payment", _amount)
        emis_paid_on_time = get("EMIs paid on Time", _whole, minimum=0, maximum=MAX_TENURE_MONTHS)
        approved_on = get("Date of Approval", _date)
        end_on = get("End Date", _date)
        if emis_paid_on_time is not None and tenure is not None and emis_paid_on_time > tenure:
            reasons.append(
                f"EMIs paid on Time ({emis_paid_on_time}) is more than the Tenure ({tenure} months)"
            )
        if approved_on is not None and end_on is not None and end_on < approved_on:
            reasons.append(
                f"End Date {end_on.isoformat()} is before the Date of Approval {approved_on.isoformat()}"
            )
        if customer_id is not None and loan_id is not None:
            key = (customer_id, loan_id)
            if key in seen:
                first = seen[key]
                reasons.append(
                    f"duplicate Loan ID {loan_id} for Customer ID {customer_id} (first seen on row {first})"
                )
            else:
                seen[key] = row_number
        if reasons:
            result.rejected.append(_rejected(row_number, reasons, values))
            continue
        result.rows.append(
            LoanRow(
                row_number=row_number,
                customer_id=customer_id,
                loan_id=loan_id,
                loan_amount=loan_amount,
                tenure=tenure,
                interest_rate=interest_rate,
                monthly_payment=monthly_payment,
                emis_paid_on_time=emis_paid_on_time,
                approved_on=approved_on,
                end_on=end_on,
            )
        )
    return result


def check_workbook(source: Source, *, kind: str, max_bytes: int = MAX_BYTES) -> None:
    """Upload-time check of a ``kind`` ("customers" or "loans") workbook without parsing it all: size, magic
    bytes, zip integrity, the header row and at least one data row. Raises WorkbookError (``too_large`` set
    for a file over ``max_bytes``); ValueError for an unknown kind."""
    if kind not in ("customers", "loans"):
        raise ValueError(f"kind must be 'customers' or 'loans', got {kind!r}")
    headers, other, other_kind = ((CUSTOMER_HEADERS, LOAN_HEADERS, "loans") if kind == "customers"
                                  else (LOAN_HEADERS, CUSTOMER_HEADERS, "customers"))
    records = _records(source, max_bytes, headers, other, other_kind)
    try:
        next(records)
    finally:
        records.close()


def rejected_rows_csv(rejected: Sequence[RejectedRow], headers: Sequence[str]) -> str:
    """Return rejected rows as CSV text: columns ``row_number, reason``, then ``headers`` in the given order.

    Pass :data:`CUSTOMER_HEADERS` or :data:`LOAN_HEADERS` as ``headers``; a header missing from a row's
    values gives an empty cell. Lines end with CRLF (RFC 4180). Cells that a spreadsheet would run as a
    formula (text starting with ``=``, ``+``, ``-``, ``@``, tab or CR that is not a plain number) are prefixed
    with ``'`` so the report is safe to open in Excel; plain negative numbers such as ``-5000`` are kept.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["row_number", "reason", *headers])
    for row in rejected:
        writer.writerow(
            [row.row_number, _csv_safe(row.reason), *(_csv_safe(row.values.get(h, "")) for h in headers)]
        )
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------------
# Reading the file
# ----------------------------------------------------------------------------------------------------


def _records(
    source: Source,
    max_bytes: int,
    headers: Sequence[str],
    other_headers: Sequence[str],
    other_kind: str,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_number, {header: raw value})`` for every non-empty data row of the first worksheet.

    Checks size, magic bytes, zip integrity and headers first; WorkbookError when there are no data rows.
    """
    data, name = _read_source(source, max_bytes)
    workbook = _open_workbook(data, name)
    try:
        if not workbook.worksheets:
            raise WorkbookError(f"{_cap(name)} has no worksheet; expected the data on the first sheet.")
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # do not trust the <dimension> tag some writers get wrong
        rows = _sheet_rows(sheet, name)
        header_number, header_row = _first_nonempty(rows, name, sheet.title, headers)
        positions = _match_headers(
            header_row, header_number, headers, other_headers, other_kind, name, sheet.title
        )
        count = 0
        for row_number, row in rows:
            values = {h: (row[i] if i < len(row) else None) for h, i in positions.items()}
            if all(_blank(v) for v in values.values()):
                continue
            count += 1
            yield row_number, values
        if count == 0:
            raise WorkbookError(f"{_cap(name)} has a header row but no data rows on sheet '{sheet.title}'.")
    finally:
        workbook.close()


def _read_source(source: Source, max_bytes: int) -> tuple[bytes, str]:
    """Return the file's bytes (at most ``max_bytes``) and a name to use in messages."""
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValueError(f"max_bytes must be a positive int, got {max_bytes!r}")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = "the file"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name or str(path)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise WorkbookError(_too_large(name, max_bytes, size), too_large=True)
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
        except FileNotFoundError:
            raise WorkbookError(f"{_cap(name)} was not found ({path}).") from None
        except IsADirectoryError:
            raise WorkbookError(f"{_cap(name)} is a folder, not an .xlsx workbook.") from None
        except OSError as exc:
            raise WorkbookError(f"{_cap(name)} could not be read: {exc.strerror or exc}.") from exc
    elif isinstance(source, io.TextIOBase):
        raise TypeError("the workbook file object must be opened in binary mode ('rb')")
    elif callable(getattr(source, "read", None)):
        label = getattr(source, "filename", None) or getattr(source, "name", None)
        name = os.path.basename(label) if isinstance(label, str) and label else "the file"
        chunk = source.read(max_bytes + 1)
        if isinstance(chunk, str):
            raise TypeError("the workbook file object must be opened in binary mode ('rb')")
        data = bytes(chunk or b"")
        if len(data) > max_bytes and callable(getattr(source, "seekable", None)) and source.seekable():
            position = source.tell()
            size = source.seek(0, io.SEEK_END)
            source.seek(position)
            raise WorkbookError(_too_large(name, max_bytes, size), too_large=True)
    else:
        raise TypeError(f"expected bytes, a path or a binary file object, got {type(source).__name__}")
    if len(data) > max_bytes:
        raise WorkbookError(_too_large(name, max_bytes, None), too_large=True)
    if not data:
        raise WorkbookError(f"{_cap(name)} is empty (0 bytes); upload the .xlsx workbook.")
    return data, name


def _open_workbook(data: bytes, name: str):
    """Check that ``data`` is a sound .xlsx zip and open it with openpyxl (read-only, cached values)."""
    if not data.startswith(ZIP_MAGIC):
        raise WorkbookError(
            f"{_cap(name)} is not an .xlsx workbook{_sniff(data)}. "
            "Save it from Excel or LibreOffice as 'Excel Workbook (.xlsx)' and upload it again."
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        raise WorkbookError(
            f"{_cap(name)} is damaged: it starts like an .xlsx workbook but cannot be opened as one."
        ) from None
    if sum(member.file_size for member in members) > MAX_UNCOMPRESSED_BYTES:
        raise WorkbookError(
            f"{_cap(name)} is too large once unpacked (over {_human_size(MAX_UNCOMPRESSED_BYTES)})."
        )
    if "[Content_Types].xml" not in {member.filename for member in members}:
        raise WorkbookError(f"{_cap(name)} is a zip archive, not an .xlsx workbook.")
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises KeyError, InvalidFileException, XML errors, ...
        raise WorkbookError(
            f"{_cap(name)} is not a readable .xlsx workbook "
            "(it may be damaged, or another kind of Office file)."
        ) from exc


def _sheet_rows(sheet, name: str) -> Iterator[tuple[int, tuple]]:
    """Yield ``(row_number, values)`` for every row; openpyxl errors on a damaged sheet -> WorkbookError."""
    iterator = sheet.iter_rows(min_row=1, min_col=1, values_only=True)
    row_number = 0
    while True:
        try:
            row = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # damaged sheet XML, bad shared-string index, ...
            raise WorkbookError(
                f"{_cap(name)}: sheet '{sheet.title}' is damaged near row {row_number + 1} "
                "and cannot be read."
            ) from exc
        row_number += 1
        yield row_number, row


def _first_nonempty(
    rows: Iterator[tuple[int, tuple]], name: str, title: str, headers: Sequence[str]
) -> tuple[int, tuple]:
    """Return the first row with any value (the header row); WorkbookError if the sheet is empty."""
    for row_number, row in rows:
        if not all(_blank(v) for v in row):
            return row_number, row
    raise WorkbookError(
        f"{_cap(name)}: sheet '{title}' is empty. Expected a header row with: {', '.join(headers)}."
    )


def _normalise_header(value: Any) -> str:
    return " ".join(str(value).split()).casefold()


def _match_headers(
    row: tuple,
    row_number: int,
    headers: Sequence[str],
    other_headers: Sequence[str],
    other_kind: str,
    name: str,
    title: str,
) -> dict[str, int]:
    """Map each expected header to its column index; WorkbookError naming missing/unexpected/repeated."""
    wanted = {_normalise_header(h): h for h in headers}
    positions: dict[str, int] = {}
    found: list[str] = []
    unexpected: list[str] = []
    repeated: list[str] = []
    for index, value in enumerate(row):
        if _blank(value):
            continue
        text = " ".join(str(value).split())
        found.append(text)
        canonical = wanted.get(text.casefold())
        if canonical is None:
            unexpected.append(text)
        elif canonical in positions:
            repeated.append(text)
        else:
            positions[canonical] = index
    missing = [h for h in headers if h not in positions]
    if not (missing or unexpected or repeated):
        return positions
    problems = []
    if missing:
        problems.append("missing " + ", ".join(f"'{h}'" for h in missing))
    if unexpected:
        problems.append("unexpected " + ", ".join(f"'{h}'" for h in unexpected))
    if repeated:
        problems.append("repeated " + ", ".join(f"'{h}'" for h in repeated))
    hint = ""
    if {h.casefold() for h in found} == {_normalise_header(h) for h in other_headers}:
        hint = f" This looks like the {other_kind} workbook; upload it as {other_kind}."
    raise WorkbookError(
        f"{_cap(name)}: the header row (row {row_number} of sheet '{title}') does not match: "
        f"{'; '.join(problems)}. Expected: {', '.join(headers)}. Found: {', '.join(found)}.{hint}"
    )


# ----------------------------------------------------------------------------------------------------
# Cell parsers: each returns the value or raises _Invalid(reason)
# ----------------------------------------------------------------------------------------------------


class _Invalid(Exception):
    """A cell's value is not acceptable; the message is the reason shown to the user."""


class _Getter:
    """Parse named cells of one row, collecting every reason instead of stopping at the first."""

    def __init__(self, values: dict[str, Any], reasons: list[str]):
        self.values = values
        self.reasons = reasons

    def __call__(
        self, header: str, parser: Callable[..., Any], *, optional: bool = False, **options: Any
    ) -> Any:
        value = self.values.get(header)
        if _blank(value):
            if not optional:
                self.reasons.append(f"{header} is missing")
            return None
        try:
            return parser(value, header, **options)
        except _Invalid as exc:
            self.reasons.append(str(exc))
            return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _shown(value: Any) -> str:
    text = _as_text(value)
    return f"'{text[:40]}…'" if len(text) > 40 else f"'{text}'"


def _number(value: Any, header: str) -> Decimal:
    """A numeric cell or numeric text -> exact Decimal (a float via its shortest repr: 12500.5 -> 12500.5)."""
    if isinstance(value, bool):
        raise _Invalid(f"{header}: expected a number, found {_shown(value)}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid(f"{header}: {_shown(value)} is not a finite number")
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            raise _Invalid(f"{header}: {_shown(value)} is not a number") from None
    elif isinstance(value, (date, time, timedelta)):
        raise _Invalid(f"{header}: expected a number, found the date/time {_shown(value)}")
    else:
        raise _Invalid(f"{header}: expected a number, found {_shown(value)}")
    if not number.is_finite():
        raise _Invalid(f"{header}: {_shown(value)} is not a finite number")
    return number


def _whole(value: Any, header: str, *, minimum: int, maximum: int) -> int:
    number = _number(value, header)
    if number.adjusted() > 18:  # never build a giant int from text such as "1e999999999"
        raise _Invalid(f"{header}: {_shown(value)} is too large (at most {maximum})")
    if number != number.to_integral_value():
        raise _Invalid(f"{header}: {_shown(value)} is not a whole number")
    result = int(number)
    if result < minimum:
        if minimum == 1:
            raise _Invalid(f"{header}: {_shown(value)} must be positive")
        raise _Invalid(f"{header}: {_shown(value)} must be at least {minimum}")
    if result > maximum:
        raise _Invalid(f"{header}: {_shown(value)} is too large (at most {maximum})")
    return result


def _amount(value: Any, header: str) -> Decimal:
    """Positive rupee amount, at most two decimal places -> Decimal with two places (portal.money.money)."""
    number = _number(value, header)
    if number <= 0:
        raise _Invalid(f"{header}: {_shown(value)} must be more than zero")
    if number >= MAX_AMOUNT:
        raise _Invalid(f"{header}: {_shown(value)} is implausibly large (Rs 1,00,000 crore or more)")
    if number.quantize(PAISA) != number:
        raise _Invalid(f"{header}: {_shown(value)} has more than two decimal places (paise)")
    return money(number)


def _rate(value: Any, header: str) -> Decimal:
    """Interest rate in percent per annum, 0..100, at most two decimal places -> Decimal with two places."""
    number = _number(value, header)
    if number < 0 or number > 100:
        raise _Invalid(f"{header}: {_shown(value)} must be between 0 and 100 (% per annum)")
    if number.quantize(PAISA) != number:
        raise _Invalid(f"{header}: {_shown(value)} has more than two decimal places")
    return number.quantize(PAISA)


def _date(value: Any, header: str) -> date:
    """A date or datetime cell, or ISO text (2023-08-30, 2023-08-30 00:00:00) -> date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text).date()
        except ValueError:
            raise _Invalid(
                f"{header}: {_shown(value)} is not a date (use a date cell or YYYY-MM-DD)"
            ) from None
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        raise _Invalid(f"{header}: {_shown(value)} is a number, not a date (format the cell as a date)")
    raise _Invalid(f"{header}: {_shown(value)} is not a date (use a date cell or YYYY-MM-DD)")


def _name(value: Any, header: str) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"{header}: expected text, found {_shown(value)}")
    text = " ".join(value.split())
    if len(text) > MAX_NAME_LENGTH:
        raise _Invalid(f"{header}: longer than {MAX_NAME_LENGTH} characters")
    return text


def _phone(value: Any, header: str) -> str:
    """Phone number as digits: numeric cells (9629317944) or text ('+91 96293-17944' -> '919629317944')."""
    if isinstance(value, bool):
        raise _Invalid(f"{header}: {_shown(value)} is not a phone number")
    if isinstance(value, int):
        digits = str(value)
    elif isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise _Invalid(f"{header}: {_shown(value)} is not a phone number")
        digits = str(int(value))
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("+"):
            text = text[1:]
        for separator in " -().":
            text = text.replace(separator, "")
        digits = text
    else:
        raise _Invalid(f"{header}: {_shown(value)} is not a phone number")
    if not (digits.isascii() and digits.isdigit() and 7 <= len(digits) <= 15):
        raise _Invalid(f"{header}: {_shown(value)} is not a phone number (7 to 15 digits)")
    return digits


# ----------------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    """A cell value as the text a person would see in the sheet (None -> '', 5.0 -> '5', midnight -> date)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _rejected(row_number: int, reasons: list[str], values: dict[str, Any]) -> RejectedRow:
    return RejectedRow(
        row_number=row_number,
        reason="; ".join(reasons),
        values={header: _as_text(value) for header, value in values.items()},
    )


def _csv_safe(text: str) -> str:
    if text and text[0] in "=+-@\t\r":
        try:
            Decimal(text)
        except InvalidOperation:
            return "'" + text
    return text


def _sniff(data: bytes) -> str:
    """A hint about what a non-xlsx file probably is, for the error message."""
    if data.startswith(b"%PDF"):
        return " (it looks like a PDF document)"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return " (it looks like an old Excel 97-2003 .xls file)"
    if data.startswith((b"PK\x05\x06", b"PK\x07\x08")):
        return " (it is an empty or split zip archive)"
    head = data[:4096]
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a multi-byte character cut at the end of the sample is fine
                return ""
        return " (it looks like a text or CSV file)"
    return ""


def _human_size(size: int) -> str:
    """Bytes -> '512 bytes', '24.8 KB', '20 MB' (binary units)."""
    if size < 1024:
        return f"{size} bytes"
    scaled = float(size)
    for unit in ("KB", "MB", "GB"):
        scaled /= 1024
        if scaled < 1024 or unit == "GB":
            break
    return f"{scaled:.1f}".removesuffix(".0") + f" {unit}"


def _too_large(name: str, max_bytes: int, size: int | None) -> str:
    actual = f" ({_human_size(size)})" if size is not None else ""
    return f"{_cap(name)} is too large{actual}; the limit is {_human_size(max_bytes)}."


def _cap(name: str) -> str:
    """Start a message with the file's name; the generic 'the file' becomes 'The file'."""
    return "The file" if name == "the file" else name
