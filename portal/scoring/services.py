"""Scorecards: find, edit (drafts), publish, score, preview and compare. Services flush and audit; the caller
commits once.

Scorecards visible to an institution are the built-ins (``institution_id`` NULL) and its own. Editing a built-in
makes the institution's own copy with the same slug (its version 1 is a draft copied from the built-in's
published version); from then on the slug resolves to the copy for that institution, and to the built-in until
the copy has a published version (``current_version``). Published versions are immutable: editing makes a new
draft; publishing retires the previous published version.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, case, func, or_, select, type_coerce

from portal.audit.services import record
from portal.business_date import current_business_date
from portal.errors import DomainError, NotFound
from portal.extensions import db
from portal.money import from_paise
from portal.scoring import engine, features
from portal.scoring.models import SavingsAccount, SavingsTransaction, Scorecard, ScorecardVersion, ScoreResult

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,58}[a-z0-9]$")
DEFAULT_BANDS = {  # a starting point for a new scorecard, by score range
    (0, 100): [("AA", 80, 100, True), ("A", 51, 79, True), ("B", 31, 50, True), ("C", 11, 30, True),
               ("D", 0, 10, False)],
    (300, 900): [("AA", 750, 900, True), ("A", 650, 749, True), ("B", 550, 649, True), ("C", 450, 549, True),
                 ("D", 300, 449, False)],
}


class DefinitionRefused(DomainError):
    """A draft that cannot be saved; ``issues`` lists every problem (expression errors with line/column)."""

    def __init__(self, issues: list[engine.Issue]):
        self.issues = issues
        super().__init__("The scorecard was not saved: " + "; ".join(str(i) for i in issues), 422)


# ------------------------------------------------------------------------------------------------ finding


def visible_scorecards(institution_id: int) -> list[Scorecard]:
    """The institution's own scorecards and the built-ins it has not replaced with its own copy, by name."""
    rows = db.session.scalars(select(Scorecard).where(
        or_(Scorecard.institution_id == institution_id, Scorecard.institution_id.is_(None)))
        .order_by(Scorecard.institution_id.is_(None), Scorecard.name)).all()
    own = {card.slug for card in rows if card.institution_id == institution_id}
    return sorted((card for card in rows if card.institution_id is not None or card.slug not in own),
                  key=lambda card: card.name.lower())


def get_scorecard(scorecard_id: int, *, institution_id: int) -> Scorecard:
    """A scorecard the institution may see (its own or a built-in); NotFound otherwise."""
    card = db.session.get(Scorecard, scorecard_id)
    if card is None or card.institution_id not in (None, institution_id):
        raise NotFound("There is no such scorecard.")
    return card


def get_version(version_id: int, *, institution_id: int) -> ScorecardVersion:
    version = db.session.get(ScorecardVersion, version_id)
    if version is None or version.scorecard.institution_id not in (None, institution_id):
        raise NotFound("There is no such scorecard version.")
    return version


def resolve_scorecard(slug: str, *, institution_id: int) -> Scorecard:
    """The scorecard ``slug`` means for the institution: its own copy, else the built-in; NotFound otherwise."""
    cards = db.session.scalars(select(Scorecard).where(
        Scorecard.slug == slug, or_(Scorecard.institution_id == institution_id,
                                    Scorecard.institution_id.is_(None)))).all()
    own = [c for c in cards if c.institution_id == institution_id]
    if own:
        return own[0]
    if cards:
        return cards[0]
    raise NotFound(f"There is no scorecard {slug!r}.")


def builtin_for(card: Scorecard) -> Scorecard | None:
    """The built-in scorecard an institution's copy replaces (same slug), if any."""
    if card.institution_id is None:
        return card
    return db.session.scalar(select(Scorecard).where(Scorecard.slug == card.slug,
                                                     Scorecard.institution_id.is_(None)))


def current_version(slug_or_card: str | Scorecard, *, institution_id: int) -> ScorecardVersion:
    """The published version that scores with ``slug`` for the institution (its copy's, else the built-in's)."""
    card = slug_or_card if isinstance(slug_or_card, Scorecard) else resolve_scorecard(
        slug_or_card, institution_id=institution_id)
    for candidate in (card, builtin_for(card)):
        if candidate is not None and candidate.published_version is not None:
            return candidate.published_version
    raise DomainError(f"The scorecard {card.slug!r} has no published version yet.", 409)


