"""The navigation shown to each role (one place)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import url_for

from portal.security import Role

SECURITY = ("Security", "auth.account_sessions")  # own sessions and two-step verification (staff)

NAV: dict[Role, list[tuple[str, str]]] = {
    Role.CUSTOMER: [("Dashboard", "lending.customer_dashboard"), ("Apply for a loan", "lending.apply"),
                    ("My applications", "lending.my_applications"), ("Credit line", "servicing.my_credit_lines"),
                    ("Profile & KYC", "onboarding.wizard_start"),
                    ("Documents", "onboarding.my_documents")],
    Role.LOAN_OFFICER: [("Review queue", "lending.review_queue"), ("KYC queue", "onboarding.kyc_queue"),
                        ("Customers", "lending.customers"), SECURITY],
    Role.RISK_OFFICER: [("Review queue", "lending.review_queue"), ("Escalations", "lending.escalations"),
                        ("KYC queue", "onboarding.kyc_queue"),
                        ("Customers", "lending.customers"), ("Scorecards", "scoring.scorecards"),
                        ("Savings imports", "scoring.transaction_imports"),
                        ("Portfolio", "reports.portfolio"), SECURITY],
    Role.SUPPORT: [("Customers", "lending.customers"), SECURITY],
    Role.ADMIN: [("Portfolio", "reports.portfolio"), ("Review queue", "lending.review_queue"),
                 ("KYC queue", "onboarding.kyc_queue"),
                 ("Customers", "lending.customers"), ("Imports", "ingest.imports"),
                 ("Savings imports", "scoring.transaction_imports"), ("Ledger", "ledger.ledger_summary"),
                 ("Close of business", "servicing.cob_runs"), ("Audit log", "audit.audit_log"),
                 ("Users", "auth.admin_users"), SECURITY],
}


#: Pages that light up a navigation entry besides its own endpoint.
ALSO_ACTIVE: dict[str, frozenset[str]] = {
    "scoring.scorecards": frozenset({"scoring.scorecard", "scoring.version", "scoring.compare", "scoring.run",
                                     "scoring.customer_scores"}),
    "scoring.transaction_imports": frozenset({"scoring.transaction_import"}),
    "servicing.my_credit_lines": frozenset({"servicing.apply_credit_line", "servicing.my_credit_line",
                                            "servicing.drawdown", "servicing.close_credit_line"}),
    "onboarding.wizard_start": frozenset({"onboarding.wizard_step", "onboarding.wizard_save",
                                          "onboarding.wizard_submit", "onboarding.wizard_result",
                                          "onboarding.my_consents", "onboarding.confirm_withdraw_consent"}),
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
    return [NavItem(label, url_for(ep), ep == endpoint or endpoint in ALSO_ACTIVE.get(ep, ()))
            for label, ep in NAV.get(Role(user.role), [])]
