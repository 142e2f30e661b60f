"""Tabular file writers for exports: ``open_writer`` is the one place that decides which library writes a file.

Every XLSX has a bold header row with a bottom border, frozen; column widths; dates as real dates
(``dd-mmm-yyyy``); amounts as numbers with the ``#,##0.00`` format. A CSV has exact values: ISO dates and
amounts as Decimal strings with two decimals (never through a float).

CSV of a PostgreSQL query can skip Python per row: ``open_writer(..., "csv", ...).copy_rows(...)`` appends
PostgreSQL's own ``COPY ... TO STDOUT (FORMAT csv)`` of a query that formats the cells (same format as the csv
module's: LF line ends, minimal quoting, NULL as an empty field).

XLSX engines (``XLSX_ENGINE`` picks one; ``python -m scripts.bench --only export`` measures them on the real
export of a seeded PostgreSQL book):

- ``"rust"`` (the default): rustpy-xlsxwriter (Python binding of the Rust ``rust_xlsxwriter`` crate) in its
  constant-memory streaming mode. Measured on the export of 1,000,000 loans (PostgreSQL query included): ~68,000
  rows/s against ~17,000 for XlsxWriter, both with flat memory (a few MB over the process's own). It is young
  (0.x), so it is pinned and its output is checked by the tests (openpyxl and a LibreOffice round trip).
  Its input is a generator of dicts taken positionally (header names must be unique), and it writes no header for
  an empty table: a table without rows is written by XlsxWriter instead.
- ``"xlsxwriter"``: XlsxWriter in constant-memory mode (rows stream to disk), tuned: one bound write function per
  column chosen once, dates written as serial numbers with the date format, no per-cell type dispatch. The safe
  fallback (mature, pure Python; about 1.2x the untuned per-cell version).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import chain, islice
from pathlib import Path

from portal.money import quantize

KINDS = ("text", "int", "date", "money")
DATE_FORMAT = "dd-mmm-yyyy"
MONEY_FORMAT = "#,##0.00"
ENGINES = ("rust", "xlsxwriter")
XLSX_ENGINE = "rust"
CSV_BATCH = 5000  # rows per csv.writerows call
_EXCEL_EPOCH = date(1899, 12, 30).toordinal()  # serial 0 in the 1900 date system (valid from 1 March 1900)


@dataclass(frozen=True)
class Column:
    """One column: its header, its kind (text | int | date | money) and its XLSX width in characters."""

    header: str
    kind: str = "text"
    width: float = 12


def _money_text(value) -> str:
    """Decimal rupees (or int) -> ``"1234.50"``: exact, half-up to the paisa. TypeError for a float."""
    if isinstance(value, float):
        raise TypeError("money must not be a float")
    return str(quantize(value if isinstance(value, Decimal) else Decimal(value)))


def _excel_serial(value: date) -> float:
    """A date (or datetime) as an Excel serial day number (1900 date system)."""
    serial = value.toordinal() - _EXCEL_EPOCH
    if isinstance(value, datetime):
        serial += (value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6) / 86400
    return serial


class _CsvWriter:
    """CSV with the ``csv`` module (LF line ends, minimal quoting, None as an empty field): values converted per
    column only where needed (amounts, dates), rows written in batches of ``CSV_BATCH``. Or, on PostgreSQL,
    ``copy_rows``: the rows as PostgreSQL's own ``COPY ... TO STDOUT (FORMAT csv)`` writes them (same format)."""

    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        import csv

        self.money = [i for i, c in enumerate(columns) if c.kind == "money"]
        self.dates = [i for i, c in enumerate(columns) if c.kind == "date"]
        self.handle = open(path, "w", newline="", encoding="utf-8")
        self.out = csv.writer(self.handle, lineterminator="\n")
        self.out.writerow([c.header for c in columns])
        self.width = len(columns)

    def _convert(self, row: Sequence) -> Sequence:
        if len(row) != self.width:
            raise ValueError(f"a row has {len(row)} values for {self.width} columns")
        if not self.money and not self.dates:
            return row
        row = list(row)
        for i in self.money:
            if row[i] is not None:
                row[i] = _money_text(row[i])
        for i in self.dates:
            if row[i] is not None:
                row[i] = row[i].isoformat()
        return row

    def write_rows(self, rows: Iterable[Sequence]) -> int:
        count = 0
        convert, writerows = self._convert, self.out.writerows
        rows = iter(rows)
        while batch := [convert(row) for row in islice(rows, CSV_BATCH)]:
            writerows(batch)
            count += len(batch)
        return count

    def copy_rows(self, connection, statement: str, params: dict | None = None, *,
                  progress: Callable[[int], None] | None = None) -> int:
        """Append the rows of ``statement`` (a SELECT whose columns already hold each cell's CSV text; empty
        strings as NULL) through ``COPY (statement) TO STDOUT (FORMAT csv)`` on ``connection`` (psycopg), the
        fastest way from PostgreSQL to a CSV: no per-row Python. ``progress(rows so far)`` every ``CSV_BATCH``
        lines or so. Returns the number of rows (PostgreSQL's count)."""
        self.handle.flush()
        out, lines, reported = self.handle.buffer, 0, 0
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY ({statement}) TO STDOUT (FORMAT csv)", params) as copy:
                for block in copy:
                    out.write(block)
                    if progress is not None:
                        lines += bytes(block).count(b"\n")
                        if lines - reported >= CSV_BATCH:
                            reported = lines
                            progress(lines)
            return cursor.rowcount

    def close(self) -> None:
        self.handle.close()


