"""Reference data every database needs: the default institution, the standard term-loan and credit-line
products, the chart of accounts, the consent texts and the built-in scorecards.
Idempotent; run by ``flask --app wsgi init-data`` (and by ``seed-demo``)."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from portal.auth.models import Institution
from portal.auth.services import default_institution
from portal.extensions import db
from portal.lending.models import Product

TERM_LOAN = {"code": "TL-PERSONAL", "name": "Personal term loan", "kind": "term_loan",
             "min_amount": Decimal("10000.00"), "max_amount": Decimal("5000000.00"), "min_tenure": 6,
             "max_tenure": 120, "interest_rate": Decimal("14.00")}
#: Seed 004's revolving credit line: limit Rs 50,000, APR 24 %, apply with a savings-balance score >= 450 and an
#: annual income >= Rs 1,50,000; tenure fields are unused (billing every 30 days until closed).
CREDIT_LINE = {"code": "CL-REVOLVING", "name": "Revolving credit line", "kind": "credit_line",
               "min_amount": Decimal("1000.00"), "max_amount": Decimal("50000.00"), "min_tenure": 1,
               "max_tenure": 1, "interest_rate": Decimal("24.00"), "processing_fee_rate": Decimal("0.00"),
               "processing_fee_cap_amount": Decimal("0.00"), "min_score": 450,
               "min_annual_income_amount": Decimal("150000.00")}


def ensure_reference_data() -> tuple[Institution, Product]:
    """Create the default institution and the seed 003 personal term loan (rate 14 % p.a., Rs 10,000 to
    Rs 50,00,000, 6-120 months) when missing. Returns both; flushes."""
    institution = default_institution()
    product = db.session.scalar(select(Product).where(Product.institution_id == institution.id,
                                                      Product.code == TERM_LOAN["code"]))
    if product is None:
        product = Product(institution_id=institution.id, **TERM_LOAN)
        db.session.add(product)
        db.session.flush()
    if db.session.scalar(select(Product.id).where(Product.institution_id == institution.id,
                                                  Product.code == CREDIT_LINE["code"])) is None:
        db.session.add(Product(institution_id=institution.id, **CREDIT_LINE))
        db.session.flush()
    from portal.ledger.services import ensure_accounts

    ensure_accounts(institution.id)  # the chart of accounts (portal/ledger/models.py)
    from portal.onboarding.consents import ensure_default_texts

    ensure_default_texts()  # version 1 of the consent texts: terms, kyc_processing, bureau_check, marketing
    from portal.scoring.services import ensure_builtin_scorecards

    ensure_builtin_scorecards()  # loan-history and savings-balance v1 (the migration creates them too)
    from portal.alerts.services import ensure_builtin_rules

    ensure_builtin_rules(institution.id)  # alert rules DPD 1/30/60/90 and the event rules (the migration too)
    from portal.notifications.templates import ensure_default_templates

    ensure_default_templates(institution.id)  # version 1 of every notification template (event x channel)
    return institution, product
