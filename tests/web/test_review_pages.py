"""The review workflow through the pages (test client, CSRF on): queue filters, sorting and keyset pages, the
review screen (KYC with OCR results, notes by htmx, history), decisions, the escalations queue, the customer's
tracking page (question, offer with its KFS, accept/decline) and the KFS download, with institution scoping."""
import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.lending import review, services
from portal.lending.models import LoanApplication, Offer
from portal.onboarding.models import KycDocument
from tests.conftest import post_form
from tests.factories import accept_offer, make_customer, make_staff, term_product


def apply(clock, *, salary="100000", amount="250000", tenure=24, age=30, **kwargs) -> LoanApplication:
    customer = make_customer(salary=salary, age=age, **kwargs)
    return services.submit_application(customer, term_product(), amount=Decimal(amount), tenure=tenure,
                                       actor=customer.user, clock=clock)


def digest_on(page: str) -> str:
    return re.search(r'name="kfs_digest" type="hidden" value="([0-9a-f]{64})"', page).group(1)


@pytest.fixture
def stranger(db):
    """A risk officer of another institution."""
    from portal.auth.models import Institution
    from portal.auth.services import create_user

    other = Institution(slug="other-lender", name="Other Lender")
    db.session.add(other)
    db.session.flush()
    user = create_user(email="stranger@other.test", role="risk_officer", password="long-password-1",
                       institution=other)
    db.session.commit()
    return user


def queue_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'/staff/applications/(\d+)">', html)]


def test_queue_filters_sorting_and_keyset_pages(app, client, db, login_as, clock):
    officer = make_staff("loan_officer")
    young = apply(clock, amount="100000", age=24)
    middle = apply(clock, amount="300000", age=40)
    older = apply(clock, amount="900000", age=58)
    waiting = apply(clock, amount="150000", age=35)
    review.request_information(waiting, question="Which employer?", actor=officer, clock=clock)
    services.start_review(middle, actor=officer, clock=clock)
    db.session.commit()
    login_as(officer)
    assert set(queue_ids(client.get("/staff/applications").get_data(as_text=True))) == {young.id, middle.id,
                                                                                          older.id}
    assert queue_ids(client.get("/staff/applications?status=waiting").get_data(as_text=True)) == [waiting.id]
    assert queue_ids(client.get("/staff/applications?min_amount=200000&max_amount=500000")
                     .get_data(as_text=True)) == [middle.id]
    assert queue_ids(client.get("/staff/applications?min_age=30&max_age=60").get_data(as_text=True)) == [
        middle.id, older.id]
    assert queue_ids(client.get("/staff/applications?assigned=me").get_data(as_text=True)) == [middle.id]
    assert queue_ids(client.get("/staff/applications?assigned=unassigned").get_data(as_text=True)) == [
        young.id, older.id]
    product = term_product()
    assert len(queue_ids(client.get(f"/staff/applications?product={product.id}").get_data(as_text=True))) == 3
    assert queue_ids(client.get("/staff/applications?sort=amount_desc").get_data(as_text=True)) == [
        older.id, middle.id, young.id]
    bad = client.get("/staff/applications?min_amount=lots")  # a bad filter is ignored, not a 500
    assert bad.status_code == 200
    page = client.get("/staff/applications?sort=sla").get_data(as_text=True)
    assert 'data-sla="on_track"' in page and "Due in 2d" in page
    # keyset pages of one row, sorted by amount
    app.config["PAGE_SIZE"] = 1
    try:
        seen, url = [], "/staff/applications?sort=amount_asc"
        while url:
            html = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
            assert html.lstrip().startswith('<div id="queue-table">')
            seen += queue_ids(html)
            match = re.search(r'href="([^"]+)" rel="next"', html)
            url = match.group(1).replace("&amp;", "&") if match else None
        assert seen == [young.id, middle.id, older.id]
    finally:
        app.config["PAGE_SIZE"] = 25


