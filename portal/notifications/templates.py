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

import logging
from datetime import date, datetime
from functools import lru_cache

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

log = logging.getLogger(__name__)
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


class TemplateBook:
    """The published templates of some events of one institution, loaded in one query and compiled once, for
    writers that render many messages (the close-of-business reminders): ``render(event, channel, context)``.

    Each (event, channel) renders the newest published version; when there is none, when it does not compile,
    or when it fails on a message's context (an UndefinedError, a TypeError, ...), the event's built-in default
    is used instead (as ``services.notify_event`` does), so a broken template never loses a message; the first
    failure of each template is logged, later ones counted in ``failures`` {(event, channel): n}."""

    def __init__(self, institution_id: int, events) -> None:
        self.failures: dict[tuple[str, str], int] = {}
        self._published: dict[tuple[str, str], tuple[int, int, object, object]] = {}
        self._defaults: dict[tuple[str, str], tuple[object, object]] = {}
        events = tuple(events)
        for name in events:
            for channel, (subject, body) in event_spec(name).defaults.items():
                self._defaults[(name, channel)] = (_compile(subject), _compile(body))
        rows = db.session.execute(
            select(NotificationTemplate.event, NotificationTemplate.channel, NotificationTemplateVersion)
            .join(NotificationTemplateVersion, NotificationTemplateVersion.template_id == NotificationTemplate.id)
            .where(NotificationTemplate.institution_id == institution_id, NotificationTemplate.event.in_(events))
            .order_by(NotificationTemplateVersion.version)).all()
        for event, channel, version in {(e, c): (e, c, v) for e, c, v in rows}.values():  # the newest wins
            try:
                compiled = (_compile(version.subject), _compile(version.body))
            except TemplateError:
                log.exception("template %s/%s v%s does not compile; the built-in default is used", event, channel,
                              version.version)
                continue
            self._published[(event, channel)] = (version.id, version.version, *compiled)

    def render(self, event: str, channel: str, context: dict) -> tuple[str | None, str, int | None]:
        """(subject, body, template version id or None for the built-in default) of ``event`` on ``channel`` over
        ``context`` (already passed through ``full_context``). KeyError for an event or channel not loaded;
        jinja2 errors only when the built-in default itself fails."""
        published = self._published.get((event, channel))
        if published is not None:
            version_id, number, subject, body = published
            try:
                return _run(subject, context), _run(body, context), version_id
            except Exception:  # a published template that fails on real data must not lose the message
                key = (event, channel)
                self.failures[key] = self.failures.get(key, 0) + 1
                if self.failures[key] == 1:
                    log.exception("template %s/%s v%s failed; the built-in default is used", event, channel, number)
        subject, body = self._defaults[(event, channel)]
        return _run(subject, context), _run(body, context), None


def _bulk_environment() -> ImmutableSandboxedEnvironment:
    """The sandbox of ``TemplateBook``: ``_ENV``'s, with the money filter memoised (amounts repeat across a
    batch of reminders, and Babel's formatting is the slowest part of a render)."""
    env = _environment()
    env.filters["money"] = lru_cache(maxsize=4096)(format_inr)
    return env


_BULK_ENV = _bulk_environment()


def _compile(source: str | None):
    return None if source is None else _BULK_ENV.from_string(source)


def _run(template, context: dict) -> str | None:
    return None if template is None else template.render(context).strip()


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
