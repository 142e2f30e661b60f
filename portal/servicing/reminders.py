"""Close-of-business reminders: EMI due soon, credit line minimum due soon, and overdue notices, written to the
notification outbox from the institution's templates and sent by one job per business date.

The close of business (``cob.step_reminders``) finds, chunk by chunk, the loans to remind (SQL in ``cob.py``) and
hands them here as ``Due`` records; ``ReminderWriter`` (built once per step: the published templates of the three
events compiled once, ``portal.notifications.templates.TemplateBook``) turns each into one outbox row per channel
and writes the chunk's rows in ONE bulk insert that skips keys already written (``INSERT ... ON CONFLICT
(dedupe_key) DO NOTHING`` on PostgreSQL and SQLite). Events:

- ``emi.due``     term loan: the EMI due on ``next_due_on`` = business date + DUE_SOON_DAYS (context loan_id,
                  emi_amount (rupees, unpaid part of the instalment), due_on);
- ``bill.due``    credit line: the unpaid minimum due of the bills due on business date + DUE_SOON_DAYS
                  (loan_id, minimum_due, due_on);
- ``emi.overdue`` any open loan at DPD 1, 7, 15, 30, 60 and 90 (loan_id, dpd, overdue_amount): a legal notice
                  (RBI: borrowers are told of the overdue amount and SMA/NPA classification), so it ignores
                  preferences.

Channels: SMS to the customer's mobile number, email when the customer (or their login) has an address, in-app
always (customers without a login too: ``user_id`` NULL, the record of the reminder on the customer, as before the
templates). ``emi.due`` and ``bill.due`` follow the customer's ``reminders`` preferences (one query per chunk;
no login = the defaults, all on). The key ``reminder_key(event, loan_id, on, channel)`` — ``on`` the due date for
emi.due and bill.due, the business date for emi.overdue — is unique (``notifications.dedupe_key``), so rerunning
or resuming the step writes nothing twice per channel, whatever the templates say.

Sending: SMS/email rows are written 'pending' with ``next_attempt_at = now + relay_grace()``; after the step the
close of business queues ONE job ``jobs.notifications.send_cob_reminders(institution_id, business_date)`` that
sends the date's pending rows in batches (``send_reminder_batch``: rows locked FOR UPDATE SKIP LOCKED, sent with
``delivery.attempt_locked``, exactly once per row). The outbox relay (``services.relay_pending``) steps in only
for rows still pending after the grace period (the job was lost, or a send failed and its retry is due).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, exists, or_, select, text

from portal.extensions import db
from portal.notifications.events import EVENTS
from portal.notifications.models import Notification

log = logging.getLogger(__name__)

#: days before the due date that the EMI / minimum due reminder is written
DUE_SOON_DAYS = 3
#: the DPD at which an overdue notice is written
OVERDUE_REMINDER_DPD = (1, 7, 15, 30, 60, 90)
DUE_EVENTS = ("emi.due", "bill.due")
OVERDUE_EVENT = "emi.overdue"
REMINDER_EVENTS = (*DUE_EVENTS, OVERDUE_EVENT)
SEND_JOB = "jobs.notifications.send_cob_reminders"
SEND_BATCH = 500
_OUTBOUND = ("sms", "email")


def reminder_key(event: str, loan_id: int, on: date, channel: str) -> str:
    """The dedupe key of one reminder: ``"<event>:<loan id>:<YYYY-MM-DD>:<channel>"`` with ``on`` the due date
    (emi.due, bill.due) or the business date (emi.overdue), e.g. ``"emi.due:42:2026-11-26:sms"``."""
    return f"{event}:{loan_id}:{on:%Y-%m-%d}:{channel}"


def key_date(event: str, business_date: date) -> date:
    """The date in the keys of ``event``'s reminders written by the close of business of ``business_date``."""
    return business_date + timedelta(days=DUE_SOON_DAYS) if event in DUE_EVENTS else business_date


@dataclass(frozen=True)
class Due:
    """One reminder to write: ``event`` about ``loan_id`` of ``customer_id`` (login ``user_id`` or None), its
    key date ``on``, how to reach the customer (``phone``, ``email`` or None) and the template ``context``
    (plain values: ints, Decimal rupees, dates)."""

    event: str
    loan_id: int
    customer_id: int
    user_id: int | None
    name: str
    phone: str
    email: str | None
    on: date
    context: dict


