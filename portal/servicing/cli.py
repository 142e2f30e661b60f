"""Servicing commands: ``flask --app wsgi close-of-business [--days N]`` runs the close of business in this
process for N consecutive business dates and prints each step's count and time."""
from __future__ import annotations

import time

import click

from portal.extensions import db


def register_servicing_cli(app) -> None:
    @app.cli.command("close-of-business")
    @click.option("--days", type=click.IntRange(1, 3660), default=1, show_default=True,
                  help="consecutive business dates to close")
    @click.option("--institution", "institution_id", type=int, default=None,
                  help="institution id (default: the default institution)")
    @click.option("--chunk-size", type=click.IntRange(1), default=None,
                  help="loan ids per transaction (default 50,000)")
    def close_of_business_command(days, institution_id, chunk_size):
        """Close the books for the business date and move it on, DAYS times (in this process, not on RQ):
        accrual, billing, due marking, DPD and classification, reminders, next date."""
        from portal.auth.services import default_institution
        from portal.business_date import current_business_date
        from portal.clock import clock
        from portal.errors import DomainError
        from portal.servicing import cob

        institution_id = institution_id or default_institution().id
        db.session.commit()
        started = time.perf_counter()
        for _ in range(days):
            on = current_business_date(institution_id, clock())
            db.session.commit()
            try:
                run = cob.run_close_of_business(institution_id, on, now=clock().now(), requested_by="cli",
                                                chunk_size=chunk_size or cob.CHUNK_SIZE)
            except DomainError as exc:
                raise click.ClickException(exc.message) from None
            if run is None or run.status != "done":
                raise click.ClickException(f"the close of business of {on} is running in another process")
            click.echo(f"{on.isoformat()}  run {run.id}  {run.loans_total:,} open loans  "
                       f"{cob.total_seconds(run):.2f} s")
            for step in cob.step_views(run):
                rate = f"  {step.per_second:,} loans/s" if step.per_second else ""
                click.echo(f"  {step.name:<15} {step.count:>10,}  {step.seconds:8.3f} s{rate}")
        on = current_business_date(institution_id, clock())
        db.session.commit()
        click.echo(f"books now on {on.isoformat()}; {days} day(s) in {time.perf_counter() - started:.2f} s")
