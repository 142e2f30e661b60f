"""Admin ledger pages: the trial balance and the ledger summary by account for any business date (seed 000)."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, render_template, request
from flask_login import current_user

from portal.business_date import current_business_date
from portal.clock import clock
from portal.ledger.services import day_summary, trial_balance
from portal.security import Perm, require_permission

bp = Blueprint("ledger", __name__, url_prefix="/admin/ledger")


def _as_of() -> tuple[date, date]:
    today = current_business_date(current_user.institution_id, clock())
    raw = request.args.get("on", "").strip()
    if not raw:
        return today, today
    try:
        return date.fromisoformat(raw), today
    except ValueError:
        abort(400, "Give the business date as YYYY-MM-DD.")


@bp.get("")
@require_permission(Perm.VIEW_LEDGER)
def ledger_summary():
    as_of, today = _as_of()
    institution_id = current_user.institution_id
    return render_template("ledger/summary.html", as_of=as_of, today=today,
                           balances=trial_balance(institution_id, as_of),
                           movements=day_summary(institution_id, as_of))
