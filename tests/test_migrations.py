"""Migrations: one head, the schema they build equals the models (``flask db check``) on SQLite and
PostgreSQL, and the audit table refuses UPDATE/DELETE on PostgreSQL."""
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

ROOT = Path(__file__).resolve().parents[1]


def _flask(*args, database_url: str) -> subprocess.CompletedProcess:
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin", "PORTAL_ENV": "development"}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_single_head():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    assert len(ScriptDirectory.from_config(cfg).get_heads()) == 1


def test_file_names_are_dated():
    names = [p.name for p in (ROOT / "migrations" / "versions").glob("*.py")]
    assert names and all(n[:8].isdigit() and n[8] == "_" for n in names), names


def test_upgrade_and_check_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'check.db'}"
    up = _flask("db", "upgrade", database_url=url)
    assert up.returncode == 0, up.stderr
    check = _flask("db", "check", database_url=url)
    assert check.returncode == 0 and "No new upgrade operations detected" in check.stdout + check.stderr, \
        check.stdout + check.stderr


def test_check_on_postgres(app, pg_server):
    check = _flask("db", "check", database_url=pg_server.url)
    assert check.returncode == 0, check.stdout + check.stderr


def test_audit_events_refuse_update_and_delete_on_postgres(db):
    from portal.audit.services import record

    record(None, "test.event", ("things", 1), note="x")
    db.session.commit()
    for statement in ("UPDATE audit_events SET note = 'changed'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
    assert db.session.execute(text("SELECT note FROM audit_events")).scalar_one() == "x"