def test_review_screen_shows_kyc_with_ocr_results_and_adds_notes_by_htmx(client, db, login_as, clock):
    officer = make_staff("loan_officer")
    app = apply(clock)
    db.session.add(KycDocument(customer_id=app.customer_id, kind="pan_card", original_filename="pan.png",
                               storage_name="x" * 40, content_type="image/png", size_bytes=1000, sha256="0" * 64,
                               ocr_status="done", ocr_fields={"pan": "ABCPE1234F", "name": "ASHA RAO"},
                               match_result="match", uploaded_at=clock.now()))
    db.session.commit()
    login_as(officer)
    url = f"/staff/applications/{app.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'id="kyc-documents"' in page and 'data-match="match"' in page and "ABCPE1234F" in page
    assert "Approve and send offer" in page and f'id="application-{app.id}-history"' in page
    empty = post_form(client, f"{url}/notes", {"body": ""}, page=url, headers={"HX-Request": "true"})
    assert empty.status_code == 422 and "Write the note." in empty.get_data(as_text=True)
    r = post_form(client, f"{url}/notes", {"body": "Called the employer."}, page=url, headers={"HX-Request": "true"})
    assert r.status_code == 200 and r.headers["HX-Trigger"] == "application-changed"
    fragment = r.get_data(as_text=True)
    assert fragment.lstrip().startswith(f'<div id="application-{app.id}-notes">') and "Called the employer." in fragment
    history = client.get(f"{url}/history").get_data(as_text=True)
    assert "Called the employer." in history and "Staff only" in history
    login_as(app.customer.user)
    assert "Called the employer." not in client.get(f"/me/applications/{app.id}").get_data(as_text=True)


def test_reject_needs_a_reason_code(client, db, login_as, clock):
    officer = make_staff("loan_officer")
    app = apply(clock)
    db.session.commit()
    login_as(officer)
    url = f"/staff/applications/{app.id}"
    r = post_form(client, f"{url}/reject", {"reason_code": "", "note": "no"}, page=url)
    assert r.status_code == 422 and "Choose the reason." in r.get_data(as_text=True)
    r = post_form(client, f"{url}/reject", {"reason_code": "income_unverified", "note": "Slips missing."}, page=url)
    assert r.status_code == 302
    db.session.expire_all()
    assert (app.status, app.rejection_code) == ("rejected", "income_unverified")
    login_as(app.customer.user)
    page = client.get(f"/me/applications/{app.id}").get_data(as_text=True)
    assert "The income could not be verified. Slips missing." in page


def test_info_request_and_answer_through_the_pages(client, db, login_as, clock):
    officer = make_staff("loan_officer")
    app = apply(clock)
    db.session.commit()
    login_as(officer)
    url = f"/staff/applications/{app.id}"
    assert post_form(client, f"{url}/request-info", {"question": "?"}, page=url).status_code == 422
    assert post_form(client, f"{url}/request-info", {"question": "Which employer do you work for?"},
                     page=url).status_code == 302
    login_as(app.customer.user)
    mine = f"/me/applications/{app.id}"
    page = client.get(mine).get_data(as_text=True)
    assert "Which employer do you work for?" in page and "Send my answer" in page
    assert "Waiting for you" in client.get("/me").get_data(as_text=True)
    # the polling timeline asks the page to reload once the status moved past what it shows
    assert client.get(f"{mine}?seen=scored", headers={"HX-Request": "true"}).headers.get("HX-Refresh") == "true"
    same = client.get(f"{mine}?seen=info_requested", headers={"HX-Request": "true"})
    assert "HX-Refresh" not in same.headers and same.get_data(as_text=True).lstrip().startswith("<section")
    assert post_form(client, f"{mine}/answer", {"answer": ""}, page=mine).status_code == 422
    assert post_form(client, f"{mine}/answer", {"answer": "Acme Pvt Ltd, since 2019."}, page=mine).status_code == 302
    db.session.expire_all()
    assert app.status == "scored" and app.info_requests[0].answer == "Acme Pvt Ltd, since 2019."


