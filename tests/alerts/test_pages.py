"""The alert queue and the rule pages: who sees which alert (the rule's roles; 403 without the permission; 404
for an alert the role may not see or of another institution), filters, acknowledge / assign / resolve with an
audit event each, the rule form (422 with inline errors and nothing saved), htmx fragments, navigation."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.alerts.models import Alert, AlertRule
from portal.alerts.services import raise_event_alert
from portal.audit.models import AuditEvent
from portal.auth.services import create_user, default_institution
from tests.alerts.conftest import builtin_rule, make_rule
from tests.conftest import post_form

HX = {"HX-Request": "true"}


@pytest.fixture
def alerts(db, clock):
    """Three alerts of the default institution: critical (collections + risk officer may see), warning
    (risk officer only), info (collections only)."""
    for rule in db.session.scalars(select(AlertRule)):
        rule.active = False
    make_rule("two_bounces", roles=("collections", "risk_officer"), severity="critical", name="Bounces")
    make_rule("kyc_mismatch", roles=("risk_officer",), severity="warning", name="KYC")
    make_rule("promise_to_pay_broken", roles=("collections",), severity="info", name="PTP")
    inst = default_institution().id
    made = {}
    for kind in ("two_bounces", "kyc_mismatch", "promise_to_pay_broken"):
        (made[kind],) = raise_event_alert(kind, institution_id=inst, now=clock.now(), detail={"n": 1})
    db.session.commit()
    return made


def rows(html: str) -> set[int]:
    import re

    return {int(n) for n in re.findall(r'data-alert-id="(\d+)"', html)}


def test_each_role_sees_only_the_alerts_its_rules_allow(client, login_as, staff, alerts):
    ids = {kind: a.id for kind, a in alerts.items()}
    login_as(staff["collections"])
    html = client.get("/alerts").get_data(as_text=True)
    assert rows(html) == {ids["two_bounces"], ids["promise_to_pay_broken"]}
    assert client.get(f"/alerts/{ids['two_bounces']}").status_code == 200
    assert client.get(f"/alerts/{ids['kyc_mismatch']}").status_code == 404  # not in the rule's roles
    assert client.get("/alerts/99999").status_code == 404
    login_as(staff["risk_officer"])
    assert rows(client.get("/alerts").get_data(as_text=True)) == {ids["two_bounces"], ids["kyc_mismatch"]}
    assert client.get(f"/alerts/{ids['promise_to_pay_broken']}").status_code == 404
    login_as(staff["admin"])  # the admin is in none of these rules' roles
    assert rows(client.get("/alerts").get_data(as_text=True)) == set()
    assert client.get(f"/alerts/{ids['two_bounces']}").status_code == 404


@pytest.mark.parametrize("role", ["support", "loan_officer"])
def test_roles_without_the_permission_get_403(client, login_as, staff, alerts, role):
    login_as(staff[role])
    assert client.get("/alerts").status_code == 403
    assert client.get(f"/alerts/{alerts['two_bounces'].id}").status_code == 403
    assert client.get("/alerts/rules").status_code == 403


def test_collections_cannot_manage_rules(client, login_as, staff, db):
    login_as(staff["collections"])
    assert client.get("/alerts/rules").status_code == 403
    response = post_form(client, "/alerts/rules", {"name": "x", "kind": "two_bounces", "severity": "info",
                                                   "roles": ["collections"]}, page="/alerts")
    assert response.status_code == 403


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get("/alerts")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_another_institutions_alert_is_404(client, login_as, db, clock):
    from tests.servicing.cob_support import make_institution

    other = make_institution("elsewhere")
    make_rule("two_bounces", roles=("collections",), institution_id=other.id)
    theirs = raise_event_alert("two_bounces", institution_id=other.id, now=clock.now())
    outsider = create_user(email="coll@elsewhere.test", role="collections", password="correct-horse-1",
                           institution=other)
    insider = create_user(email="coll@home.test", role="collections", password="correct-horse-1")
    db.session.commit()
    login_as(insider)
    assert all(client.get(f"/alerts/{a.id}").status_code == 404 for a in theirs)
    assert rows(client.get("/alerts").get_data(as_text=True)) == set()
    login_as(outsider)
    assert {a.id for a in theirs} <= rows(client.get("/alerts").get_data(as_text=True))


def test_filters_by_status_severity_and_kind(client, login_as, staff, alerts, db):
    both, ptp = alerts["two_bounces"], alerts["promise_to_pay_broken"]
    db.session.get(Alert, ptp.id).status = "acknowledged"
    db.session.commit()
    login_as(staff["collections"])
    assert rows(client.get("/alerts").get_data(as_text=True)) == {both.id}  # open by default
    assert rows(client.get("/alerts?status=acknowledged").get_data(as_text=True)) == {ptp.id}
    assert rows(client.get("/alerts?status=all").get_data(as_text=True)) == {both.id, ptp.id}
    assert rows(client.get("/alerts?status=all&severity=info").get_data(as_text=True)) == {ptp.id}
    assert rows(client.get("/alerts?status=all&kind=two_bounces").get_data(as_text=True)) == {both.id}
    assert rows(client.get("/alerts?status=resolved").get_data(as_text=True)) == set()
    # the htmx filter gets the table fragment only; the full page has the filters
    fragment = client.get("/alerts?status=all", headers=HX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="alert-queue">') and "<html" not in fragment
    page = client.get("/alerts?status=all").get_data(as_text=True)
    assert "<html" in page and 'id="alert-filters"' in page and 'id="alert-queue"' in page


def test_acknowledge_assign_and_resolve_are_audited(client, login_as, staff, alerts, db):
    alert = alerts["two_bounces"]
    user = login_as(staff["collections"])
    url = f"/alerts/{alert.id}"
    response = post_form(client, f"{url}/acknowledge", {}, page=url)
    assert response.status_code == 303
    # a second acknowledge: 409, nothing changes
    assert post_form(client, f"{url}/acknowledge", {}, page=url).status_code == 409
    response = post_form(client, f"{url}/assign", {"assignee_id": staff["risk_officer"].id}, page=url, headers=HX)
    assert response.status_code == 204 and response.headers["HX-Redirect"].endswith(url)
    # resolving needs a note: 422 with the form, nothing saved
    response = post_form(client, f"{url}/resolve", {"note": "  "}, page=url, headers=HX)
    assert response.status_code == 422 and f'id="alert-{alert.id}-actions"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).status == "acknowledged"
    response = post_form(client, f"{url}/resolve", {"note": "Customer paid the arrears by NEFT."}, page=url)
    assert response.status_code == 303
    db.session.expire_all()
    done = db.session.get(Alert, alert.id)
    assert (done.status, done.acknowledged_by_id, done.assigned_to_id, done.resolved_by_id) == (
        "resolved", user.id, staff["risk_officer"].id, user.id)
    assert done.resolution_note == "Customer paid the arrears by NEFT."
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "alerts",
                                                                 AuditEvent.entity_id == str(alert.id))
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["alert.raised", "alert.acknowledged", "alert.assigned", "alert.resolved"]
    assert post_form(client, f"{url}/resolve", {"note": "again"}, page=url).status_code == 409
    page = client.get(url).get_data(as_text=True)
    assert "Customer paid the arrears by NEFT." in page and 'data-status="resolved"' in page


def test_assigning_to_someone_who_may_not_see_the_alert_is_refused(client, login_as, staff, alerts, db):
    from tests.servicing.cob_support import make_institution

    alert = alerts["two_bounces"]  # collections + risk officer
    other = make_institution("far-away")
    stranger = create_user(email="risk@far.test", role="risk_officer", password="correct-horse-1", institution=other)
    db.session.commit()
    login_as(staff["collections"])
    url = f"/alerts/{alert.id}"
    for assignee in (staff["support"].id, staff["admin"].id, stranger.id, 99999):
        response = post_form(client, f"{url}/assign", {"assignee_id": assignee}, page=url)
        assert response.status_code == 422, assignee
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).assigned_to_id is None
    assert not db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert.assigned"))


def test_the_actions_of_an_alert_the_role_may_not_see_are_404(client, login_as, staff, alerts):
    hidden = alerts["kyc_mismatch"]  # risk officer only
    login_as(staff["collections"])
    url = f"/alerts/{hidden.id}"
    assert post_form(client, f"{url}/acknowledge", {}, page="/alerts").status_code == 404
    assert post_form(client, f"{url}/resolve", {"note": "x"}, page="/alerts").status_code == 404


def test_without_csrf_nothing_changes(client, login_as, staff, alerts, db):
    alert = alerts["two_bounces"]
    login_as(staff["collections"])
    response = client.post(f"/alerts/{alert.id}/acknowledge")
    assert response.status_code in (400, 422)
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).status == "open"


# ---- rules -----------------------------------------------------------------------------------------------------
def rule_count(db) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(AlertRule))


def test_the_rules_page_lists_the_built_in_rules(client, login_as, staff, db):
    login_as(staff["risk_officer"])
    html = client.get("/alerts/rules").get_data(as_text=True)
    for key in ("dpd_1", "dpd_30", "dpd_60", "dpd_90"):
        rule = builtin_rule(key)
        assert f'data-rule-id="{rule.id}"' in html
    assert "DPD reaches 90 days" in html and "Prepayment of Rs 1,00,000.00 or more" in html


def test_ensure_builtin_rules_is_idempotent_and_keeps_edits(db):
    from portal.alerts.services import ensure_builtin_rules
    from portal.bootstrap import ensure_reference_data

    before = rule_count(db)
    assert before == 8
    builtin_rule("dpd_30").active = False
    ensure_reference_data()
    assert ensure_builtin_rules(default_institution().id) == 0
    db.session.commit()
    assert rule_count(db) == before and builtin_rule("dpd_30").active is False


def test_a_risk_officer_creates_a_rule(client, login_as, staff, db):
    login_as(staff["risk_officer"])
    new = client.get("/alerts/rules/new").get_data(as_text=True)
    assert 'id="rule-form"' in new and 'name="roles"' in new
    response = post_form(client, "/alerts/rules", {
        "name": "DPD 45", "kind": "dpd_crossed", "threshold_days": "45", "severity": "critical",
        "roles": ["risk_officer", "admin"], "active": "y"}, page="/alerts/rules/new", headers=HX)
    assert response.status_code == 204 and response.headers["HX-Redirect"].endswith("/alerts/rules")
    rule = db.session.scalar(select(AlertRule).where(AlertRule.name == "DPD 45"))
    assert (rule.kind, rule.threshold_days, rule.severity, rule.visible_roles, rule.active) == (
        "dpd_crossed", 45, "critical", ["admin", "risk_officer"], True)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert_rule.created",
                                                      AuditEvent.entity_id == str(rule.id)))
    response = post_form(client, "/alerts/rules", {
        "name": "Big prepayment", "kind": "large_prepayment", "threshold_amount": "250000.50", "severity": "info",
        "roles": ["collections"], "active": "y"}, page="/alerts/rules/new")
    assert response.status_code == 303
    rule = db.session.scalar(select(AlertRule).where(AlertRule.name == "Big prepayment"))
    assert rule.threshold_amount == Decimal("250000.50") and rule.threshold_days is None


@pytest.mark.parametrize(("data", "field"), [
    ({"kind": "dpd_crossed", "threshold_days": ""}, "threshold_days"),          # a DPD rule without days
    ({"kind": "dpd_crossed", "threshold_days": "0"}, "threshold_days"),
    ({"kind": "dpd_crossed", "threshold_days": "ninety"}, "threshold_days"),
    ({"kind": "large_prepayment", "threshold_amount": ""}, "threshold_amount"),
    ({"kind": "large_prepayment", "threshold_amount": "-5"}, "threshold_amount"),
    ({"kind": "nonsense"}, "kind"),
    ({"severity": "urgent"}, "severity"),
    ({"roles": []}, "roles"),
    ({"roles": ["support"]}, "roles"),
    ({"name": ""}, "name"),
    ({"webhook_url": "not a url", "webhook_secret": "0123456789abcdefgh"}, "webhook_url"),
    ({"webhook_url": "https://example.com/hook"}, "webhook_secret"),          # a URL without a secret
    ({"webhook_url": "https://example.com/hook", "webhook_secret": "short"}, "webhook_secret"),
])
def test_bad_rule_input_is_422_with_the_field_error_and_nothing_saved(client, login_as, staff, db, data, field):
    login_as(staff["risk_officer"])
    before = rule_count(db)
    form = {"name": "A rule", "kind": "two_bounces", "severity": "warning", "roles": ["collections"],
            "active": "y", **data}
    for headers in ({}, HX):
        response = post_form(client, "/alerts/rules", form, page="/alerts/rules/new", headers=headers)
        html = response.get_data(as_text=True)
        assert response.status_code == 422, html
        assert f'id="{field}-feedback"' in html or (field == "roles" and 'id="roles-feedback"' in html)
        assert ("<html" in html) is (headers == {})  # htmx gets the form fragment only
    assert rule_count(db) == before
    assert not db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert_rule.created"))


def test_editing_a_rule_changes_it_audited_and_bad_input_changes_nothing(client, login_as, staff, db):
    rule = builtin_rule("dpd_60")
    login_as(staff["admin"])
    url = f"/alerts/rules/{rule.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'value="60"' in page and "DPD crossed" in page
    response = post_form(client, url, {"name": rule.name, "threshold_days": "0", "severity": "critical",
                                       "roles": ["risk_officer"], "active": "y"}, page=url)
    assert response.status_code == 422
    db.session.expire_all()
    assert (rule.threshold_days, rule.severity) == (60, "warning")
    response = post_form(client, url, {"name": "DPD 61+", "threshold_days": "61", "severity": "critical",
                                       "roles": ["risk_officer"], "kind": "two_bounces"}, page=url)
    assert response.status_code == 303
    db.session.expire_all()
    rule = db.session.get(AlertRule, rule.id)
    assert (rule.name, rule.kind, rule.threshold_days, rule.severity, rule.visible_roles, rule.active) == (
        "DPD 61+", "dpd_crossed", 61, "critical", ["risk_officer"], False)  # the kind stays; unchecked: inactive
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "alert_rule.updated"))
    assert event.changes["threshold_days"] == [60, 61] and event.changes["active"] == [True, False]


def test_another_institutions_rule_is_404(client, login_as, staff, db):
    from tests.servicing.cob_support import make_institution

    other = make_institution("foreign-bank")
    theirs = make_rule("two_bounces", institution_id=other.id)
    db.session.commit()
    login_as(staff["risk_officer"])
    assert client.get(f"/alerts/rules/{theirs.id}").status_code == 404
    assert client.get(f"/alerts/rules/{theirs.id}/deliveries").status_code == 404
    response = post_form(client, f"/alerts/rules/{theirs.id}", {"name": "mine now", "severity": "info",
                                                                "roles": ["collections"]}, page="/alerts/rules")
    assert response.status_code == 404
    assert post_form(client, f"/alerts/rules/{theirs.id}/test", {}, page="/alerts/rules").status_code == 404


@pytest.mark.parametrize(("role", "alerts_entry", "rules_entry"), [
    ("risk_officer", True, True), ("collections", True, False), ("admin", True, True),
    ("support", False, False), ("loan_officer", False, False),
])
def test_navigation_entries(client, login_as, staff, role, alerts_entry, rules_entry):
    login_as(staff[role])
    html = client.get("/account/sessions").get_data(as_text=True)
    assert ('href="/alerts"' in html) is alerts_entry
    assert ('href="/alerts/rules"' in html) is rules_entry
