"""Fixtures for the scoring tests: the real Alemeno book and the real Bright Money transactions CSV, imported
through their services (the eager jobs of TestConfig run after the commit)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CSV_PATH = DATA / "brightmoney" / "transactions_data_backend.csv"


def real_bytes(path: Path) -> bytes:
    if not path.is_file():
        message = f"real data file {path} is missing"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path.read_bytes()


def import_transactions(db, data: bytes, *, actor="cli", filename="transactions_data_backend.csv"):
    from portal.auth.services import default_institution
    from portal.scoring.models import TransactionImport
    from portal.scoring.savings import create_transaction_import

    batch = create_transaction_import(filename=filename, data=data, actor=actor,
                                      institution_id=default_institution().id)
    db.session.commit()
    db.session.expire_all()
    return db.session.get(TransactionImport, batch.id)


@pytest.fixture
def csv_bytes() -> bytes:
    return real_bytes(CSV_PATH)


@pytest.fixture
def book(db):
    """The real Alemeno book (300 customers, 782 loans), imported."""
    from portal.auth.services import default_institution
    from portal.ingest.services import create_import

    batch = create_import(customers_name="customer_data.xlsx",
                          customers_bytes=real_bytes(DATA / "alemeno" / "customer_data.xlsx"),
                          loans_name="loan_data.xlsx", loans_bytes=real_bytes(DATA / "alemeno" / "loan_data.xlsx"),
                          actor="cli", institution_id=default_institution().id)
    db.session.commit()
    db.session.expire_all()
    return batch.id


@pytest.fixture
def transactions(db, csv_bytes):
    """The real transactions CSV (5,203 rows of 200 users), imported."""
    return import_transactions(db, csv_bytes)


@pytest.fixture
def risk_officer(db):
    from tests.factories import make_staff

    user = make_staff("risk_officer", totp_secret="JBSWY3DPEHPK3PXP")
    db.session.commit()
    return user