def family_versions(card: Scorecard) -> list[ScorecardVersion]:
    """Versions that can be compared with ``card``'s: its own and, for an institution's copy, the built-in's."""
    versions = list(card.versions)
    base = builtin_for(card)
    if base is not None and base is not card:
        versions = list(base.versions) + versions
    return versions


# ------------------------------------------------------------------------------------------------ definitions


def ensure_builtin_scorecards() -> list[Scorecard]:
    """Create the built-in scorecards (published version 1, ``portal.scoring.builtins``) when missing; the
    migration ``a4scorecards01`` inserts the same rows, so this only matters for a database emptied since
    (tests truncate every table). Idempotent; flushes."""
    from portal.db import utcnow
    from portal.scoring.builtins import BUILTINS

    cards = []
    for spec in BUILTINS:
        card = db.session.scalar(select(Scorecard).where(Scorecard.slug == spec["slug"],
                                                         Scorecard.institution_id.is_(None)))
        if card is None:
            now = utcnow()
            card = Scorecard(institution_id=None, slug=spec["slug"], name=spec["name"],
                             description=spec["description"], source=spec["source"], builtin=True)
            db.session.add(card)
            db.session.add(ScorecardVersion(
                scorecard=card, number=1, status="published", base_score=spec["base_score"],
                min_score=spec["min_score"], max_score=spec["max_score"], features=spec["features"],
                rules=spec["rules"], bands=spec["bands"], notes="Built-in version 1", created_at=now,
                updated_at=now, published_at=now))
            db.session.flush()
        cards.append(card)
    return cards


def definition_of(version: ScorecardVersion) -> dict:
    """The engine's view of a stored version."""
    return {"base_score": version.base_score, "min_score": version.min_score, "max_score": version.max_score,
            "features": version.features, "rules": version.rules, "bands": version.bands}


_compiled_cache: dict[tuple, engine.CompiledScorecard] = {}


def compiled(version: ScorecardVersion) -> engine.CompiledScorecard:
    """The compiled scorecard of ``version``; published versions are immutable, so they are cached."""
    if version.status == "draft":
        return engine.compile_scorecard(definition_of(version))
    key = (version.id, version.published_at)
    if key not in _compiled_cache:
        if len(_compiled_cache) > 256:
            _compiled_cache.clear()
        _compiled_cache[key] = engine.compile_scorecard(definition_of(version))
    return _compiled_cache[key]


def normalise_definition(definition: dict, source: str) -> dict:
    """Validate a definition posted by the editor (DefinitionRefused with every issue) and return it in the
    stored shape: features fixed by the source, rules and bands cleaned, numbers as JSON-safe values."""
    data = dict(definition)
    data["features"] = features.SOURCES[source]
    try:
        compiled_card = engine.compile_scorecard(data)
    except engine.DefinitionError as exc:
        raise DefinitionRefused(exc.issues) from None
    rules = []
    for rule in compiled_card.rules:
        rules.append({"name": rule.name, "expression": rule.expression.strip(),
                      "points": None if rule.points is None else engine._jsonable(Decimal(rule.points)),
                      "weight": None if rule.weight is None else str(rule.weight.normalize()),
                      "note": rule.note.strip()})
    bands = [{"band": b.label, "min": b.min, "max": b.max, "approve": b.approve}
             for b in sorted(compiled_card.bands, key=lambda b: -b.min)]
    return {"base_score": compiled_card.base, "min_score": compiled_card.min_score,
            "max_score": compiled_card.max_score, "features": data["features"], "rules": rules, "bands": bands}


def _copy_version(source: ScorecardVersion, card: Scorecard, number: int, actor, note: str) -> ScorecardVersion:
    version = ScorecardVersion(
        scorecard=card, number=number, status="draft", base_score=source.base_score, min_score=source.min_score,
        max_score=source.max_score, features=list(source.features), rules=[dict(r) for r in source.rules],
        bands=[dict(b) for b in source.bands], notes=note, created_by_id=getattr(actor, "id", None))
    db.session.add(version)
    return version


