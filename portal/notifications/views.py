"""Notification pages: the bell and /me/notifications (any signed-in user), preferences (customers), the template
editor (admins with MANAGE_TEMPLATES), and the ``flask --app wsgi notifications-relay`` command."""
from __future__ import annotations

import click
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.clock import clock
from portal.extensions import db
from portal.htmx import hx_trigger, is_htmx, render_page_or_fragment
from portal.notifications import preferences, services, templates
from portal.notifications.events import CATEGORY_LABELS, CHANNEL_LABELS, CHANNELS, EVENTS, OPTIONAL_CATEGORIES
from portal.notifications.forms import CsrfForm, TemplateDraftForm
from portal.security import Perm, require_permission

bp = Blueprint("notifications", __name__, cli_group=None)
CHANGED = "notifications-changed"  # HX-Trigger after a read: the bell refreshes
PAGE_SIZE = 25


@bp.app_context_processor
def bell_context():
    """``notification_bell_count()`` for base.html (queried only when the header renders the bell) and the
    bell's polling interval (config NOTIFY_BELL_POLL_SECONDS, 20 s)."""
    return {"notification_bell_count": lambda: services.unread_count(current_user),
            "notification_bell_poll": int(current_app.config.get("NOTIFY_BELL_POLL_SECONDS") or 20)}


# ---- in-app messages -----------------------------------------------------------------------------------------
@bp.get("/me/notifications/bell")
@require_permission()
def bell():
    """The bell fragment with the unread count (htmx polls it)."""
    return render_template("notifications/_bell.html")


@bp.get("/me/notifications")
@require_permission()
def my_notifications():
    notes = db.paginate(services.in_app_select(current_user), per_page=PAGE_SIZE, error_out=False)
    return render_page_or_fragment("notifications/index.html", "notifications/_list.html", notes=notes,
                                   unread=services.unread_count(current_user), form=CsrfForm())


@bp.post("/me/notifications/<int:notification_id>/read")
@require_permission()
def mark_read(notification_id: int):
    if not CsrfForm().validate_on_submit():
        return "The form expired; reload the page.", 400
    note = services.mark_read(current_user, notification_id, now=clock().now())
    db.session.commit()
    if not is_htmx():
        return redirect(url_for(".my_notifications"), 303)
    return hx_trigger(render_template("notifications/_item.html", note=note, form=CsrfForm()), CHANGED)


@bp.post("/me/notifications/read-all")
@require_permission()
def mark_all_read():
    if not CsrfForm().validate_on_submit():
        return "The form expired; reload the page.", 400
    count = services.mark_all_read(current_user, now=clock().now())
    db.session.commit()
    if not is_htmx():
        flash(f"{count} notification{'' if count == 1 else 's'} marked read.", "success")
        return redirect(url_for(".my_notifications"), 303)
    notes = db.paginate(services.in_app_select(current_user), per_page=PAGE_SIZE, error_out=False)
    return hx_trigger(render_template("notifications/_list.html", notes=notes, unread=0, form=CsrfForm()), CHANGED)


# ---- preferences -----------------------------------------------------------------------------------------------
def _preferences_page(grid, status: int = 200):
    return render_template("notifications/preferences.html", grid=grid, form=CsrfForm(),
                           categories=OPTIONAL_CATEGORIES, channels=CHANNELS, category_labels=CATEGORY_LABELS,
                           channel_labels=CHANNEL_LABELS,
                           mandatory=[e for e in EVENTS.values() if e.mandatory]), status


@bp.get("/me/notifications/preferences")
@require_permission(Perm.APPLY)
def my_preferences():
    return _preferences_page(preferences.preferences_of(current_user))


@bp.post("/me/notifications/preferences")
@require_permission(Perm.APPLY)
def save_my_preferences():
    if not CsrfForm().validate_on_submit():
        return _preferences_page(preferences.preferences_of(current_user), 400)
    enabled = {tuple(key.split(":", 1)) for key in request.form if key.count(":") == 1}
    preferences.save_preferences(current_user, enabled, actor=current_user, now=clock().now())
    db.session.commit()
    flash("Your notification choices are saved.", "success")
    return redirect(url_for(".my_preferences"), 303)


# ---- templates (admin) ------------------------------------------------------------------------------------------
@bp.get("/admin/notification-templates")
@require_permission(Perm.MANAGE_TEMPLATES)
def template_list():
    return render_template("notifications/templates/index.html", events=EVENTS,
                           templates=templates.institution_templates(current_user.institution_id))


def _editor(template, form, *, status: int = 200, error: str | None = None, rendered=None):
    spec = EVENTS[template.event]
    return render_page_or_fragment("notifications/templates/edit.html", "notifications/templates/_editor.html",
                                   status=status, template=template, spec=spec, form=form, error=error,
                                   rendered=rendered, publish_form=CsrfForm(),
                                   variables=sorted(["customer_name", "portal_name", *spec.sample]))


@bp.get("/admin/notification-templates/<int:template_id>")
@require_permission(Perm.MANAGE_TEMPLATES)
def template_edit(template_id: int):
    template = templates.institution_template(current_user.institution_id, template_id)
    form = TemplateDraftForm(data={"subject": template.draft_subject, "body": template.draft_body})
    return _editor(template, form)


@bp.post("/admin/notification-templates/<int:template_id>")
@require_permission(Perm.MANAGE_TEMPLATES)
def template_save(template_id: int):
    template = templates.institution_template(current_user.institution_id, template_id)
    form = TemplateDraftForm()
    if not form.validate_on_submit():
        return _editor(template, form, status=422)
    try:
        templates.save_draft(template, subject=form.subject.data, body=form.body.data, actor=current_user,
                             now=clock().now())
    except templates.TemplateRefused as exc:
        db.session.rollback()
        return _editor(template, form, status=422, error=exc.message)
    db.session.commit()
    flash("Draft saved. Preview it, then publish it to use it.", "success")
    return redirect(url_for(".template_edit", template_id=template.id), 303)


@bp.post("/admin/notification-templates/<int:template_id>/preview")
@require_permission(Perm.MANAGE_TEMPLATES)
def template_preview(template_id: int):
    """The draft in the form rendered with the event's sample data (htmx fragment; 422 with the reason)."""
    template = templates.institution_template(current_user.institution_id, template_id)
    form = TemplateDraftForm()
    if not form.validate_on_submit():
        return render_template("notifications/templates/_preview.html", error="Write the message first.",
                               template=template), 422
    try:
        rendered = templates.preview(template, subject=form.subject.data, body=form.body.data)
    except templates.TemplateRefused as exc:
        return render_template("notifications/templates/_preview.html", error=exc.message, template=template), 422
    return render_template("notifications/templates/_preview.html", rendered=rendered, template=template)


@bp.post("/admin/notification-templates/<int:template_id>/publish")
@require_permission(Perm.MANAGE_TEMPLATES)
def template_publish(template_id: int):
    template = templates.institution_template(current_user.institution_id, template_id)
    if not CsrfForm().validate_on_submit():
        return "The form expired; reload the page.", 400
    version = templates.publish(template, actor=current_user, now=clock().now())
    db.session.commit()
    flash(f"Version {version.version} is published and in use.", "success")
    return redirect(url_for(".template_edit", template_id=template.id), 303)


# ---- command line ------------------------------------------------------------------------------------------------
@bp.cli.command("notifications-relay")
def relay_command():
    """Queue the pending outbox notifications that are due (lost jobs, due retries); prints how many."""
    ids = services.relay_pending(clock().now())
    db.session.commit()
    click.echo(f"queued {len(ids)} pending notification(s)")
