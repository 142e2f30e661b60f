"""The collections pages: role checks (403), other institutions' loans (404), bad input (4xx, nothing saved),
the contact shown to collections, and the recovery and write-off flow through the forms."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.delinquency.models import PromiseToPay, RecoveryAction, RecoveryCase, WriteOff
from portal.ledger.models import JournalEntry
from portal.lending.models import Loan
from tests.conftest import post_form
from tests.delinquency.conftest import books_on, npa_loan
from tests.factories import make_disbursed_loan
from tests.servicing.cob_support import make_borrower, make_institution, make_serviced_loan
from tests.servicing.payments_support import assert_ledger_agrees

#: any signed-in page carries the CSRF token (base.html hx-headers)
TOKEN_PAGE = "/account/sessions"


def db_session():
    from portal.extensions import db

    return db


def _count(db, model, *where):
    return db.session.scalar(select(func.count(model.id)).where(*where))


@pytest.fixture
def npa(db, clock, staff):
    return npa_loan(clock)


@pytest.fixture
def foreign_loan(db, clock):
    other = make_institution("other-lender")
    loan = make_serviced_loan(make_borrower(other), start=books_on() - timedelta(days=130))
    db.session.commit()
    return loan


@pytest.mark.parametrize("role", ["support", "loan_officer", "risk_officer"])
def test_roles_without_collections_get_403(client, login_as, staff, npa, role):
    login_as(staff[role])
    assert client.get("/collections").status_code == 403
    assert client.get(f"/collections/loans/{npa.id}").status_code == 403
    response = post_form(client, f"/collections/loans/{npa.id}/recovery", {}, page=TOKEN_PAGE)
    assert response.status_code == 403
    assert _count(db_session(), RecoveryCase) == 0


@pytest.mark.parametrize("role", ["support", "collections", "loan_officer"])
def test_the_write_off_checker_page_needs_check_write_offs(client, login_as, staff, role):
    login_as(staff[role])
    assert client.get("/collections/write-offs").status_code == 403


def test_another_institutions_loan_is_404_and_unknown_loans_too(client, login_as, clock, staff, foreign_loan, npa):
    login_as(staff["collections"])
    for url in (f"/collections/loans/{foreign_loan.id}", "/collections/loans/999999"):
        assert client.get(url).status_code == 404
    for path in ("recovery", "promises", "actions", "assign", "write-off"):
        response = post_form(client, f"/collections/loans/{foreign_loan.id}/{path}",
                             {"amount": "10.00", "promised_on": "2026-12-01", "kind": "call", "outcome": "contacted",
                              "note": "x", "reason": "x", "confirm": "y"}, page=TOKEN_PAGE)
        assert response.status_code == 404, path
    db = db_session()
    assert (_count(db, RecoveryCase), _count(db, PromiseToPay), _count(db, RecoveryAction), _count(db, WriteOff)) \
        == (0, 0, 0, 0)
    # a case of another loan cannot be completed through this loan
    case_id = _open_case(client, npa)
    other = make_disbursed_loan(clock)
    db.session.commit()
    response = post_form(client, f"/collections/loans/{other.id}/recovery/{case_id}/complete",
                         {"amount": "10.00", "confirm": "y"}, page=TOKEN_PAGE)
    assert response.status_code == 404


def _open_case(client, loan) -> int:
    response = post_form(client, f"/collections/loans/{loan.id}/recovery", {"note": "NPA for 95 days"},
                         page=TOKEN_PAGE)
    assert response.status_code == 303
    db = db_session()
    return db.session.scalar(select(RecoveryCase.id).where(RecoveryCase.loan_id == loan.id))


def test_the_loan_screen_shows_dpd_overdue_amounts_and_the_phone(client, login_as, staff, npa):
    login_as(staff["collections"])
    html = client.get(f"/collections/loans/{npa.id}").get_data(as_text=True)
    customer = npa.customer
    assert f'data-testid="phone">{customer.phone_number}<' in html  # unmasked for collections
    assert 'data-testid="dpd">95<' in html and 'data-testid="bucket">NPA<' in html
    assert "Overdue principal" in html and "Initiate recovery" in html


def test_bad_input_gives_4xx_and_saves_nothing(client, login_as, staff, npa):
    login_as(staff["collections"])
    url = f"/collections/loans/{npa.id}"
    db = db_session()
    cases = [
        ("promises", {"amount": "-100", "promised_on": "2027-04-01"}, 422),
        ("promises", {"amount": "abc", "promised_on": "2027-04-01"}, 422),
        ("promises", {"amount": "100.00", "promised_on": "2020-01-01"}, 422),   # before the business date
        ("promises", {"amount": "99999999", "promised_on": "2027-04-01"}, 422),  # above what the loan owes
        ("actions", {"kind": "call", "outcome": "", "note": "x"}, 422),
        ("actions", {"kind": "settlement_offer", "outcome": "offer_made", "note": "x", "offer_amount": "-5"}, 422),
        ("write-off", {"reason": "no case yet", "confirm": "y"}, 409),
        ("assign", {"collector": str(staff["support"].id)}, 422),
    ]
    for path, data, status in cases:
        response = post_form(client, f"{url}/{path}", data, page=TOKEN_PAGE)
        assert response.status_code == status, (path, data, response.status_code)
    assert (_count(db, PromiseToPay), _count(db, RecoveryAction), _count(db, WriteOff)) == (0, 0, 0)
    # missing CSRF token
    assert client.post(f"{url}/recovery", data={}).status_code in (400, 422)
    assert _count(db, RecoveryCase) == 0
    # completing with a negative amount, or more than the loan owes
    case_id = _open_case(client, npa)
    for amount in ("-1.00", "99999999"):
        response = post_form(client, f"{url}/recovery/{case_id}/complete", {"amount": amount, "confirm": "y"},
                             page=TOKEN_PAGE)
        assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(RecoveryCase, case_id).status == "open"
    assert _count(db, JournalEntry, JournalEntry.reference.like("payment:%")) == 0


def test_recovery_is_refused_through_the_page_for_a_loan_that_does_not_qualify(client, login_as, staff, clock):
    loan = make_disbursed_loan(clock)
    db = db_session()
    db.session.commit()
    login_as(staff["collections"])
    response = post_form(client, f"/collections/loans/{loan.id}/recovery", {}, page=TOKEN_PAGE)
    assert response.status_code == 409 and "does not qualify" in response.get_data(as_text=True)
    assert _count(db, RecoveryCase) == 0


def test_the_whole_flow_through_the_pages(client, app, login_as, staff, npa):
    db = db_session()
    login_as(staff["collections"])
    url = f"/collections/loans/{npa.id}"
    assert post_form(client, f"{url}/assign", {"collector": str(staff["collections"].id)},
                     page=TOKEN_PAGE).status_code == 303
    assert post_form(client, f"{url}/promises", {"amount": "5000.00", "promised_on": "2027-04-01", "note": "salary"},
                     page=TOKEN_PAGE).status_code == 303
    assert post_form(client, f"{url}/actions", {"kind": "visit", "outcome": "contacted", "note": "Met at home"},
                     page=TOKEN_PAGE).status_code == 303
    case_id = _open_case(client, npa)
    assert post_form(client, f"{url}/write-off", {"reason": "Business closed", "confirm": "y"},
                     page=TOKEN_PAGE).status_code == 303
    html = client.get(url).get_data(as_text=True)
    assert "Met at home" in html and "salary" in html and "Awaiting checker" in html
    mine = client.get("/collections?collector=mine&promise=yes").get_data(as_text=True)
    assert f'data-loan="{npa.id}"' in mine
    proposal_id = db.session.scalar(select(WriteOff.id))

    # the maker cannot check; the risk officer can
    checker = app.test_client()
    login_as_client(checker, staff["risk_officer"])
    page = checker.get("/collections/write-offs").get_data(as_text=True)
    assert f'data-write-off="{proposal_id}"' in page
    response = post_form(checker, f"/collections/write-offs/{proposal_id}/check", {"decision": "approve"},
                         page=TOKEN_PAGE)
    assert response.status_code == 303
    again = post_form(checker, f"/collections/write-offs/{proposal_id}/check", {"decision": "approve"},
                      page=TOKEN_PAGE)
    assert again.status_code == 303  # a double click: still one entry
    assert _count(db, JournalEntry, JournalEntry.kind == "write_off") == 1
    db.session.expire_all()
    assert db.session.get(Loan, npa.id).status == "written_off"

    login_as_client(checker, staff["collections"])
    response = post_form(checker, f"{url}/recovery/{case_id}/complete", {"amount": "1000.00", "confirm": "y"},
                         page=TOKEN_PAGE)
    assert response.status_code == 303
    assert _count(db, JournalEntry, JournalEntry.kind == "recovery") == 1
    html = checker.get(url).get_data(as_text=True)  # the screen of a written-off, recovered loan
    assert "Written off" in html and "1,000.00 recovered" in html and "Initiate recovery" in html
    assert_ledger_agrees()


def test_the_maker_is_refused_on_the_checker_page(client, login_as, staff, npa):
    login_as(staff["admin"])
    url = f"/collections/loans/{npa.id}"
    _open_case(client, npa)
    assert post_form(client, f"{url}/write-off", {"reason": "Untraceable", "confirm": "y"},
                     page=TOKEN_PAGE).status_code == 303
    proposal_id = db_session().session.scalar(select(WriteOff.id))
    page = client.get("/collections/write-offs").get_data(as_text=True)
    assert "You proposed it" in page
    response = post_form(client, f"/collections/write-offs/{proposal_id}/check", {"decision": "approve"},
                         page=TOKEN_PAGE)
    assert response.status_code == 403
    response = post_form(client, f"/collections/write-offs/{proposal_id}/check", {"decision": "reject", "note": "x"},
                         page=TOKEN_PAGE)
    assert response.status_code == 403
    db = db_session()
    db.session.expire_all()
    assert db.session.get(WriteOff, proposal_id).status == "proposed"
    assert db.session.get(Loan, npa.id).status == "npa"


def test_another_institutions_write_off_is_404(client, login_as, staff, db, clock):
    from portal.auth.services import create_user
    from portal.delinquency.models import WriteOff as W
    from portal.errors import NotFound

    other = make_institution("third-lender")
    outsider = create_user(email="ro@third.test", role="risk_officer", password="correct-horse-1",
                           institution=other)
    loan = npa_loan(clock)
    from portal.delinquency import services

    services.initiate_recovery(loan, actor=staff["collections"], clock=clock)
    services.propose_write_off(loan, reason="x", actor=staff["collections"], clock=clock)
    db.session.commit()
    proposal_id = db.session.scalar(select(W.id))
    with pytest.raises(NotFound):
        services.institution_write_off(other.id, proposal_id)
    login_as(outsider)
    assert post_form(client, f"/collections/write-offs/{proposal_id}/check", {"decision": "approve"},
                     page=TOKEN_PAGE).status_code == 404
    db.session.expire_all()
    assert db.session.get(W, proposal_id).status == "proposed"


def login_as_client(client, user):
    """Sign ``user`` in on another test client (as the ``login_as`` fixture does)."""
    from portal.auth.sessions import SESSION_KEY, start_session
    from portal.clock import clock

    db = db_session()
    row = start_session(user, ip="127.0.0.1", user_agent="pytest", now=clock().now())
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session[SESSION_KEY] = row.session_key