def create_scorecard(*, institution_id: int, slug: str, name: str, source: str, description: str = "",
                     min_score: int = 0, max_score: int = 100, actor) -> Scorecard:
    """A new scorecard of the institution with an empty draft version 1 (base = minimum, default bands)."""
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise DomainError("The slug must be 3 to 60 lower-case letters, digits and hyphens.")
    if source not in features.SOURCES:
        raise DomainError(f"Unknown feature source {source!r}.")
    if db.session.scalar(select(Scorecard.id).where(
            Scorecard.slug == slug, or_(Scorecard.institution_id == institution_id,
                                        Scorecard.institution_id.is_(None)))):
        raise DomainError(f"A scorecard with the slug {slug!r} exists already.", 409)
    if min_score >= max_score:
        raise DomainError("The maximum score must be greater than the minimum.")
    card = Scorecard(institution_id=institution_id, slug=slug, name=(name or slug).strip()[:120],
                     description=(description or "").strip(), source=source, builtin=False)
    db.session.add(card)
    bands = DEFAULT_BANDS.get((min_score, max_score)) or [("A", min_score, max_score, True)]
    db.session.add(ScorecardVersion(
        scorecard=card, number=1, status="draft", base_score=min_score, min_score=min_score, max_score=max_score,
        features=features.SOURCES[source], rules=[],
        bands=[{"band": b, "min": lo, "max": hi, "approve": ok} for b, lo, hi, ok in bands],
        notes="New scorecard", created_by_id=getattr(actor, "id", None)))
    db.session.flush()
    record(actor, "scorecard.created", card, institution_id=institution_id,
           changes={"slug": slug, "source": source, "range": f"{min_score}-{max_score}"})
    return card


def start_draft(card: Scorecard, *, institution_id: int, actor) -> ScorecardVersion:
    """The draft to edit: the existing draft, else a new draft copied from the current version. For a built-in,
    the institution's own copy (same slug) is created first."""
    if card.institution_id is None:
        own = db.session.scalar(select(Scorecard).where(Scorecard.slug == card.slug,
                                                        Scorecard.institution_id == institution_id))
        if own is None:
            own = Scorecard(institution_id=institution_id, slug=card.slug, name=card.name,
                            description=card.description, source=card.source, builtin=False)
            db.session.add(own)
            db.session.flush()
            record(actor, "scorecard.copied", own, institution_id=institution_id,
                   changes={"slug": card.slug, "from_builtin_version": card.published_version.number})
        card = own
    if card.draft_version is not None:
        return card.draft_version
    source = current_version(card, institution_id=institution_id)
    number = max((v.number for v in card.versions), default=0) + 1
    origin = f"built-in v{source.number}" if source.scorecard.institution_id is None else f"v{source.number}"
    version = _copy_version(source, card, number, actor, f"Draft from {origin}")
    db.session.flush()
    record(actor, "scorecard.draft_created", version, institution_id=institution_id,
           changes={"scorecard": card.slug, "number": number, "from": origin})
    return version


def _editable(version: ScorecardVersion, institution_id: int) -> None:
    if version.scorecard.institution_id != institution_id:
        raise DomainError("Built-in versions cannot be edited; edit the scorecard to make your own draft.", 409)
    if version.status != "draft":
        raise DomainError(f"Version {version.number} is {version.status} and cannot be changed; "
                          "start a new draft instead.", 409)


def save_draft(version: ScorecardVersion, definition: dict, *, notes: str | None = None, institution_id: int,
               actor, now: datetime) -> ScorecardVersion:
    """Validate ``definition`` (DefinitionRefused with every issue, nothing saved) and store it on the draft."""
    _editable(version, institution_id)
    clean = normalise_definition(definition, version.scorecard.source)
    changes = {}
    for key in ("base_score", "min_score", "max_score", "rules", "bands"):
        if getattr(version, key) != clean[key]:
            changes[key] = (getattr(version, key), clean[key])
            setattr(version, key, clean[key])
    version.features = clean["features"]
    if notes is not None and notes.strip() != version.notes:
        changes["notes"] = (version.notes, notes.strip())
        version.notes = notes.strip()
    version.updated_at = now
    db.session.flush()
    if changes:
        record(actor, "scorecard.draft_saved", version, institution_id=institution_id,
               changes={k: (_brief(old), _brief(new)) for k, (old, new) in changes.items()})
    return version


