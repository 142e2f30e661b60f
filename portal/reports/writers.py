"""Tabular file writers for exports: one function, ``open_writer``, hides which library writes XLSX.

XLSX is written by XlsxWriter in constant-memory mode (rows stream to disk; memory stays flat): a bold, frozen
header row, column widths, dates as real dates (``dd-mmm-yyyy``) and amounts as numbers with the ``#,##0.00``
format. CSV is written by the ``csv`` module with exact values: ISO dates and amounts as Decimal strings with two
decimals (never through a float). To try another XLSX writer, change ``_XlsxWriter`` only.
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path

from portal.money import quantize

KINDS = ("text", "int", "date", "money")
DATE_FORMAT = "dd-mmm-yyyy"
MONEY_FORMAT = "#,##0.00"


@dataclass(frozen=True)
class Column:
    """One column: its header, its kind (text | int | date | money) and its XLSX width in characters."""

    header: str
    kind: str = "text"
    width: float = 12


class _CsvWriter:
    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        self.kinds = [c.kind for c in columns]
        self.handle = open(path, "w", newline="", encoding="utf-8")
        self.out = csv.writer(self.handle)
        self.out.writerow([c.header for c in columns])

    @staticmethod
    def _cell(kind: str, value) -> str:
        if value is None:
            return ""
        if kind == "money":
            return str(quantize(Decimal(value)))
        if kind == "date":
            return value.isoformat()
        return str(value)

    def write(self, row: Sequence) -> None:
        self.out.writerow([self._cell(k, v) for k, v in zip(self.kinds, row, strict=True)])

    def close(self) -> None:
        self.handle.close()


class _XlsxWriter:
    def __init__(self, path: Path, columns: Sequence[Column], sheet: str) -> None:
        import xlsxwriter

        self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        self.sheet = self.book.add_worksheet(sheet[:31])
        header = self.book.add_format({"bold": True, "bottom": 1})
        self.formats = {"date": self.book.add_format({"num_format": DATE_FORMAT}),
                        "money": self.book.add_format({"num_format": MONEY_FORMAT})}
        self.kinds = [c.kind for c in columns]
        for i, c in enumerate(columns):
            self.sheet.set_column(i, i, c.width)
        self.sheet.freeze_panes(1, 0)
        for i, c in enumerate(columns):
            self.sheet.write_string(0, i, c.header, header)
        self.row = 0

    def write(self, row: Sequence) -> None:
        self.row += 1
        r, sheet = self.row, self.sheet
        for c, (kind, value) in enumerate(zip(self.kinds, row, strict=True)):
            if value is None:
                continue
            if kind == "money":
                # XLSX stores every number as an IEEE double; two-decimal amounts round-trip exactly to the paisa
                sheet.write_number(r, c, float(value), self.formats["money"])
            elif kind == "date":
                at = value if isinstance(value, datetime) else datetime.combine(value, time())
                sheet.write_datetime(r, c, at, self.formats["date"])
            elif kind == "int":
                sheet.write_number(r, c, int(value))
            else:
                sheet.write_string(r, c, str(value))

    def close(self) -> None:
        self.book.close()


def open_writer(path: Path, fmt: str, columns: Sequence[Column], *, sheet: str = "Export"):
    """A writer for ``fmt`` ("xlsx" or "csv") at ``path``: ``.write(row)`` per row (values in column order:
    str, int, ``date``, ``Decimal`` rupees or None), then ``.close()``. The header row is written here.
    ValueError for another format or kind."""
    if any(c.kind not in KINDS for c in columns):
        raise ValueError(f"column kinds must be among {KINDS}")
    if fmt == "csv":
        return _CsvWriter(Path(path), columns)
    if fmt == "xlsx":
        return _XlsxWriter(Path(path), columns, sheet)
    raise ValueError(f"unknown export format {fmt!r}")


__all__ = ["Column", "DATE_FORMAT", "MONEY_FORMAT", "open_writer"]
