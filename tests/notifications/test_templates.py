"""Notification templates: defaults seeded once, rendering by notify_event, admin draft -> preview (htmx) ->
publish (a new immutable version, the old one kept), save-time refusal (StrictUndefined, syntax, sandbox, SMS
length: 422 and nothing saved), permissions (403) and institution scoping (404)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.auth.models import Institution
from portal.notifications.events import EVENTS
from portal.notifications.models import Notification, NotificationTemplate, NotificationTemplateVersion
from portal.notifications.services import notify_event
from portal.notifications.templates import ensure_default_templates
from tests.conftest import csrf_token
from tests.factories import make_customer, make_staff


def _template(db, event: str, channel: str) -> NotificationTemplate:
    return db.session.scalar(select(NotificationTemplate).where(NotificationTemplate.event == event,
                                                                NotificationTemplate.channel == channel))


def _count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _customer_with_email(db, email="asha@example.test"):
    customer = make_customer(first_name="Asha", last_name="Rao")
    customer.email = email
    db.session.flush()
    return customer


def test_defaults_are_seeded_once_for_every_event_and_channel(db):
    expected = sum(len(spec.channels) for spec in EVENTS.values())
    assert len(EVENTS) == 19
    assert {"offer.expired", "payment.received", "payment.failed", "kyc.document_approved",
            "kyc.document_rejected", "bill.due"} <= set(EVENTS)
    assert _count(db, NotificationTemplate) == expected == _count(db, NotificationTemplateVersion)
    institution_id = db.session.scalar(select(Institution.id))
    assert ensure_default_templates(institution_id) == 0  # idempotent
    assert _count(db, NotificationTemplate) == expected
    otp = _template(db, "otp", "sms")
    assert [v.version for v in otp.versions] == [1] and otp.current.subject is None


def test_notify_event_renders_the_published_templates_per_channel(db, clock):
    customer = _customer_with_email(db)
    notes = notify_event("application.info_requested", customer=customer, now=clock.now(),
                         context={"application_id": 7, "question": "Upload your PAN card."})
    by_channel = {n.channel: n for n in notes}
    assert set(by_channel) == {"in_app", "email", "sms"}
    assert by_channel["in_app"].body == ("We need more information for application 7: Upload your PAN card. "
                                         "Answer it on the application's page.")
    assert by_channel["email"].subject == "Application 7: we need more information"
    assert by_channel["email"].body.startswith("Dear Asha Rao,\n\nWe need more information for application 7")
    assert by_channel["email"].recipient == "asha@example.test"
    assert by_channel["sms"].recipient == f"+91{customer.phone_number}" and by_channel["sms"].subject is None
    assert {n.category for n in notes} == {"service"}
    version_ids = {n.template_version_id for n in notes}
    assert None not in version_ids and len(version_ids) == 3
    # without an email address there is no email row
    other = make_customer()
    assert {n.channel for n in notify_event("application.info_requested", customer=other, now=clock.now(),
                                            context={"application_id": 8, "question": "Why?"})} == {"in_app", "sms"}


def test_unknown_event_is_refused(db, clock):
    with pytest.raises(ValueError, match="unknown notification event"):
        notify_event("loan.exploded", customer=make_customer(), context={}, now=clock.now())


def test_admin_edits_previews_and_publishes_a_new_version(db, client, login_as, clock):
    admin = login_as(make_staff("admin"))
    db.session.commit()
    template = _template(db, "application.info_requested", "email")
    url = f"/admin/notification-templates/{template.id}"
    assert "Application 101: we need more information" not in client.get(url).get_data(as_text=True)
    assert client.get("/admin/notification-templates").status_code == 200

    # preview (htmx fragment) renders the draft in the form with the sample data, saving nothing
    preview = client.post(f"{url}/preview", headers={"HX-Request": "true"}, data={
        "subject": "Info needed for {{ application_id }}", "body": "Hi {{ customer_name }}: {{ question }}",
        "csrf_token": csrf_token(client, url)})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and 'id="template-preview"' in html and "<html" not in html
    assert "Info needed for 101" in html and "Hi Asha Rao: Please upload your latest salary slip." in html
    db.session.expire_all()
    assert template.draft_subject == "Application {{ application_id }}: we need more information"

    # save the draft, then publish it as version 2
    saved = client.post(url, data={"subject": "Info needed for {{ application_id }}",
                                   "body": "Hi {{ customer_name }}: {{ question }}",
                                   "csrf_token": csrf_token(client, url)})
    assert saved.status_code == 303
    db.session.expire_all()
    assert template.draft_body == "Hi {{ customer_name }}: {{ question }}" and len(template.versions) == 1
    published = client.post(f"{url}/publish", data={"csrf_token": csrf_token(client, url)})
    assert published.status_code == 303
    db.session.expire_all()
    assert [v.version for v in template.versions] == [1, 2]
    assert template.versions[0].body.startswith("Dear {{ customer_name }}")  # the old version is kept as it was
    assert (template.current.body, template.current.published_by_id) == ("Hi {{ customer_name }}: {{ question }}",
                                                                         admin.id)
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "notification_templates")
                                 ).all()
    assert sorted(actions) == ["notification_template.draft_saved", "notification_template.published"]
    page = client.get(url).get_data(as_text=True)
    assert "v2" in page and "In use" in page

    # publishing the same draft again is refused
    again = client.post(f"{url}/publish", data={"csrf_token": csrf_token(client, url)})
    assert again.status_code == 409
    # notify_event now renders version 2
    customer = _customer_with_email(db)
    [email] = [n for n in notify_event("application.info_requested", customer=customer, now=clock.now(),
                                       context={"application_id": 9, "question": "PAN?"}) if n.channel == "email"]
    assert (email.subject, email.body, email.template_version_id) == ("Info needed for 9", "Hi Asha Rao: PAN?",
                                                                       template.current.id)


@pytest.mark.parametrize("subject, body, message", [
    ("Hello", "Dear {{ customer_name }}, your {{ loan_number }} ...", "does not provide"),
    ("Hello", "Dear {{ customer_name }, broken", "does not parse"),
    ("Hello", "{{ customer_name.__class__.__mro__ }}", "may not do"),
    ("{{ nope }}", "fine", "does not provide"),
    ("Hello", "   ", "Write the message"),
])
def test_a_bad_template_is_refused_with_422_and_nothing_saved(db, client, login_as, subject, body, message):
    login_as(make_staff("admin"))
    db.session.commit()
    template = _template(db, "payment.bounced", "email")
    before = (template.draft_subject, template.draft_body)
    url = f"/admin/notification-templates/{template.id}"
    response = client.post(url, data={"subject": subject, "body": body, "csrf_token": csrf_token(client, url)})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    preview = client.post(f"{url}/preview", headers={"HX-Request": "true"},
                          data={"subject": subject, "body": body, "csrf_token": csrf_token(client, url)})
    assert preview.status_code == 422 and 'id="template-preview"' in preview.get_data(as_text=True)
    db.session.expire_all()
    assert (template.draft_subject, template.draft_body) == before
    assert _count(db, AuditEvent) == db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.notlike("notification_template.%")))


def test_an_sms_over_three_segments_is_refused(db, client, login_as):
    login_as(make_staff("admin"))
    db.session.commit()
    template = _template(db, "otp", "sms")
    url = f"/admin/notification-templates/{template.id}"
    response = client.post(url, data={"body": "{{ code }} " + "x" * 480, "csrf_token": csrf_token(client, url)})
    assert response.status_code == 422 and "at most 480 characters" in response.get_data(as_text=True)


def test_published_versions_are_immutable(db):
    version = _template(db, "otp", "sms").versions[0]
    version.body = "changed"
    with pytest.raises(ValueError, match="immutable"):
        db.session.flush()
    db.session.rollback()


def test_roles_without_manage_templates_get_403(db, client, login_as):
    template = _template(db, "otp", "sms")
    for role in ("loan_officer", "support", "risk_officer"):
        login_as(make_staff(role))
        db.session.commit()
        assert client.get("/admin/notification-templates").status_code == 403
        assert client.get(f"/admin/notification-templates/{template.id}").status_code == 403
    login_as(make_customer().user)
    assert client.get("/admin/notification-templates").status_code == 403


def test_another_institutions_template_is_404(db, client, login_as):
    other = Institution(slug="other-lender", name="Other Lender")
    db.session.add(other)
    db.session.flush()
    ensure_default_templates(other.id)
    foreign = db.session.scalar(select(NotificationTemplate).where(NotificationTemplate.institution_id == other.id))
    login_as(make_staff("admin"))
    db.session.commit()
    url = f"/admin/notification-templates/{foreign.id}"
    assert client.get(url).status_code == 404
    token = csrf_token(client, "/admin/notification-templates")
    assert client.post(url, data={"body": "x", "csrf_token": token}).status_code == 404
    assert client.post(f"{url}/publish", data={"csrf_token": token}).status_code == 404
    listed = client.get("/admin/notification-templates").get_data(as_text=True)
    assert f"/admin/notification-templates/{foreign.id}\"" not in listed


def test_a_published_template_failing_on_real_data_falls_back_to_the_default(db, clock):
    """A published template that passed the sample data but fails on a real context still sends the message
    (the built-in default), it is never lost."""
    template = _template(db, "payment.bounced", "in_app")
    template.versions.append(NotificationTemplateVersion(version=2, subject="x", body="{{ amount + 'x' }}"))
    db.session.flush()
    customer = make_customer()
    notes = notify_event("payment.bounced", customer=customer, now=clock.now(),
                         context={"loan_id": 3, "amount": 5, "reason": "insufficient funds"})
    [in_app] = [n for n in notes if n.channel == "in_app"]
    assert in_app.body.startswith("Your payment of Rs 5.00 for loan 3 bounced") and in_app.template_version_id is None
    assert _count(db, Notification) == len(notes)
