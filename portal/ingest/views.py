"""Admin pages for importing a loan book (filled in by the ingestion work)."""
from flask import Blueprint

from portal.security import Perm, require_permission

bp = Blueprint("ingest", __name__, url_prefix="/admin/imports")


@bp.get("")
@require_permission(Perm.IMPORT_BOOK)
def imports():
    return "imports: coming in this session", 200