def test_escalation_override_and_the_escalations_queue(client, db, login_as, clock):
    officer = make_staff("loan_officer")
    risk = make_staff("risk_officer")
    app = apply(clock, salary="20000")  # fails the EMI burden only
    db.session.commit()
    login_as(officer)
    url = f"/staff/applications/{app.id}"
    assert "Request an override of a failed rule" in client.get(url).get_data(as_text=True)
    r = post_form(client, f"{url}/overrides", {"rule": "emi_burden", "reason": "Spouse earns Rs 40,000 too."},
                  page=url)
    assert r.status_code == 302
    override = app.overrides[0]
    # the maker cannot check their own (and a loan officer has no checker permission at all)
    assert post_form(client, f"/staff/overrides/{override.id}/check", {"decision": "approve"},
                     page=url).status_code == 403
    assert post_form(client, f"{url}/escalate", {"reason": "Needs the override checked."}, page=url).status_code == 302
    assert client.get("/staff/escalations").status_code == 403
    assert post_form(client, f"{url}/approve", {}, page=url).status_code in (403, 422)
    login_as(risk)
    queue = client.get("/staff/escalations").get_data(as_text=True)
    assert f'/staff/applications/{app.id}"' in queue and "emi burden" in queue
    page = client.get(url).get_data(as_text=True)
    assert "Record the check" in page
    assert post_form(client, f"/staff/overrides/{override.id}/check", {"decision": "approve", "note": "Seen."},
                     page=url).status_code == 302
    assert post_form(client, f"{url}/approve", {"note": "With the override."}, page=url).status_code == 302
    db.session.expire_all()
    assert override.status == "approved" and app.status == "offered"


def test_counter_offer_accept_and_kfs_download_by_its_owner_only(client, db, login_as, clock, stranger):
    officer = make_staff("loan_officer")
    app = apply(clock, salary="20000")
    other_customer = make_customer()
    db.session.commit()
    login_as(officer)
    url = f"/staff/applications/{app.id}"
    r = post_form(client, f"{url}/counter-offer", {"amount": "100000", "interest_rate": "14", "tenure": "24"},
                  page=url)
    assert r.status_code == 302
    offer = db.session.scalar(select(Offer).where(Offer.application_id == app.id))
    assert offer.kind == "counter"
    login_as(app.customer.user)
    mine = f"/me/applications/{app.id}"
    page = client.get(mine).get_data(as_text=True)
    assert "Our counter-offer" in page and 'data-testid="kfs"' in page and "Annual percentage rate" in page
    assert client.get(f"/me/offers/{offer.id}/kfs").status_code == 404  # nothing accepted yet
    unticked = post_form(client, f"/me/offers/{offer.id}/accept", {"kfs_digest": digest_on(page)}, page=mine)
    assert unticked.status_code == 422 and "Tick the box" in unticked.get_data(as_text=True)
    stale = post_form(client, f"/me/offers/{offer.id}/accept", {"agree": "y", "kfs_digest": "0" * 64}, page=mine)
    assert stale.status_code == 409
    ok = post_form(client, f"/me/offers/{offer.id}/accept", {"agree": "y", "kfs_digest": digest_on(page)}, page=mine)
    assert ok.status_code == 302
    db.session.expire_all()
    assert app.status == "disbursed" and offer.kfs_html
    download = client.get(f"/me/offers/{offer.id}/kfs")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    body = download.get_data(as_text=True)
    assert offer.kfs_html in body and offer.kfs_sha256 in body
    login_as(other_customer.user)
    assert client.get(f"/me/offers/{offer.id}/kfs").status_code == 404
    assert post_form(client, f"/me/offers/{offer.id}/decline", {}, page="/me").status_code == 404
    login_as(officer)
    staff_view = client.get(f"/staff/offers/{offer.id}/kfs")
    assert staff_view.status_code == 200 and offer.kfs_sha256[:16] in staff_view.get_data(as_text=True)
    login_as(stranger)
    assert client.get(f"/staff/offers/{offer.id}/kfs").status_code == 404


def test_customer_declines_an_offer(client, db, login_as, clock):
    app = apply(clock)
    offer = services.approve_application(app, actor=make_staff("loan_officer"), clock=clock)
    db.session.commit()
    login_as(app.customer.user)
    r = post_form(client, f"/me/offers/{offer.id}/decline", {"reason": "Found a cheaper loan."},
                  page=f"/me/applications/{app.id}")
    assert r.status_code == 302
    db.session.expire_all()
    assert (offer.status, app.status) == ("declined", "withdrawn")


