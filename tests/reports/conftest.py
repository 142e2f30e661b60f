"""Fixtures shared by the export tests: a temporary upload folder and a three-loan serviced book."""
from __future__ import annotations

import pytest

from tests.factories import make_customer, make_disbursed_loan


@pytest.fixture
def upload_dir(app, tmp_path, monkeypatch):
    """Export files go to the test's own temporary folder (``UPLOAD_DIR``)."""
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def book(db, clock):
    """Three serviced loans of different amounts; the customers' phones are known (files with a book of their
    own define a ``book`` fixture that overrides this one)."""
    loans = [make_disbursed_loan(clock, amount=amount, customer=make_customer(salary="150000", phone=phone))
             for amount, phone in (("100000", "9812345610"), ("250000.50", "9876543210"), ("75000", "9700000001"))]
    db.session.commit()
    return loans
