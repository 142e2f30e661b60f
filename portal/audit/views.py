"""The audit log viewer (issue 7 item 4): filter by actor, action, object and date; keyset pages (newest first);
each event expands to the before/after of each change; the filtered log exports to CSV/XLSX through the export
jobs (``portal.reports.exports``, kind ``audit_log``), and asking for that export is itself audited."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, flash, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import hx_redirect, render_page_or_fragment
from portal.security import Perm, has_permission, require_permission

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")
PAGE = 50


@dataclass(frozen=True)
class ChangeRow:
    """One line of an event's changes: the field (``a.b`` inside a nested dict), and either a before/after pair
    (``pair`` True) or a single recorded value (``after``; ``before`` None)."""

    field: str
    before: object
    after: object
    pair: bool


def _is_pair(value) -> bool:
    # record() stores (old, new) tuples as two-item JSON lists; a two-item list of plain values reads as a pair
    return isinstance(value, list) and len(value) == 2 and not any(isinstance(v, dict | list) for v in value)


def change_rows(changes, prefix: str = "") -> list[ChangeRow]:
    """The rows of an AuditEvent's ``changes`` as ``record()`` writes them: ``{field: [old, new]}`` (a tuple
    given to record), ``{field: value}`` (a plain value: a string, number, bool, None or a list), and nested
    dicts (``{"allocation": {"principal": "1.00"}}`` -> field ``allocation.principal``). Anything else (a list
    or scalar at the top) becomes one ``value`` row. Pure; never raises."""
    if changes is None or changes == {}:
        return []
    if not isinstance(changes, dict):
        return [ChangeRow(prefix.rstrip(".") or "value", None, changes, False)]
    rows: list[ChangeRow] = []
    for key, value in changes.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(change_rows(value, name + ".") or [ChangeRow(name, None, {}, False)])
        elif _is_pair(value):
            rows.append(ChangeRow(name, value[0], value[1], True))
        else:
            rows.append(ChangeRow(name, None, value, False))
    return rows


def show(value) -> str:
    """A change value as text: None -> "—", bools yes/no, lists comma-joined, dicts as key: value."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(show(v) for v in value) or "(none)"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {show(v)}" for k, v in value.items()) or "(none)"
    return str(value)


@bp.get("")
@require_permission(Perm.VIEW_AUDIT)
def audit_log():
    """Filters ``actor`` (part of the name), ``action`` (prefix), ``entity_type``, ``entity_id``, ``date_from``
    and ``date_to`` (days in the portal's time zone); ``before``: the event id to continue below. 400 for a bad
    date; the institution's events only."""
    from portal.reports.reports import audit_query, clean_audit_filters

    args = clean_audit_filters(request.args)
    q = audit_query(current_user.institution_id, args)
    before = request.args.get("before", type=int)
    if before:
        q = q.where(AuditEvent.id < before)
    rows = db.session.scalars(q.limit(PAGE + 1)).all()
    query = {k: v for k, v in args.items() if v}
    next_url = url_for("audit.audit_log", **query, before=rows[PAGE - 1].id) if len(rows) > PAGE else None
    first_url = url_for("audit.audit_log", **query) if before else None
    entity_types = db.session.scalars(select(AuditEvent.entity_type).distinct()
                                      .where(AuditEvent.institution_id == current_user.institution_id)
                                      .order_by(AuditEvent.entity_type)).all()
    return render_page_or_fragment("audit/index.html", "audit/_table.html", rows=rows[:PAGE], args=args,
                                   next_url=next_url, first_url=first_url, entity_types=entity_types,
                                   change_rows=change_rows, show=show,
                                   can_export=has_permission(current_user, Perm.EXPORT_DATA))


@bp.post("/export")
@require_permission(Perm.VIEW_AUDIT, Perm.EXPORT_DATA)
def export_audit_log():
    """Queue an export (CSV/XLSX) of the audit events matching the posted filters; audited as
    ``export.requested`` with the filters; to the export's status page. 422 without a format, 400 a bad date."""
    from portal.reports import exports
    from portal.reports.forms import ReportExportForm

    form = ReportExportForm()
    if not form.validate_on_submit():
        raise DomainError("Choose a format: XLSX or CSV.")
    raw = {k: v for k, v in request.form.items() if k not in ("csrf_token", "format")}
    export = exports.create_export(institution_id=current_user.institution_id, actor=current_user,
                                   fmt=form.format.data, filters=raw, kind="audit_log",
                                   pii=has_permission(current_user, Perm.VIEW_PII), now=clock().now())
    db.session.commit()
    flash(f"Export {export.id} of the audit log queued.", "success")
    return hx_redirect(url_for("reports.export_status", export_id=export.id))
