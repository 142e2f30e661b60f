"""Alert pages: the alert queue (/alerts) for the roles with ``Perm.VIEW_ALERTS``, one alert with its actions,
and the rules with their webhooks and delivery logs (/alerts/rules) for ``Perm.MANAGE_ALERT_RULES``."""
from __future__ import annotations

from flask import flash, render_template, request, url_for
from flask_login import current_user

from portal.alerts import bp, engine, services, webhooks
from portal.alerts.forms import FILTER_STATUSES, ActionForm, AssignForm, ResolveForm, RuleForm, form_error
from portal.alerts.models import Alert, AlertRule
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import hx_redirect, is_htmx, render_page_or_fragment
from portal.security import Perm, require_permission

QUEUE_LIMIT = 200
ASSIGNED = {"": "Anyone", "me": "Mine", "nobody": "Unassigned"}


# ---- the queue -----------------------------------------------------------------------------------------------
@bp.get("/alerts")
@require_permission(Perm.VIEW_ALERTS)
def alert_queue():
    status = request.args.get("status", "open")
    status = status if status in FILTER_STATUSES else "open"
    f = {"status": status, "severity": request.args.get("severity", ""), "kind": request.args.get("kind", ""),
         "assigned": request.args.get("assigned", "")}
    alerts = db.session.scalars(services.alert_queue_select(
        current_user, status=None if status == "all" else status, severity=f["severity"], kind=f["kind"],
        assigned=f["assigned"]).limit(QUEUE_LIMIT)).all()
    return render_page_or_fragment("alerts/queue.html", "alerts/_queue_table.html", alerts=alerts, filters=f,
                                   statuses=FILTER_STATUSES, severities=engine.SEVERITIES, kinds=engine.KINDS,
                                   assigned_choices=ASSIGNED, counts=services.open_counts(current_user))


def _alert_page(alert: Alert, *, resolve_form=None, assign_form=None, error: str | None = None, status: int = 200):
    assign_form = assign_form or AssignForm(assignee_id=alert.assigned_to_id or 0)
    assign_form.assignee_id.choices = [(0, "Choose…")] + [(u.id, f"{u.display_name} ({u.role_label})")
                                                          for u in services.assignable_users(alert)]
    return render_page_or_fragment("alerts/show.html", "alerts/_actions.html", status=status, alert=alert,
                                   resolve_form=resolve_form or ResolveForm(), assign_form=assign_form,
                                   action_form=ActionForm(), error=error)


@bp.get("/alerts/<int:alert_id>")
@require_permission(Perm.VIEW_ALERTS)
def alert_detail(alert_id: int):
    return _alert_page(services.visible_alert(current_user, alert_id))


def _done(alert: Alert, message: str):
    db.session.commit()
    flash(message, "success")
    return hx_redirect(url_for("alerts.alert_detail", alert_id=alert.id))


@bp.post("/alerts/<int:alert_id>/acknowledge")
@require_permission(Perm.VIEW_ALERTS)
def acknowledge_alert(alert_id: int):
    alert = services.visible_alert(current_user, alert_id, lock=True)
    form = ActionForm()
    if not form.validate_on_submit():
        raise DomainError(form_error(form))
    services.acknowledge_alert(alert, actor=current_user, now=clock().now())
    return _done(alert, f"Alert {alert.id} acknowledged.")


@bp.post("/alerts/<int:alert_id>/assign")
@require_permission(Perm.VIEW_ALERTS)
def assign_alert(alert_id: int):
    alert = services.visible_alert(current_user, alert_id, lock=True)
    form = AssignForm()
    form.assignee_id.choices = [(u.id, u.display_name) for u in services.assignable_users(alert)]
    if not form.validate_on_submit():
        return _alert_page(alert, assign_form=form, error=form_error(form) or "Choose a colleague.", status=422)
    services.assign_alert(alert, form.assignee_id.data, actor=current_user, now=clock().now())
    return _done(alert, f"Alert {alert.id} assigned to {alert.assigned_to.display_name}.")


@bp.post("/alerts/<int:alert_id>/resolve")
@require_permission(Perm.VIEW_ALERTS)
def resolve_alert(alert_id: int):
    alert = services.visible_alert(current_user, alert_id, lock=True)
    form = ResolveForm()
    if not form.validate_on_submit():
        return _alert_page(alert, resolve_form=form, error=form_error(form), status=422)
    services.resolve_alert(alert, note=form.note.data, actor=current_user, now=clock().now())
    return _done(alert, f"Alert {alert.id} resolved.")


