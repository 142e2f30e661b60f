"""Notification templates: rendering in a Jinja sandbox, save-time checks, drafts, versions and defaults.

Templates are plain text (SMS, email, in-app; pages escape them when shown) rendered by an
``ImmutableSandboxedEnvironment`` with ``StrictUndefined``: a template that uses a name the event does not
provide, calls something unsafe or does not parse is refused when it is saved (``TemplateRefused``, 422), by
rendering it with the event's sample data. Publishing copies the draft into a new immutable
``NotificationTemplateVersion``; the newest version is the one ``notify_event`` renders, older ones stay for
history. Default templates (``events.EVENTS[...].defaults``) are seeded as version 1 by
``ensure_default_templates`` (called from ``portal.bootstrap.ensure_reference_data``).
"""
from __future__ import annotations

from datetime import date, datetime

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.audit.services import record
from portal.errors import DomainError, NotFound
from portal.extensions import db
from portal.money import format_inr
from portal.notifications.events import CHANNELS, EVENTS, SMS_MAX_CHARS, event_spec
from portal.notifications.models import NotificationTemplate, NotificationTemplateVersion

PORTAL_NAME = "Credit Lifecycle Portal"
SUBJECT_MAX = 200


class TemplateRefused(DomainError):
    """A template that does not parse, uses an unknown name or an unsafe construct, or renders too long (422)."""


def _date(value, fmt: str = "%d %b %Y") -> str:
    return value.strftime(fmt) if isinstance(value, date | datetime) else str(value)


def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters["money"] = format_inr
    env.filters["date"] = _date
    return env


_ENV = _environment()


def render_text(source: str | None, context: dict) -> str | None:
    """Render one template string (None stays None). Raises jinja2 errors (TemplateSyntaxError,
    UndefinedError, SecurityError) unchanged; ``check_template`` turns them into TemplateRefused."""
    if source is None:
        return None
    return _ENV.from_string(source).render(context).strip()


def full_context(context: dict, *, customer_name: str | None = None) -> dict:
    """The context every template sees: ``portal_name``, ``customer_name`` (default "Customer") and ``context``."""
    return {"portal_name": PORTAL_NAME, "customer_name": customer_name or "Customer", **context}


