"""The built-in scorecards on PostgreSQL: created by the migration, shared by every institution, and the
loan-history score equal to ``portal.lending.rules.credit_score`` for every customer of the real Alemeno book."""
from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest
from sqlalchemy import select

from portal.auth.models import Institution
from portal.lending import rules
from portal.lending.models import Loan
from portal.lending.services import past_loan
from portal.onboarding.models import Customer
from portal.scoring import runs, services
from portal.scoring.builtins import BUILTINS
from portal.scoring.models import Scorecard, ScoreResult


def test_the_migration_creates_the_published_builtins(db):
    cards = db.session.scalars(select(Scorecard).order_by(Scorecard.slug)).all()
    assert [(c.slug, c.institution_id, c.builtin) for c in cards] == [
        ("loan-history", None, True), ("savings-balance", None, True)]
    for card in cards:
        [version] = card.versions
        assert (version.number, version.status) == (1, "published") and version.published_at is not None
        expected = next(b for b in BUILTINS if b["slug"] == card.slug)
        assert services.definition_of(version) == {k: expected[k] for k in (
            "base_score", "min_score", "max_score", "features", "rules", "bands")}


def test_builtins_are_usable_by_every_institution(db):
    other = Institution(slug="other-bank", name="Other Bank")
    db.session.add(other)
    db.session.flush()
    for institution_id in (1, other.id):
        assert {c.slug for c in services.visible_scorecards(institution_id)} == {"loan-history", "savings-balance"}
        version = services.current_version("savings-balance", institution_id=institution_id)
        assert services.compiled(version).score({"balance": 568450}).score == 610


def _history(as_of: date):
    loans = defaultdict(list)
    for loan in db_session().scalars(select(Loan)):
        loans[loan.customer_id].append(past_loan(loan))
    return loans


def db_session():
    from portal.extensions import db

    return db.session


@pytest.mark.parametrize("as_of", [date(2026, 11, 23), date(2023, 8, 30), date(2019, 6, 15)])
def test_loan_history_equals_credit_score_for_the_whole_real_book(db, book, as_of):
    customers = db.session.scalars(select(Customer).order_by(Customer.id)).all()
    assert len(customers) == 300
    history = _history(as_of)
    features = services.loan_history_features_bulk(1, as_of)
    card = services.compiled(services.current_version("loan-history", institution_id=1))
    bands = set()
    for customer in customers:
        expected = rules.credit_score(history[customer.id], customer.approved_limit, as_of)
        outcome = card.score(features[customer.id])
        assert outcome.score == expected.score, (customer.id, outcome.as_dict(), expected)
        points = {c.key: c.points for c in expected.components}
        assert [c.points for c in outcome.contributions[:4]] == [
            points["on_time"], points["past_loans"], points["current_year"], points["volume"]]
        bands.add(outcome.band)
    assert len(bands) >= 3  # the book spreads over several bands


def test_the_recalculation_stores_a_result_per_customer_equal_to_credit_score(db, book, clock):
    run = runs.recalculate_all(clock=clock, now=clock.now())[0]
    db.session.commit()
    assert run.result["scorecards"]["loan-history"]["scored"] == 300
    as_of = run.as_of
    history = _history(as_of)
    results = db.session.scalars(select(ScoreResult).where(ScoreResult.purpose == "recalculation")).all()
    assert len(results) == 300
    for result in results:
        customer = db.session.get(Customer, result.customer_id)
        assert result.score == rules.credit_score(history[customer.id], customer.approved_limit, as_of).score
        assert result.subject_ref == f"customer:{customer.id}" and len(result.contributions) == 5