def _brief(value):
    return value if not isinstance(value, list) else f"{len(value)} item(s)"


def publish_version(version: ScorecardVersion, *, institution_id: int, actor, now: datetime) -> ScorecardVersion:
    """Publish a draft (validated again); the previous published version of the scorecard is retired."""
    _editable(version, institution_id)
    normalise_definition(definition_of(version), version.scorecard.source)
    if not version.rules:
        raise DomainError("Add at least one rule before publishing.")
    retired = []
    for other in version.scorecard.versions:
        if other.status == "published":
            other.status, other.retired_at = "retired", now
            retired.append(other.number)
    version.status, version.published_at, version.published_by_id = "published", now, getattr(actor, "id", None)
    db.session.flush()
    record(actor, "scorecard.published", version, institution_id=institution_id,
           changes={"scorecard": version.scorecard.slug, "number": version.number,
                    "retired": retired or None})
    return version


def discard_draft(version: ScorecardVersion, *, institution_id: int, actor) -> Scorecard:
    """Delete a draft (a copy of a built-in without any other version is deleted with it)."""
    _editable(version, institution_id)
    card = version.scorecard
    record(actor, "scorecard.draft_discarded", version, institution_id=institution_id,
           changes={"scorecard": card.slug, "number": version.number})
    card.versions.remove(version)
    db.session.flush()
    if not card.versions:
        base = builtin_for(card)
        db.session.delete(card)
        db.session.flush()
        return base or card
    return card


# ------------------------------------------------------------------------------------------------ subjects


@dataclass(frozen=True)
class Subject:
    """What a score is about: a customer (loan history, or savings through a linked account) or a savings
    account (the CSV's user)."""

    ref: str
    label: str
    customer_id: int | None = None
    savings_account_id: int | None = None


def customer_subject(customer) -> Subject:
    return Subject(f"customer:{customer.id}", f"#{customer.id} {customer.name}", customer_id=customer.id)


def savings_subject(account: SavingsAccount) -> Subject:
    label = f"{account.external_user[:8]}…" + (f" (customer #{account.customer_id})" if account.customer_id else "")
    return Subject(f"savings:{account.external_user}", label, customer_id=account.customer_id,
                   savings_account_id=account.id)


def parse_subject(ref: str, *, institution_id: int) -> Subject:
    """``customer:<id>`` or ``savings:<external user>`` of the institution; NotFound otherwise."""
    from portal.onboarding.models import Customer

    kind, _, value = (ref or "").partition(":")
    if kind == "customer" and value.isdigit():
        customer = db.session.get(Customer, int(value))
        if customer is not None and customer.institution_id == institution_id:
            return customer_subject(customer)
    elif kind == "savings" and value:
        account = db.session.scalar(select(SavingsAccount).where(
            SavingsAccount.institution_id == institution_id, SavingsAccount.external_user == value))
        if account is not None:
            return savings_subject(account)
    raise NotFound("There is no such customer or savings account.")


def subject_choices(source: str, *, institution_id: int, limit: int = 500) -> list[Subject]:
    """Subjects to pick for a preview: customers (loan history) or savings accounts (savings)."""
    from portal.onboarding.models import Customer

    if source == "savings":
        accounts = db.session.scalars(select(SavingsAccount).where(SavingsAccount.institution_id == institution_id)
                                      .order_by(SavingsAccount.id).limit(limit))
        return [savings_subject(a) for a in accounts]
    customers = db.session.scalars(select(Customer).where(Customer.institution_id == institution_id)
                                   .order_by(Customer.id).limit(limit))
    return [customer_subject(c) for c in customers]