def check_template(event: str, channel: str, subject: str | None, body: str) -> tuple[str | None, str]:
    """Render ``subject``/``body`` of ``event`` on ``channel`` with the event's sample data and return the
    result; TemplateRefused (422) with a message for the admin when the body is empty, the template does not
    parse, names something the event does not provide, does something the sandbox forbids, or renders an SMS
    over SMS_MAX_CHARS characters or a subject over 200 characters. SMS templates have no subject."""
    spec = event_spec(event)
    if channel not in spec.channels:
        raise TemplateRefused(f"{spec.label} is not sent by {channel}.")
    if not (body or "").strip():
        raise TemplateRefused("The message cannot be empty.")
    if channel == "sms":
        subject = None
    try:
        out_subject = render_text(subject, full_context(spec.sample, customer_name="Asha Rao"))
        out_body = render_text(body, full_context(spec.sample, customer_name="Asha Rao"))
    except TemplateSyntaxError as exc:
        raise TemplateRefused(f"The template does not parse (line {exc.lineno}): {exc.message}") from None
    except UndefinedError as exc:
        names = ", ".join(sorted(["customer_name", "portal_name", *spec.sample]))
        raise TemplateRefused(f"The template uses something this event does not provide ({exc.message}). "
                              f"Available: {names}.") from None
    except SecurityError as exc:
        raise TemplateRefused(f"The template does something templates may not do ({exc}).") from None
    except TemplateError as exc:
        raise TemplateRefused(f"The template cannot be rendered: {exc}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise TemplateRefused(f"The template fails with the sample data: {exc}") from None
    if channel == "sms" and len(out_body) > SMS_MAX_CHARS:
        raise TemplateRefused(f"An SMS may be at most {SMS_MAX_CHARS} characters; this one has {len(out_body)}.")
    if out_subject is not None and len(out_subject) > SUBJECT_MAX:
        raise TemplateRefused(f"The subject may be at most {SUBJECT_MAX} characters.")
    return out_subject, out_body


# ---- defaults ------------------------------------------------------------------------------------------------
def ensure_default_templates(institution_id: int) -> int:
    """Create the missing templates of ``institution_id`` from the built-in defaults, each with version 1
    published (idempotent; existing templates are left alone). Returns how many were created; flushes."""
    existing = set(db.session.execute(select(NotificationTemplate.event, NotificationTemplate.channel)
                                      .where(NotificationTemplate.institution_id == institution_id)).all())
    created = 0
    for spec in EVENTS.values():
        for channel in spec.channels:
            if (spec.name, channel) in existing:
                continue
            subject, body = spec.defaults[channel]
            template = NotificationTemplate(institution_id=institution_id, event=spec.name, channel=channel,
                                            draft_subject=subject, draft_body=body)
            template.versions.append(NotificationTemplateVersion(version=1, subject=subject, body=body))
            db.session.add(template)
            created += 1
    if created:
        db.session.flush()
    return created


# ---- reading -------------------------------------------------------------------------------------------------
def institution_templates(institution_id: int) -> list[NotificationTemplate]:
    """The institution's templates in the order of ``EVENTS`` and ``CHANNELS`` (for the admin list)."""
    rows = db.session.scalars(select(NotificationTemplate).options(selectinload(NotificationTemplate.versions))
                              .where(NotificationTemplate.institution_id == institution_id)).all()
    order = {name: i for i, name in enumerate(EVENTS)}
    return sorted(rows, key=lambda t: (order.get(t.event, 99), CHANNELS.index(t.channel)
                                       if t.channel in CHANNELS else 9))


def institution_template(institution_id: int, template_id: int) -> NotificationTemplate:
    """Template ``template_id`` of ``institution_id``; NotFound (404) for another institution's or none."""
    template = db.session.get(NotificationTemplate, template_id)
    if template is None or template.institution_id != institution_id:
        raise NotFound("There is no such template.")
    return template


def published_versions(institution_id: int, event: str) -> dict[str, NotificationTemplateVersion]:
    """{channel: the version in use} for ``event`` of ``institution_id`` (channels without a template are absent)."""
    rows = db.session.execute(
        select(NotificationTemplate.channel, NotificationTemplateVersion)
        .join(NotificationTemplateVersion, NotificationTemplateVersion.template_id == NotificationTemplate.id)
        .where(NotificationTemplate.institution_id == institution_id, NotificationTemplate.event == event)
        .order_by(NotificationTemplateVersion.version)).all()
    return {channel: version for channel, version in rows}  # the newest wins


# ---- editing -------------------------------------------------------------------------------------------------
def save_draft(template: NotificationTemplate, *, subject: str | None, body: str, actor,
               now: datetime) -> NotificationTemplate:
    """Replace the draft of ``template`` after ``check_template`` accepts it (TemplateRefused, 422, otherwise:
    nothing saved). Audited ``notification_template.draft_saved``; flushes."""
    subject = (subject or "").strip() or None
    body = (body or "").replace("\r\n", "\n").strip()
    check_template(template.event, template.channel, subject, body)
    if template.channel == "sms":
        subject = None
    old = {"subject": template.draft_subject, "body": template.draft_body}
    template.draft_subject, template.draft_body = subject, body
    template.draft_updated_at, template.draft_updated_by_id = now, getattr(actor, "id", None)
    record(actor, "notification_template.draft_saved", template, institution_id=template.institution_id,
           changes={k: (old[k], v) for k, v in (("subject", subject), ("body", body)) if old[k] != v})
    return template


def publish(template: NotificationTemplate, *, actor, now: datetime) -> NotificationTemplateVersion:
    """Publish the draft as the next version (checked again; TemplateRefused, 422). DomainError 409 when the
    draft equals the version in use. The template row is locked so two admins cannot both publish version N.
    Audited ``notification_template.published``; flushes."""
    db.session.execute(select(NotificationTemplate.id).where(NotificationTemplate.id == template.id)
                       .with_for_update())
    db.session.refresh(template, attribute_names=["versions"])
    check_template(template.event, template.channel, template.draft_subject, template.draft_body)
    if not template.draft_changed:
        raise DomainError("The draft is the same as the published version; edit it first.", 409)
    current = template.current
    version = NotificationTemplateVersion(version=(current.version if current else 0) + 1,
                                          subject=template.draft_subject, body=template.draft_body,
                                          published_at=now, published_by_id=getattr(actor, "id", None))
    template.versions.append(version)
    db.session.flush()
    record(actor, "notification_template.published", template, institution_id=template.institution_id,
           changes={"version": (current.version if current else None, version.version)})
    return version


def preview(template: NotificationTemplate, *, subject: str | None, body: str) -> tuple[str | None, str]:
    """The draft text ``subject``/``body`` rendered with the event's sample data (TemplateRefused, 422)."""
    return check_template(template.event, template.channel, (subject or "").strip() or None,
                          (body or "").replace("\r\n", "\n").strip())
