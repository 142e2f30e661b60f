"""The application lifecycle's one transition table: every pair of statuses is either allowed or refused."""
import pytest

from portal.errors import InvalidTransition
from portal.lending.states import ALLOWED, ApplicationStatus, can_move, check_transition

S = ApplicationStatus
PAIRS = [(a, b) for a in S for b in S]
ALLOWED_PAIRS = [(a, b) for a, b in PAIRS if b in ALLOWED[a]]
REFUSED_PAIRS = [(a, b) for a, b in PAIRS if b not in ALLOWED[a]]


def test_the_table_is_the_lifecycle_of_design_section_4():
    assert {(a.value, b.value) for a, b in ALLOWED_PAIRS} == {
        ("draft", "submitted"), ("draft", "withdrawn"),
        ("submitted", "scored"), ("submitted", "withdrawn"),
        ("scored", "in_review"), ("scored", "withdrawn"),
        ("in_review", "approved"), ("in_review", "rejected"), ("in_review", "escalated"),
        ("in_review", "info_requested"), ("in_review", "withdrawn"),
        ("escalated", "approved"), ("escalated", "rejected"), ("escalated", "withdrawn"),
        ("info_requested", "submitted"), ("info_requested", "withdrawn"), ("info_requested", "expired"),
        ("approved", "offered"), ("approved", "sanctioned"),
        ("offered", "accepted"), ("offered", "withdrawn"), ("offered", "expired"),
        ("accepted", "sanctioned"), ("sanctioned", "disbursed"),
    }
    assert set(ALLOWED) == set(S)


@pytest.mark.parametrize(("current", "new"), ALLOWED_PAIRS, ids=lambda s: s.value)
def test_allowed(current, new):
    check_transition(current.value, new.value)
    assert can_move(current, new)


@pytest.mark.parametrize(("current", "new"), REFUSED_PAIRS, ids=lambda s: s.value)
def test_refused_with_a_clear_message(current, new):
    with pytest.raises(InvalidTransition) as caught:
        check_transition(current.value, new.value)
    assert caught.value.http_status == 422
    assert current.value.replace("_", " ") in caught.value.message and "cannot become" in caught.value.message