def features_for(subject: Subject, source: str, *, institution_id: int, as_of: date) -> dict:
    """The features of ``subject`` for ``source`` on ``as_of``. A customer without a linked savings account
    has no savings features (DomainError)."""
    if source == "loan_history":
        if subject.customer_id is None:
            raise DomainError("Loan-history scorecards score customers; this subject is not a customer.")
        return loan_history_features_bulk(institution_id, as_of, customer_ids=[subject.customer_id])[
            subject.customer_id]
    account_id = subject.savings_account_id
    if account_id is None:
        account_id = db.session.scalar(select(SavingsAccount.id).where(
            SavingsAccount.customer_id == subject.customer_id, SavingsAccount.institution_id == institution_id))
    if account_id is None:
        raise DomainError("This customer has no linked savings-transactions account to score.")
    return savings_features_bulk(institution_id, account_ids=[account_id])[account_id]


def loan_history_features_bulk(institution_id: int, as_of: date, *, customer_ids=None) -> dict[int, dict]:
    """Loan-history features of the institution's customers (all, or ``customer_ids``) in two queries."""
    from portal.lending.models import Loan
    from portal.lending.rules import PastLoan
    from portal.onboarding.models import Customer

    q = select(Customer.id, Customer.approved_limit, Customer.monthly_salary, Customer.age).where(
        Customer.institution_id == institution_id)
    lq = select(Loan.customer_id, Loan.loan_amount, Loan.tenure, Loan.emis_paid_on_time, Loan.monthly_installment,
                Loan.approved_on, Loan.end_on).where(Loan.institution_id == institution_id,
                                                      Loan.kind == "term_loan")
    if customer_ids is not None:
        q = q.where(Customer.id.in_(list(customer_ids)))
        lq = lq.where(Loan.customer_id.in_(list(customer_ids)))
    history: dict[int, list[PastLoan]] = defaultdict(list)
    for cid, amount, tenure, paid, emi, approved_on, end_on in db.session.execute(lq.order_by(Loan.approved_on)):
        history[cid].append(PastLoan(loan_amount=amount, tenure=tenure, emis_paid_on_time=paid,
                                     monthly_installment=emi, approved_on=approved_on, end_on=end_on))
    return {cid: features.loan_history_features(history[cid], approved_limit=limit, as_of=as_of,
                                                monthly_salary=salary, age=age)
            for cid, limit, salary, age in db.session.execute(q.order_by(Customer.id))}


def savings_features_bulk(institution_id: int, *, account_ids=None) -> dict[int, dict]:
    """Savings features of the institution's savings accounts (all, or ``account_ids``) in one query."""
    t = SavingsTransaction
    paise = type_coerce(t.amount, BigInteger)  # sum the stored paise exactly, convert once below
    credit = func.coalesce(func.sum(case((t.transaction_type == "CREDIT", paise), else_=0)), 0)
    debit = func.coalesce(func.sum(case((t.transaction_type == "DEBIT", paise), else_=0)), 0)
    credits = func.count(case((t.transaction_type == "CREDIT", 1)))
    debits = func.count(case((t.transaction_type == "DEBIT", 1)))
    q = (select(SavingsAccount.id, credit, debit, credits, debits)
         .outerjoin(t, t.savings_account_id == SavingsAccount.id)
         .where(SavingsAccount.institution_id == institution_id).group_by(SavingsAccount.id))
    if account_ids is not None:
        q = q.where(SavingsAccount.id.in_(list(account_ids)))
    return {aid: features.savings_totals(from_paise(int(c)), from_paise(int(d)), int(nc), int(nd))
            for aid, c, d, nc, nd in db.session.execute(q)}


# ------------------------------------------------------------------------------------------------ scoring


def score_subject(version: ScorecardVersion, subject: Subject, *, institution_id: int, as_of: date,
                  purpose: str = "on_demand", actor=None, feature_values: dict | None = None) -> ScoreResult:
    """Score ``subject`` with ``version`` and keep the result (features, score, band, contributions)."""
    values = feature_values if feature_values is not None else features_for(
        subject, version.scorecard.source, institution_id=institution_id, as_of=as_of)
    outcome = compiled(version).score(values)
    result = ScoreResult(
        institution_id=institution_id, version_id=version.id, customer_id=subject.customer_id,
        subject_ref=subject.ref[:100], purpose=purpose, as_of=as_of, features=_json_features(values),
        score=outcome.score, band=outcome.band, contributions=outcome.contributions_json(),
        created_by_id=getattr(actor, "id", None))
    db.session.add(result)
    db.session.flush()
    return result


