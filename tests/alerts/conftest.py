"""Alert engine fixtures: staff of each role, a rule helper, and a real webhook receiver (``http.server`` in a
thread on 127.0.0.1, port 0) that records every request and answers with the status codes it is told."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.factories import make_staff

SECRET = "whsec-test-0123456789abcdef"


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """The loopback receiver: ``requests`` it got; ``statuses`` it answers with, in order (the last repeats)."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=lambda: [200])

    def answer(self) -> int:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


@pytest.fixture
def receiver():
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length") or 0)
            rec: Receiver = state["receiver"]
            rec.requests.append(Received(self.path, {k: v for k, v in self.headers.items()},
                                         self.rfile.read(length)))
            code = rec.answer()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if code < 300 else b"receiver error")

        def log_message(self, *args):  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def staff(db):
    """One staff user per role (committed): ``staff["collections"]``, ``staff["risk_officer"]``, ..."""
    users = {role: make_staff(role) for role in ("collections", "risk_officer", "support", "admin", "loan_officer")}
    db.session.commit()
    return users


def builtin_rule(key: str):
    from sqlalchemy import select

    from portal.alerts.models import AlertRule
    from portal.auth.services import default_institution
    from portal.extensions import db

    return db.session.scalar(select(AlertRule).where(AlertRule.institution_id == default_institution().id,
                                                     AlertRule.builtin_key == key))


def make_rule(kind: str = "two_bounces", *, roles=("collections", "risk_officer", "admin"), webhook_url=None,
              secret: str | None = SECRET, threshold_days=None, threshold_amount=None, severity="warning",
              institution_id: int | None = None, name: str | None = None):
    """A rule created through the service (flushes)."""
    from portal.alerts import services
    from portal.auth.services import default_institution

    data = services.RuleInput(name=name or f"{kind} rule", kind=kind, severity=severity, roles=list(roles),
                              threshold_days=threshold_days, threshold_amount=threshold_amount,
                              webhook_url=webhook_url, webhook_secret=secret if webhook_url else None)
    return services.create_rule(institution_id or default_institution().id, data, actor="test")

