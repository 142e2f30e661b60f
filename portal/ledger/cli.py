"""``flask --app wsgi ledger-check``: exit 0 when the ledger and the loans agree, 1 naming the first
disagreement otherwise."""
from __future__ import annotations

import sys

import click


def register_ledger_cli(app) -> None:
    @app.cli.command("ledger-check")
    @click.option("--institution", "institution_id", type=int, default=None, help="default: every institution")
    def ledger_check_command(institution_id):
        """Prove the ledger is balanced and agrees with every serviced loan's balances."""
        from sqlalchemy import select

        from portal.auth.models import Institution
        from portal.business_date import current_business_date
        from portal.clock import clock
        from portal.extensions import db
        from portal.ledger.check import check_ledger

        ids = [institution_id] if institution_id else list(db.session.scalars(select(Institution.id)))
        failed = False
        for inst in ids:
            as_of = current_business_date(inst, clock())
            result = check_ledger(inst, as_of)
            if result.ok:
                click.echo(f"institution {inst}: ledger ok as of {as_of}: {result.entries} journal entries, "
                           f"{result.loans} serviced loans, debits {result.total_debit} = credits "
                           f"{result.total_credit}")
            else:
                failed = True
                click.echo(f"institution {inst}: ledger DISAGREES as of {as_of}; first: {result.problems[0]}",
                           err=True)
                for problem in result.problems[1:]:
                    click.echo(f"  also: {problem}", err=True)
        db.session.rollback()
        if failed:
            sys.exit(1)
