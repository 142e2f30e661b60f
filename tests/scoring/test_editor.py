"""Scorecard editor pages (risk officer): list, version editor with the live htmx preview, save refuses a bad
expression with its position (nothing saved), publish freezes a version, compare, backtest with progress and a
result, recalculation, savings-import pages; role checks and institution scoping."""
from __future__ import annotations

import io
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.auth.models import Institution
from portal.scoring import services
from portal.scoring.models import Scorecard, ScorecardVersion, ScoreResult, ScoringRun, TransactionImport
from tests.conftest import post_form
from tests.factories import make_customer, make_loan, make_staff

URL = "/staff/scorecards"


@pytest.fixture
def officer(db, login_as, risk_officer):
    return login_as(risk_officer)


def builtin(db, slug: str) -> Scorecard:
    return db.session.scalar(select(Scorecard).where(Scorecard.slug == slug, Scorecard.institution_id.is_(None)))


def editor_data(version: ScorecardVersion, **changes) -> dict:
    """The editor's form fields for ``version`` (what the browser posts), with ``changes`` applied."""
    rules = changes.pop("rules", version.rules)
    bands = changes.pop("bands", version.bands)
    data = {"base_score": str(version.base_score), "min_score": str(version.min_score),
            "max_score": str(version.max_score), "notes": "edited",
            "rule_name": [r["name"] for r in rules], "rule_expression": [r["expression"] for r in rules],
            "rule_points": ["" if r.get("points") is None else str(r["points"]) for r in rules],
            "rule_weight": ["" if r.get("weight") is None else str(r["weight"]) for r in rules],
            "rule_note": [r.get("note", "") for r in rules],
            "band_label": [b["band"] for b in bands], "band_min": [str(b["min"]) for b in bands],
            "band_max": [str(b["max"]) for b in bands],
            "band_approve": ["yes" if b["approve"] else "no" for b in bands]}
    data.update(changes)
    return data


def start_draft(client, db, slug="loan-history") -> ScorecardVersion:
    card = builtin(db, slug)
    response = post_form(client, f"{URL}/{card.id}/draft", {}, page=URL)
    assert response.status_code == 303
    version_id = int(response.headers["Location"].rsplit("/", 1)[1])
    return db.session.get(ScorecardVersion, version_id)


# ---- access -------------------------------------------------------------------------------------------------
def test_the_list_shows_the_builtins(client, officer):
    response = client.get(URL)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-slug="loan-history"' in html and 'data-slug="savings-balance"' in html
    assert "Built-in" in html and "Sundays at 02:00 IST" in html
    assert 'href="/staff/scorecards"' in html  # the navigation entry


@pytest.mark.parametrize("role", ["loan_officer", "support", "admin"])
def test_other_roles_may_not_edit_scorecards(client, db, login_as, role):
    user = make_staff(role)
    db.session.commit()
    login_as(user)
    assert client.get(URL).status_code == 403
    card = builtin(db, "loan-history")
    assert client.get(f"{URL}/{card.id}").status_code == 403


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# ---- drafts, save, publish ----------------------------------------------------------------------------------
def test_editing_a_builtin_makes_the_institutions_own_draft(client, db, officer):
    version = start_draft(client, db)
    card = version.scorecard
    assert (card.slug, card.institution_id, card.builtin) == ("loan-history", officer.institution_id, False)
    assert (version.number, version.status) == (1, "draft")
    assert version.rules == builtin(db, "loan-history").versions[0].rules
    # the built-in still scores until the copy is published
    assert services.current_version("loan-history", institution_id=officer.institution_id).scorecard.builtin
    # asking again returns the same draft
    assert start_draft(client, db).id == version.id
    page = client.get(f"{URL}/versions/{version.id}").get_data(as_text=True)
    assert 'id="editor-form"' in page and 'name="rule_expression"' in page and 'id="preview"' in page


def test_a_bad_expression_is_refused_at_save_with_its_position(client, db, officer):
    version = start_draft(client, db)
    rules = [dict(r) for r in version.rules]
    rules[1]["expression"] = "past_loans_points +"
    rules[2]["expression"] = "current_year_points * salary"
    response = post_form(client, f"{URL}/versions/{version.id}", editor_data(version, rules=rules), page=URL)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "syntax error: invalid syntax (line 1, column 20)" in html
    assert "unknown feature &#39;salary&#39; (line 1, column 23)" in html
    assert "past_loans_points +" in html  # what was typed is kept
    db.session.expire_all()
    assert db.session.get(ScorecardVersion, version.id).rules[1]["expression"] == "past_loans_points"
    assert not db.session.scalar(select(AuditEvent).where(AuditEvent.action == "scorecard.draft_saved"))


