"""Lending commands: ``flask --app wsgi expire-offers``."""
from __future__ import annotations

from datetime import UTC, datetime

import click


def register_lending_cli(app) -> None:
    @app.cli.command("expire-offers")
    @click.option("--as-of", "as_of", default=None, help="ISO timestamp (default: now)")
    def expire_offers_command(as_of):
        """Expire the offers past their expiry (what the 15-minute job jobs.lending.expire_offers does;
        idempotent)."""
        from portal.clock import clock
        from portal.extensions import db
        from portal.lending.services import expire_offers

        if as_of:
            try:
                now = datetime.fromisoformat(as_of)
            except ValueError:
                raise click.BadParameter("use an ISO timestamp such as 2026-11-30T10:00:00+05:30",
                                         param_hint="--as-of") from None
            now = now if now.tzinfo else now.replace(tzinfo=UTC)
        else:
            now = clock().now()
        count = expire_offers(now=now)
        db.session.commit()
        click.echo(f"expired {count} offer{'' if count == 1 else 's'}")
