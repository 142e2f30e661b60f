"""portal.ingest.workbook: the real Alemeno workbooks (seed 003) and the ugly files people upload."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook

from portal.ingest.workbook import (
    CUSTOMER_HEADERS,
    LOAN_HEADERS,
    MAX_BYTES,
    CustomerRow,
    LoanRow,
    ParseResult,
    RejectedRow,
    WorkbookError,
    parse_customers,
    parse_loans,
    rejected_rows_csv,
)

DATA = Path(__file__).resolve().parents[3] / "shared/data/alemeno"


def real_file(name: str) -> Path:
    path = DATA / name
    if not path.is_file():
        message = f"real data file {path} is missing"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def customers() -> ParseResult:
    return parse_customers(real_file("customer_data.xlsx"))


@pytest.fixture(scope="module")
def loans() -> ParseResult:
    return parse_loans(real_file("loan_data.xlsx"))


def xlsx(
    rows: list[list], headers: list | tuple | None = CUSTOMER_HEADERS, *, title: str = "Sheet1"
) -> bytes:
    """Build a workbook in memory: an optional header row, then ``rows``."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    if headers is not None:
        sheet.append(list(headers))
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


GOOD_CUSTOMER = [1, "Aaron", "Garcia", 63, 9629317944, 50000, 4500000]
GOOD_LOAN = [1, 7798, 900000, 138, 17.92, 39978, 86, datetime(2021, 11, 8), datetime(2033, 5, 8)]


# ---------------------------------------------------------------------------------------------------------
# The real files
# ---------------------------------------------------------------------------------------------------------


def test_real_customers_import_in_full(customers):
    assert (len(customers.rows), len(customers.rejected), customers.total_rows) == (300, 0, 300)
    assert all(isinstance(row, CustomerRow) for row in customers.rows)
    assert [row.customer_id for row in customers.rows] == list(range(1, 301))


def test_real_customer_1(customers):
    assert customers.rows[0] == CustomerRow(
        row_number=2,
        customer_id=1,
        first_name="Aaron",
        last_name="Garcia",
        age=63,
        phone_number="9629317944",
        monthly_salary=Decimal("50000.00"),
        approved_limit=Decimal("4500000.00"),
    )


def test_real_customers_shapes(customers):
    rows = customers.rows
    assert {type(row.monthly_salary) for row in rows} == {Decimal}
    assert {type(row.approved_limit) for row in rows} == {Decimal}
    assert all(row.phone_number.isdigit() and len(row.phone_number) == 10 for row in rows)
    assert (min(row.age for row in rows), max(row.age for row in rows)) == (20, 70)
    assert customers.rows[-1].customer_id == 300 and customers.rows[-1].row_number == 301


def test_real_loans_import_in_full(loans):
    assert (len(loans.rows), len(loans.rejected), loans.total_rows) == (782, 0, 782)
    assert all(isinstance(row, LoanRow) for row in loans.rows)
    assert len({row.customer_id for row in loans.rows}) == 283


def test_real_loans_known_values(loans):
    by_key = {(row.customer_id, row.loan_id): row for row in loans.rows}
    assert loans.rows[0] == LoanRow(
        row_number=2,
        customer_id=14,
        loan_id=5930,
        loan_amount=Decimal("900000.00"),
        tenure=129,
        interest_rate=Decimal("8.20"),
        monthly_payment=Decimal("15344.00"),
        emis_paid_on_time=114,
        approved_on=date(2017, 3, 9),
        end_on=date(2027, 12, 9),
    )
    only_loan_of_customer_1 = [row for row in loans.rows if row.customer_id == 1]
    assert only_loan_of_customer_1 == [by_key[(1, 7798)]]
    loan = by_key[(1, 7798)]
    assert (loan.loan_amount, loan.tenure, loan.interest_rate) == (
        Decimal("900000.00"),
        138,
        Decimal("17.92"),
    )
    assert (loan.monthly_payment, loan.emis_paid_on_time) == (Decimal("39978.00"), 86)
    assert (loan.approved_on, loan.end_on) == (date(2021, 11, 8), date(2033, 5, 8))
    short = by_key[(270, 2941)]
    assert (short.tenure, short.interest_rate, short.monthly_payment) == (
        3,
        Decimal("13.46"),
        Decimal("100000.00"),
    )


