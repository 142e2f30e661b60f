"""The events the portal tells people about: category, channels, sample data and default templates.

Pure data (no Flask, no database). ``EVENTS[name]`` is an ``EventSpec``; templates are Jinja (rendered in a
sandbox by ``portal.notifications.templates``) over the event's context plus ``customer_name`` and
``portal_name``. Filters: ``money`` (Rs 12,34,567.00) and ``date`` (23 Nov 2026).

Categories and opt-out (a customer turns channels on or off per category on /me/notifications/preferences):

- ``security`` (OTP): never opt-outable; SMS only.
- ``legal``: messages a lender must send, so never opt-outable: the credit decision on an application
  (RBI Fair Practices Code: the borrower is told of the sanction or, in writing, of the rejection and its main
  reasons), the offer with its Key Facts Statement (RBI KFS circular, 15 Apr 2024), the disbursement, a bounced
  payment, overdue notices (RBI: borrowers are told of SMA/NPA classification and the overdue amount) and the
  credit line statement (RBI Master Direction on credit cards: a statement every billing cycle).
- ``service``: about something the customer asked for (application received, information requested, ticket
  reply, an offer that lapsed, a payment received or failed, a KYC document approved or not accepted): on by
  default, may be turned off per channel.
- ``reminders``: EMI due, credit line minimum due, offer expiring, onboarding not finished: on by default, may
  be turned off.
- ``marketing``: offers and product news: off by default (opt-in); no event uses it yet.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

CHANNELS = ("sms", "email", "in_app")
CHANNEL_LABELS = {"sms": "SMS", "email": "Email", "in_app": "In the portal"}
CATEGORIES = ("security", "legal", "service", "reminders", "marketing")
#: the categories a customer may turn off (the preferences page offers only these)
OPTIONAL_CATEGORIES = ("service", "reminders", "marketing")
CATEGORY_LABELS = {"security": "Security codes (OTP)", "legal": "Decisions, offers and legal notices",
                   "service": "Updates on your requests", "reminders": "Reminders",
                   "marketing": "Offers and product news"}
MANDATORY_CATEGORIES = frozenset({"security", "legal"})
SMS_MAX_CHARS = 480  # three concatenated SMS segments


@dataclass(frozen=True)
class EventSpec:
    """One event: ``category`` (see the module docstring), ``channels`` it is sent on, ``sample`` context for
    previews and save-time checks, and ``defaults`` {channel: (subject | None, body)}."""

    name: str
    label: str
    category: str
    channels: tuple[str, ...]
    sample: dict
    defaults: dict = field(default_factory=dict)

    @property
    def mandatory(self) -> bool:
        """True when preferences cannot turn this event off (security and legal messages)."""
        return self.category in MANDATORY_CATEGORIES


def _spec(name, label, category, channels, sample, *, subject, body, sms=None, in_app=None) -> EventSpec:
    """Build an EventSpec; email uses ``subject``/``body``, in-app ``in_app`` (or the same), SMS ``sms``."""
    defaults = {}
    for channel in channels:
        if channel == "sms":
            defaults["sms"] = (None, sms or body)
        elif channel == "in_app":
            defaults["in_app"] = (subject, in_app or body)
        else:
            defaults["email"] = (subject, "Dear {{ customer_name }},\n\n" + body + "\n\n— {{ portal_name }}")
    return EventSpec(name, label, category, tuple(channels), sample, defaults)


ALL = ("in_app", "email", "sms")

EVENTS: dict[str, EventSpec] = {s.name: s for s in (
    _spec("otp", "One-time password", "security", ("sms",), {"code": "123456", "minutes": 5},
          subject=None,
          body="{{ code }} is your Credit Lifecycle Portal sign-in code. It expires in {{ minutes }} minutes. "
               "Never share it: our staff will never ask for it."),
    _spec("application.received", "Application received", "service", ("in_app", "email"),
          {"application_id": 101, "amount": Decimal("250000.00"), "product_name": "Personal term loan"},
          subject="Application {{ application_id }} received",
          body="We received your application {{ application_id }} for {{ amount|money }} ({{ product_name }}). "
               "We will tell you as soon as it is decided."),
    _spec("application.decided", "Application decided", "legal", ALL,
          {"application_id": 101, "decision": "approved", "reason": "within the approved limit"},
          subject="Application {{ application_id }}: {{ decision }}",
          body="Your application {{ application_id }} was {{ decision }}: {{ reason }}. "
               "See the details on the application's page.",
          sms="Application {{ application_id }} was {{ decision }}. Details in the Credit Lifecycle Portal."),
    _spec("application.info_requested", "Information requested", "service", ALL,
          {"application_id": 101, "question": "Please upload your latest salary slip."},
          subject="Application {{ application_id }}: we need more information",
          body="We need more information for application {{ application_id }}: {{ question }} "
               "Answer it on the application's page.",
          sms="We need more information for application {{ application_id }}. "
              "Answer it in the Credit Lifecycle Portal."),
    # expires_on: the local date; expires_at: the local moment (an offer lapses at a time of day, not at midnight)
    _spec("offer.made", "Offer made", "legal", ALL,
          {"application_id": 101, "amount": Decimal("250000.00"), "rate": Decimal("12.00"), "tenure": 24,
           "expires_on": date(2026, 11, 30),
           "expires_at": datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Asia/Kolkata"))},
          subject="Your loan offer for application {{ application_id }}",
          body="We offer you {{ amount|money }} at {{ rate }}% p.a. for {{ tenure }} months. Read the Key Facts "
               "Statement and accept the offer by {{ expires_at|date('%d %b %Y, %H:%M %Z') }}.",
          sms="Loan offer: {{ amount|money }} at {{ rate }}% p.a. for {{ tenure }} months. Read the Key Facts "
              "Statement in the portal before {{ expires_at|date('%d %b %Y, %H:%M %Z') }}."),
    _spec("offer.expired", "Offer expired", "service", ("in_app", "email"),
          {"application_id": 101, "expired_on": date(2026, 11, 30)},
          subject="Your offer for application {{ application_id }} has expired",
          body="The offer for application {{ application_id }} expired on {{ expired_on|date }} without an answer. "
               "Apply again whenever you are ready."),
    _spec("offer.expiring", "Offer expiring", "reminders", ALL,
          {"application_id": 101, "expires_on": date(2026, 11, 30)},
          subject="Your offer for application {{ application_id }} expires on {{ expires_on|date }}",
          body="Your loan offer for application {{ application_id }} expires on {{ expires_on|date }}. "
               "Accept it in the portal before then if you still need the loan."),
    _spec("loan.disbursed", "Loan disbursed", "legal", ALL,
          {"loan_id": 501, "net_amount": Decimal("245000.00"), "emi_amount": Decimal("11768.37"),
           "first_due_on": date(2026, 12, 23)},
          subject="Loan {{ loan_id }} is disbursed",
          body="Loan {{ loan_id }} is disbursed: {{ net_amount|money }} is on its way to your account. "
               "Your first EMI of {{ emi_amount|money }} is due on {{ first_due_on|date }}."),
    _spec("emi.due", "EMI due", "reminders", ALL,
          {"loan_id": 501, "emi_amount": Decimal("11768.37"), "due_on": date(2026, 12, 23)},
          subject="Loan {{ loan_id }}: EMI due {{ due_on|date }}",
          body="Your EMI of {{ emi_amount|money }} on loan {{ loan_id }} is due on {{ due_on|date }}. "
               "Pay it from My loans before the due date."),
    # credit lines: the minimum due of a bill (the close of business reminds DUE_SOON_DAYS before due_on)
    _spec("bill.due", "Credit line minimum due", "reminders", ALL,
          {"loan_id": 501, "minimum_due": Decimal("1650.00"), "due_on": date(2026, 12, 8)},
          subject="Credit line {{ loan_id }}: minimum due {{ due_on|date }}",
          body="The minimum due of {{ minimum_due|money }} on your credit line {{ loan_id }} is due on "
               "{{ due_on|date }}. Pay it from My loans before the due date."),
    # term loans and credit lines, at the DPD of the close of business's OVERDUE_REMINDER_DPD (1, 7, 15, ...)
    _spec("emi.overdue", "EMI overdue", "legal", ALL,
          {"loan_id": 501, "dpd": 7, "overdue_amount": Decimal("11768.37")},
          subject="Loan {{ loan_id }} is {{ dpd }} day{{ '' if dpd == 1 else 's' }} overdue",
          body="Your loan {{ loan_id }} is {{ dpd }} day{{ '' if dpd == 1 else 's' }} overdue: "
               "{{ overdue_amount|money }} is unpaid. "
               "Please pay it from My loans as soon as you can; late payments are reported to credit bureaus."),
    # account: "loan" or "credit line"; closed: True when the payment repaid it in full
    _spec("payment.received", "Payment received", "service", ALL,
          {"loan_id": 501, "account": "loan", "amount": Decimal("8884.88"), "principal": Decimal("7884.88"),
           "interest": Decimal("1000.00"), "closed": False},
          subject="Payment received for {{ account }} {{ loan_id }}",
          body="We received {{ amount|money }} for {{ account }} {{ loan_id }}: {{ principal|money }} principal and "
               "{{ interest|money }} interest.{% if closed %} The {{ account }} is fully repaid and closed.{% endif %}",
          sms="We received {{ amount|money }} for {{ account }} {{ loan_id }}. Thank you."),
    _spec("payment.failed", "Payment failed", "service", ALL,
          {"loan_id": 501, "amount": Decimal("8884.88"), "reason": "declined by the bank"},
          subject="Your payment for loan {{ loan_id }} did not go through",
          body="Your payment of {{ amount|money }} for loan {{ loan_id }} did not go through: {{ reason }}",
          sms="Your payment of {{ amount|money }} for loan {{ loan_id }} did not go through. "
              "Details in the Credit Lifecycle Portal."),
    _spec("payment.bounced", "Payment bounced", "legal", ALL,
          {"loan_id": 501, "amount": Decimal("11768.37"), "reason": "insufficient funds"},
          subject="Your payment for loan {{ loan_id }} bounced",
          body="Your payment of {{ amount|money }} for loan {{ loan_id }} bounced ({{ reason }}). "
               "The amount is due again."),
    _spec("statement.ready", "Statement ready", "legal", ("in_app", "email"),
          {"loan_id": 501, "statement_on": date(2026, 11, 23), "minimum_due": Decimal("1650.00"),
           "due_on": date(2026, 12, 8)},
          subject="Your statement for credit line {{ loan_id }} is ready",
          body="Your statement of {{ statement_on|date }} for credit line {{ loan_id }} is ready. "
               "Minimum due {{ minimum_due|money }} by {{ due_on|date }}."),
    _spec("ticket.reply", "Support replied", "service", ("in_app", "email"),
          {"ticket_id": 42, "ticket_subject": "EMI paid twice"},
          subject="Ticket #{{ ticket_id }}",
          body="Support replied to your ticket #{{ ticket_id }}: {{ ticket_subject }}"),
    # document: the document's label ("PAN card", "Aadhaar"); kyc_verified: True when this approval verified KYC
    _spec("kyc.document_approved", "KYC document approved", "service", ("in_app", "email"),
          {"document": "PAN card", "kyc_verified": True},
          subject="Your {{ document }} is approved",
          body="Your {{ document }} has been approved.{% if kyc_verified %} Your KYC is now verified.{% endif %}"),
    _spec("kyc.document_rejected", "KYC document not accepted", "service", ALL,
          {"document": "Aadhaar", "reason": "The photo is blurred"},
          subject="Your {{ document }} was not accepted",
          body="Your {{ document }} was not accepted: {{ reason }}. Please upload it again.",
          sms="Your {{ document }} was not accepted. Upload it again in the Credit Lifecycle Portal."),
    _spec("onboarding.reminder", "Finish onboarding", "reminders", ALL, {"days": 3},
          subject="Finish your profile to apply for a loan",
          body="You registered {{ days }} day{{ '' if days == 1 else 's' }} ago but have not finished your "
               "profile and KYC yet. Sign in and open Profile & KYC to finish it; it takes about 5 minutes.",
          sms="Finish your profile and KYC in the Credit Lifecycle Portal to apply for a loan."),
)}


def event_spec(name: str) -> EventSpec:
    """The spec of event ``name``; ValueError for an unknown event."""
    try:
        return EVENTS[name]
    except KeyError:
        raise ValueError(f"unknown notification event {name!r}") from None
