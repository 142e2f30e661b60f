"""Demo book for ``make run``: staff of every role, customers with loan histories, applications waiting in
the queue and loans in every state. Deterministic (seeded random); idempotent (runs once per database).
Refused outside DEMO_MODE so that a production database never gets demo logins."""
from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from portal.auth.models import User
from portal.extensions import db

DEMO_PASSWORD = "demo-pass-123"
# Admin and risk officer must pass TOTP (issue 3): the demo logins come enrolled with this development-only
# secret; `flask --app wsgi demo-totp` prints the current code (or add the secret to an authenticator app).
DEMO_TOTP_SECRET = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
STAFF = [("admin@demo.test", "admin", "Anita Admin"), ("officer@demo.test", "loan_officer", "Omar Officer"),
         ("risk@demo.test", "risk_officer", "Rhea Risk"), ("support@demo.test", "support", "Sunil Support"),
         ("collections@demo.test", "collections", "Chitra Collections")]
CUSTOMER_PHONE = "9000000001"
FIRST = ["Aarav", "Diya", "Kabir", "Isha", "Rohan", "Meera", "Vikram", "Ananya", "Arjun", "Sara", "Dev",
         "Nisha", "Karan", "Pooja", "Rahul", "Tara", "Yash", "Zoya", "Neel", "Lata"]
LAST = ["Sharma", "Iyer", "Khan", "Reddy", "Patel", "Das", "Nair", "Gupta", "Singh", "Bose"]


def seed_demo(*, clock, customers: int = 40) -> dict:
    """Create the demo book; returns counts. Does nothing when the demo admin already exists."""
    from portal.bootstrap import ensure_reference_data
    from portal.lending import services
    from portal.lending.models import Loan
    from portal.lending.schedule import add_months, emi
    from portal.onboarding.services import register_customer

    if db.session.scalar(select(User.id).where(User.email == STAFF[0][0])):
        return {"created": False}
    from portal.auth.services import create_user

    _institution, product = ensure_reference_data()
    staff = {role: create_user(email=email, role=role, password=DEMO_PASSWORD, display_name=name, actor="demo")
             for email, role, name in STAFF}
    for role in ("admin", "risk_officer"):
        staff[role].totp_secret, staff[role].mfa_enabled = DEMO_TOTP_SECRET, True
    officer = staff["loan_officer"]
    rng = random.Random(2026)
    today = clock.today()
    people = []
    for i in range(customers):
        salary = Decimal(rng.randrange(25, 250) * 1000)
        phone = CUSTOMER_PHONE if i == 0 else f"9{rng.randrange(10**8, 10**9):09d}"
        people.append(register_customer(
            first_name=FIRST[i % len(FIRST)], last_name=LAST[(i * 7) % len(LAST)], age=rng.randrange(22, 60),
            phone_number=phone, monthly_salary=salary, password=DEMO_PASSWORD, actor="demo"))
    # loan histories: finished and running loans, paid well or badly
    for person in people:
        for _ in range(rng.randrange(0, 4)):
            amount = Decimal(rng.randrange(1, 10) * 50000)
            tenure = rng.choice([12, 24, 36, 48])
            rate = Decimal(rng.choice(["10.5", "12", "14", "16.5"]))
            approved = date(today.year - rng.randrange(0, 6), rng.randrange(1, 13), rng.randrange(1, 28))
            end = add_months(approved, tenure)
            months = max(0, min(tenure, (today.year - approved.year) * 12 + today.month - approved.month))
            db.session.add(Loan(institution_id=person.institution_id, customer_id=person.id,
                                loan_amount=amount, tenure=tenure, interest_rate=rate,
                                monthly_installment=emi(amount, rate, tenure),
                                emis_paid_on_time=max(0, months - rng.choice([0, 0, 0, 1, 3, 6])),
                                approved_on=approved, end_on=end, source="import", status="active"))
    db.session.flush()
    # applications in every state of the review: waiting, in review, asked for information, escalated (with an
    # override waiting for a risk officer), offered (waiting for the customer), disbursed, rejected, withdrawn
    from portal.lending import offers, review

    made = {"scored": 0, "in_review": 0, "disbursed": 0, "rejected": 0, "withdrawn": 0}
    for n, person in enumerate(people):
        amount = Decimal(rng.randrange(2, 40) * 25000)
        app = services.submit_application(person, product, amount=amount, tenure=rng.choice([12, 24, 36, 60]),
                                          actor=person.user, clock=clock)
        fate = n % 6
        if fate == 1 and n % 12 == 7:
            review.request_information(app, question="Please upload your last three salary slips and tell us "
                                                     "your employer's name.", actor=officer, clock=clock)
        elif fate == 1:
            services.start_review(app, actor=officer, clock=clock)
        elif fate == 2 and app.eligible:
            offer = services.approve_application(app, actor=officer, clock=clock, note="Demo: verified income")
            services.accept_offer(offer, customer=person, shown_digest=offers.kfs_digest(offers.render_kfs(offer)),
                                  ip="127.0.0.1", actor=person.user, clock=clock)
        elif fate == 3:
            services.reject_application(app, actor=officer, clock=clock, reason_code="income_unverified",
                                        note="Demo: income could not be verified")
        elif fate == 4:
            services.withdraw_application(app, customer=person, actor=person.user, clock=clock)
        elif fate == 5 and n % 12 == 11:
            for check in services.failed_checks(app):
                review.request_override(app, rule=check["name"], actor=officer, clock=clock,
                                        reason="Demo: salary rises next month (offer letter seen).")
            review.escalate_application(app, reason="Demo: a second opinion on this file, please.", actor=officer,
                                        clock=clock)
        elif fate == 5 and app.eligible:
            services.approve_application(app, actor=officer, clock=clock, note="Demo: waiting for the customer")
        made[app.status] = made.get(app.status, 0) + 1
    return {"created": True, "customers": len(people), **made}


