"""Pure rules of the alert engine (issue 6 item 1; seed 002 "configurable triggers"): the kinds, severities and
statuses, which rule an event matches, when a DPD crossing starts and ends, how an alert's status may move, the
webhook retry schedule, and the checks on a rule's input. No database, no Flask: tests/alerts/test_engine.py.

DPD crossings (the close of business, ``portal/servicing/cob.py`` step ``alerts``): a ``dpd_crossed`` rule with
threshold T raises one alert when a loan's DPD is >= T and the loan has no *open crossing* of that rule and
threshold. The crossing stays open while the DPD stays >= T; the first close of business that finds the DPD
below T (the loan cured, or paid down its oldest arrears) ends it (``Alert.cleared_on``). A later climb to >= T
is a new crossing and raises a new alert. So a loan aging from DPD 0 to 95 raises exactly one alert per rule
1/30/60/90, however often a business date is rerun or resumed; a loan that pays everything at DPD 40 and falls
behind again raises the 1 and 30 alerts again.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

KINDS: dict[str, str] = {
    "dpd_crossed": "DPD crossed",
    "two_bounces": "Two bounces",
    "kyc_mismatch": "KYC mismatch",
    "large_prepayment": "Large prepayment",
    "promise_to_pay_broken": "Promise to pay broken",
}
#: kinds raised by events (``services.raise_event_alert``); ``dpd_crossed`` is raised by the close of business
EVENT_KINDS = frozenset(KINDS) - {"dpd_crossed"}
SEVERITIES: dict[str, str] = {"info": "Info", "warning": "Warning", "critical": "Critical"}
STATUSES: dict[str, str] = {"open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved"}
#: how an alert's status may move (anything else is refused with a clear message)
ALLOWED: dict[str, frozenset[str]] = {
    "open": frozenset({"acknowledged", "resolved"}),
    "acknowledged": frozenset({"resolved"}),
    "resolved": frozenset(),
}
#: built-in rules of every institution: (key, kind, threshold days, threshold rupees, severity, name)
BUILTIN_RULES: tuple[tuple[str, str, int | None, Decimal | None, str, str], ...] = (
    ("dpd_1", "dpd_crossed", 1, None, "info", "DPD crossed 1 day (SMA-0)"),
    ("dpd_30", "dpd_crossed", 30, None, "warning", "DPD crossed 30 days"),
    ("dpd_60", "dpd_crossed", 60, None, "warning", "DPD crossed 60 days (SMA-2 next)"),
    ("dpd_90", "dpd_crossed", 90, None, "critical", "DPD crossed 90 days (NPA next)"),
    ("two_bounces", "two_bounces", None, None, "warning", "Two bounced payments (recovery eligible)"),
    ("kyc_mismatch", "kyc_mismatch", None, None, "warning", "KYC mismatch between OCR and typed data"),
    ("large_prepayment", "large_prepayment", None, Decimal("100000.00"), "info", "Prepayment of Rs 1,00,000 or more"),
    ("promise_to_pay_broken", "promise_to_pay_broken", None, None, "warning", "Promise to pay broken"),
)
MAX_THRESHOLD_DAYS = 3650
MAX_THRESHOLD_AMOUNT = Decimal("100000000000.00")  # Rs 10,000 crore: a sanity cap, not a business rule

#: webhook deliveries: attempts in all, and the wait in seconds before attempt 2, 3, 4 and 5 (exponential, x4)
MAX_ATTEMPTS = 5
BACKOFF_SECONDS: tuple[int, ...] = (30, 120, 480, 1920)


def rule_matches(kind: str, *, threshold_days: int | None, threshold_amount: Decimal | None,
                 detail: Mapping | None) -> bool:
    """True when an event of ``kind`` with ``detail`` triggers a rule of that kind and thresholds.

    ``large_prepayment``: ``detail["amount"]`` (rupees, Decimal or str) >= ``threshold_amount`` (rupees);
    ``dpd_crossed``: ``detail["dpd"]`` (days) >= ``threshold_days``; every other kind always matches.
    A threshold kind without its figure in ``detail`` does not match."""
    detail = detail or {}
    if kind == "large_prepayment":
        try:
            amount = Decimal(str(detail.get("amount")))
        except (InvalidOperation, ValueError):
            return False
        return threshold_amount is not None and amount.is_finite() and amount >= threshold_amount
    if kind == "dpd_crossed":
        dpd = detail.get("dpd")
        return threshold_days is not None and isinstance(dpd, int) and dpd >= threshold_days
    return True


def dpd_crossing_starts(dpd: int, threshold_days: int, *, open_crossing: bool) -> bool:
    """A ``dpd_crossed`` rule raises an alert: DPD >= threshold and no open crossing of the rule and loan.
    (The SQL of ``services.raise_dpd_alerts`` mirrors this.)"""
    return dpd >= threshold_days and not open_crossing


def dpd_crossing_ends(dpd: int, threshold_days: int) -> bool:
    """An open crossing ends when the close of business finds the DPD below the threshold again."""
    return dpd < threshold_days


def check_transition(old: str, new: str) -> None:
    """Refuse a status move not in ``ALLOWED`` (ValueError with a readable message)."""
    if new not in ALLOWED.get(old, frozenset()):
        raise ValueError(f"An alert that is {STATUSES.get(old, old).lower()} cannot become "
                         f"{STATUSES.get(new, new).lower()}.")


def retry_delay(attempts_made: int, max_attempts: int = MAX_ATTEMPTS,
                schedule: tuple[int, ...] = BACKOFF_SECONDS) -> int | None:
    """Seconds to wait before the next attempt after ``attempts_made`` failed ones, or None when no attempt is
    left. The last entry of ``schedule`` repeats when there are more attempts than entries."""
    if attempts_made >= max_attempts or attempts_made < 1:
        return None
    if not schedule:
        return 0
    return int(schedule[min(attempts_made - 1, len(schedule) - 1)])


def check_webhook_url(url: str) -> str | None:
    """A problem with a webhook URL (http or https with a host, at most 500 characters), or None."""
    if len(url) > 500:
        return "The webhook URL is too long (at most 500 characters)."
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Give a full http:// or https:// URL for the webhook."
    if parts.username or parts.password:
        return "Do not put a user name or password in the webhook URL; the secret signs each delivery."
    return None


def check_rule(*, kind: str, threshold_days: int | None, threshold_amount: Decimal | None, severity: str,
               roles: Iterable[str], allowed_roles: Iterable[str], webhook_url: str | None,
               has_secret: bool) -> dict[str, str]:
    """The problems of a rule's settings as ``{field: message}`` (empty when it is fine).

    ``threshold_days`` (days, 1-3650) is required for ``dpd_crossed`` only; ``threshold_amount`` (rupees > 0)
    for ``large_prepayment`` only; ``roles`` must be a non-empty subset of ``allowed_roles``; a webhook URL needs
    a secret (``has_secret``: given now, or kept from before)."""
    errors: dict[str, str] = {}
    if kind not in KINDS:
        errors["kind"] = "Choose what the rule watches."
    if severity not in SEVERITIES:
        errors["severity"] = "Choose a severity: info, warning or critical."
    if kind == "dpd_crossed":
        if threshold_days is None:
            errors["threshold_days"] = "Give the DPD threshold in days."
        elif not 1 <= threshold_days <= MAX_THRESHOLD_DAYS:
            errors["threshold_days"] = f"The DPD threshold is 1 to {MAX_THRESHOLD_DAYS} days."
    elif threshold_days is not None:
        errors["threshold_days"] = "Only a DPD rule takes a threshold in days."
    if kind == "large_prepayment":
        if threshold_amount is None:
            errors["threshold_amount"] = "Give the prepayment amount (rupees) that raises the alert."
        elif not Decimal("0") < threshold_amount <= MAX_THRESHOLD_AMOUNT:
            errors["threshold_amount"] = "The amount must be more than Rs 0."
    elif threshold_amount is not None:
        errors["threshold_amount"] = "Only a large prepayment rule takes an amount."
    roles, allowed = list(roles), set(allowed_roles)
    if not roles:
        errors["roles"] = "Choose at least one role that sees these alerts."
    elif not set(roles) <= allowed:
        errors["roles"] = "Only these roles can see alerts: " + ", ".join(sorted(allowed)) + "."
    if webhook_url:
        problem = check_webhook_url(webhook_url)
        if problem:
            errors["webhook_url"] = problem
        elif not has_secret:
            errors["webhook_secret"] = "Give a secret (at least 16 characters) to sign the webhook deliveries."
    return errors
