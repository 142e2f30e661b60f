"""Onboarding-wizard fixtures: a signed-in customer, a ``wizard`` driver posting steps through the pages
(CSRF token, optional htmx header) and uploads to a temporary UPLOAD_DIR."""
from __future__ import annotations

import pytest

from tests.factories import make_customer
from tests.onboarding.support import Wizard


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path):
    """KYC uploads go under tmp_path."""
    previous = app.config.get("UPLOAD_DIR")
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    yield tmp_path / "uploads"
    app.config["UPLOAD_DIR"] = previous


@pytest.fixture
def no_ocr(monkeypatch):
    """Uploads do not start the OCR job (the wizard does not wait for it; the KYC tests cover OCR)."""
    import portal.queue

    started = []
    monkeypatch.setattr(portal.queue, "enqueue_after_commit", lambda name, *args, **kw: started.append((name, args)))
    return started


@pytest.fixture
def customer(db, login_as):
    c = make_customer(salary="30000", first_name="Meera", last_name="Iyer")
    db.session.commit()
    login_as(c.user)
    return c


@pytest.fixture
def wizard(client, customer, no_ocr):
    return Wizard(client)
