"""Foundation: config from the environment, exact money on both databases, after-commit jobs, request ids."""
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from portal import create_app
from portal.config import DevConfig, ProdConfig, TestConfig, from_env
from portal.money import format_inr, money


def test_config_comes_from_the_environment():
    cfg = from_env({"PORTAL_ENV": "production", "SECRET_KEY": "s3cret", "FIELD_ENCRYPTION_KEY": "k" * 44,
                    "PAYMENT_WEBHOOK_SECRET": "w" * 32, "DATABASE_URL": "postgresql://u@h/db",
                    "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert isinstance(cfg, ProdConfig)
    assert cfg.SQLALCHEMY_DATABASE_URI == "postgresql+psycopg://u@h/db" and cfg.JOBS_MODE == "rq"
    cfg.validate()


def test_production_refuses_to_start_without_secrets():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(from_env({"PORTAL_ENV": "production"}))
    with pytest.raises(RuntimeError, match="PostgreSQL"):
        from_env({"PORTAL_ENV": "production", "SECRET_KEY": "x", "FIELD_ENCRYPTION_KEY": "k"}).validate()
    assert isinstance(from_env({}), DevConfig)


def test_money_refuses_floats_and_formats_in_lakhs():
    with pytest.raises(TypeError):
        money(0.1)
    assert money("1,00,000.505") == Decimal("100000.51")
    assert format_inr(Decimal("1234567.8")) == "Rs 12,34,567.80"


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_money_and_rates_are_stored_exactly(engine, request, tmp_path):
    """Amounts go to the database as integer paise and rates as 1/10000 %, so both engines agree exactly."""
    from portal.extensions import db as database
    from portal.lending.models import Product

    if engine == "postgresql":
        app = request.getfixturevalue("app")
        ctx = app.app_context()
    else:
        cfg = TestConfig()
        cfg.SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'm.db'}"
        app = create_app(cfg)
        ctx = app.app_context()
        with ctx:
            database.create_all()
    with ctx:
        from portal.auth.services import default_institution

        inst = default_institution()
        p = Product(institution_id=inst.id, code=f"X-{engine}", name="x", min_amount=Decimal("0.01"),
                    max_amount=Decimal("99999999999.99"), min_tenure=1, max_tenure=2,
                    interest_rate=Decimal("9.4822"))
        database.session.add(p)
        database.session.commit()
        database.session.expire_all()
        back = database.session.scalar(select(Product).where(Product.code == f"X-{engine}"))
        assert back.max_amount == Decimal("99999999999.99") and back.min_amount == Decimal("0.01")
        assert back.interest_rate == Decimal("9.4822")
        raw = database.session.execute(text("SELECT max_amount FROM products WHERE code = :c"),
                                       {"c": f"X-{engine}"}).scalar_one()
        assert raw == 9999999999999
        with pytest.raises(Exception, match="float"):
            p.max_amount = 0.1
            database.session.flush()
        database.session.rollback()
        database.session.execute(text("DELETE FROM products WHERE code = :c"), {"c": f"X-{engine}"})
        database.session.commit()


def test_jobs_start_only_after_commit_and_never_after_rollback(app, db):
    from portal.uow import after_commit

    ran = []

    after_commit(lambda: ran.append("kept"))
    db.session.rollback()
    assert ran == []
    after_commit(lambda: ran.append("committed"))
    assert ran == []
    db.session.commit()
    assert ran == ["committed"]


def test_after_commit_callbacks_wait_for_the_root_transaction_and_its_connection(app, db):
    """A SAVEPOINT's release is not the commit; and when a callback runs, the session holds no connection
    (an eager job opening its own must not need a second one from the pool: 20 concurrent payers starved it)."""
    from portal.uow import after_commit

    seen = []
    db.session.execute(select(1))
    with db.session.begin_nested():
        after_commit(lambda: seen.append(db.session().get_transaction()))
    assert seen == []  # released the savepoint only
    db.session.rollback()
    assert seen == []  # and the rollback dropped it
    after_commit(lambda: seen.append(db.session().get_transaction()))
    with db.session.begin_nested():
        db.session.execute(select(1))
    db.session.commit()
    assert seen == [None]  # ran once, after the root transaction (and its connection) was released


def test_business_date_moves_forward_only_and_is_audited(db, clock):
    from portal.audit.models import AuditEvent
    from portal.auth.services import default_institution
    from portal.business_date import current_business_date, set_business_date

    inst = default_institution()
    assert current_business_date(inst.id, clock) == date(2026, 11, 23)
    set_business_date(inst.id, date(2026, 11, 24), actor=None)
    with pytest.raises(ValueError):
        set_business_date(inst.id, date(2026, 1, 1), actor=None)
    assert db.session.scalar(select(AuditEvent.action)) == "business_date.set"


def test_log_lines_carry_the_request_id(app):
    import logging

    from flask import g

    from portal import RequestIdFilter

    record = logging.LogRecord("portal", logging.INFO, __file__, 1, "hello", None, None)
    with app.test_request_context("/"):
        g.request_id = "req-abcdef123"
        RequestIdFilter().filter(record)
    assert record.request_id == "req-abcdef123"
    outside = logging.LogRecord("portal", logging.INFO, __file__, 1, "hello", None, None)
    RequestIdFilter().filter(outside)
    assert outside.request_id == "-"
