"""Command-line tools: ``flask --app wsgi <command>``."""
from __future__ import annotations

import json
import sys
from datetime import date
from decimal import Decimal, InvalidOperation

import click
from flask import current_app

from portal.extensions import db


def _decimal(value: str, name: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not a number", param_hint=name) from None


def register_cli(app) -> None:
    """Attach the portal's commands to ``app.cli``."""

    @app.cli.command("create-user")
    @click.option("--email", required=True)
    @click.option("--role", required=True, help="customer, loan_officer, risk_officer, support or admin")
    @click.option("--password", required=True)
    @click.option("--name", "display_name", default=None)
    def create_user_command(email, role, password, display_name):
        """Create a staff user (email + password, argon2)."""
        from portal.auth.services import create_user
        from portal.errors import DomainError

        try:
            user = create_user(email=email, role=role, password=password, display_name=display_name,
                               actor="cli")
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        db.session.commit()
        click.echo(f"created user {user.id} {user.email} ({user.role})")

    @app.cli.command("create-api-token")
    @click.option("--email", required=True)
    @click.option("--name", default="api")
    def create_api_token_command(email, name):
        """Print a new bearer token for the staff user with EMAIL (shown once)."""
        from sqlalchemy import select

        from portal.auth.models import User
        from portal.auth.services import create_api_token

        user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None or not user.is_staff:
            raise click.ClickException(f"no staff user with email {email}")
        token = create_api_token(user, name=name, actor="cli")
        db.session.commit()
        click.echo(token)

    from portal.lending.schedule import DAY_COUNTS, FREQUENCIES, METHODS

    @app.cli.command("schedule")
    @click.option("--principal", required=True, help="rupees")
    @click.option("--rate", required=True, help="% per annum")
    @click.option("--tenure", required=True, type=int, help="number of instalments (months when monthly)")
    @click.option("--start", required=True, help="disbursement date, YYYY-MM-DD")
    @click.option("--method", type=click.Choice(METHODS), default="emi",
                  show_default=True, help="interest method")
    @click.option("--day-count", "day_count", type=click.Choice(DAY_COUNTS), default="30/360",
                  show_default=True)
    @click.option("--frequency", type=click.Choice(FREQUENCIES), default="monthly",
                  show_default=True, help="repayment frequency")
    @click.option("--json", "as_json", is_flag=True, help="print the rows as JSON")
    def schedule_command(principal, rate, tenure, start, method, day_count, frequency, as_json):
        """Print an instalment schedule and its totals (default: monthly reducing-balance EMI, 30/360, seed 003)."""
        from portal.lending.schedule import amortization_schedule, emi, schedule_totals

        try:
            start_on = date.fromisoformat(start)
        except ValueError:
            raise click.BadParameter("use YYYY-MM-DD", param_hint="--start") from None
        try:
            rows = amortization_schedule(_decimal(principal, "--principal"), _decimal(rate, "--rate"), tenure,
                                         start_on, method=method, day_count=day_count, frequency=frequency)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        if as_json:
            click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
            return
        if method == "emi":
            amount = emi(_decimal(principal, "--principal"), _decimal(rate, "--rate"), tenure, frequency=frequency)
            first = f"EMI {amount}"
        else:
            first = f"First instalment {rows[0].installment}"
        click.echo(f"{first} ({method}, {day_count}, {frequency})")
        click.echo(f"{'seq':>4} {'due_on':>10} {'principal':>12} {'interest':>12} {'installment':>12} "
                   f"{'balance':>14}")
        for r in rows:
            click.echo(f"{r.seq:>4} {r.due_on.isoformat():>10} {r.principal:>12} {r.interest:>12} "
                       f"{r.installment:>12} {r.balance:>14}")
        totals = schedule_totals(rows)
        click.echo(f"Total principal {totals['principal']}  interest {totals['interest']}  total {totals['total']}")

    @app.cli.command("rq-worker")
    @click.argument("queues", nargs=-1)
    @click.option("--burst", is_flag=True, help="stop when the queues are empty")
    def rq_worker_command(queues, burst):
        """Run an RQ worker on QUEUES (default: all), each job in its own app context."""
        from rq import Worker

        from portal.queue import QUEUES, FlaskJob, get_queue

        FlaskJob._app = current_app._get_current_object()
        names = queues or QUEUES
        qs = [get_queue(n) for n in names]
        worker = Worker(qs, connection=qs[0].connection, job_class=FlaskJob)
        ok = worker.work(burst=burst, with_scheduler=True)
        sys.exit(0 if ok or not burst else 0)

    @app.cli.command("init-data")
    def init_data_command():
        """Create the reference data (default institution, standard term-loan product); idempotent."""
        from portal.bootstrap import ensure_reference_data

        institution, product = ensure_reference_data()
        db.session.commit()
        click.echo(f"institution {institution.slug}; product {product.code}")

    @app.cli.command("import-book")
    @click.option("--customers", "customers_path", required=True, type=click.Path(dir_okay=False),
                  help="customer_data.xlsx")
    @click.option("--loans", "loans_path", required=True, type=click.Path(dir_okay=False),
                  help="loan_data.xlsx")
    @click.option("--wait/--no-wait", default=True, show_default=True,
                  help="with RQ: wait for the worker to finish the batch")
    def import_book_command(customers_path, loans_path, wait):
        """Import the Alemeno workbooks (seed 003) as an ImportBatch and print its counts.

        Without Redis (JOBS_MODE thread/eager) the job runs here, in this process; with RQ it is enqueued
        and, with --wait, the command polls the batch until a worker has finished it."""
        import time
        from pathlib import Path

        from portal.auth.services import default_institution
        from portal.errors import DomainError
        from portal.ingest.models import ImportBatch
        from portal.ingest.services import JOB, create_import
        from portal.queue import run_in_app_context

        started = time.perf_counter()
        files = {}
        for label, path in (("--customers", customers_path), ("--loans", loans_path)):
            try:
                files[label] = Path(path).read_bytes()
            except OSError as exc:
                raise click.BadParameter(f"cannot read {path}: {exc.strerror or exc}",
                                         param_hint=label) from None
        use_rq = current_app.config.get("JOBS_MODE") == "rq"
        try:
            batch = create_import(customers_name=Path(customers_path).name,
                                  customers_bytes=files["--customers"], loans_name=Path(loans_path).name,
                                  loans_bytes=files["--loans"], actor="cli",
                                  institution_id=default_institution().id, enqueue=use_rq)
        except DomainError as exc:
            raise click.ClickException(exc.message) from None
        db.session.commit()
        batch_id = batch.id
        click.echo(f"import batch {batch_id} created")
        if not use_rq:
            try:
                run_in_app_context(current_app._get_current_object(), JOB, batch_id)
            except Exception as exc:  # the job marked the batch failed; report it below
                click.echo(f"the import job failed: {type(exc).__name__}: {exc}", err=True)
        elif not wait:
            click.echo(f"queued on RQ; follow it at /admin/imports/{batch_id}")
            return
        while True:
            db.session.expire_all()
            batch = db.session.get(ImportBatch, batch_id)
            if batch.status not in ("queued", "running"):
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        if batch.status == "failed":
            raise click.ClickException(f"import batch {batch_id} failed: {batch.error}")
        click.echo(f"customers: {batch.customers_created} created, {batch.customers_updated} updated, "
                   f"{batch.customers_unchanged} unchanged")
        click.echo(f"loans:     {batch.loans_created} created, {batch.loans_updated} updated, "
                   f"{batch.loans_unchanged} unchanged")
        click.echo(f"rejected:  {batch.rejected_count} rows")
        click.echo(f"elapsed:   {elapsed:.2f} s")

    from portal.scoring.cli import register_scoring_cli

    register_scoring_cli(app)

    from portal.ledger.cli import register_ledger_cli

    register_ledger_cli(app)

    from portal.lending.cli import register_lending_cli

    register_lending_cli(app)

    from portal.servicing.cli import register_servicing_cli

    register_servicing_cli(app)

    from portal.audit.cli import register_audit_cli

    register_audit_cli(app)

    from portal.demo import register_demo_cli

    register_demo_cli(app)
