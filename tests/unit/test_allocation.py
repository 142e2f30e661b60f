"""Pure allocation of a payment: overdue interest, overdue principal, current interest, current principal,
then prepayment (portal/servicing/allocation.py)."""
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.servicing.allocation import Due, allocate, amount_due_now, max_payable

D = Decimal
AS_OF = date(2026, 3, 10)
#: two overdue rows (Jan and Feb, the Jan one part paid), the current row (Mar 15) and two later rows
DUES = [
    Due(1, date(2026, 1, 15), D("30.00"), D("500.00")),
    Due(2, date(2026, 2, 15), D("100.00"), D("900.00")),
    Due(3, date(2026, 3, 15), D("90.00"), D("910.00")),
    Due(4, date(2026, 4, 15), D("81.00"), D("919.00")),
    Due(5, date(2026, 5, 15), D("72.00"), D("928.00")),
]


@pytest.mark.parametrize(("amount", "buckets", "rows"), [
    # overdue interest of both overdue rows first, oldest first
    ("20.00", ("20.00", "0", "0", "0", "0"), [(1, "20.00", "0")]),
    ("130.00", ("130.00", "0", "0", "0", "0"), [(1, "30.00", "0"), (2, "100.00", "0")]),
    # then overdue principal, oldest first
    ("700.00", ("130.00", "570.00", "0", "0", "0"), [(1, "30.00", "500.00"), (2, "100.00", "70.00")]),
    ("1530.00", ("130.00", "1400.00", "0", "0", "0"), [(1, "30.00", "500.00"), (2, "100.00", "900.00")]),
    # then the current row's interest, then its principal
    ("1560.00", ("130.00", "1400.00", "30.00", "0", "0"),
     [(1, "30.00", "500.00"), (2, "100.00", "900.00"), (3, "30.00", "0")]),
    ("2530.00", ("130.00", "1400.00", "90.00", "910.00", "0"),
     [(1, "30.00", "500.00"), (2, "100.00", "900.00"), (3, "90.00", "910.00")]),
    # the excess is a prepayment (no row), at most the later rows' principal (their interest is not owed)
    ("3000.00", ("130.00", "1400.00", "90.00", "910.00", "470.00"),
     [(1, "30.00", "500.00"), (2, "100.00", "900.00"), (3, "90.00", "910.00")]),
    ("4377.00", ("130.00", "1400.00", "90.00", "910.00", "1847.00"),
     [(1, "30.00", "500.00"), (2, "100.00", "900.00"), (3, "90.00", "910.00")]),
])
def test_allocation_order(amount, buckets, rows):
    result = allocate(DUES, as_of=AS_OF, amount=D(amount))
    assert (result.overdue_interest, result.overdue_principal, result.current_interest, result.current_principal,
            result.prepayment) == tuple(D(b) for b in buckets)
    assert [(r.seq, r.interest, r.principal) for r in result.rows] == [(s, D(i), D(p)) for s, i, p in rows]
    assert result.total == D(amount) and result.current_seq == 3


@pytest.mark.parametrize(("as_of", "current", "due_now"), [
    (date(2026, 1, 15), 1, "530.00"),     # on a due date that row is current, not overdue
    (date(2026, 1, 16), 2, "1530.00"),    # the day after, it is overdue and the next row is current
    (date(2026, 6, 1), None, "4530.00"),  # after the last due date every row is overdue
])
def test_current_row_is_the_next_due_on_or_after_the_date(as_of, current, due_now):
    assert allocate(DUES, as_of=as_of, amount=D("1.00")).current_seq == current
    assert amount_due_now(DUES, as_of) == D(due_now)