class ReminderWriter:
    """Writes ``Due`` reminders of one institution to the outbox; build it once per close-of-business step
    (it loads and compiles the published templates of REMINDER_EVENTS once)."""

    def __init__(self, institution_id: int) -> None:
        from portal.notifications.services import relay_grace
        from portal.notifications.templates import TemplateBook

        self.institution_id = institution_id
        self.templates = TemplateBook(institution_id, REMINDER_EVENTS)
        self.grace = relay_grace()

    def rows(self, dues: list[Due], preferences: dict[tuple[int, str], bool], *, now: datetime) -> list[dict]:
        """The outbox rows (dicts for a bulk insert) of ``dues``: one per channel of the event that may reach the
        customer. ``preferences`` {(user_id, channel): enabled} holds the customers' stored choices for the
        event's category (missing: ``preferences.DEFAULTS``); legal events ignore them. SMS/email rows are
        pending until ``now`` + the relay grace; in-app rows are sent at ``now``."""
        from portal.notifications.preferences import DEFAULTS
        from portal.notifications.services import sms_number
        from portal.notifications.templates import full_context

        retry_at = now + self.grace
        out = []
        for due in dues:
            spec = EVENTS[due.event]
            context = full_context(due.context, customer_name=due.name)
            for channel in spec.channels:
                if not spec.mandatory and not preferences.get((due.user_id, channel), DEFAULTS[spec.category]):
                    continue
                recipient = (sms_number(due.phone) if channel == "sms" else due.email if channel == "email"
                             else due.phone)
                if not recipient:
                    continue
                subject, body, version_id = self.templates.render(due.event, channel, context)
                in_app = channel == "in_app"
                out.append({"user_id": due.user_id, "customer_id": due.customer_id, "channel": channel,
                            "recipient": recipient[:254], "event": due.event,
                            "subject": None if channel == "sms" else (subject or "")[:200] or None, "body": body,
                            "status": "sent" if in_app else "pending", "attempts": 0, "created_at": now,
                            "sent_at": now if in_app else None, "next_attempt_at": None if in_app else retry_at,
                            "category": spec.category, "template_version_id": version_id,
                            "dedupe_key": reminder_key(due.event, due.loan_id, due.on, channel)})
        return out

    def write(self, dues: list[Due], preferences: dict[tuple[int, str], bool], *, now: datetime) -> int:
        """Insert the rows of ``dues`` in one statement, skipping every dedupe key already written (a rerun or a
        resumed chunk); returns how many rows were inserted. Flushes nothing else, commits nothing."""
        rows = self.rows(dues, preferences, now=now)
        if not rows:
            return 0
        if db.engine.dialect.name == "postgresql":
            # one array per column (a few parameters however many rows: a multi-row VALUES list costs more
            # to build and parse than the insert itself)
            columns = ", ".join(_COLUMNS)
            arrays = ", ".join(f"CAST(:{name} AS {sql_type}[])" for name, sql_type in _COLUMNS.items())
            return db.session.execute(
                text(f"INSERT INTO notifications ({columns}) SELECT * FROM unnest({arrays}) "
                     "ON CONFLICT (dedupe_key) DO NOTHING"),
                {name: [row[name] for row in rows] for name in _COLUMNS}).rowcount or 0
        from sqlalchemy.dialects.sqlite import insert

        table = Notification.__table__
        statement = insert(table).on_conflict_do_nothing(index_elements=[table.c.dedupe_key]).returning(table.c.id)
        return len(db.session.execute(statement, rows).all())


#: the columns ``ReminderWriter.rows`` fills, with their PostgreSQL types (for the unnest of the bulk insert)
_COLUMNS = {"user_id": "integer", "customer_id": "integer", "channel": "text", "recipient": "text",
            "event": "text", "subject": "text", "body": "text", "status": "text", "attempts": "integer",
            "created_at": "timestamptz", "sent_at": "timestamptz", "next_attempt_at": "timestamptz",
            "category": "text", "template_version_id": "integer", "dedupe_key": "text"}


def _date_rows(institution_id: int, business_date: date):
    """Conditions: the pending SMS/email reminder rows that the close of business of ``business_date`` wrote
    for ``institution_id``'s customers (by their dedupe keys)."""
    from portal.onboarding.models import Customer

    by_key = or_(*(and_(Notification.event == event,
                        Notification.dedupe_key.like(f"{event}:%:{key_date(event, business_date):%Y-%m-%d}:%"))
                   for event in REMINDER_EVENTS))
    mine = select(Customer.id).where(Customer.id == Notification.customer_id,
                                     Customer.institution_id == institution_id).exists()
    return (Notification.status == "pending", Notification.channel.in_(_OUTBOUND), by_key, mine)


def pending_reminders(institution_id: int, business_date: date) -> bool:
    """Whether any SMS/email reminder written by the close of business of ``business_date`` is still pending."""
    return bool(db.session.scalar(select(exists().where(*_date_rows(institution_id, business_date)))))


def send_reminder_batch(institution_id: int, business_date: date, *, now: datetime, after_id: int = 0,
                        limit: int = SEND_BATCH) -> tuple[dict[str, int], int | None]:
    """Send up to ``limit`` pending SMS/email reminders of ``business_date``'s close of business with ids above
    ``after_id``, in id order: rows not yet attempted, or whose retry is due at ``now``. The rows are locked
    (FOR UPDATE SKIP LOCKED: a row a relay job is sending is that job's), each attempted once
    (``delivery.attempt_locked``), so a row is never sent twice. Returns ({outcome: rows}, the last id seen, or
    None when there was nothing left). Flushes; the job commits after each batch (releasing the locks)."""
    from portal.notifications.delivery import attempt_locked

    notes = db.session.scalars(
        select(Notification).where(*_date_rows(institution_id, business_date), Notification.id > after_id,
                                   or_(Notification.attempts == 0, Notification.next_attempt_at.is_(None),
                                       Notification.next_attempt_at <= now))
        .order_by(Notification.id).limit(limit).with_for_update(skip_locked=True, of=Notification)
        .execution_options(populate_existing=True)).all()
    if not notes:
        return {}, None
    outcomes: dict[str, int] = {}
    for note in notes:
        outcome = attempt_locked(note, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    db.session.flush()
    return outcomes, notes[-1].id


__all__ = ["DUE_EVENTS", "DUE_SOON_DAYS", "OVERDUE_EVENT", "OVERDUE_REMINDER_DPD", "REMINDER_EVENTS", "SEND_JOB",
           "Due", "ReminderWriter", "key_date", "pending_reminders", "reminder_key", "send_reminder_batch"]
