"""Locust users for the portal's load test (issue 7 item 6): officers, customers and admins signing in through
the real login (admins with their TOTP step) and then reading the four pages of the mix:

- ``officer review queue``      GET /staff/applications                 (loan officers, no MFA for the role)
- ``application review screen`` GET /staff/applications/<open app id>   (loan officers)
- ``customer loan page``        GET /me/loans/<own loan id>             (customers: mobile number + password)
- ``portfolio dashboard``       GET /admin/portfolio                    (admins: password + TOTP via pyotp)

The accounts and ids come from the JSON file named by ``LOADTEST_TARGETS`` (written by
``python -m scripts.bench --only load``)::

    {"officers": [{"login", "password"}], "admins": [{"login", "password", "totp_secret"}],
     "customers": [{"login", "password", "loan_ids": [..]}], "applications": [ids of open applications]}

``LOADTEST_WAIT`` = "min,max" seconds of think time between pages (default "0.5,2"). Over plain HTTP the
portal must not mark its session cookie Secure (``scripts/loadtest/wsgi.py``).
"""
from __future__ import annotations

import itertools
import json
import os
import random
import re
from urllib.parse import urlparse

import pyotp
from locust import HttpUser, between, task

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
_targets: dict | None = None
_counters: dict[str, itertools.count] = {}


def targets() -> dict:
    global _targets
    if _targets is None:
        with open(os.environ["LOADTEST_TARGETS"], encoding="utf-8") as handle:
            _targets = json.load(handle)
    return _targets


def account(kind: str) -> dict:
    """The next account of ``kind`` (round robin: each simulated user signs in as its own account)."""
    pool = targets()[kind]
    return pool[next(_counters.setdefault(kind, itertools.count())) % len(pool)]


def _wait() -> tuple[float, float]:
    low, high = (float(x) for x in os.environ.get("LOADTEST_WAIT", "0.5,2").split(","))
    return low, high


class PortalUser(HttpUser):
    abstract = True
    wait_time = between(*_wait())
    kind = ""

    def on_start(self) -> None:
        self.account = account(self.kind)
        self.sign_in()

    def _token(self, url: str, name: str) -> str:
        with self.client.get(url, name=name, catch_response=True) as response:
            match = CSRF_RE.search(response.text)
            if not match:
                response.failure(f"no CSRF token on {url}")
                raise RuntimeError(f"no CSRF token on {url}")
            return match.group(1) or match.group(2)

    def sign_in(self) -> None:
        token = self._token("/login", "login: form")
        with self.client.post("/login", name="login: password", catch_response=True,
                              data={"login": self.account["login"], "password": self.account["password"],
                                    "csrf_token": token}) as response:
            path = urlparse(response.url).path
            if path == "/login/mfa":  # the role needs the TOTP step
                code = pyotp.TOTP(self.account["totp_secret"]).now()
                token = self._token("/login/mfa", "login: mfa form")
                with self.client.post("/login/mfa", name="login: mfa code", catch_response=True,
                                      data={"code": code, "csrf_token": token}) as second:
                    if second.status_code != 200 or urlparse(second.url).path.startswith("/login"):
                        second.failure(f"the TOTP step did not sign in ({second.status_code} at {second.url})")
            elif response.status_code != 200 or path.startswith("/login"):
                response.failure(f"sign-in failed ({response.status_code} at {response.url})")

    def page(self, url: str, name: str) -> None:
        with self.client.get(url, name=name, catch_response=True, allow_redirects=False) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code} for {url}")


class Officer(PortalUser):
    """A loan officer working the review queue."""

    weight = 2
    kind = "officers"

    @task(1)
    def review_queue(self) -> None:
        self.page("/staff/applications", "officer review queue")

    @task(1)
    def review_screen(self) -> None:
        self.page(f"/staff/applications/{random.choice(targets()['applications'])}", "application review screen")


class Customer(PortalUser):
    """A customer looking at one of their loans."""

    weight = 1
    kind = "customers"

    @task
    def loan_page(self) -> None:
        self.page(f"/me/loans/{random.choice(self.account['loan_ids'])}", "customer loan page")


class Admin(PortalUser):
    """An admin watching the portfolio dashboard (today's live figures)."""

    weight = 1
    kind = "admins"

    @task
    def dashboard(self) -> None:
        self.page("/admin/portfolio", "portfolio dashboard")
