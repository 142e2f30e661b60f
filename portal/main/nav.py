"""The navigation shown to each role (one place)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import url_for

from portal.security import Role

SECURITY = ("Security", "auth.account_sessions")  # own sessions and two-step verification (staff)
HELP = ("Help", "support.my_tickets")  # customer support tickets; carries the unread notifications badge

NAV: dict[Role, list[tuple[str, str]]] = {
    Role.CUSTOMER: [("Dashboard", "lending.customer_dashboard"), ("Apply for a loan", "lending.apply"),
                    ("My applications", "lending.my_applications"), ("Credit line", "servicing.my_credit_lines"),
                    ("Profile & KYC", "onboarding.wizard_start"),
                    ("Documents", "onboarding.my_documents"), HELP],
    Role.LOAN_OFFICER: [("Review queue", "lending.review_queue"), ("KYC queue", "onboarding.kyc_queue"),
                        ("Customers", "lending.customers"), SECURITY],
    Role.RISK_OFFICER: [("Review queue", "lending.review_queue"), ("Escalations", "lending.escalations"),
                        ("KYC queue", "onboarding.kyc_queue"),
                        ("Customers", "lending.customers"), ("Scorecards", "scoring.scorecards"),
                        ("Savings imports", "scoring.transaction_imports"),
                        ("Portfolio", "reports.portfolio"), ("Reports", "reports.reports_index"),
                        ("Exports", "reports.exports"), ("Write-offs", "delinquency.write_offs"),
                        ("Alerts", "alerts.alert_queue"), ("Alert rules", "alerts.rules"), SECURITY],
    Role.SUPPORT: [("Tickets", "support.ticket_queue"), ("Customers", "lending.customers"), SECURITY],
    Role.COLLECTIONS: [("Collections", "delinquency.queue"), ("Alerts", "alerts.alert_queue"),
                       ("Customers", "lending.customers"), SECURITY],
    Role.ADMIN: [("Portfolio", "reports.portfolio"), ("Reports", "reports.reports_index"),
                 ("Review queue", "lending.review_queue"),
                 ("KYC queue", "onboarding.kyc_queue"),
                 ("Customers", "lending.customers"), ("Imports", "ingest.imports"),
                 ("Exports", "reports.exports"),
                 ("Savings imports", "scoring.transaction_imports"), ("Ledger", "ledger.ledger_summary"),
                 ("Close of business", "servicing.cob_runs"), ("Collections", "delinquency.queue"),
                 ("Write-offs", "delinquency.write_offs"), ("Audit log", "audit.audit_log"),
                 ("Users", "auth.admin_users"), ("Loan overrides", "lending.loan_overrides"),
                 ("Tickets", "support.ticket_queue"), ("Alerts", "alerts.alert_queue"),
                 ("Alert rules", "alerts.rules"), ("Notification templates", "notifications.template_list"),
                 SECURITY],
}


#: Pages that light up a navigation entry besides its own endpoint.
ALSO_ACTIVE: dict[str, frozenset[str]] = {
    "reports.reports_index": frozenset({"reports.report"}),
    "scoring.scorecards": frozenset({"scoring.scorecard", "scoring.version", "scoring.compare", "scoring.run",
                                     "scoring.customer_scores"}),
    "scoring.transaction_imports": frozenset({"scoring.transaction_import"}),
    "support.my_tickets": frozenset({"support.new_ticket", "support.open_ticket", "support.my_ticket"}),
    "support.ticket_queue": frozenset({"support.staff_ticket"}),
    "delinquency.queue": frozenset({"delinquency.loan"}),
    "alerts.alert_queue": frozenset({"alerts.alert_detail"}),
    "notifications.template_list": frozenset({"notifications.template_edit"}),
    "alerts.rules": frozenset({"alerts.new_rule", "alerts.edit_rule", "alerts.rule_deliveries"}),
    "auth.admin_users": frozenset({"auth.admin_user", "auth.admin_new_user", "auth.admin_user_access",
                                   "auth.admin_password_link", "auth.admin_user_action", "auth.login_log"}),
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
    badge: int | None = None  # e.g. unread notifications on Help (None: no badge)


def nav_items_for(user, endpoint: str | None) -> list[NavItem]:
    """Navigation entries for ``user``'s role; ``active`` marks the current endpoint."""
    if not getattr(user, "is_authenticated", False):
        return []
    return [NavItem(label, url_for(ep), ep == endpoint or endpoint in ALSO_ACTIVE.get(ep, ()), _badge(user, ep))
            for label, ep in NAV.get(Role(user.role), [])]


def _badge(user, endpoint: str) -> int | None:
    """The unread ticket-reply notifications count on the customer's Help entry (None when zero)."""
    if endpoint != HELP[1]:
        return None
    from portal.support.services import unread_notifications

    return unread_notifications(user) or None