def test_real_loans_same_loan_id_for_different_customers_is_kept(loans):
    counts = Counter(row.loan_id for row in loans.rows)
    twice = {loan_id for loan_id, count in counts.items() if count > 1}
    assert len(twice) == 29
    assert set(counts.values()) == {1, 2}
    for loan_id in twice:
        owners = [row.customer_id for row in loans.rows if row.loan_id == loan_id]
        assert len(set(owners)) == 2
    assert {row.customer_id for row in loans.rows if row.loan_id == 1003} == {20, 240}


def test_real_loans_ranges(loans):
    rows = loans.rows
    assert min(row.approved_on for row in rows) == date(2010, 1, 5)
    assert max(row.approved_on for row in rows) == date(2023, 8, 30)
    assert max(row.end_on for row in rows).year == 2037
    assert all(0 <= row.emis_paid_on_time <= row.tenure for row in rows)
    assert all(Decimal("0") <= row.interest_rate <= Decimal("100") for row in rows)
    assert all(row.interest_rate == row.interest_rate.quantize(Decimal("0.01")) for row in rows)


def test_real_file_as_bytes_and_file_object_match_path(customers):
    path = real_file("customer_data.xlsx")
    assert parse_customers(path.read_bytes()).rows == customers.rows
    with path.open("rb") as handle:
        assert parse_customers(handle).rows == customers.rows
    assert parse_customers(str(path)).rows == customers.rows


def test_real_loans_file_given_as_customers_says_so():
    with pytest.raises(WorkbookError) as error:
        parse_customers(real_file("loan_data.xlsx"))
    message = str(error.value)
    assert message.startswith("loan_data.xlsx: the header row")
    assert "'Monthly Salary'" in message and "loans workbook" in message


# ---------------------------------------------------------------------------------------------------------
# Whole-file problems
# ---------------------------------------------------------------------------------------------------------


def test_wrong_headers_name_the_missing_and_the_found():
    headers = [
        "Customer ID",
        "First Name",
        "Surname",
        "Age",
        "Phone Number",
        "Monthly Salary",
        "Approved Limit",
    ]
    with pytest.raises(WorkbookError) as error:
        parse_customers(xlsx([GOOD_CUSTOMER], headers))
    message = str(error.value)
    assert "missing 'Last Name'" in message
    assert "unexpected 'Surname'" in message
    assert "Expected: Customer ID, First Name, Last Name" in message
    assert "Found: Customer ID, First Name, Surname" in message


def test_missing_column_is_named():
    headers = list(LOAN_HEADERS[:-1])
    with pytest.raises(WorkbookError, match="missing 'End Date'"):
        parse_loans(xlsx([GOOD_LOAN[:-1]], headers))


def test_repeated_header_is_named():
    headers = [*CUSTOMER_HEADERS, "age"]
    with pytest.raises(WorkbookError, match="repeated 'age'"):
        parse_customers(xlsx([[*GOOD_CUSTOMER, 63]], headers))


def test_headers_match_in_any_order_case_and_spacing():
    headers = [
        "  approved   LIMIT ",
        "customer id",
        "FIRST NAME",
        "Last  Name",
        "age",
        "phone number",
        "Monthly Salary",
    ]
    row = [4500000, 1, "Aaron", "Garcia", 63, 9629317944, 50000]
    result = parse_customers(xlsx([row], headers))
    assert result.rows[0].approved_limit == Decimal("4500000.00")
    assert result.rows[0].customer_id == 1


def test_csv_renamed_to_xlsx(tmp_path):
    path = tmp_path / "customers.xlsx"
    path.write_text(",".join(CUSTOMER_HEADERS) + "\n1,Aaron,Garcia,63,9629317944,50000,4500000\n")
    with pytest.raises(WorkbookError) as error:
        parse_customers(path)
    message = str(error.value)
    assert message.startswith("customers.xlsx is not an .xlsx workbook")
    assert "text or CSV" in message


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".xls"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ""),
    ],
)
def test_other_files_are_not_workbooks(data, hint):
    with pytest.raises(WorkbookError, match="The file is not an .xlsx workbook") as error:
        parse_loans(data)
    assert hint in str(error.value)


