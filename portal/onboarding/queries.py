"""Read-side queries for onboarding pages (Select objects; views execute them)."""
from __future__ import annotations

from sqlalchemy import Select, and_, func, or_, select

from portal.onboarding.models import Customer, KycDocument


def _current(*conditions):
    return and_(KycDocument.customer_id == Customer.id, KycDocument.superseded_at.is_(None), *conditions)


def kyc_queue(institution_id: int) -> Select:
    """The KYC queue of one institution: customers whose KYC is submitted or who have current documents waiting
    for review, oldest first. Rows are ``(Customer, pending, approved, rejected, mismatched, waiting_since)``."""
    def count(*conditions):
        return (select(func.count(KycDocument.id)).where(_current(*conditions))
                .correlate(Customer).scalar_subquery())

    pending = count(KycDocument.review_status == "pending")
    oldest_pending = (select(func.min(KycDocument.uploaded_at)).where(_current(KycDocument.review_status == "pending"))
                      .correlate(Customer).scalar_subquery())
    waiting_since = func.coalesce(oldest_pending, Customer.onboarding_submitted_at, Customer.created_at)
    return (select(Customer, pending.label("pending"),
                   count(KycDocument.review_status == "approved").label("approved"),
                   count(KycDocument.review_status == "rejected").label("rejected"),
                   count(KycDocument.match_result == "mismatch").label("mismatched"),
                   waiting_since.label("waiting_since"))
            .where(Customer.institution_id == institution_id,
                   or_(Customer.kyc_status == "submitted", pending > 0))
            .order_by(waiting_since, Customer.id))