def test_staff_of_another_institution_get_404(client, db, login_as, clock, stranger):
    officer = make_staff("loan_officer")
    app = apply(clock, salary="20000")
    override = review.request_override(app, rule="emi_burden", reason="Spouse's income is verified.", actor=officer,
                                       clock=clock)
    db.session.commit()
    login_as(stranger)
    url = f"/staff/applications/{app.id}"
    assert client.get(url).status_code == 404
    assert client.get(f"{url}/history").status_code == 404
    for path, data in ((f"{url}/approve", {}), (f"{url}/claim", {}), (f"{url}/notes", {"body": "x"}),
                       (f"{url}/escalate", {"reason": "because"}),
                       (f"/staff/overrides/{override.id}/check", {"decision": "approve"})):
        assert post_form(client, path, data, page="/staff/applications").status_code == 404, path
    assert f'/staff/applications/{app.id}"' not in client.get("/staff/applications?status=all").get_data(as_text=True)
    assert f"/staff/applications/{app.id}" not in client.get("/staff/escalations").get_data(as_text=True)


def test_accepted_loan_shows_on_the_customer_pages(client, db, login_as, clock):
    app = apply(clock)
    loan = accept_offer(services.approve_application(app, actor=make_staff("loan_officer"), clock=clock), clock)
    db.session.commit()
    login_as(app.customer.user)
    page = client.get(f"/me/applications/{app.id}").get_data(as_text=True)
    assert "Download the accepted Key Facts Statement" in page and f"See loan {loan.id}" in page


def test_a_counter_offer_that_still_fails_is_refused_next_to_its_terms(client, db, login_as, clock):
    app = apply(clock, salary="20000")
    officer = make_staff("loan_officer")
    db.session.commit()
    login_as(officer)
    url = f"/staff/applications/{app.id}"
    r = post_form(client, f"{url}/counter-offer", {"amount": "240000", "interest_rate": "14", "tenure": "24"},
                  page=url)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "Too much of the salary goes to EMIs" in html and 'value="240000' in html
    db.session.expire_all()
    assert app.status == "scored" and not app.offers


def queue_counts(html: str) -> dict[str, int]:
    """{status: count} of the queue page's counts line."""
    block = html.split('id="queue-counts"', 1)[1].split("</div>", 1)[0]
    return {s: int(n) for s, n in re.findall(r'data-status="(\w+)">[\w ]+ <strong>(\d+)</strong>', block)}


def test_queue_counts_are_the_open_statuses_and_decided_ones_are_the_funnels(client, db, login_as, clock,
                                                                            stranger):
    officer, risk = make_staff("loan_officer"), make_staff("risk_officer")
    apps = [apply(clock) for _ in range(6)]  # scored
    services.start_review(apps[1], actor=officer, clock=clock)
    review.escalate_application(apps[2], reason="Large amount for a first loan.", actor=officer, clock=clock)
    review.request_information(apps[3], question="Which employer?", actor=officer, clock=clock)
    services.reject_application(apps[4], actor=officer, clock=clock, note="no", reason_code="policy")
    services.approve_application(apps[5], actor=risk, clock=clock)
    db.session.commit()
    login_as(officer)
    html = client.get("/staff/applications").get_data(as_text=True)
    assert queue_counts(html) == {"submitted": 0, "scored": 1, "in_review": 1, "escalated": 1}
    assert "3 applications" in html
    for decided in ("rejected", "offered", "disbursed", "info requested"):  # not counted on the queue page
        assert f"{decided} <strong>" not in html, decided
    assert 'id="funnel-link"' not in html  # a loan officer has no reports
    assert 'href="/staff/applications?status=waiting"' in html
    # each count links to the queue filtered by its status
    assert 'href="/staff/applications?status=escalated"' in html
    assert queue_ids(client.get("/staff/applications?status=escalated").get_data(as_text=True)) == [apps[2].id]
    login_as(risk)
    html = client.get("/staff/applications").get_data(as_text=True)
    assert queue_counts(html)["escalated"] == 1
    assert '<a href="/admin/reports/funnel" id="funnel-link">' in html
    assert client.get("/admin/reports/funnel").status_code == 200
    login_as(stranger)  # another institution's risk officer counts none of these
    assert queue_counts(client.get("/staff/applications").get_data(as_text=True)) == {
        "submitted": 0, "scored": 0, "in_review": 0, "escalated": 0}
