"""The loan book's CSV on PostgreSQL is written by ``COPY ... TO STDOUT`` of ``loan_book_csv_query`` (issue 7: CSV
within 3x of COPY); it must be the very file the Python writer makes from ``_loan_book_rows``: same bytes with
names that need quoting, masked and unmasked phones (short ones too), exact amounts, ISO dates and filters."""
from __future__ import annotations

import pytest

from portal.reports import exports
from portal.reports.models import Export
from portal.reports.writers import open_writer
from tests.factories import make_customer, make_disbursed_loan


@pytest.fixture
def book(db, clock):
    people = (("100000", "9812345610", 'Zoë "Z"', "Rao, Jr."), ("250000.50", "9876543210", "Asha", "Iyer"),
              ("75000.05", "1234", "Ravi", "Kumar"), ("12345.67", "98765", "Line", "Two"))
    loans = [make_disbursed_loan(clock, amount=amount, customer=make_customer(salary="150000", phone=phone,
                                                                              first_name=first, last_name=last))
             for amount, phone, first, last in people]
    db.session.commit()
    return loans


def _python_csv(path, institution_id: int, filters: dict, *, pii: bool) -> bytes:
    writer = open_writer(path, "csv", exports.LOAN_BOOK_COLUMNS)
    count = writer.write_rows(exports._loan_book_rows(institution_id, filters, pii=pii))
    writer.close()
    return count, path.read_bytes()


def _copy_csv(path, institution_id: int, filters: dict, *, pii: bool) -> bytes:
    seen = []
    writer = open_writer(path, "csv", exports.LOAN_BOOK_COLUMNS)
    copy = exports._loan_book_copy(Export(institution_id=institution_id, filters=filters, pii=pii))
    assert copy is not None  # the suite runs on PostgreSQL
    count = writer.copy_rows(*copy, progress=seen.append)
    writer.close()
    return count, path.read_bytes()


@pytest.mark.parametrize("pii", [True, False])
def test_copy_writes_the_same_csv_as_the_python_writer(db, book, tmp_path, pii):
    institution_id = book[0].institution_id
    expected = _python_csv(tmp_path / "python.csv", institution_id, {}, pii=pii)
    assert _copy_csv(tmp_path / "copy.csv", institution_id, {}, pii=pii) == expected
    count, data = expected
    text = data.decode("utf-8")
    assert count == len(book) and text.count("\n") == len(book) + 1
    assert '"Zoë ""Z"" Rao, Jr."' in text and ",75000.05," in text and ",250000.50," in text
    assert (",1234," in text and ",98765," in text) if pii else (",XXXX," in text and ",98X65," in text)


def test_copy_honours_the_filters(db, book, tmp_path):
    institution_id = book[0].institution_id
    day = book[0].disbursed_on.isoformat()
    for filters in ({"status": "closed"}, {"disbursed_from": day, "disbursed_to": day}):
        expected = _python_csv(tmp_path / "python.csv", institution_id, filters, pii=False)
        assert _copy_csv(tmp_path / "copy.csv", institution_id, filters, pii=False) == expected
    assert expected[0] == len(book)
