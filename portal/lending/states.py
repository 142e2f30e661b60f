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
#: The one transition table of the application lifecycle (DESIGN.md section 4). Every status change goes through
#: ``services._move``, which refuses anything not listed here.
#:
#: draft -> submitted -> scored -> in_review -> (approved | rejected | escalated -> approved/rejected |
#: info_requested -> submitted) -> offered -> accepted -> sanctioned -> disbursed; also withdrawn and expired.
#:
#: * approved -> offered: every approval (and every counter-offer) makes an Offer with its Key Facts Statement;
#:   the customer accepts it (-> accepted -> sanctioned -> disbursed) or declines it (-> withdrawn), or it
#:   expires (-> expired, the offer expiry job).
#: * approved -> sanctioned: straight-through decisions of the seed 003 JSON API only (``create-loan``), where
#:   the caller's request for those exact terms is the acceptance.
#: * info_requested -> submitted: the customer answered; the application is scored again.
ALLOWED: dict[ApplicationStatus, frozenset[ApplicationStatus]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    S.SUBMITTED: frozenset({S.SCORED, S.WITHDRAWN}),
    S.SCORED: frozenset({S.IN_REVIEW, S.WITHDRAWN}),
    S.IN_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.ESCALATED, S.INFO_REQUESTED, S.WITHDRAWN}),
    S.ESCALATED: frozenset({S.APPROVED, S.REJECTED, S.WITHDRAWN}),
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
#: Waiting for an officer's (or, escalated, a risk officer's) decision.
OPEN_FOR_REVIEW = (S.SUBMITTED, S.SCORED, S.IN_REVIEW, S.ESCALATED)
#: Waiting for the customer: a question to answer or an offer to accept.
WAITING_FOR_CUSTOMER = (S.INFO_REQUESTED, S.OFFERED)
DECIDED = (S.APPROVED, S.REJECTED, S.OFFERED, S.ACCEPTED, S.SANCTIONED, S.DISBURSED)
FINAL = tuple(s for s, targets in ALLOWED.items() if not targets)
#: Statuses the customer may withdraw from (an offer is declined instead, which also withdraws).
CUSTOMER_WITHDRAWABLE = tuple(s for s in ALLOWED if S.WITHDRAWN in ALLOWED[s] and s != S.OFFERED)


def can_move(current: str, new: str) -> bool:
    """True when ``current -> new`` is in ALLOWED."""
    return ApplicationStatus(new) in ALLOWED[ApplicationStatus(current)]


def check_transition(current: str, new: str) -> None:
    """Raise InvalidTransition (422) unless ``current -> new`` is in ALLOWED."""
    if not can_move(current, new):
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
