"""Command-line tools: create-user, create-api-token, schedule, seed-demo."""
import json
from decimal import Decimal

from sqlalchemy import func, select

from portal.auth.models import User


def test_create_user_and_token(app, db):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["create-user", "--email", "Ops@Example.test", "--role", "admin", "--password",
                            "long-enough-1"])
    assert r.exit_code == 0, r.output
    user = db.session.scalar(select(User).where(User.email == "ops@example.test"))
    assert user.role == "admin" and user.password_hash.startswith("$argon2")
    again = runner.invoke(args=["create-user", "--email", "ops@example.test", "--role", "admin", "--password",
                                "long-enough-1"])
    assert again.exit_code != 0 and "already exists" in again.output
    bad_role = runner.invoke(args=["create-user", "--email", "x@example.test", "--role", "boss", "--password",
                                   "long-enough-1"])
    assert bad_role.exit_code != 0 and "unknown role" in bad_role.output
    token = runner.invoke(args=["create-api-token", "--email", "ops@example.test"])
    assert token.exit_code == 0 and len(token.output.strip()) >= 40
    assert runner.invoke(args=["create-api-token", "--email", "nobody@example.test"]).exit_code != 0


def test_schedule_json_matches_seed_003(app):
    r = app.test_cli_runner().invoke(args=["schedule", "--principal", "250000", "--rate", "12", "--tenure", "24",
                                           "--start", "2025-01-15", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert len(rows) == 24
    assert set(rows[0]) == {"seq", "due_on", "principal", "interest", "installment", "balance"}
    assert rows[0]["installment"] == "11768.37" and rows[0]["due_on"] == "2025-02-15"
    assert sum(Decimal(r["principal"]) for r in rows) == Decimal("250000.00")
    assert rows[-1]["balance"] == "0.00"


def test_schedule_rejects_bad_input(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["schedule", "--principal", "abc", "--rate", "12", "--tenure", "24",
                               "--start", "2025-01-15"]).exit_code != 0
    assert runner.invoke(args=["schedule", "--principal", "-5", "--rate", "12", "--tenure", "24",
                               "--start", "2025-01-15"]).exit_code != 0
    assert runner.invoke(args=["schedule", "--principal", "100", "--rate", "12", "--tenure", "24",
                               "--start", "15/01/2025"]).exit_code != 0


def test_schedule_methods_day_count_frequency_and_totals(app):
    runner = app.test_cli_runner()
    base = ["schedule", "--principal", "100", "--rate", "7", "--tenure", "6", "--start", "2025-01-01"]
    emi = runner.invoke(args=[*base, "--method", "emi", "--day-count", "30/360"])
    assert emi.exit_code == 0, emi.output
    assert emi.output.startswith("EMI 17.01 (emi, 30/360, monthly)")  # Fineract's published case
    assert "Total principal 100.00  interest 2.05  total 102.05" in emi.output
    flat = runner.invoke(args=[*base, "--method", "flat", "--json"])
    assert flat.exit_code == 0, flat.output
    rows = json.loads(flat.output)
    assert [r["interest"] for r in rows] == ["0.58"] * 5 + ["0.60"]  # 100 * 7 % * 6/12 = 3.50, evenly
    equal = runner.invoke(args=[*base, "--method", "equal-principal", "--day-count", "actual/365",
                                "--frequency", "weekly"])
    assert equal.exit_code == 0, equal.output
    assert equal.output.startswith("First instalment 16.80 (equal-principal, actual/365, weekly)")
    assert "2025-01-08" in equal.output and "Total principal 100.00" in equal.output
    bad = runner.invoke(args=[*base, "--method", "declining"])
    assert bad.exit_code != 0 and "'declining' is not one of" in bad.output
    assert runner.invoke(args=[*base, "--day-count", "actual/360"]).exit_code != 0
    assert runner.invoke(args=[*base, "--frequency", "daily"]).exit_code != 0


def test_seed_demo_loads_every_state_once(app, db):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "officer@demo.test" in first.output and "demo-pass-123" in first.output
    from portal.lending.models import LoanApplication

    statuses = set(db.session.scalars(select(LoanApplication.status).distinct()))
    assert {"scored", "in_review", "disbursed", "rejected", "withdrawn"} <= statuses
    admin = db.session.scalar(select(User).where(User.email == "admin@demo.test"))
    assert admin.mfa_enabled and admin.totp_secret  # demo admin is enrolled: demo-totp prints its code
    code = runner.invoke(args=["demo-totp"])
    assert code.exit_code == 0 and code.output.strip().isdigit() and len(code.output.strip()) == 6
    users = db.session.scalar(select(func.count()).select_from(User))
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(User)) == users
