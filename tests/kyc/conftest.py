"""KYC fixtures: uploads go to a temporary UPLOAD_DIR; customers with typed PAN/Aadhaar/DOB; ID-card images
rendered with Pillow from known values; a real RQ worker for the ``ocr`` queue."""
from __future__ import annotations

import io
import random
from contextlib import contextmanager
from datetime import date

import pytest

from portal.crypto import encrypt
from portal.extensions import db as _db
from portal.onboarding import sample_cards
from tests.conftest import csrf_token
from tests.factories import make_customer

PAN = "ABCPE1234F"
DOB = date(1990, 5, 17)
AADHAAR = sample_cards.make_aadhaar(random.Random(20261123))
OTHER_AADHAAR = sample_cards.make_aadhaar(random.Random(7))


@contextmanager
def app_config(app, **values):
    """Set app.config values for the block and restore them after."""
    missing = object()
    previous = {k: app.config.get(k, missing) for k in values}
    app.config.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is missing:
                app.config.pop(key, None)
            else:
                app.config[key] = value


@pytest.fixture(autouse=True)
def upload_dir(request, tmp_path):
    """Every KYC test that has the app stores its files under tmp_path (cleaned up by pytest)."""
    folder = tmp_path / "uploads"
    if "app" not in request.fixturenames:  # the pure OCR tests need no app (nor a database)
        yield folder
        return
    with app_config(request.getfixturevalue("app"), UPLOAD_DIR=str(folder)):
        yield folder


def make_kyc_customer(*, pan: str | None = PAN, aadhaar: str | None = AADHAAR, dob: date | None = DOB,
                      first_name: str = "Asha", last_name: str = "Rao", **kwargs):
    """A customer with a login and the identity values the wizard would have saved (Aadhaar encrypted)."""
    customer = make_customer(first_name=first_name, last_name=last_name, **kwargs)
    customer.pan, customer.date_of_birth = pan, dob
    if aadhaar:
        customer.aadhaar_encrypted, customer.aadhaar_last4 = encrypt(aadhaar), aadhaar[-4:]
    _db.session.flush()
    return customer


def pan_png(*, pan: str = PAN, name: str = "Asha Rao", dob: date = DOB, fmt: str = "PNG") -> bytes:
    return sample_cards.to_bytes(sample_cards.pan_card(name=name, date_of_birth=dob, pan=pan), fmt)


def aadhaar_png(*, aadhaar: str = AADHAAR, name: str = "Asha Rao", dob: date = DOB, fmt: str = "PNG") -> bytes:
    return sample_cards.to_bytes(sample_cards.aadhaar_card(name=name, date_of_birth=dob, aadhaar=aadhaar), fmt)


def upload(client, kind: str, data: bytes, filename: str, *, htmx: bool = True):
    """POST a document to /me/documents as the page's form does (multipart, CSRF token, htmx header)."""
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post("/me/documents", headers=headers, content_type="multipart/form-data", data={
        "kind": kind, "file": (io.BytesIO(data), filename), "csrf_token": csrf_token(client, "/me/documents")})


@pytest.fixture
def rq_ocr(app, redis_server):
    """Run uploads' OCR on a real RQ worker: inside the block jobs go to Redis (``ocr`` queue);
    ``work()`` runs a SimpleWorker in burst mode and returns how many jobs it ran."""
    from rq import SimpleWorker

    from portal.queue import FlaskJob, get_queue

    class Runner:
        def __init__(self):
            self.queue = None

        def work(self) -> int:
            before = self.queue.count
            previous_app = getattr(FlaskJob, "_app", None)
            FlaskJob._app = app
            try:
                worker = SimpleWorker([self.queue], connection=self.queue.connection, job_class=FlaskJob)
                worker.work(burst=True)
            finally:
                FlaskJob._app = previous_app
            assert self.queue.count == 0
            return before

    runner = Runner()
    with app_config(app, JOBS_MODE="rq", REDIS_URL=redis_server.url):
        runner.queue = get_queue("ocr")
        runner.queue.empty()
        yield runner
        runner.queue.empty()