def test_paid_rows_are_skipped_and_order_is_by_due_date():
    dues = [Due(2, date(2026, 2, 15), D("0"), D("0")), Due(1, date(2026, 1, 15), D("0"), D("40.00")),
            Due(3, date(2026, 3, 15), D("9.00"), D("91.00"))]
    result = allocate(dues, as_of=AS_OF, amount=D("60.00"))
    assert (result.overdue_interest, result.overdue_principal, result.current_interest, result.current_principal) \
        == (D("0"), D("40.00"), D("9.00"), D("11.00"))
    assert [r.seq for r in result.rows] == [1, 3]


def test_once_the_current_row_is_paid_the_next_one_is_not_paid_ahead_of_its_period():
    dues = [Due(1, date(2026, 3, 15), D("0"), D("0")), Due(2, date(2026, 4, 15), D("81.00"), D("919.00")),
            Due(3, date(2026, 5, 15), D("72.00"), D("928.00"))]
    assert amount_due_now(dues, AS_OF) == 0 and max_payable(dues, AS_OF) == D("1847.00")
    result = allocate(dues, as_of=AS_OF, amount=D("100.00"))
    assert (result.current_seq, result.current_interest, result.prepayment, result.rows) == (1, 0, D("100.00"), ())


@pytest.mark.parametrize("amount", ["0", "-1.00", "4377.01", "0.001"])
def test_bad_amounts_are_refused(amount):
    with pytest.raises(ValueError):
        allocate(DUES, as_of=AS_OF, amount=D(amount))


def test_floats_are_refused():
    with pytest.raises(TypeError):
        allocate(DUES, as_of=AS_OF, amount=10.0)


def test_max_payable_is_dues_to_date_plus_later_principal():
    assert max_payable(DUES, AS_OF) == D("130.00") + D("1400.00") + D("1000.00") + D("919.00") + D("928.00")


def test_as_dict_is_json_friendly():
    data = allocate(DUES, as_of=AS_OF, amount=D("3000.00")).as_dict()
    assert data["prepayment"] == "470.00" and data["rows"][0] == [1, "30.00", "500.00"] and data["current_seq"] == 3


paise = st.integers(min_value=0, max_value=5_000_000).map(lambda p: D(p) / 100)


@st.composite
def schedules(draw):
    count = draw(st.integers(min_value=1, max_value=8))
    start = date(2026, 1, 1)
    dues = [Due(seq, start + timedelta(days=30 * seq), draw(paise), draw(paise)) for seq in range(1, count + 1)]
    as_of = start + timedelta(days=draw(st.integers(min_value=0, max_value=30 * (count + 2))))
    limit = max_payable(dues, as_of)
    if limit <= 0:
        return dues, as_of, None
    amount = D(draw(st.integers(min_value=1, max_value=int(limit * 100)))) / 100
    return dues, as_of, amount


@given(schedules())
def test_property_parts_sum_to_the_amount_and_nothing_is_overpaid(case):
    dues, as_of, amount = case
    if amount is None:
        with pytest.raises(ValueError):
            allocate(dues, as_of=as_of, amount=D("0.01"))
        return
    result = allocate(dues, as_of=as_of, amount=amount)
    assert result.total == amount
    assert sum((r.interest + r.principal for r in result.rows), D(0)) + result.prepayment == amount
    by_seq = {d.seq: d for d in dues}
    for row in result.rows:
        assert D(0) <= row.interest <= by_seq[row.seq].interest_due
        assert D(0) <= row.principal <= by_seq[row.seq].principal_due
    later = [d for d in [d for d in dues if d.due_on >= as_of][1:] if d.amount_due > 0]
    assert D(0) <= result.prepayment <= sum((d.principal_due for d in later), D(0))
    # no principal is paid while any overdue interest is unpaid, and no current row is paid before overdue dues
    overdue = [d for d in dues if d.due_on < as_of]
    if result.overdue_principal:
        assert result.overdue_interest == sum((d.interest_due for d in overdue), D(0))
    if result.current_interest or result.current_principal or result.prepayment:
        assert result.overdue_interest + result.overdue_principal == sum((d.amount_due for d in overdue), D(0))
