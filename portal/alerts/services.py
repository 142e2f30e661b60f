"""Alert rules, raising alerts (events and the close of business), the alert queue and its actions.

Services flush and audit; the caller (view, job, the close of business) commits. Visibility: an alert is seen
only by the staff of its institution whose role is in its rule's ``visible_roles``; anyone else gets 404 on it.
The engine's pure rules (kinds, thresholds, crossings, transitions) live in ``portal/alerts/engine.py``.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, bindparam, select, text
from sqlalchemy.exc import IntegrityError

from portal.alerts import engine
from portal.alerts.models import Alert, AlertRule
from portal.audit.services import SYSTEM, apply_changes, record
from portal.db import UTCDateTime
from portal.errors import DomainError, NotFound
from portal.extensions import db
from portal.security import ROLE_PERMS, Perm, Role

log = logging.getLogger(__name__)

#: the roles that may be given sight of alerts: those whose permissions include the alert queue
VIEWER_ROLES: tuple[str, ...] = tuple(r.value for r in (Role.COLLECTIONS, Role.RISK_OFFICER, Role.ADMIN)
                                      if Perm.VIEW_ALERTS in ROLE_PERMS[r])
DEFAULT_ROLES: tuple[str, ...] = VIEWER_ROLES

__all__ = ["DEFAULT_ROLES", "VIEWER_ROLES", "RuleInput", "acknowledge_alert", "alert_queue_select",
           "assign_alert", "create_rule", "ensure_builtin_rules", "institution_rule", "raise_dpd_alerts",
           "raise_event_alert", "resolve_alert", "rules_of", "update_rule", "visible_alert", "visible_rule_ids"]


# ---- raising alerts from events ----------------------------------------------------------------------------------
def raise_event_alert(kind: str, *, institution_id: int, now: datetime, loan_id: int | None = None,
                      customer_id: int | None = None, detail: dict | None = None,
                      dedupe_key: str | None = None) -> list[Alert]:
    """Raise one alert per active rule of ``institution_id`` of ``kind`` that the event matches; return them.

    * ``kind``: two_bounces | kyc_mismatch | large_prepayment | promise_to_pay_broken (also dpd_crossed, though
      the close of business raises those). ``large_prepayment`` matches rules whose ``threshold_amount`` (rupees)
      is <= ``detail["amount"]`` (rupees, Decimal or str).
    * ``now``: aware UTC (the clock's ``now()``); ``raised_on`` is the institution's business date.
    * ``detail``: a small JSON-able dict shown with the alert (ids, amounts as str, counts; never PII).
    * ``dedupe_key`` (optional): at most one alert per (rule, key) ever, e.g. ``"payment:17"``: replays raise
      nothing.

    Each alert is audited (``alert.raised``); a rule with a webhook gets a delivery row in the same transaction
    and the job ``jobs.alerts.deliver_webhook`` after the commit (``notifications`` queue). Flushes, never
    commits. Raises ValueError for an unknown kind."""
    from portal.alerts import webhooks
    from portal.business_date import current_business_date
    from portal.clock import clock

    if kind not in engine.KINDS:
        raise ValueError(f"unknown alert kind {kind!r}; kinds are {', '.join(engine.KINDS)}")
    detail = {k: _plain(v) for k, v in (detail or {}).items()}
    rules = db.session.scalars(select(AlertRule).where(AlertRule.institution_id == institution_id,
                                                       AlertRule.kind == kind, AlertRule.active)
                               .order_by(AlertRule.id)).all()
    rules = [r for r in rules if engine.rule_matches(kind, threshold_days=r.threshold_days,
                                                     threshold_amount=r.threshold_amount, detail=detail)]
    if not rules:
        return []
    on = current_business_date(institution_id, clock())
    raised = []
    for rule in rules:
        if dedupe_key and db.session.scalar(select(Alert.id).where(Alert.rule_id == rule.id,
                                                                   Alert.dedupe_key == dedupe_key)):
            continue
        alert = Alert(institution_id=institution_id, rule_id=rule.id, kind=kind, severity=rule.severity,
                      status="open", loan_id=loan_id, customer_id=customer_id, raised_on=on,
                      threshold_days=rule.threshold_days, dpd=detail.get("dpd") if kind == "dpd_crossed" else None,
                      dedupe_key=dedupe_key, detail=detail or None, raised_at=now)
        try:
            with db.session.begin_nested():  # a concurrent replay with the same key loses here, quietly
                db.session.add(alert)
                db.session.flush()
        except IntegrityError:
            continue
        record(SYSTEM, "alert.raised", alert, institution_id=institution_id,
               changes={"status": (None, "open"), "kind": kind, "severity": rule.severity, "rule_id": rule.id,
                        "loan_id": loan_id, "customer_id": customer_id})
        if rule.webhook_url:
            webhooks.queue_delivery(rule, alert=alert, now=now)
        raised.append(alert)
    return raised


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


# ---- raising DPD alerts in the close of business -------------------------------------------------------------
def raise_dpd_alerts(*, institution_id: int, on: date, now: datetime, lo: int, hi: int,
                     open_statuses: tuple[str, ...]) -> int:
    """The ``alerts`` step of the close of business for the open serviced loans with ids in [lo, hi): set-based
    SQL, three statements, no per-loan loop (PostgreSQL and SQLite). Returns the alerts raised.

    1. End the open crossings of loans whose DPD is now below the alert's threshold (``cleared_on = on``).
    2. ``INSERT ... SELECT`` one alert per (active dpd_crossed rule, loan) where DPD >= the rule's threshold and
       the loan has no open crossing of that rule at that threshold (``engine.dpd_crossing_starts``);
       ``dedupe_key = dpd:<loan>:<on>`` + ``ON CONFLICT DO NOTHING`` make a replay of the date add nothing.
    3. A webhook delivery row (outbox) for each alert of the date in the range whose rule has a webhook and
       has none yet. The caller enqueues ``jobs.alerts.deliver_due_webhooks`` after its commit.
    Idempotent per business date; resumable per chunk."""
    statuses = ", ".join(f"'{s}'" for s in open_statuses)
    scope = (f"l.institution_id = :inst AND l.serviced AND l.status IN ({statuses}) "
             "AND l.id >= :lo AND l.id < :hi")
    params = {"inst": institution_id, "d": on, "now": now, "lo": lo, "hi": hi, "dkey": on.isoformat()}
    _sql(f"""UPDATE alerts SET cleared_on = :d
             WHERE alerts.kind = 'dpd_crossed' AND alerts.cleared_on IS NULL AND alerts.institution_id = :inst
               AND alerts.loan_id >= :lo AND alerts.loan_id < :hi
               AND EXISTS (SELECT 1 FROM loans l WHERE l.id = alerts.loan_id AND {scope}
                           AND l.dpd < alerts.threshold_days)""", params)
    made = _sql(f"""
        INSERT INTO alerts (institution_id, rule_id, kind, severity, status, loan_id, customer_id, threshold_days,
                            dpd, raised_on, dedupe_key, raised_at)
        SELECT l.institution_id, r.id, 'dpd_crossed', r.severity, 'open', l.id, l.customer_id, r.threshold_days,
               l.dpd, :d, 'dpd:' || CAST(l.id AS TEXT) || ':' || :dkey, :now
        FROM loans l JOIN alert_rules r ON r.institution_id = l.institution_id
        WHERE {scope} AND r.kind = 'dpd_crossed' AND r.active AND l.dpd >= r.threshold_days
          AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.rule_id = r.id AND a.loan_id = l.id
                          AND a.threshold_days = r.threshold_days AND a.cleared_on IS NULL)
        ON CONFLICT (rule_id, dedupe_key) DO NOTHING""", params).rowcount or 0
    if made:
        from portal.alerts.engine import MAX_ATTEMPTS

        _sql("""
            INSERT INTO webhook_deliveries (institution_id, rule_id, alert_id, event, url, status, attempts,
                                            max_attempts, next_attempt_at, created_at, updated_at)
            SELECT a.institution_id, r.id, a.id, 'alert.raised', r.webhook_url, 'pending', 0, :max, :now, :now, :now
            FROM alerts a JOIN alert_rules r ON r.id = a.rule_id
            WHERE a.institution_id = :inst AND a.kind = 'dpd_crossed' AND a.raised_on = :d
              AND a.loan_id >= :lo AND a.loan_id < :hi AND r.webhook_url IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM webhook_deliveries w WHERE w.alert_id = a.id)""",
             {**params, "max": MAX_ATTEMPTS})
    return made


def _sql(sql: str, params: dict):
    """Execute raw SQL with dates bound as SQL dates and aware datetimes as ``UTCDateTime`` (so SQLite stores
    them as the ORM does)."""
    statement = text(sql)
    typed = [bindparam(k, type_=UTCDateTime() if isinstance(v, datetime) else Date())
             for k, v in params.items() if isinstance(v, date) and re.search(rf":{k}\b", sql)]
    if typed:
        statement = statement.bindparams(*typed)
    return db.session.execute(statement, params)


# ---- rules -------------------------------------------------------------------------------------------------------
def ensure_builtin_rules(institution_id: int) -> int:
    """Create the built-in rules of ``engine.BUILTIN_RULES`` (DPD 1/30/60/90, two bounces, KYC mismatch, large
    prepayment of Rs 1,00,000, promise to pay broken) that ``institution_id`` lacks, seen by collections, risk
    officer and admin. Idempotent (by ``builtin_key``): a rule the risk officer edited or switched off is left
    as it is. Returns how many were created; flushes."""
    have = set(db.session.scalars(select(AlertRule.builtin_key).where(AlertRule.institution_id == institution_id,
                                                                      AlertRule.builtin_key.is_not(None))))
    made = 0
    for key, kind, days, amount, severity, name in engine.BUILTIN_RULES:
        if key in have:
            continue
        db.session.add(AlertRule(institution_id=institution_id, name=name, kind=kind, threshold_days=days,
                                 threshold_amount=amount, severity=severity, visible_roles=list(DEFAULT_ROLES),
                                 active=True, builtin_key=key))
        made += 1
    if made:
        db.session.flush()
    return made


def rules_of(institution_id: int) -> list[AlertRule]:
    """The institution's rules: DPD rules by threshold first, then the others by kind and id."""
    rules = db.session.scalars(select(AlertRule).where(AlertRule.institution_id == institution_id)).all()
    order = list(engine.KINDS)
    return sorted(rules, key=lambda r: (order.index(r.kind) if r.kind in order else 99, r.threshold_days or 0,
                                        r.id))