def score_customer(customer, *, slug: str = "loan-history", as_of: date | None = None, clock=None,
                   purpose: str = "on_demand", actor=None) -> ScoreResult:
    """Score a customer with the current version of ``slug`` (for the review workflow and the jobs)."""
    if as_of is None:
        as_of = current_business_date(customer.institution_id, clock)
    version = current_version(slug, institution_id=customer.institution_id)
    return score_subject(version, customer_subject(customer), institution_id=customer.institution_id,
                         as_of=as_of, purpose=purpose, actor=actor)


def score_features(slug: str, values: dict, *, institution_id: int, as_of: date, subject_ref: str | None,
                   actor, customer_id: int | None = None) -> tuple[ScoreResult, engine.ScoreOutcome]:
    """Score caller-supplied features (the API) with the current version of ``slug``; kept as a ScoreResult."""
    version = current_version(slug, institution_id=institution_id)
    try:
        outcome = compiled(version).score(values)
    except engine.MissingFeatures as exc:
        raise DomainError(str(exc), 422) from None
    result = ScoreResult(
        institution_id=institution_id, version_id=version.id, customer_id=customer_id,
        subject_ref=(subject_ref or "api")[:100], purpose="api", as_of=as_of, features=_json_features(values),
        score=outcome.score, band=outcome.band, contributions=outcome.contributions_json(),
        created_by_id=getattr(actor, "id", None))
    db.session.add(result)
    db.session.flush()
    return result, outcome


def preview(definition: dict, source: str, subject: Subject, *, institution_id: int, as_of: date):
    """Score ``subject`` with an unsaved definition; returns ``(outcome, features, issues)`` and stores nothing.
    An invalid definition returns its issues instead of an outcome."""
    data = dict(definition)
    data["features"] = features.SOURCES[source]
    try:
        card = engine.compile_scorecard(data)
    except engine.DefinitionError as exc:
        return None, None, exc.issues
    values = features_for(subject, source, institution_id=institution_id, as_of=as_of)
    return card.score(values), values, []


def latest_results(customer_id: int, *, institution_id: int, limit: int = 20) -> list[ScoreResult]:
    return list(db.session.scalars(select(ScoreResult).where(
        ScoreResult.customer_id == customer_id, ScoreResult.institution_id == institution_id)
        .order_by(ScoreResult.id.desc()).limit(limit)))


def _json_features(values: dict) -> dict:
    out = {}
    for key, value in values.items():
        try:
            out[key] = engine._jsonable(engine.coerce_feature(value))
        except ValueError:
            out[key] = str(value)[:100]
    return out


# ------------------------------------------------------------------------------------------------ compare


@dataclass(frozen=True)
class RuleDiff:
    name: str
    left: dict | None
    right: dict | None

    @property
    def status(self) -> str:
        if self.left is None:
            return "added"
        if self.right is None:
            return "removed"
        keys = ("expression", "points", "weight", "note")
        return "same" if all(self.left.get(k) == self.right.get(k) for k in keys) else "changed"


def compare_versions(left: ScorecardVersion, right: ScorecardVersion) -> dict:
    """Rules matched by name (added / removed / changed / same), bands and settings side by side."""
    lrules = {r["name"]: r for r in left.rules}
    rrules = {r["name"]: r for r in right.rules}
    names = list(lrules) + [n for n in rrules if n not in lrules]
    settings = [(label, getattr(left, key), getattr(right, key))
                for label, key in (("Base score", "base_score"), ("Minimum score", "min_score"),
                                   ("Maximum score", "max_score"))]
    band_labels = [b["band"] for b in left.bands] + [b["band"] for b in right.bands
                                                      if b["band"] not in {x["band"] for x in left.bands}]
    lb = {b["band"]: b for b in left.bands}
    rb = {b["band"]: b for b in right.bands}
    return {"rules": [RuleDiff(n, lrules.get(n), rrules.get(n)) for n in names], "settings": settings,
            "bands": [(label, lb.get(label), rb.get(label)) for label in band_labels]}
