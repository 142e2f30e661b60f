"""Customer: a borrower, registered in the portal or imported from a loan book."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Money, Timestamped, UTCDateTime, utcnow
from portal.extensions import db


class Customer(Timestamped, db.Model):
    """A borrower. ``id`` is the seed 003 ``customer_id``: imported customers keep the file's Customer ID,
    customers registered later get ids after the highest. Amounts in rupees (Decimal)."""

    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    age: Mapped[int | None] = mapped_column(Integer)
    phone_number: Mapped[str] = mapped_column(String(20), index=True)
    monthly_salary: Mapped[Decimal] = mapped_column(Money)
    approved_limit: Mapped[Decimal] = mapped_column(Money)
    source: Mapped[str] = mapped_column(String(20), default="portal")  # portal | import | api
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"))
    # onboarding (seed 002); filled by the wizard
    email: Mapped[str | None] = mapped_column(String(254))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(100))
    pincode: Mapped[str | None] = mapped_column(String(6))
    employment_type: Mapped[str | None] = mapped_column(String(30))  # salaried | self_employed | business
    employer_name: Mapped[str | None] = mapped_column(String(200))
    is_business: Mapped[bool] = mapped_column(Boolean, default=False)
    pan: Mapped[str | None] = mapped_column(String(10))
    # Aadhaar is stored encrypted (portal.crypto) and only its last 4 digits are shown (XXXX XXXX 1234)
    aadhaar_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    aadhaar_last4: Mapped[str | None] = mapped_column(String(4))
    gstin: Mapped[str | None] = mapped_column(String(15))
    kyc_status: Mapped[str] = mapped_column(String(20), default="not_started")
    # not_started | in_progress | submitted | verified | rejected
    onboarding_step: Mapped[str | None] = mapped_column(String(20))
    onboarding_data: Mapped[dict | None] = mapped_column(JSON)  # the wizard's saved draft (no Aadhaar in it)
    onboarding_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")

    @property
    def aadhaar_masked(self) -> str | None:
        """Aadhaar as shown everywhere after entry: 'XXXX XXXX 1234'."""
        return f"XXXX XXXX {self.aadhaar_last4}" if self.aadhaar_last4 else None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ConsentText(db.Model):
    """A versioned consent text (seed 002): purposes terms, kyc_processing, bureau_check, marketing."""

    __tablename__ = "consent_texts"
    __table_args__ = (UniqueConstraint("purpose", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Consent(db.Model):
    """One grant of a consent text by a customer, and its withdrawal (time and IP of each)."""

    __tablename__ = "consents"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    consent_text_id: Mapped[int] = mapped_column(ForeignKey("consent_texts.id"))
    purpose: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_ip: Mapped[str | None] = mapped_column(String(45))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_ip: Mapped[str | None] = mapped_column(String(45))

    text: Mapped[ConsentText] = relationship()


class KycDocument(db.Model):
    """An uploaded KYC document (seed 002). Stored outside static/ under a random name with its SHA-256;
    a re-upload of the same kind supersedes the previous one (history kept). OCR fills ``ocr_*`` and
    ``match_result`` (match | mismatch | unreadable); a loan officer approves or rejects it with a reason."""

    __tablename__ = "kyc_documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    # pan_card | aadhaar | voter_id | driving_licence | vehicle_rc | bank_statement | photo
    original_filename: Mapped[str] = mapped_column(String(255))
    storage_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ocr_status: Mapped[str] = mapped_column(String(20), default="pending")
    # pending | running | done | unavailable | failed | not_applicable
    ocr_text: Mapped[str | None] = mapped_column(Text)
    ocr_fields: Mapped[dict | None] = mapped_column(JSON)
    ocr_ms: Mapped[int | None] = mapped_column(Integer)
    match_result: Mapped[str | None] = mapped_column(String(12))
    review_status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | approved | rejected
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_reason: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer] = relationship()