def test_gaps_in_the_bands_are_refused(client, db, officer):
    version = start_draft(client, db)
    bands = [dict(b) for b in version.bands]
    bands[0]["min"] = 85
    response = post_form(client, f"{URL}/versions/{version.id}", editor_data(version, bands=bands), page=URL)
    assert response.status_code == 422
    assert "no band covers scores 80 to 84" in response.get_data(as_text=True)


def test_save_publish_and_published_versions_are_immutable(client, db, officer):
    version = start_draft(client, db)
    rules = [dict(r) for r in version.rules] + [
        {"name": "Young borrower", "expression": "age < 25", "points": "-5", "weight": None, "note": "new"}]
    response = post_form(client, f"{URL}/versions/{version.id}", editor_data(version, rules=rules), page=URL)
    assert response.status_code == 303
    db.session.expire_all()
    saved = db.session.get(ScorecardVersion, version.id)
    assert saved.rules[-1] == {"name": "Young borrower", "expression": "age < 25", "points": -5, "weight": None,
                               "note": "new"}
    assert saved.notes == "edited"

    assert post_form(client, f"{URL}/versions/{version.id}/publish", {}, page=URL).status_code == 303
    db.session.expire_all()
    assert db.session.get(ScorecardVersion, version.id).status == "draft"  # not confirmed: nothing happened
    response = post_form(client, f"{URL}/versions/{version.id}/publish", {"confirm": "y"}, page=URL)
    assert response.status_code == 303
    db.session.expire_all()
    published = db.session.get(ScorecardVersion, version.id)
    assert published.status == "published" and published.published_by_id == officer.id
    current = services.current_version("loan-history", institution_id=officer.institution_id)
    assert current.id == published.id
    # other institutions keep the built-in
    other = Institution(slug="other", name="Other")
    db.session.add(other)
    db.session.flush()
    assert services.current_version("loan-history", institution_id=other.id).scorecard.builtin

    # a published version cannot be saved again
    again = post_form(client, f"{URL}/versions/{version.id}", editor_data(published), page=URL)
    assert again.status_code == 409
    db.session.expire_all()
    assert db.session.get(ScorecardVersion, version.id).notes == "edited"
    # editing makes v2 as a draft; publishing it retires v1
    v2 = start_draft(client, db)
    assert (v2.number, v2.status, v2.scorecard_id) == (2, "draft", published.scorecard_id)
    post_form(client, f"{URL}/versions/{v2.id}/publish", {"confirm": "y"}, page=URL)
    db.session.expire_all()
    assert db.session.get(ScorecardVersion, version.id).status == "retired"
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "scorecard.published")) == 2


def test_builtin_versions_cannot_be_saved(client, db, officer):
    version = builtin(db, "savings-balance").versions[0]
    response = post_form(client, f"{URL}/versions/{version.id}", editor_data(version), page=URL)
    assert response.status_code == 409


def test_a_new_scorecard_needs_rules_before_publishing(client, db, officer):
    response = post_form(client, URL, {"name": "Thin file", "slug": "thin-file", "source": "loan_history",
                                       "min_score": "0", "max_score": "100", "description": ""}, page=URL)
    assert response.status_code == 303
    card = db.session.scalar(select(Scorecard).where(Scorecard.slug == "thin-file"))
    [version] = card.versions
    assert [b["band"] for b in version.bands] == ["AA", "A", "B", "C", "D"]
    response = post_form(client, f"{URL}/versions/{version.id}/publish", {"confirm": "y"}, page=URL)
    assert response.status_code == 422
    duplicate = post_form(client, URL, {"name": "x", "slug": "savings-balance", "source": "savings",
                                        "min_score": "300", "max_score": "900"}, page=URL)
    assert duplicate.status_code == 409 and "exists already" in duplicate.get_data(as_text=True)


# ---- live preview ---------------------------------------------------------------------------------------------
@pytest.fixture
def borrower(db):
    customer = make_customer(salary="50000")
    make_loan(customer, amount="100000", tenure=12, paid_on_time=10, approved_on=date(2025, 1, 10))
    db.session.commit()
    return customer


