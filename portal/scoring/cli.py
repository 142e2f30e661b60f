"""Scoring commands: ``flask --app wsgi rq-cron`` (RQ's cron scheduler with ``jobs/schedule.py``),
``import-transactions FILE`` (the seed 004 CSV), ``recalculate-scores`` and ``score`` (one customer)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click
from flask import current_app

from portal.extensions import db


def register_scoring_cli(app) -> None:
    @app.cli.command("rq-cron")
    @click.option("--config", default="jobs.schedule", show_default=True, help="module registering the jobs")
    def rq_cron_command(config):
        """Run RQ's cron scheduler: periodic jobs (score recalculation Sundays 02:00 IST) onto the queues.
        Run one next to the workers (``make worker``); it needs REDIS_URL."""
        from rq.cron import CronScheduler

        from portal.queue import get_redis

        scheduler = CronScheduler(connection=get_redis())
        scheduler.load_config_from_file(config)
        for job in scheduler.get_jobs():
            click.echo(f"{job.name}: {job.func_name} on {job.queue_name}, cron {job.cron} (UTC), "
                       f"next {job.next_enqueue_time:%Y-%m-%d %H:%M} UTC")
        scheduler.start()

    @app.cli.command("import-transactions")
    @click.argument("path", type=click.Path(dir_okay=False, exists=True))
    def import_transactions_command(path):
        """Import the savings-transactions CSV (seed 004) for the default institution and print the counts."""
        from portal.auth.services import default_institution
        from portal.errors import DomainError
        from portal.queue import run_in_app_context
        from portal.scoring.models import TransactionImport
        from portal.scoring.savings import JOB, create_transaction_import

        started = time.perf_counter()
        use_rq = current_app.config.get("JOBS_MODE") == "rq"
        try:
            batch = create_transaction_import(filename=Path(path).name, data=Path(path).read_bytes(), actor="cli",
                                              institution_id=default_institution().id, enqueue=use_rq)
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        db.session.commit()
        batch_id = batch.id
        if not use_rq:
            run_in_app_context(current_app._get_current_object(), JOB, batch_id)
        while True:
            db.session.expire_all()
            batch = db.session.get(TransactionImport, batch_id)
            if batch.status not in ("queued", "running"):
                break
            time.sleep(0.5)
        if batch.status == "failed":
            raise click.ClickException(f"import {batch_id} failed: {batch.error}")
        click.echo(f"import {batch_id}: {batch.rows_imported} transactions of {batch.users_count} users, "
                   f"{batch.rejected_count} rejected, {time.perf_counter() - started:.2f} s")

    @app.cli.command("recalculate-scores")
    def recalculate_scores_command():
        """Recalculate every score now (what the weekly job does) and print a summary per institution."""
        from portal.clock import clock
        from portal.scoring.runs import recalculate_all

        done = recalculate_all(clock=clock(), now=clock().now())
        db.session.commit()
        for run in done:
            click.echo(f"institution {run.institution_id} as of {run.as_of}: {json.dumps(run.result['scorecards'])}")