ALEMENO_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "alemeno"


def import_alemeno_book(app, directory: Path = ALEMENO_DIR) -> int | None:
    """Import the real Alemeno workbooks (when present) through the ordinary import job, so the demo has the
    300 real customers (ids 1-300) and 782 loans; demo customers then get ids after them. Returns the batch id."""
    from portal.auth.services import default_institution
    from portal.ingest.services import JOB, create_import
    from portal.queue import run_in_app_context

    customers, loans = directory / "customer_data.xlsx", directory / "loan_data.xlsx"
    if not (customers.exists() and loans.exists()):
        return None
    batch = create_import(customers_name=customers.name, customers_bytes=customers.read_bytes(),
                          loans_name=loans.name, loans_bytes=loans.read_bytes(), actor="demo",
                          institution_id=default_institution().id, enqueue=False)
    db.session.commit()
    batch_id = batch.id
    run_in_app_context(app, JOB, batch_id)
    return batch_id


def register_demo_cli(app) -> None:
    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Load the demo book (once) and print the demo logins. Development only."""
        from portal.clock import clock

        if not current_app.config.get("DEMO_MODE"):
            raise click.ClickException("seed-demo runs only with DEMO_MODE (the development config)")
        if not db.session.scalar(select(User.id).where(User.email == STAFF[0][0])):
            batch_id = import_alemeno_book(current_app._get_current_object())
            if batch_id:
                click.echo(f"imported the Alemeno book (batch {batch_id})")
        result = seed_demo(clock=clock())
        db.session.commit()
        if result["created"]:
            click.echo(f"demo book loaded: {result}")
        else:
            click.echo("demo book already loaded")
        click.echo(f"\nDemo logins (password for all: {DEMO_PASSWORD})")
        for email, role, _name in STAFF:
            click.echo(f"  {role:<13} {email}")
        click.echo(f"  {'customer':<13} {CUSTOMER_PHONE} (mobile number; or sign in with OTP: the dev inbox at "
                   "/dev/inbox shows the code)")
        click.echo(f"\nAdmin and risk officer also need a TOTP code: run `flask --app wsgi demo-totp`, or add the "
                   f"secret {DEMO_TOTP_SECRET} to an authenticator app.")
        click.echo("\nOpen http://127.0.0.1:5000\n")

    @app.cli.command("demo-totp")
    def demo_totp_command():
        """Print the current TOTP code of the demo admin and risk officer. Development only."""
        import pyotp

        from portal.clock import clock

        if not current_app.config.get("DEMO_MODE"):
            raise click.ClickException("demo-totp runs only with DEMO_MODE (the development config)")
        click.echo(pyotp.TOTP(DEMO_TOTP_SECRET).at(clock().now()))