# ---- rules ---------------------------------------------------------------------------------------------------
@bp.get("/alerts/rules")
@require_permission(Perm.MANAGE_ALERT_RULES)
def rules():
    return render_template("alerts/rules/index.html", rules=services.rules_of(current_user.institution_id))


def _rule_input(form: RuleForm, kind: str) -> services.RuleInput:
    return services.RuleInput(
        name=form.name.data or "", kind=kind, severity=form.severity.data, roles=list(form.roles.data or []),
        active=bool(form.active.data), threshold_days=form.threshold_days.data,
        threshold_amount=form.threshold_amount.data, webhook_url=form.webhook_url.data,
        webhook_secret=form.webhook_secret.data, clear_webhook=bool(form.clear_webhook.data))


def _rule_form_page(form: RuleForm, rule: AlertRule | None, status: int = 200):
    page = "alerts/rules/edit.html" if rule else "alerts/rules/new.html"
    return render_page_or_fragment(page, "alerts/rules/_form.html", status=status, form=form, rule=rule)


def _refused(form: RuleForm, rule: AlertRule | None, exc: services.RuleInvalid):
    db.session.rollback()
    for field, message in exc.errors.items():
        getattr(form, field).errors = [*getattr(form, field).errors, message]
    return _rule_form_page(form, rule, 422)


@bp.get("/alerts/rules/new")
@require_permission(Perm.MANAGE_ALERT_RULES)
def new_rule():
    form = RuleForm(roles=services.VIEWER_ROLES, formdata=None, data={"roles": list(services.DEFAULT_ROLES),
                                                                      "active": True, "severity": "warning"})
    return _rule_form_page(form, None)


@bp.post("/alerts/rules")
@require_permission(Perm.MANAGE_ALERT_RULES)
def create_rule():
    form = RuleForm(roles=services.VIEWER_ROLES)
    if not form.validate_on_submit():
        return _rule_form_page(form, None, 422)
    try:
        rule = services.create_rule(current_user.institution_id, _rule_input(form, form.kind.data),
                                    actor=current_user)
    except services.RuleInvalid as exc:
        return _refused(form, None, exc)
    db.session.commit()
    flash(f"Rule “{rule.name}” created.", "success")
    return hx_redirect(url_for("alerts.rules"))


@bp.get("/alerts/rules/<int:rule_id>")
@require_permission(Perm.MANAGE_ALERT_RULES)
def edit_rule(rule_id: int):
    rule = services.institution_rule(current_user.institution_id, rule_id)
    form = RuleForm(roles=services.VIEWER_ROLES, obj=rule, data={"roles": list(rule.visible_roles or [])})
    return _rule_form_page(form, rule)


@bp.post("/alerts/rules/<int:rule_id>")
@require_permission(Perm.MANAGE_ALERT_RULES)
def update_rule(rule_id: int):
    rule = services.institution_rule(current_user.institution_id, rule_id)
    form = RuleForm(roles=services.VIEWER_ROLES, kind=rule.kind)  # the kind is fixed: not on the edit form
    if not form.validate_on_submit():
        return _rule_form_page(form, rule, 422)
    try:
        changes = services.update_rule(rule, _rule_input(form, rule.kind), actor=current_user)
    except services.RuleInvalid as exc:
        return _refused(form, rule, exc)
    db.session.commit()
    flash(f"Rule “{rule.name}” saved." if changes else "Nothing changed.", "success")
    return hx_redirect(url_for("alerts.rules"))


@bp.get("/alerts/rules/<int:rule_id>/deliveries")
@require_permission(Perm.MANAGE_ALERT_RULES)
def rule_deliveries(rule_id: int):
    rule = services.institution_rule(current_user.institution_id, rule_id)
    return render_page_or_fragment("alerts/rules/deliveries.html", "alerts/rules/_deliveries.html", rule=rule,
                                   deliveries=webhooks.deliveries_of(rule), action_form=ActionForm())


@bp.post("/alerts/rules/<int:rule_id>/test")
@require_permission(Perm.MANAGE_ALERT_RULES)
def test_webhook(rule_id: int):
    rule = services.institution_rule(current_user.institution_id, rule_id)
    form = ActionForm()
    if not form.validate_on_submit():
        raise DomainError(form_error(form))
    delivery = webhooks.send_test(rule, actor=current_user, now=clock().now())
    db.session.commit()  # the job is queued after this commit (in tests: run at once)
    if not is_htmx():
        flash(f"Test delivery {delivery.id} queued; its result appears below.", "info")
    return hx_redirect(url_for("alerts.rule_deliveries", rule_id=rule.id))