def institution_rule(institution_id: int, rule_id: int) -> AlertRule:
    """Rule ``rule_id`` of ``institution_id``; NotFound (404) for another institution's or a missing rule."""
    rule = db.session.get(AlertRule, rule_id)
    if rule is None or rule.institution_id != institution_id:
        raise NotFound("There is no such alert rule.")
    return rule


@dataclass
class RuleInput:
    """A rule's settings as a form gives them. ``threshold_amount`` rupees; ``threshold_days`` days;
    ``webhook_secret`` None/"" keeps the stored secret (editing); ``clear_webhook`` removes URL and secret."""

    name: str
    kind: str
    severity: str
    roles: list[str]
    active: bool = True
    threshold_days: int | None = None
    threshold_amount: Decimal | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    clear_webhook: bool = False


class RuleInvalid(DomainError):
    """A rule's settings are refused (422); ``errors`` maps a form field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = errors


def _normalised(data: RuleInput, rule: AlertRule | None) -> tuple[RuleInput, dict[str, str]]:
    data.name = (data.name or "").strip()
    data.webhook_url = (data.webhook_url or "").strip() or None
    data.webhook_secret = (data.webhook_secret or "").strip() or None
    if data.clear_webhook:
        data.webhook_url, data.webhook_secret = None, None
    if data.kind != "dpd_crossed":
        data.threshold_days = None
    if data.kind != "large_prepayment":
        data.threshold_amount = None
    kept_secret = (rule is not None and rule.webhook_secret_encrypted is not None and not data.clear_webhook)
    errors = engine.check_rule(kind=data.kind, threshold_days=data.threshold_days,
                               threshold_amount=data.threshold_amount, severity=data.severity, roles=data.roles,
                               allowed_roles=VIEWER_ROLES, webhook_url=data.webhook_url,
                               has_secret=bool(data.webhook_secret) or kept_secret)
    if not data.name:
        errors["name"] = "Give the rule a name."
    if data.webhook_secret and len(data.webhook_secret) < 16:
        errors["webhook_secret"] = "The secret needs at least 16 characters."
    return data, errors


def _set_secret(rule: AlertRule, secret: str | None) -> bool:
    from portal.crypto import encrypt

    if not secret:
        return False
    rule.webhook_secret_encrypted, rule.webhook_secret_hint = encrypt(secret), secret[-4:]
    return True


def create_rule(institution_id: int, data: RuleInput, *, actor) -> AlertRule:
    """A new rule of ``institution_id`` from ``data``; audited (``alert_rule.created``; the secret never appears
    in the audit, only that one was set). Raises RuleInvalid (422) with the field errors; nothing is saved."""
    data, errors = _normalised(data, None)
    if errors:
        raise RuleInvalid(errors)
    rule = AlertRule(institution_id=institution_id, name=data.name[:120], kind=data.kind, severity=data.severity,
                     threshold_days=data.threshold_days, threshold_amount=data.threshold_amount,
                     visible_roles=sorted(set(data.roles)), active=data.active, webhook_url=data.webhook_url,
                     created_by_id=getattr(actor, "id", None))
    _set_secret(rule, data.webhook_secret)
    db.session.add(rule)
    db.session.flush()
    record(actor, "alert_rule.created", rule, changes={
        "name": rule.name, "kind": rule.kind, "severity": rule.severity, "threshold_days": rule.threshold_days,
        "threshold_amount": rule.threshold_amount, "visible_roles": rule.visible_roles, "active": rule.active,
        "webhook_url": rule.webhook_url, "webhook_secret": "set" if rule.webhook_secret_encrypted else None})
    return rule


def update_rule(rule: AlertRule, data: RuleInput, *, actor) -> dict:
    """Change ``rule`` to ``data`` (its kind stays: a new kind is a new rule); audited with the diff
    (``alert_rule.updated``; a new secret shows as "changed", never its value). Returns the diff. Raises
    RuleInvalid (422) with the field errors; nothing is changed."""
    data.kind = rule.kind
    data, errors = _normalised(data, rule)
    if errors:
        raise RuleInvalid(errors)
    changes = apply_changes(rule, {"name": data.name[:120], "severity": data.severity,
                                   "threshold_days": data.threshold_days, "threshold_amount": data.threshold_amount,
                                   "visible_roles": sorted(set(data.roles)), "active": data.active,
                                   "webhook_url": data.webhook_url})
    if data.clear_webhook and rule.webhook_secret_encrypted is not None:
        rule.webhook_secret_encrypted, rule.webhook_secret_hint = None, None
        changes["webhook_secret"] = ("set", None)
    elif _set_secret(rule, data.webhook_secret):
        changes["webhook_secret"] = ("set", "changed")
    if changes:
        record(actor, "alert_rule.updated", rule, changes=changes)
    return changes


# ---- the queue and its actions -------------------------------------------------------------------------------
def visible_rule_ids(user) -> list[int]:
    """Ids of the rules of ``user``'s institution whose alerts ``user``'s role may see."""
    rules = db.session.execute(select(AlertRule.id, AlertRule.visible_roles)
                               .where(AlertRule.institution_id == user.institution_id)).all()
    return [rule_id for rule_id, roles in rules if user.role in (roles or [])]


def alert_queue_select(user, *, status: str | None = "open", severity: str | None = None, kind: str | None = None,
                       assigned: str | None = None):
    """A ``Select`` of the alerts ``user`` may see, newest first, filtered by ``status`` (open | acknowledged |
    resolved | None for all), ``severity``, ``kind`` and ``assigned`` ("me" | "nobody" | None)."""
    query = select(Alert).where(Alert.institution_id == user.institution_id,
                                Alert.rule_id.in_(visible_rule_ids(user) or [-1]))
    if status in engine.STATUSES:
        query = query.where(Alert.status == status)
    if severity in engine.SEVERITIES:
        query = query.where(Alert.severity == severity)
    if kind in engine.KINDS:
        query = query.where(Alert.kind == kind)
    if assigned == "me":
        query = query.where(Alert.assigned_to_id == user.id)
    elif assigned == "nobody":
        query = query.where(Alert.assigned_to_id.is_(None))
    return query.order_by(Alert.id.desc())


def visible_alert(user, alert_id: int, *, lock: bool = False) -> Alert:
    """Alert ``alert_id`` if ``user`` may see it (same institution, role in the rule's roles); NotFound (404)
    otherwise, exactly as for a missing alert."""
    alert = db.session.get(Alert, alert_id, with_for_update=lock or None)
    if (alert is None or alert.institution_id != user.institution_id
            or user.role not in (alert.rule.visible_roles or [])):
        raise NotFound("There is no such alert.")
    return alert


def _move(alert: Alert, new: str) -> str:
    old = alert.status
    try:
        engine.check_transition(old, new)
    except ValueError as exc:
        raise DomainError(str(exc), 409) from None
    alert.status = new
    return old


def acknowledge_alert(alert: Alert, *, actor, now: datetime) -> Alert:
    """``actor`` has seen ``alert`` (open -> acknowledged); audited. DomainError 409 when it is not open."""
    old = _move(alert, "acknowledged")
    alert.acknowledged_at, alert.acknowledged_by_id = now, actor.id
    record(actor, "alert.acknowledged", alert, changes={"status": (old, alert.status)})
    return alert


def assign_alert(alert: Alert, assignee_id: int, *, actor, now: datetime) -> Alert:
    """Give ``alert`` to staff user ``assignee_id``: active, of the alert's institution, with a role that sees
    the alert. Audited (``alert.assigned``). DomainError: 422 for any other user (or none), 409 a resolved
    alert."""
    from portal.auth.models import User

    if alert.status == "resolved":
        raise DomainError("This alert is resolved; it cannot be assigned.", 409)
    user = db.session.get(User, assignee_id) if assignee_id else None
    if (user is None or user.institution_id != alert.institution_id or not user.is_active
            or user.role not in (alert.rule.visible_roles or [])):
        raise DomainError("Choose an active colleague whose role sees this alert.")
    old = alert.assigned_to_id
    alert.assigned_to, alert.assigned_at = user, now
    record(actor, "alert.assigned", alert, changes={"assigned_to_id": (old, user.id)},
           note=f"Assigned to {user.display_name}")
    return alert


def resolve_alert(alert: Alert, *, note: str, actor, now: datetime) -> Alert:
    """Close ``alert`` with ``note`` (what was done; 1-2000 characters); audited. DomainError: 422 an empty
    note, 409 an alert already resolved."""
    note = (note or "").strip()
    if not note:
        raise DomainError("Say how the alert was resolved.")
    old = _move(alert, "resolved")
    alert.resolved_at, alert.resolved_by_id, alert.resolution_note = now, actor.id, note[:2000]
    record(actor, "alert.resolved", alert, changes={"status": (old, alert.status)}, note=note[:2000])
    return alert


def assignable_users(alert: Alert) -> list:
    """Active staff of the alert's institution whose role sees the alert, by name."""
    from portal.auth.models import User

    return list(db.session.scalars(select(User).where(
        User.institution_id == alert.institution_id, User.status == "active",
        User.role.in_(alert.rule.visible_roles or [])).order_by(User.display_name)))


def open_counts(user) -> dict[str, int]:
    """``{severity: open alerts}`` that ``user`` may see (every severity present)."""
    from sqlalchemy import func

    counts = dict.fromkeys(engine.SEVERITIES, 0)
    rows = db.session.execute(select(Alert.severity, func.count()).where(
        Alert.institution_id == user.institution_id, Alert.status == "open",
        Alert.rule_id.in_(visible_rule_ids(user) or [-1])).group_by(Alert.severity)).all()
    counts.update({sev: int(n) for sev, n in rows})
    return counts
