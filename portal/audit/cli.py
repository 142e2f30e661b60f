"""Audit chain commands: ``flask --app wsgi audit-verify`` and ``flask --app wsgi audit-seal``."""
from __future__ import annotations

import sys

import click
from sqlalchemy import func, select

from portal.extensions import db


def verify_audit_chain(session) -> tuple[int, list[str]]:
    """Check the whole audit hash chain in one pass (rows streamed in ``chain_seq`` order, constant memory).
    Returns ``(sealed events walked, problems)``: at most one broken link (the first, see
    ``portal.audit.chain.first_broken_link``) and, if committed events are still unsealed (``hash`` NULL),
    one line naming the first of them and their count. An empty problem list means the chain is whole."""
    from portal.audit.chain import CONTENT_FIELDS, first_broken_link
    from portal.audit.models import AuditEvent

    t = AuditEvent.__table__
    cols = [t.c[name] for name in (*CONTENT_FIELDS, "chain_seq", "prev_hash", "hash")]
    problems = []
    result = session.execute(select(*cols).where(t.c.chain_seq.is_not(None)).order_by(t.c.chain_seq)
                             .execution_options(yield_per=2000))
    count, broken = first_broken_link(row._mapping for row in result)
    result.close()
    if broken:
        problems.append(broken)
    unsealed = session.execute(select(func.count(), func.min(t.c.id))
                               .where((t.c.chain_seq.is_(None)) | (t.c.hash.is_(None)))).one()
    if unsealed[0]:
        problems.append(f"{unsealed[0]} committed events are not sealed (first: event {unsealed[1]}); "
                        f"run flask --app wsgi audit-seal")
    return count, problems


def register_audit_cli(app) -> None:
    """Attach ``audit-verify`` and ``audit-seal`` to ``app.cli``."""

    from portal.audit.models import AuditEvent

    @app.cli.command("audit-verify")
    def audit_verify_command():
        """Check the audit hash chain; exit 1 naming the first broken link or unsealed event."""
        count, problems = verify_audit_chain(db.session)
        db.session.rollback()
        if problems:
            for line in problems:
                click.echo(f"audit chain BROKEN: {line}", err=True)
            sys.exit(1)
        click.echo(f"audit chain ok: {count} events")
        if count:
            head = db.session.execute(select(AuditEvent.chain_seq, AuditEvent.hash)
                                      .where(AuditEvent.chain_seq == count)).one()
            click.echo(f"head: chain {head.chain_seq} hash {head.hash} (keep it elsewhere to detect truncation)")
            db.session.rollback()

    @app.cli.command("audit-seal")
    def audit_seal_command():
        """Seal committed audit events that have no hash yet (written before the chain existed)."""
        from portal.audit.seal import seal_unsealed

        sealed = seal_unsealed(db.session)
        db.session.commit()
        click.echo(f"sealed {sealed} audit events")
