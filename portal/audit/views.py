"""The audit log page: filter by actor, action, object and date; keyset-paginated, newest first."""
from datetime import UTC, datetime, time, timedelta

from flask import Blueprint, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.security import Perm, require_permission

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")
PAGE = 50


def _date(value: str | None):
    try:
        return datetime.strptime(value, "%Y-%m-%d").date() if value else None
    except ValueError:
        return None


@bp.get("")
@require_permission(Perm.VIEW_AUDIT)
def audit_log():
    args = {k: (request.args.get(k) or "").strip() for k in ("actor", "action", "entity_type", "entity_id",
                                                             "date_from", "date_to")}
    q = select(AuditEvent).where(AuditEvent.institution_id == current_user.institution_id)
    if args["actor"]:
        q = q.where(AuditEvent.actor_label.ilike(f"%{args['actor']}%"))
    if args["action"]:
        q = q.where(AuditEvent.action.ilike(f"{args['action']}%"))
    if args["entity_type"]:
        q = q.where(AuditEvent.entity_type == args["entity_type"])
    if args["entity_id"]:
        q = q.where(AuditEvent.entity_id == args["entity_id"])
    if d := _date(args["date_from"]):
        q = q.where(AuditEvent.occurred_at >= datetime.combine(d, time.min, UTC))
    if d := _date(args["date_to"]):
        q = q.where(AuditEvent.occurred_at < datetime.combine(d + timedelta(days=1), time.min, UTC))
    before = request.args.get("before", type=int)
    if before:
        q = q.where(AuditEvent.id < before)
    rows = db.session.scalars(q.order_by(AuditEvent.id.desc()).limit(PAGE + 1)).all()
    next_url = url_for("audit.audit_log", **args, before=rows[PAGE - 1].id) if len(rows) > PAGE else None
    entity_types = db.session.scalars(select(AuditEvent.entity_type).distinct().order_by(AuditEvent.entity_type)).all()
    return render_page_or_fragment("audit/index.html", "audit/_table.html", rows=rows[:PAGE], args=args,
                                   next_url=next_url, entity_types=entity_types)
