"""Offers and their Key Facts Statement (RBI's KFS for retail and MSME loans).

``build_offer`` prices the terms with the product's processing fee (``kfs.key_facts``: EMI, full schedule,
total interest, total payable, net disbursement, APR), keeps the figures on the Offer and freezes the KFS as a
canonical JSON document (``Offer.kfs``: every figure as a string, every text as shown). ``render_kfs`` turns that
JSON into the HTML the customer reads (``lending/offers/_kfs_document.html``: no request data, no time-dependent
parts, so the same offer always renders the same bytes); on acceptance the services store that HTML and its
SHA-256 on the offer, and the customer can download it again. Status changes live in ``services.py``.
"""
from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app

from portal.audit.services import record
from portal.extensions import db
from portal.lending.apr import APR_METHOD
from portal.lending.kfs import KeyFacts, key_facts
from portal.lending.models import LoanApplication, Offer
from portal.money import format_inr

KFS_VERSION = 1
KFS_TEMPLATE = "lending/offers/_kfs_document.html"


def local_text(moment: datetime) -> str:
    """An aware timestamp as people read it in the portal's time zone: '30 Nov 2026, 10:00 IST'."""
    tz = ZoneInfo(current_app.config.get("PORTAL_TIMEZONE", "Asia/Kolkata"))
    return moment.astimezone(tz).strftime("%d %b %Y, %H:%M %Z")


def _rate(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'))}"


def facts_for(app: LoanApplication, *, amount: Decimal, interest_rate: Decimal, tenure: int,
              as_of: date) -> KeyFacts:
    """The KFS figures of these terms under the application's product (processing fee rate and cap)."""
    product = app.product
    return key_facts(amount, interest_rate, tenure, fee_rate=product.processing_fee_rate,
                     fee_cap=product.processing_fee_cap_amount, start_on=as_of)


def kfs_document(app: LoanApplication, offer: Offer, facts: KeyFacts, *, now: datetime, as_of: date) -> dict:
    """The canonical KFS of ``offer`` as JSON-ready data (strings for amounts and rates)."""
    config = current_app.config
    product = app.product
    cooling_off = int(config.get("KFS_COOLING_OFF_DAYS", 3))
    fee_basis = (f"{_rate(product.processing_fee_rate)}% of the sanctioned amount, at most "
                 f"{format_inr(product.processing_fee_cap_amount)}, deducted from the disbursement")
    return {
        "version": KFS_VERSION,
        "lender": _lender(app),
        "borrower": {"name": app.customer.name, "customer_id": app.customer_id},
        "application_id": app.id,
        "offer_id": offer.id,
        "offer_kind": offer.kind,
        "loan_type": product.name,
        "issued_on": as_of.isoformat(),
        "issued_at_text": local_text(now),
        "valid_until_text": local_text(offer.expires_at),
        "sanctioned_amount": str(facts.amount),
        "disbursal": "100% upfront, in one payment to your bank account on the day you accept this offer",
        "tenure_months": facts.tenure,
        "instalment": {"type": "Monthly", "count": len(facts.schedule), "amount": str(facts.emi),
                       "last_amount": str(facts.schedule[-1].installment),
                       "commencement": "One month after the disbursement, then on the same day every month"},
        "interest_rate": _rate(facts.annual_rate),
        "rate_type": "Fixed",
        "fees": [{"name": "Processing fee", "kind": "One-time", "payable_to": "the lender", "basis": fee_basis,
                  "amount": str(facts.processing_fee)}],
        "processing_fee_amount": str(facts.processing_fee),
        "net_disbursed_amount": str(facts.net_disbursed),
        "total_interest_amount": str(facts.total_interest),
        "total_payable_amount": str(facts.total_payable),
        "apr": str(facts.apr.apr),
        "effective_annual_rate": str(facts.apr.effective_annual_rate),
        "apr_method": APR_METHOD,
        "penal_charges": (f"{_rate(product.penal_charge_rate)}% a year on the overdue instalment amount, for the "
                          "days it stays unpaid. A charge, not interest: it is never added to the interest rate "
                          "and never compounded."),
        "other_charges": "None. No foreclosure or prepayment charge on this fixed-rate loan.",
        "cooling_off_days": cooling_off,
        "cooling_off": (f"You may leave this loan within {cooling_off} days of the disbursement by repaying the "
                        "principal and the interest for the days you had it, at the APR, with no other charge."),
        "recovery_contact": config.get("KFS_RECOVERY_CONTACT", ""),
        "grievance_contact": config.get("KFS_GRIEVANCE_CONTACT", ""),
        "schedule": [{"seq": r.seq, "principal": str(r.principal), "interest": str(r.interest),
                      "installment": str(r.installment), "balance": str(r.balance)} for r in facts.schedule],
    }


def _lender(app: LoanApplication) -> str:
    from portal.auth.models import Institution

    institution = db.session.get(Institution, app.institution_id)
    return institution.name if institution else ""


def build_offer(app: LoanApplication, *, amount: Decimal, interest_rate: Decimal, tenure: int, kind: str, actor,
                now: datetime, as_of: date) -> Offer:
    """Create the Offer for these terms (status offered, expiring OFFER_VALID_DAYS from ``now``) with its KFS
    frozen as JSON; audited. Flushes. ValueError/DomainError for terms that cannot be priced."""
    facts = facts_for(app, amount=amount, interest_rate=interest_rate, tenure=tenure, as_of=as_of)
    valid_days = int(current_app.config.get("OFFER_VALID_DAYS", 7))
    offer = Offer(application=app, kind=kind, amount=facts.amount, interest_rate=facts.annual_rate,
                  rate_type="fixed", tenure=tenure, emi_amount=facts.emi, processing_fee_amount=facts.processing_fee,
                  net_disbursed_amount=facts.net_disbursed, total_interest_amount=facts.total_interest,
                  total_payable_amount=facts.total_payable, apr=facts.apr.apr, status="offered",
                  offered_by_id=getattr(actor, "id", None), offered_at=now,
                  expires_at=now + timedelta(days=valid_days), kfs={})
    db.session.add(offer)
    db.session.flush()
    offer.kfs = kfs_document(app, offer, facts, now=now, as_of=as_of)
    record(actor, "offer.created", offer, institution_id=app.institution_id,
           changes={"kind": kind, "amount": offer.amount, "interest_rate": offer.interest_rate, "tenure": tenure,
                    "emi": offer.emi_amount, "processing_fee": offer.processing_fee_amount, "apr": offer.apr,
                    "expires_at": offer.expires_at, "application_id": app.id})
    return offer


def render_kfs(offer: Offer) -> str:
    """The KFS of ``offer`` as the customer sees it (HTML, deterministic for a given ``offer.kfs``): rendered
    from the template alone, without the request's context processors (no user, no CSRF token, no clock)."""
    return current_app.jinja_env.get_template(KFS_TEMPLATE).render(kfs=offer.kfs)


def kfs_digest(html: str) -> str:
    """SHA-256 (hex) of a rendered KFS."""
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def shown_kfs(offer: Offer) -> tuple[str, str]:
    """(html, digest) of the KFS to show: the stored document once accepted, else a fresh rendering."""
    if offer.kfs_html is not None:
        return offer.kfs_html, offer.kfs_sha256
    html = render_kfs(offer)
    return html, kfs_digest(html)