def test_damaged_zip():
    data = xlsx([GOOD_CUSTOMER])
    with pytest.raises(WorkbookError, match="damaged|not a readable"):
        parse_customers(data[: len(data) // 2])


def test_zip_that_is_not_a_workbook():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hello")
    with pytest.raises(WorkbookError, match="zip archive, not an .xlsx"):
        parse_customers(buffer.getvalue())


def test_zip_with_content_types_but_no_workbook():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    with pytest.raises(WorkbookError, match="not a readable .xlsx workbook"):
        parse_customers(buffer.getvalue())


def test_empty_bytes():
    with pytest.raises(WorkbookError, match=r"The file is empty \(0 bytes\)"):
        parse_customers(b"")


def test_empty_file_on_disk(tmp_path):
    path = tmp_path / "loan_data.xlsx"
    path.write_bytes(b"")
    with pytest.raises(WorkbookError, match=r"loan_data.xlsx is empty"):
        parse_loans(path)


def test_missing_path(tmp_path):
    with pytest.raises(WorkbookError, match="nope.xlsx was not found"):
        parse_loans(tmp_path / "nope.xlsx")


def test_header_only_has_no_data_rows():
    with pytest.raises(WorkbookError, match="header row but no data rows"):
        parse_customers(xlsx([]))


def test_header_and_empty_rows_only_has_no_data_rows():
    with pytest.raises(WorkbookError, match="header row but no data rows"):
        parse_loans(xlsx([[None] * 9, ["", " ", None, None, None, None, None, None, None]], LOAN_HEADERS))


def test_empty_sheet():
    with pytest.raises(WorkbookError, match="is empty. Expected a header row with: Customer ID"):
        parse_customers(xlsx([], headers=None))


@pytest.mark.parametrize("as_path", [False, True])
def test_too_large(tmp_path, as_path):
    data = xlsx([GOOD_CUSTOMER])
    source: bytes | Path = data
    if as_path:
        source = tmp_path / "big.xlsx"
        source.write_bytes(data)
    with pytest.raises(WorkbookError, match=r"too large.*the limit is 1 KB"):
        parse_customers(source, max_bytes=1024)
    assert parse_customers(source, max_bytes=len(data)).total_rows == 1


def test_too_large_file_object_is_not_read_past_the_limit():
    stream = io.BytesIO(xlsx([GOOD_CUSTOMER]))
    with pytest.raises(WorkbookError, match="too large"):
        parse_customers(stream, max_bytes=100)
    assert stream.tell() == 101


def test_default_limit_is_20_mib():
    assert MAX_BYTES == 20 * 1024 * 1024


def test_text_mode_file_object_is_a_programming_error(tmp_path):
    path = tmp_path / "c.xlsx"
    path.write_bytes(xlsx([GOOD_CUSTOMER]))
    with path.open() as handle, pytest.raises(TypeError, match="binary mode"):
        parse_customers(handle)


def test_first_worksheet_is_used_whatever_its_name():
    result = parse_customers(xlsx([GOOD_CUSTOMER], title="Customers"))
    assert result.rows[0].customer_id == 1


# ---------------------------------------------------------------------------------------------------------
# Row problems: rejected with a reason, the other rows land
# ---------------------------------------------------------------------------------------------------------


def test_negative_amount_rejected_good_rows_land():
    rows = [
        GOOD_CUSTOMER,
        [2, "Abbey", "Gonzalez", 20, 9278790909, -33000, 1400000],
        [3, "Abbie", "Rodrigues", 47, 9775988997, 193000, 0],
        [4, "Abe", "Lincoln", 40, 9000000004, 40000, 1000000],
    ]
    result = parse_customers(xlsx(rows))
    assert [row.customer_id for row in result.rows] == [1, 4]
    assert result.total_rows == 4
    assert result.rejected == [
        RejectedRow(
            row_number=3,
            reason="Monthly Salary: '-33000' must be more than zero",
            values={
                "Customer ID": "2",
                "First Name": "Abbey",
                "Last Name": "Gonzalez",
                "Age": "20",
                "Phone Number": "9278790909",
                "Monthly Salary": "-33000",
                "Approved Limit": "1400000",
            },
        ),
        RejectedRow(
            row_number=4,
            reason="Approved Limit: '0' must be more than zero",
            values={
                "Customer ID": "3",
                "First Name": "Abbie",
                "Last Name": "Rodrigues",
                "Age": "47",
                "Phone Number": "9775988997",
                "Monthly Salary": "193000",
                "Approved Limit": "0",
            },
        ),
    ]


def test_text_in_number_column():
    rows = [GOOD_CUSTOMER, [2, "Abbey", "Gonzalez", 20, 9278790909, "fifty thousand", 1400000]]
    result = parse_customers(xlsx(rows))
    assert len(result.rows) == 1
    assert result.rejected[0].reason == "Monthly Salary: 'fifty thousand' is not a number"


def test_every_problem_of_a_row_is_reported():
    rows = [["x1", "", "Garcia", 12, "call me", None, "1,00,000"]]
    result = parse_customers(xlsx(rows))
    assert result.rejected[0].reason == (
        "Customer ID: 'x1' is not a number; First Name is missing; Age: '12' must be at least 18; "
        "Phone Number: 'call me' is not a phone number (7 to 15 digits); Monthly Salary is missing"
    )


def test_duplicate_customer_id_second_rejected():
    rows = [
        GOOD_CUSTOMER,
        [2, "Abbey", "Gonzalez", 20, 9278790909, 33000, 1400000],
        [1, "Other", "Person", 30, 9000000000, 1, 1],
    ]
    result = parse_customers(xlsx(rows))
    assert [row.row_number for row in result.rows] == [2, 3]
    assert result.rows[0].first_name == "Aaron"
    assert result.rejected[0].row_number == 4
    assert result.rejected[0].reason == "duplicate Customer ID 1 (first seen on row 2)"


def test_float_salary_kept_exactly():
    rows = [[1, "Aaron", "Garcia", 63, 9629317944, 12500.5, 450000.25]]
    row = parse_customers(xlsx(rows)).rows[0]
    assert row.monthly_salary == Decimal("12500.50")
    assert str(row.monthly_salary) == "12500.50"
    assert str(row.approved_limit) == "450000.25"


def test_amount_with_more_than_paise_rejected():
    rows = [[1, "Aaron", "Garcia", 63, 9629317944, 12500.555, 450000]]
    result = parse_customers(xlsx(rows))
    assert result.rejected[0].reason == "Monthly Salary: '12500.555' has more than two decimal places (paise)"


def test_amounts_as_text_with_indian_grouping():
    rows = [[1, "Aaron", "Garcia", 63, "96293 17944", "1,00,000.50", " 45,00,000 "]]
    row = parse_customers(xlsx(rows)).rows[0]
    assert (row.monthly_salary, row.approved_limit) == (Decimal("100000.50"), Decimal("4500000.00"))
    assert row.phone_number == "9629317944"


@pytest.mark.parametrize(
    ("salary", "reason"),
    [
        ("NaN", "Monthly Salary: 'NaN' is not a finite number"),
        ("inf", "Monthly Salary: 'inf' is not a finite number"),
        ("1e30", "Monthly Salary: '1e30' is implausibly large (Rs 1,00,000 crore or more)"),
        (True, "Monthly Salary: expected a number, found 'TRUE'"),
        (datetime(2020, 1, 1), "Monthly Salary: expected a number, found the date/time '2020-01-01'"),
    ],
)
def test_odd_amounts(salary, reason):
    result = parse_customers(xlsx([[1, "Aaron", "Garcia", 63, 9629317944, salary, 4500000]]))
    assert result.rejected[0].reason == reason


def test_age_blank_is_none_and_out_of_range_rejected():
    rows = [
        [1, "Aaron", "Garcia", None, 9629317944, 50000, 4500000],
        [2, "Abbey", "Gonzalez", 121, 9278790909, 33000, 1400000],
        [3, "Abbie", "Rodrigues", 47.5, 9775988997, 193000, 2500000],
        [4, "Abe", "Lincoln", "40", 9000000004, 40000, 1000000],
    ]
    result = parse_customers(xlsx(rows))
    assert [(row.customer_id, row.age) for row in result.rows] == [(1, None), (4, 40)]
    assert [r.reason for r in result.rejected] == [
        "Age: '121' is too large (at most 120)",
        "Age: '47.5' is not a whole number",
    ]


def test_non_integer_and_non_positive_ids():
    rows = [
        [1.5, "Aaron", "Garcia", 63, 9629317944, 50000, 4500000],
        [0, "Abbey", "Gonzalez", 20, 9278790909, 33000, 1400000],
        [3.0, "Abbie", "Rodrigues", 47, 9775988997, 193000, 2500000],
    ]
    result = parse_customers(xlsx(rows))
    assert [r.reason for r in result.rejected] == [
        "Customer ID: '1.5' is not a whole number",
        "Customer ID: '0' must be positive",
    ]
    assert result.rows[0].customer_id == 3


def test_empty_rows_are_skipped_and_not_counted():
    rows = [
        GOOD_CUSTOMER,
        [None] * 7,
        ["  "] * 7,
        [2, "Abbey", "Gonzalez", 20, 9278790909, 33000, 1400000],
        [None] * 7,
    ]
    result = parse_customers(xlsx(rows))
    assert result.total_rows == 2
    assert [row.row_number for row in result.rows] == [2, 5]


def test_loan_rows_validated():
    rows = [
        GOOD_LOAN,
        [2, 100, 50000, 12.5, 12, 4500, 3, date(2020, 1, 1), date(2021, 1, 1)],
        [3, 101, 50000, 12, 101, 4500, 3, date(2020, 1, 1), date(2021, 1, 1)],
        [4, 102, 50000, 12, -0.5, 4500, 3, date(2020, 1, 1), date(2021, 1, 1)],
        [5, 103, 50000, 12, 12, 4500, 13, date(2020, 1, 1), date(2021, 1, 1)],
        [6, 104, 50000, 12, 12, 4500, -1, date(2020, 1, 1), date(2021, 1, 1)],
        [7, 105, 50000, 12, 12, 4500, 3, date(2021, 1, 1), date(2020, 1, 1)],
        [8, 106, 50000, 0, 12, 4500, 0, date(2020, 1, 1), date(2020, 1, 1)],
        [9, 107, 50000, 12, 12.345, 4500, 3, date(2020, 1, 1), date(2021, 1, 1)],
        [10, 108, 50000, 12, 12, 4500, 3, 43831, date(2021, 1, 1)],
        [11, 109, 50000, 12, 12, 4500, 3, "01/02/2020", date(2021, 1, 1)],
    ]
    result = parse_loans(xlsx(rows, LOAN_HEADERS))
    assert [row.customer_id for row in result.rows] == [1]
    assert [r.reason for r in result.rejected] == [
        "Tenure: '12.5' is not a whole number",
        "Interest Rate: '101' must be between 0 and 100 (% per annum)",
        "Interest Rate: '-0.5' must be between 0 and 100 (% per annum)",
        "EMIs paid on Time (13) is more than the Tenure (12 months)",
        "EMIs paid on Time: '-1' must be at least 0",
        "End Date 2020-01-01 is before the Date of Approval 2021-01-01",
        "Tenure: '0' must be positive",
        "Interest Rate: '12.345' has more than two decimal places",
        "Date of Approval: '43831' is a number, not a date (format the cell as a date)",
        "Date of Approval: '01/02/2020' is not a date (use a date cell or YYYY-MM-DD)",
    ]


def test_loan_edge_values_accepted():
    rows = [
        [1, 1, "100000", 12, 0, 8333.33, 0, "2020-01-15", "2021-01-15"],
        [2, 1, 100000, 1, 100, 100000, 1, "2020-01-15 00:00:00", date(2020, 1, 15)],
    ]
    result = parse_loans(xlsx(rows, LOAN_HEADERS))
    assert result.rejected == []
    first, second = result.rows
    assert (first.interest_rate, first.monthly_payment, first.approved_on) == (
        Decimal("0.00"),
        Decimal("8333.33"),
        date(2020, 1, 15),
    )
    assert (second.interest_rate, second.approved_on, second.end_on) == (
        Decimal("100.00"),
        date(2020, 1, 15),
        date(2020, 1, 15),
    )


def test_duplicate_customer_and_loan_id_later_rejected_same_loan_id_other_customer_kept():
    rows = [
        GOOD_LOAN,
        [2, 7798, 100000, 12, 12, 8885, 12, date(2019, 1, 1), date(2020, 1, 1)],
        [1, 7798, 100000, 12, 12, 8885, 12, date(2019, 1, 1), date(2020, 1, 1)],
    ]
    result = parse_loans(xlsx(rows, LOAN_HEADERS))
    assert [(row.customer_id, row.loan_id) for row in result.rows] == [(1, 7798), (2, 7798)]
    assert result.rejected[0].row_number == 4
    assert result.rejected[0].reason == "duplicate Loan ID 7798 for Customer ID 1 (first seen on row 2)"


def test_missing_required_loan_values():
    rows = [[1, 5, None, 12, 12, 4500, 3, None, date(2021, 1, 1)]]
    result = parse_loans(xlsx(rows, LOAN_HEADERS))
    assert result.rejected[0].reason == "Loan Amount is missing; Date of Approval is missing"
    assert result.rejected[0].values["Loan Amount"] == ""
    assert result.rejected[0].values["End Date"] == "2021-01-01"


# ---------------------------------------------------------------------------------------------------------
# Rejected rows as CSV
# ---------------------------------------------------------------------------------------------------------


def test_rejected_rows_csv():
    rows = [
        GOOD_CUSTOMER,
        [2, "@SUM(A1)", "+1+cmd", 20, 9278790909, -33000, 1400000],
        [3, "Abbie", "Rodrigues, Jr", 47, 9775988997, "lots", 2500000],
    ]
    result = parse_customers(xlsx(rows))
    text = rejected_rows_csv(result.rejected, list(CUSTOMER_HEADERS))
    assert text.endswith("\r\n")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == ["row_number", "reason", *CUSTOMER_HEADERS]
    assert parsed[1] == [
        "3",
        "Monthly Salary: '-33000' must be more than zero",
        "2",
        "'@SUM(A1)",
        "'+1+cmd",
        "20",
        "9278790909",
        "-33000",
        "1400000",
    ]
    assert parsed[2][:4] == ["4", "Monthly Salary: 'lots' is not a number", "3", "Abbie"]
    assert parsed[2][4] == "Rodrigues, Jr"
    assert len(parsed) == 3


def test_rejected_rows_csv_empty_and_missing_keys():
    assert rejected_rows_csv([], LOAN_HEADERS) == "row_number,reason," + ",".join(LOAN_HEADERS) + "\r\n"
    text = rejected_rows_csv([RejectedRow(7, "bad", {"Loan ID": "5"})], ["Customer ID", "Loan ID"])
    assert text.splitlines()[1] == "7,bad,,5"


# ---------------------------------------------------------------------------------------------------------
# Files written by other tools
# ---------------------------------------------------------------------------------------------------------


def _rewrite_member(data: bytes, member: str, change) -> bytes:
    """Copy an .xlsx zip, passing one member's text through ``change``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == member:
                content = change(content.decode()).encode()
            target.writestr(info, content)
    return buffer.getvalue()


def test_wrong_dimension_tag_does_not_hide_columns_or_rows():
    data = xlsx([GOOD_CUSTOMER, [2, "Abbey", "Gonzalez", 20, 9278790909, 33000, 1400000]])

    def shrink(xml: str) -> str:
        assert '<dimension ref="A1:G3"' in xml
        return xml.replace('<dimension ref="A1:G3"', '<dimension ref="A1:A1"')

    broken = _rewrite_member(data, "xl/worksheets/sheet1.xml", shrink)
    result = parse_customers(broken)
    assert [row.customer_id for row in result.rows] == [1, 2]


def test_header_below_leading_empty_rows_keeps_sheet_row_numbers():
    result = parse_customers(xlsx([[None] * 7, list(CUSTOMER_HEADERS), GOOD_CUSTOMER], headers=None))
    assert result.rows[0].row_number == 3


def test_zip_bomb_guard(monkeypatch):
    import portal.ingest.workbook as workbook

    monkeypatch.setattr(workbook, "MAX_UNCOMPRESSED_BYTES", 1000)
    with pytest.raises(WorkbookError, match="too large once unpacked"):
        parse_customers(xlsx([GOOD_CUSTOMER]))
