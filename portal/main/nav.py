"""The navigation shown to each role (one place)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import url_for

from portal.security import Role

NAV: dict[Role, list[tuple[str, str]]] = {
    Role.CUSTOMER: [("Dashboard", "lending.customer_dashboard"), ("Apply for a loan", "lending.apply"),
                    ("My applications", "lending.my_applications")],
    Role.LOAN_OFFICER: [("Review queue", "lending.review_queue"), ("Customers", "lending.customers")],
    Role.RISK_OFFICER: [("Review queue", "lending.review_queue"), ("Customers", "lending.customers"),
                        ("Portfolio", "reports.portfolio")],
    Role.SUPPORT: [("Customers", "lending.customers")],
    Role.ADMIN: [("Portfolio", "reports.portfolio"), ("Review queue", "lending.review_queue"),
                 ("Customers", "lending.customers"), ("Imports", "ingest.imports"), ("Audit log", "audit.audit_log")],
}


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    active: bool


def nav_items_for(user, endpoint: str | None) -> list[NavItem]:
    """Navigation entries for ``user``'s role; ``active`` marks the current endpoint."""
    if not getattr(user, "is_authenticated", False):
        return []
    return [NavItem(label, url_for(ep), ep == endpoint) for label, ep in NAV.get(Role(user.role), [])]