def test_the_preview_scores_the_chosen_customer_as_typed(client, db, officer, borrower):
    version = start_draft(client, db)
    expected = services.score_customer(borrower, as_of=date(2026, 11, 23)).score
    db.session.rollback()
    data = editor_data(version, subject=f"customer:{borrower.id}")
    fragment = post_form(client, f"{URL}/versions/{version.id}/preview", data, page=URL,
                         headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True).strip()
    assert fragment.status_code == 200 and html.startswith('<div id="preview-result"') and "<html" not in html
    assert f'data-preview="score">{expected}<' in html
    assert "Past loans paid on time" in html and 'id="preview-contributions"' in html

    # as you type: a 10-point bonus shows at once, without saving
    rules = [dict(r) for r in version.rules] + [
        {"name": "Bonus", "expression": "monthly_salary >= 50000", "points": "10", "weight": None, "note": ""}]
    typed = post_form(client, f"{URL}/versions/{version.id}/preview",
                      editor_data(version, rules=rules, subject=f"customer:{borrower.id}"), page=URL,
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert f'data-preview="score">{min(expected + 10, 100)}<' in typed
    db.session.expire_all()
    assert len(db.session.get(ScorecardVersion, version.id).rules) == 5  # nothing saved
    assert db.session.scalar(select(func.count()).select_from(ScoreResult)) == 0  # nothing stored

    # a half-typed expression shows where it is wrong instead of a score
    rules[-1]["expression"] = "monthly_salary >="
    broken = post_form(client, f"{URL}/versions/{version.id}/preview",
                       editor_data(version, rules=rules, subject=f"customer:{borrower.id}"), page=URL,
                       headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-preview="issues"' in broken and "line 1, column 18" in broken


def test_the_version_page_shows_the_preview_for_the_first_customer(client, db, officer, borrower):
    version = builtin(db, "loan-history").versions[0]
    page = client.get(f"{URL}/versions/{version.id}").get_data(as_text=True)
    assert 'data-preview="score">' in page and "cannot be changed" in page
    assert 'name="rule_expression"' in page and "readonly" in page


def test_the_preview_of_another_institutions_customer_is_refused(client, db, officer):
    other = Institution(slug="other", name="Other")
    db.session.add(other)
    db.session.flush()
    stranger = make_customer()
    stranger.institution_id = other.id
    db.session.commit()
    version = builtin(db, "loan-history").versions[0]
    html = post_form(client, f"{URL}/versions/{version.id}/preview", {"subject": f"customer:{stranger.id}"},
                     page=URL, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "There is no such customer" in html and 'data-preview="score"' not in html


# ---- compare ----------------------------------------------------------------------------------------------------
def test_compare_two_versions_side_by_side(client, db, officer):
    version = start_draft(client, db, "savings-balance")
    rules = [dict(r) for r in version.rules]
    rules[0]["points"] = "550"
    rules.append({"name": "Active saver", "expression": "transaction_count >= 30", "points": "20", "weight": None,
                  "note": ""})
    assert post_form(client, f"{URL}/versions/{version.id}", editor_data(version, rules=rules),
                     page=URL).status_code == 303
    base = builtin(db, "savings-balance").versions[0]
    html = client.get(f"{URL}/{version.scorecard_id}/compare?a={base.id}&b={version.id}").get_data(as_text=True)
    assert "built-in v1 (published)" in html and "v1 (draft)" in html
    assert 'data-status="changed"' in html and 'data-status="added"' in html and 'data-status="same"' in html
    assert "Active saver" in html


# ---- backtest and recalculation --------------------------------------------------------------------------------
def test_backtest_over_the_whole_book(client, db, officer, book):
    version = start_draft(client, db)
    rules = [dict(r) for r in version.rules]
    rules[0]["weight"] = "0.5"  # half credit for the on-time record: fewer approvals
    assert post_form(client, f"{URL}/versions/{version.id}", editor_data(version, rules=rules),
                     page=URL).status_code == 303
    response = post_form(client, f"{URL}/versions/{version.id}/backtest", {}, page=URL)
    assert response.status_code == 303
    run = db.session.scalar(select(ScoringRun))
    assert response.headers["Location"].endswith(f"{URL}/runs/{run.id}")
    db.session.expire_all()
    run = db.session.get(ScoringRun, run.id)
    assert run.status == "done", run.error  # eager job
    result = run.result
    assert result["subjects"] == 300
    candidate, baseline = result["candidate"], result["baseline"]
    assert sum(b["count"] for b in candidate["bands"]) == 300 == sum(b["count"] for b in baseline["bands"])
    assert [b["band"] for b in candidate["bands"]] == ["AA", "A", "B", "C", "D"]
    assert baseline["label"] == "built-in v1"
    assert result["changes"]["score_down"] > 0 and result["changes"]["score_up"] == 0
    assert float(candidate["approval_rate"]) <= float(baseline["approval_rate"])
    # the baseline's distribution is what the built-in gives today
    features = services.loan_history_features_bulk(1, run.as_of)
    card = services.compiled(builtin(db, "loan-history").versions[0])
    d_count = sum(1 for f in features.values() if card.score(f).band == "D")
    assert next(b for b in baseline["bands"] if b["band"] == "D")["count"] == d_count

    page = client.get(f"{URL}/runs/{run.id}").get_data(as_text=True)
    assert 'id="backtest-bands"' in page and "Approval rate" in page and 'data-status="done"' in page
    assert "hx-trigger" not in page.split(f'id="run-{run.id}-status"')[1].split(">")[0]


def test_a_queued_run_polls_itself(client, db, officer):
    run = ScoringRun(institution_id=officer.institution_id, kind="recalculation", as_of=date(2026, 11, 23),
                     status="queued")
    db.session.add(run)
    db.session.commit()
    fragment = client.get(f"{URL}/runs/{run.id}", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True).strip()
    assert html.startswith("<section") and 'hx-trigger="load delay:1s"' in html and "Waiting for a worker" in html
    other = Institution(slug="other", name="Other")
    db.session.add(other)
    db.session.flush()
    foreign = ScoringRun(institution_id=other.id, kind="recalculation", as_of=date(2026, 11, 23))
    db.session.add(foreign)
    db.session.commit()
    assert client.get(f"{URL}/runs/{foreign.id}").status_code == 404


def test_recalculate_now_and_one_customer_on_demand(client, db, officer, borrower):
    response = post_form(client, f"{URL}/recalculate", {}, page=URL)
    assert response.status_code == 303
    run = db.session.scalar(select(ScoringRun))
    db.session.expire_all()
    assert db.session.get(ScoringRun, run.id).status == "done"
    assert db.session.scalar(select(func.count()).select_from(ScoreResult)) == 1  # one customer, no savings
    response = post_form(client, f"{URL}/customers/{borrower.id}/rescore", {}, page=URL)
    assert response.status_code == 303
    html = client.get(f"{URL}/customers/{borrower.id}").get_data(as_text=True)
    assert 'id="score-history"' in html and "on demand" in html and "recalculation" in html


# ---- savings imports through the pages --------------------------------------------------------------------------
def test_upload_the_real_csv_through_the_page(client, db, officer, csv_bytes):
    page = "/staff/savings-imports"
    assert client.get(page).status_code == 200
    response = post_form(client, page, {"file": (io.BytesIO(csv_bytes), "transactions_data_backend.csv")},
                         page=page, content_type="multipart/form-data")
    assert response.status_code == 303
    batch = db.session.scalar(select(TransactionImport))
    html = client.get(f"{page}/{batch.id}").get_data(as_text=True)
    assert "Imported 5203 transactions of 200 users" in html and "No rows rejected" in html
    rejected = client.get(f"{page}/{batch.id}/rejected.csv")
    assert rejected.status_code == 200 and rejected.mimetype == "text/csv"


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"", "empty.csv", "The file is empty"),
    (b"a,b,c\n1,2,3\n", "wrong.csv", "header row must be"),
    (b"PK\x03\x04xlsx", "book.xlsx", "not a CSV file"),
])
def test_bad_uploads_get_a_message_and_a_4xx(client, db, officer, data, name, message):
    page = "/staff/savings-imports"
    response = post_form(client, page, {"file": (io.BytesIO(data), name)}, page=page,
                         content_type="multipart/form-data")
    assert 400 <= response.status_code < 500
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(TransactionImport)) == 0


def test_admins_may_import_savings_but_not_edit_scorecards(client, db, login_as):
    admin = make_staff("admin")
    db.session.commit()
    login_as(admin)
    assert client.get("/staff/savings-imports").status_code == 200
    assert client.get(URL).status_code == 403
    nav = client.get("/staff/savings-imports").get_data(as_text=True)
    assert re.search(r'href="/staff/savings-imports"[^>]*aria-current="page"', nav)
