"""Roles and permissions in one place, and the ``require_permission`` view decorator."""
from __future__ import annotations

from enum import StrEnum
from functools import wraps

from flask import abort, jsonify, redirect, request, url_for
from flask_login import current_user


class Role(StrEnum):
    """Who a user is (DESIGN.md section 2)."""

    CUSTOMER = "customer"
    LOAN_OFFICER = "loan_officer"
    RISK_OFFICER = "risk_officer"
    SUPPORT = "support"
    COLLECTIONS = "collections"  # collections officer: delinquent loans, promises to pay, recovery
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


STAFF_ROLES = frozenset({Role.LOAN_OFFICER, Role.RISK_OFFICER, Role.SUPPORT, Role.COLLECTIONS, Role.ADMIN})


class Perm(StrEnum):
    """What a user may do. Views check these; object-level rules live in services."""

    APPLY = "apply"                      # customer: apply, track, see own loans
    REVIEW_APPLICATIONS = "review_applications"
    REVIEW_KYC = "review_kyc"             # KYC queue, review and approve/reject documents
    DECIDE_APPLICATIONS = "decide_applications"
    DECIDE_ESCALATIONS = "decide_escalations"  # risk officer: decide escalated applications
    CHECK_OVERRIDES = "check_overrides"        # risk officer: the checker of rule overrides (maker-checker)
    VIEW_CUSTOMERS = "view_customers"
    VIEW_LOANS = "view_loans"
    VIEW_PORTFOLIO = "view_portfolio"
    VIEW_AUDIT = "view_audit"
    IMPORT_BOOK = "import_book"
    MANAGE_USERS = "manage_users"        # users page, freeze/unfreeze, reset MFA, login log
    USE_API = "use_api"
    OWN_SECURITY = "own_security"        # every signed-in user: own sessions and MFA
    MANAGE_SCORECARDS = "manage_scorecards"  # scorecard editor: drafts, publish, compare, backtest, recalculate
    IMPORT_TRANSACTIONS = "import_transactions"  # savings-transactions CSV behind the seed 004 score
    RECORD_REPAYMENTS = "record_repayments"  # officer: record a repayment received, mark a bounce
    RUN_COB = "run_cob"                      # admin: close of business runs (and, in demo mode, run N days)
    VIEW_LEDGER = "view_ledger"              # trial balance and ledger summary
    EXPORT_DATA = "export_data"              # admin, risk officer: export the loan book (XLSX/CSV)
    VIEW_PII = "view_pii"                    # admin: customer phone numbers unmasked in exports
    VIEW_TICKETS = "view_tickets"            # support, admin: the support ticket queue and threads
    ANSWER_TICKETS = "answer_tickets"        # support, admin: claim, reply to and change status of tickets
    VIEW_ALERTS = "view_alerts"              # the alert queue (each alert also lists the roles that may see it)
    MANAGE_ALERT_RULES = "manage_alert_rules"  # risk officer, admin: alert rules, webhooks, delivery log
    WORK_COLLECTIONS = "work_collections"    # collections: delinquency queue, promises to pay, recovery actions
    CHECK_WRITE_OFFS = "check_write_offs"    # risk officer, admin: the checker of a write-off (maker-checker)
    MANAGE_TEMPLATES = "manage_templates"    # admin: notification templates (versions, previews), drip campaigns
    VIEW_REPORTS = "view_reports"            # admin, risk officer: funnel, delinquency, collections, book reports
    OVERRIDE_LOAN_STATUS = "override_loan_status"  # admin: maker or checker of a loan status override (seed 000)


ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.CUSTOMER: frozenset({Perm.APPLY}),
    Role.LOAN_OFFICER: frozenset({Perm.REVIEW_APPLICATIONS, Perm.DECIDE_APPLICATIONS, Perm.VIEW_CUSTOMERS,
                                  Perm.VIEW_LOANS, Perm.USE_API, Perm.REVIEW_KYC,
                                  Perm.RECORD_REPAYMENTS}),
    Role.RISK_OFFICER: frozenset({Perm.REVIEW_APPLICATIONS, Perm.DECIDE_APPLICATIONS, Perm.DECIDE_ESCALATIONS,
                                  Perm.CHECK_OVERRIDES, Perm.VIEW_CUSTOMERS,
                                  Perm.VIEW_LOANS, Perm.VIEW_PORTFOLIO, Perm.USE_API, Perm.REVIEW_KYC,
                                  Perm.MANAGE_SCORECARDS, Perm.IMPORT_TRANSACTIONS, Perm.VIEW_LEDGER,
                                  Perm.EXPORT_DATA, Perm.VIEW_ALERTS, Perm.MANAGE_ALERT_RULES,
                                  Perm.CHECK_WRITE_OFFS, Perm.VIEW_REPORTS}),
    Role.SUPPORT: frozenset({Perm.VIEW_CUSTOMERS, Perm.VIEW_LOANS, Perm.VIEW_TICKETS, Perm.ANSWER_TICKETS}),
    Role.COLLECTIONS: frozenset({Perm.VIEW_CUSTOMERS, Perm.VIEW_LOANS, Perm.WORK_COLLECTIONS, Perm.VIEW_ALERTS,
                                 Perm.RECORD_REPAYMENTS}),
    Role.ADMIN: frozenset({Perm.VIEW_CUSTOMERS, Perm.VIEW_LOANS, Perm.VIEW_PORTFOLIO, Perm.VIEW_AUDIT,
                           Perm.IMPORT_BOOK, Perm.MANAGE_USERS, Perm.REVIEW_APPLICATIONS, Perm.USE_API,
                           Perm.REVIEW_KYC, Perm.IMPORT_TRANSACTIONS, Perm.RECORD_REPAYMENTS, Perm.RUN_COB,
                           Perm.VIEW_LEDGER, Perm.EXPORT_DATA, Perm.VIEW_PII, Perm.VIEW_TICKETS,
                           Perm.ANSWER_TICKETS, Perm.VIEW_ALERTS, Perm.MANAGE_ALERT_RULES, Perm.WORK_COLLECTIONS,
                           Perm.CHECK_WRITE_OFFS, Perm.MANAGE_TEMPLATES, Perm.VIEW_REPORTS,
                           Perm.OVERRIDE_LOAN_STATUS}),
}

# every signed-in user manages their own sessions and two-step verification
ROLE_PERMS = {role: perms | {Perm.OWN_SECURITY} for role, perms in ROLE_PERMS.items()}


def has_permission(user, perm: Perm) -> bool:
    """True when ``user`` is signed in, active and its role grants ``perm``."""
    if not getattr(user, "is_authenticated", False):
        return False
    return perm in ROLE_PERMS.get(Role(user.role), frozenset())


def require_permission(*perms: Perm):
    """View decorator: anonymous -> sign-in (htmx: HX-Redirect; API: 401 JSON); lacking a perm -> 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                if request.path.startswith("/api/"):
                    return jsonify(error="authentication required", status=401), 401
                login = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
                if request.headers.get("HX-Request"):
                    return "", 401, {"HX-Redirect": login}
                return redirect(login)
            if not all(has_permission(current_user, p) for p in perms):
                abort(403, "Your role does not allow this page.")
            return view(*args, **kwargs)

        return wrapped

    return decorator