class _XlsxWriterEngine:
    """XlsxWriter, constant memory, one write function per column."""

    def __init__(self, path: Path, columns: Sequence[Column], sheet: str) -> None:
        import xlsxwriter

        self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        self.sheet = self.book.add_worksheet(sheet[:31])
        header = self.book.add_format({"bold": True, "bottom": 1})
        self.date_format = self.book.add_format({"num_format": DATE_FORMAT})
        self.money_format = self.book.add_format({"num_format": MONEY_FORMAT})
        for i, c in enumerate(columns):
            self.sheet.set_column(i, i, c.width)
        self.sheet.freeze_panes(1, 0)
        for i, c in enumerate(columns):
            self.sheet.write_string(0, i, c.header, header)
        self.cells = [self._cell_writer(c.kind) for c in columns]
        self.row = 0

    def _cell_writer(self, kind: str) -> Callable[[int, int, object], None]:
        write_number, write_string = self.sheet.write_number, self.sheet.write_string
        date_format, money_format = self.date_format, self.money_format
        if kind == "money":
            # XLSX stores every number as an IEEE double; two-decimal amounts round-trip exactly to the paisa
            return lambda r, c, v: write_number(r, c, float(v), money_format)
        if kind == "date":
            return lambda r, c, v: write_number(r, c, _excel_serial(v), date_format)
        if kind == "int":
            return lambda r, c, v: write_number(r, c, int(v))
        return lambda r, c, v: write_string(r, c, v if isinstance(v, str) else str(v))

    def write_rows(self, rows: Iterable[Sequence]) -> int:
        cells, width, r = self.cells, len(self.cells), self.row
        for row in rows:
            if len(row) != width:
                raise ValueError(f"a row has {len(row)} values for {width} columns")
            r += 1
            for c, (cell, value) in enumerate(zip(cells, row, strict=True)):
                if value is not None:
                    cell(r, c, value)
        count, self.row = r - self.row, r
        return count

    def close(self) -> None:
        self.book.close()


class _RustXlsxWriter:
    """rustpy-xlsxwriter, constant memory: the rows stream from a generator of dicts into the Rust writer."""

    def __init__(self, path: Path, columns: Sequence[Column], sheet: str) -> None:
        self.path, self.columns, self.sheet = path, tuple(columns), sheet[:31]
        self.headers = [c.header for c in columns]
        if len(set(self.headers)) != len(self.headers):
            raise ValueError("column headers must be unique")
        self.money = [i for i, c in enumerate(columns) if c.kind == "money"]
        self.dates = [i for i, c in enumerate(columns) if c.kind == "date"]
        self.written = False

    def _records(self, rows: Iterable[Sequence]):
        headers, money, dates, width = self.headers, self.money, self.dates, len(self.headers)
        for row in rows:
            if len(row) != width:
                raise ValueError(f"a row has {len(row)} values for {width} columns")
            row = list(row)
            for i in money:
                if row[i] is not None:
                    if isinstance(row[i], float):
                        raise TypeError("money must not be a float")
                    row[i] = float(row[i])  # exact to the paisa: see _XlsxWriterEngine
            for i in dates:
                if row[i] is not None and not isinstance(row[i], date):
                    raise TypeError(f"{headers[i]}: a date column needs dates")
            self.count += 1
            yield dict(zip(headers, row, strict=True))

    def write_rows(self, rows: Iterable[Sequence]) -> int:
        if self.written:
            raise RuntimeError("write_rows may be called once on an XLSX writer")
        self.written = True
        rows = iter(rows)
        first = next(rows, None)
        if first is None:  # the Rust writer takes its header from the first row: XlsxWriter writes the header
            fallback = _XlsxWriterEngine(self.path, self.columns, self.sheet)
            fallback.close()
            return 0
        import rustpy_xlsxwriter as rx

        self.count = 0
        money = rx.Format().set_num_format(MONEY_FORMAT)
        rx.write_worksheet(
            self._records(chain((first,), rows)), str(self.path), sheet_name=self.sheet,
            freeze_row=1, freeze_col=0, header_format=rx.Format().set_bold().set_border_bottom("thin"),
            column_widths=[c.width for c in self.columns], datetime_format=DATE_FORMAT,
            column_formats={c.header: money for c in self.columns if c.kind == "money"})
        return self.count

    def close(self) -> None:
        if not self.written:  # nothing was written: still a valid file with its header
            self.write_rows(())


def open_writer(path: Path, fmt: str, columns: Sequence[Column], *, sheet: str = "Export",
                engine: str | None = None):
    """A writer for ``fmt`` ("xlsx" or "csv") at ``path``. Call ``.write_rows(rows)`` once with an iterable of
    rows (values in column order: str, int, ``date``, ``Decimal`` rupees or None; consumed lazily, so a
    generator keeps memory flat); it returns the number of rows written. Then ``.close()``. The header row is
    written here. ``engine`` overrides ``XLSX_ENGINE`` (benchmarks). ValueError for another format, kind or
    engine, or a row of the wrong length; TypeError for a float amount."""
    if any(c.kind not in KINDS for c in columns):
        raise ValueError(f"column kinds must be among {KINDS}")
    path = Path(path)
    if fmt == "csv":
        return _CsvWriter(path, columns)
    if fmt != "xlsx":
        raise ValueError(f"unknown export format {fmt!r}")
    engine = engine or XLSX_ENGINE
    if engine == "rust":
        return _RustXlsxWriter(path, columns, sheet)
    if engine == "xlsxwriter":
        return _XlsxWriterEngine(path, columns, sheet)
    raise ValueError(f"unknown XLSX engine {engine!r}; choose from {ENGINES}")


__all__ = ["Column", "DATE_FORMAT", "ENGINES", "MONEY_FORMAT", "XLSX_ENGINE", "open_writer"]
