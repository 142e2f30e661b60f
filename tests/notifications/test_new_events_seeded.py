"""The events added when the last hand-written notifications moved to templates (offer expired, payment received
and failed, KYC document approved and not accepted) reach a database seeded before them: ``flask init-data``
(``ensure_reference_data``) adds their default templates as version 1 and leaves every existing template — and
an admin's published edit — as it is. Until it runs, notify_event sends them with the built-in default."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import delete, select

from portal.auth.services import default_institution
from portal.bootstrap import ensure_reference_data
from portal.notifications import templates
from portal.notifications.events import EVENTS
from portal.notifications.models import NotificationTemplate, NotificationTemplateVersion
from portal.notifications.services import notify_event
from tests.conftest import csrf_token
from tests.factories import make_customer, make_staff

NEW = ("offer.expired", "payment.received", "payment.failed", "kyc.document_approved", "kyc.document_rejected")


def _templates(db) -> dict[tuple[str, str], NotificationTemplate]:
    return {(t.event, t.channel): t for t in db.session.scalars(select(NotificationTemplate))}


def _forget_new_events(db) -> None:
    """The database as the earlier code seeded it: no templates for the new events."""
    ids = select(NotificationTemplate.id).where(NotificationTemplate.event.in_(NEW))
    db.session.execute(delete(NotificationTemplateVersion).where(NotificationTemplateVersion.template_id.in_(ids)))
    db.session.execute(delete(NotificationTemplate).where(NotificationTemplate.event.in_(NEW)))
    db.session.flush()


def test_init_data_adds_the_new_events_and_keeps_existing_templates(db, clock):
    _forget_new_events(db)
    admin = make_staff("admin")
    edited = _templates(db)[("ticket.reply", "email")]
    templates.save_draft(edited, subject="Re: {{ ticket_subject }}", body="Support answered ticket {{ ticket_id }}.",
                         actor=admin, now=clock.now())
    templates.publish(edited, actor=admin, now=clock.now())
    before = len(_templates(db))

    customer = make_customer()
    [in_app, sms] = notify_event("payment.failed", customer=customer, now=clock.now(),
                                 context={"loan_id": 5, "amount": Decimal("100.00"), "reason": "declined"})
    assert in_app.template_version_id is None  # no template yet: the built-in default
    assert in_app.body == "Your payment of Rs 100.00 for loan 5 did not go through: declined"

    ensure_reference_data()
    rows = _templates(db)
    added = {key for key in rows if key[0] in NEW}
    assert added == {(name, channel) for name in NEW for channel in EVENTS[name].channels}
    assert len(rows) == before + len(added) == sum(len(spec.channels) for spec in EVENTS.values())
    for key in added:
        template = rows[key]
        subject, body = EVENTS[key[0]].defaults[key[1]]
        assert [v.version for v in template.versions] == [1]
        assert (template.current.subject, template.current.body) == (subject, body)
        assert template.institution_id == default_institution().id
    db.session.refresh(edited)
    assert [v.version for v in edited.versions] == [1, 2] and edited.current.subject == "Re: {{ ticket_subject }}"
    ensure_reference_data()
    assert len(_templates(db)) == len(rows)  # idempotent

    [in_app, sms] = notify_event("payment.failed", customer=customer, now=clock.now(),
                                 context={"loan_id": 5, "amount": Decimal("100.00"), "reason": "declined"})
    assert in_app.template_version_id == rows[("payment.failed", "in_app")].current.id


def test_the_admin_list_shows_the_new_events(db, client, login_as):
    login_as(make_staff("admin"))
    db.session.commit()
    html = client.get("/admin/notification-templates").get_data(as_text=True)
    for name in NEW:
        assert EVENTS[name].label in html, name
    template = _templates(db)[("kyc.document_rejected", "sms")]
    url = f"/admin/notification-templates/{template.id}"
    preview = client.post(f"{url}/preview", headers={"HX-Request": "true"}, data={
        "body": "{{ document }} refused: {{ reason }}", "csrf_token": csrf_token(client, url)})
    assert preview.status_code == 200 and "Aadhaar refused: The photo is blurred" in preview.get_data(as_text=True)
