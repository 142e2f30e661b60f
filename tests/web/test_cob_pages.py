"""Close-of-business admin page: full page and htmx fragment (self-polling while a run works), the run form with
its confirmation, the demo "run the next N days" form, and the role check (only admins)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.auth.services import default_institution
from portal.business_date import BusinessDate, current_business_date
from portal.lending.models import Loan
from portal.servicing import cob
from portal.servicing.models import CobRun
from tests.conftest import post_form
from tests.factories import make_customer, make_staff
from tests.servicing.cob_support import make_borrower, make_serviced_loan

URL = "/admin/close-of-business"
D0 = date(2026, 11, 23)


@pytest.fixture
def admin(db, login_as, clock):
    current_business_date(default_institution().id, clock)
    user = make_staff("admin")
    loan = make_serviced_loan(make_borrower(), start=D0 - timedelta(days=31))  # falls due on D0
    db.session.commit()
    login_as(user)
    return loan


def test_the_page_and_its_fragment(client, admin):
    page = client.get(URL)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in html and "Close of business" in html
    assert 'id="cob-panel"' in html and "No close of business has run yet" in html
    assert 'href="/admin/close-of-business"' in html  # the admin navigation
    assert 'data-working="false"' in html and "hx-trigger" not in html.split('id="cob-panel"')[1].split(">")[0]

    fragment = client.get(URL, headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body
    assert body.lstrip().startswith('<div class="row g-3" id="cob-panel"')
    assert "HX-Request" in fragment.headers["Vary"]


def test_run_close_of_business_from_the_page(client, db, admin):
    refused = post_form(client, URL, {}, page=URL)
    assert refused.status_code == 422 and "Tick the box to confirm." in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count(CobRun.id))) == 0

    r = post_form(client, URL, {"confirm": "y"}, page=URL)  # jobs run eagerly in tests, after the commit
    assert r.status_code == 303 and r.headers["Location"].endswith(URL)
    run = db.session.scalar(select(CobRun))
    assert (run.business_date, run.status) == (D0, "done") and run.requested_by.endswith("@example.test")
    db.session.expire_all()
    assert db.session.get(BusinessDate, default_institution().id).current_on == D0 + timedelta(days=1)
    assert db.session.get(Loan, admin.id).next_due_on == date(2026, 12, 23)

    html = client.get(URL).get_data(as_text=True)
    assert "Latest run: 23 Nov 2026" in html and 'data-step="accrual"' in html and "Interest accrual" in html
    assert "Open loans by class:" in html and "Close the books of 24 Nov 2026" in html


def test_a_running_run_is_polled_and_shows_its_progress(client, db, admin):
    run = cob.ensure_run(default_institution().id, D0, requested_by="cron")
    steps = cob.initial_steps()
    steps[0].update(status="done", count=1, seconds=0.5)
    steps[1].update(status="done")
    steps[2].update(status="running", first=1, last=10, cursor=6, phase="loans")
    run.status, run.steps, run.loans_total = "running", steps, 1
    db.session.commit()
    fragment = client.get(URL, headers={"HX-Request": "true"}).get_data(as_text=True)
    head = fragment.split(">")[0]
    assert 'hx-get="/admin/close-of-business?poll=1"' in head and 'hx-trigger="load delay:1s"' in head
    assert 'data-working="true"' in head
    assert f'aria-valuenow="{int(100 * 2.5 / len(cob.STEPS))}"' in fragment  # (2 steps + half of the third)
    assert 'id="cob-run-form"' not in fragment and "A close of business is running" in fragment
    polled = client.get(f"{URL}?poll=1", headers={"HX-Request": "true"})
    assert "HX-Refresh" not in polled.headers

    run.status = "done"  # it ends: the next poll reloads the page (the business date in the top bar moved)
    db.session.commit()
    polled = client.get(f"{URL}?poll=1", headers={"HX-Request": "true"})
    assert polled.headers["HX-Refresh"] == "true" and 'data-working="false"' in polled.get_data(as_text=True)
    assert "HX-Refresh" not in client.get(URL, headers={"HX-Request": "true"}).headers


def test_demo_mode_runs_the_next_days(client, db, admin):
    r = post_form(client, f"{URL}/days", {"days": "3", "confirm_days": "y"}, page=URL)
    assert r.status_code == 303
    runs = db.session.scalars(select(CobRun).order_by(CobRun.business_date)).all()
    assert [(x.business_date, x.status) for x in runs] == [(D0 + timedelta(days=n), "done") for n in range(3)]
    db.session.expire_all()
    assert db.session.get(Loan, admin.id).dpd == 2

    bad = post_form(client, f"{URL}/days", {"days": "500", "confirm_days": "y"}, page=URL)
    assert bad.status_code == 422 and "From 1 to 90 days." in bad.get_data(as_text=True)


def test_the_demo_form_is_gone_outside_demo_mode(app, client, admin):
    app.config["DEMO_MODE"] = False
    try:
        assert "Demo: run the next days" not in client.get(URL).get_data(as_text=True)
        assert post_form(client, f"{URL}/days", {"days": "3", "confirm_days": "y"}, page=URL).status_code == 404
    finally:
        app.config["DEMO_MODE"] = True


@pytest.mark.parametrize("role", ["loan_officer", "risk_officer", "support"])
def test_other_staff_get_403(client, db, login_as, role):
    login_as(make_staff(role))
    db.session.commit()
    assert client.get(URL).status_code == 403
    assert client.get(URL, headers={"HX-Request": "true"}).status_code == 403
    assert post_form(client, URL, {"confirm": "y"}, page="/account/sessions").status_code == 403


def test_customers_get_403_and_strangers_are_sent_to_sign_in(client, db, login_as):
    assert client.get(URL).status_code == 302
    customer = make_customer()
    db.session.commit()
    login_as(customer.user)
    assert client.get(URL).status_code == 403
