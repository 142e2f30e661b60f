"""Application and loan statuses, and the one transition table (DESIGN.md section 4)."""
from __future__ import annotations

from enum import StrEnum

from portal.errors import InvalidTransition


class ApplicationStatus(StrEnum):
    """The life of a loan application."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    SCORED = "scored"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    ESCALATED = "escalated"
    INFO_REQUESTED = "info_requested"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    SANCTIONED = "sanctioned"
    DISBURSED = "disbursed"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


S = ApplicationStatus
ALLOWED: dict[ApplicationStatus, frozenset[ApplicationStatus]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    S.SUBMITTED: frozenset({S.SCORED, S.WITHDRAWN}),
    S.SCORED: frozenset({S.IN_REVIEW, S.WITHDRAWN}),
    S.IN_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.ESCALATED, S.INFO_REQUESTED, S.WITHDRAWN}),
    S.ESCALATED: frozenset({S.APPROVED, S.REJECTED}),
    S.INFO_REQUESTED: frozenset({S.SUBMITTED, S.WITHDRAWN, S.EXPIRED}),
    S.APPROVED: frozenset({S.OFFERED, S.SANCTIONED}),
    S.OFFERED: frozenset({S.ACCEPTED, S.WITHDRAWN, S.EXPIRED}),
    S.ACCEPTED: frozenset({S.SANCTIONED}),
    S.SANCTIONED: frozenset({S.DISBURSED}),
    S.DISBURSED: frozenset(),
    S.REJECTED: frozenset(),
    S.WITHDRAWN: frozenset(),
    S.EXPIRED: frozenset(),
}
OPEN_FOR_REVIEW = (S.SUBMITTED, S.SCORED, S.IN_REVIEW, S.ESCALATED)
DECIDED = (S.APPROVED, S.REJECTED, S.SANCTIONED, S.DISBURSED)


def check_transition(current: str, new: str) -> None:
    """Raise InvalidTransition (422) unless ``current -> new`` is in ALLOWED."""
    if ApplicationStatus(new) not in ALLOWED[ApplicationStatus(current)]:
        raise InvalidTransition(
            f"An application that is {current.replace('_', ' ')} cannot become {new.replace('_', ' ')}."
        )


class LoanStatus(StrEnum):
    """The life of a loan (DESIGN.md section 4)."""

    ACTIVE = "active"
    OVERDUE = "overdue"
    NPA = "npa"
    CLOSED = "closed"
    WRITTEN_OFF = "written_off"
