"""Consent management (seed 002): versioned consent texts; every grant and withdrawal with its time and IP.

A ``Consent`` row is one grant of one version of a text; withdrawing stamps ``withdrawn_at``/``withdrawn_ip``
on it (rows are never deleted, so the history stays readable). A purpose is *active* while a grant of it has no
withdrawal. Services flush and audit; the caller commits.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from portal.audit.services import record
from portal.errors import DomainError, NotFound
from portal.extensions import db
from portal.onboarding.models import Consent, ConsentText, Customer

TERMS, KYC_PROCESSING, BUREAU_CHECK, MARKETING = "terms", "kyc_processing", "bureau_check", "marketing"
PURPOSE_ORDER = (TERMS, KYC_PROCESSING, BUREAU_CHECK, MARKETING)

#: Version 1 of each consent text (created by ``portal.bootstrap.ensure_reference_data``).
DEFAULT_TEXTS: tuple[dict, ...] = (
    {"purpose": TERMS, "version": 1, "required": True, "title": "Terms of use",
     "body": "I have read and accept the portal's terms of use: I will give true and complete information, keep "
             "my sign-in details to myself, and tell the lender when my details change."},
    {"purpose": KYC_PROCESSING, "version": 1, "required": True, "title": "KYC processing",
     "body": "I allow the lender to collect, store and verify my identity details (PAN, Aadhaar, GSTIN) and the "
             "documents I upload, including reading them by OCR, to meet its Know Your Customer obligations. "
             "My Aadhaar number is stored encrypted and shown only as its last four digits."},
    {"purpose": BUREAU_CHECK, "version": 1, "required": False, "title": "Credit bureau check and scoring",
     "body": "I allow the lender to check my credit history with credit bureaus and to score my profile and my "
             "loan applications. Without this consent the lender cannot show my indicative limit or assess a "
             "new loan application."},
    {"purpose": MARKETING, "version": 1, "required": False, "title": "Offers and news",
     "body": "I would like to receive offers and news about the lender's products by SMS, email and in-app "
             "messages. I can withdraw this at any time."},
)


def _order(purpose: str) -> int:
    return PURPOSE_ORDER.index(purpose) if purpose in PURPOSE_ORDER else len(PURPOSE_ORDER)


def ensure_default_texts(*, now: datetime | None = None) -> list[ConsentText]:
    """Create version 1 of the default consent texts when missing (idempotent; flushes)."""
    created = []
    for spec in DEFAULT_TEXTS:
        exists = db.session.scalar(select(ConsentText.id).where(ConsentText.purpose == spec["purpose"],
                                                                ConsentText.version == spec["version"]))
        if exists is None:
            text = ConsentText(**spec, **({"published_at": now} if now else {}))
            db.session.add(text)
            created.append(text)
    if created:
        db.session.flush()
    return created


def current_texts() -> list[ConsentText]:
    """The latest published version of each purpose, in the standard order (terms first)."""
    latest = (select(ConsentText.purpose, func.max(ConsentText.version).label("version"))
              .group_by(ConsentText.purpose).subquery())
    texts = db.session.scalars(select(ConsentText).join(
        latest, (ConsentText.purpose == latest.c.purpose) & (ConsentText.version == latest.c.version))).all()
    return sorted(texts, key=lambda t: (_order(t.purpose), t.purpose))


def current_text(purpose: str) -> ConsentText:
    """The latest version of ``purpose``; NotFound (404) for an unknown purpose."""
    text = db.session.scalar(select(ConsentText).where(ConsentText.purpose == purpose)
                             .order_by(ConsentText.version.desc()).limit(1))
    if text is None:
        raise NotFound("There is no such consent.")
    return text


def purpose_exists(purpose: str) -> bool:
    """True once a consent text for ``purpose`` has been published (the customer can be asked)."""
    return db.session.scalar(select(ConsentText.id).where(ConsentText.purpose == purpose).limit(1)) is not None


def history(customer: Customer) -> list[Consent]:
    """Every grant of ``customer``, newest first (withdrawn ones included)."""
    return list(db.session.scalars(select(Consent).where(Consent.customer_id == customer.id)
                                   .order_by(Consent.granted_at.desc(), Consent.id.desc())))


def _active_rows(customer: Customer, purpose: str | None = None) -> list[Consent]:
    query = select(Consent).where(Consent.customer_id == customer.id, Consent.withdrawn_at.is_(None))
    if purpose is not None:
        query = query.where(Consent.purpose == purpose)
    return list(db.session.scalars(query.order_by(Consent.version.desc(), Consent.id.desc())))


def active_consents(customer: Customer) -> dict[str, Consent]:
    """``{purpose: Consent}``: the newest active (not withdrawn) grant of each purpose."""
    result: dict[str, Consent] = {}
    for row in _active_rows(customer):
        result.setdefault(row.purpose, row)
    return result


def active_consent(customer: Customer, purpose: str) -> Consent | None:
    """The newest active grant of ``purpose``, or None."""
    rows = _active_rows(customer, purpose)
    return rows[0] if rows else None


def has_consent(customer: Customer, purpose: str) -> bool:
    """True while ``customer`` has an active grant of ``purpose`` (any version)."""
    return active_consent(customer, purpose) is not None


def ever_granted(customer: Customer, purpose: str) -> bool:
    """True when ``customer`` granted ``purpose`` at some time (withdrawn or not)."""
    return db.session.scalar(select(Consent.id).where(Consent.customer_id == customer.id,
                                                      Consent.purpose == purpose).limit(1)) is not None


def grant(customer: Customer, purpose: str, *, now: datetime, ip: str | None) -> Consent:
    """Grant the current version of ``purpose``; a grant of that version that is still active is returned
    unchanged (no duplicate). Audited as ``consent.granted``."""
    text = current_text(purpose)
    for row in _active_rows(customer, purpose):
        if row.version == text.version:
            return row
    consent = Consent(customer_id=customer.id, consent_text_id=text.id, purpose=purpose, version=text.version,
                      granted_at=now, granted_ip=ip)
    db.session.add(consent)
    db.session.flush()
    record(customer.user, "consent.granted", consent,
           changes={"purpose": purpose, "version": text.version, "granted_at": now, "granted_ip": ip},
           institution_id=customer.institution_id)
    return consent


def withdraw(customer: Customer, purpose: str, *, now: datetime, ip: str | None) -> list[Consent]:
    """Withdraw every active grant of ``purpose`` (time and IP stamped on each). DomainError (409) when
    nothing is active. Audited as ``consent.withdrawn``."""
    current_text(purpose)  # 404 for an unknown purpose
    rows = _active_rows(customer, purpose)
    if not rows:
        raise DomainError("There is no active consent to withdraw for this purpose.", 409)
    for row in rows:
        row.withdrawn_at, row.withdrawn_ip = now, ip
        record(customer.user, "consent.withdrawn", row,
               changes={"purpose": purpose, "version": row.version, "withdrawn_at": now, "withdrawn_ip": ip},
               institution_id=customer.institution_id)
    db.session.flush()
    return rows


def check_scoring_allowed(customer: Customer) -> None:
    """Refuse new scoring (DomainError 422) for a customer who has been asked for the bureau-check consent
    and does not hold it now.

    "Asked" means: the customer signs in (has a login), the bureau-check consent text exists, and the customer
    has started onboarding (``kyc_status`` is not ``not_started``). Imported and API customers, and customers
    who have not reached the wizard yet, are not affected.
    """
    if customer.user_id is None or (customer.kyc_status or "not_started") == "not_started":
        return
    if not purpose_exists(BUREAU_CHECK) or has_consent(customer, BUREAU_CHECK):
        return
    if ever_granted(customer, BUREAU_CHECK):
        raise DomainError("You withdrew consent for the bureau check, so we cannot score a new application. "
                          "Give it again on the Consents page (My consents) to apply.")
    raise DomainError("You have not given consent for the bureau check, so we cannot score a new application. "
                      "Give it on the Consents page (My consents) to apply.")
