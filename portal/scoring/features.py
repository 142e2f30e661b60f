"""Feature derivation for the two feature sources (pure: plain values in, a dict of exact numbers out).

* ``loan_history`` (seed 003): the four component points of ``portal.lending.rules.credit_score`` plus the
  counts and totals behind them, so the built-in ``loan-history`` scorecard reproduces ``credit_score`` exactly
  (its rules add the four components and apply the zero rule) and custom scorecards can use the raw values.
* ``savings`` (seed 004): sums and counts over the savings transactions; ``balance = CREDIT - DEBIT``.

``portal.lending.rules`` is a pure module (no Flask, no SQLAlchemy); importing it here is the one place the
scoring package reads lending code, so that the seed 003 score has a single definition.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from portal.lending import rules
from portal.scoring.builtins import LOAN_HISTORY_FEATURES, SAVINGS_FEATURES

SOURCES: dict[str, list[dict]] = {"loan_history": LOAN_HISTORY_FEATURES, "savings": SAVINGS_FEATURES}
SOURCE_LABELS = {"loan_history": "Loan history (term-loan book)", "savings": "Savings transactions (CSV)"}
_ZERO = Decimal("0.00")


def loan_history_features(loans: Sequence[rules.PastLoan], *, approved_limit: Decimal, as_of: date,
                          monthly_salary: Decimal | None = None, age: int | None = None) -> dict:
    """Features of one customer's loan history on ``as_of`` (see ``builtins.LOAN_HISTORY_FEATURES``)."""
    score = rules.credit_score(loans, approved_limit, as_of)
    points = {component.key: component.points for component in score.components}
    taken = [loan for loan in loans if loan.is_taken_by(as_of)]
    current = [loan for loan in taken if loan.is_current(as_of)]
    emis_due = paid = 0
    for loan in taken:
        due = rules.expected_emis_due(loan, as_of)
        emis_due += due
        paid += min(max(loan.emis_paid_on_time, 0), due)
    return {
        "on_time_points": points["on_time"],
        "past_loans_points": points["past_loans"],
        "current_year_points": points["current_year"],
        "volume_points": points["volume"],
        "current_loans_total": sum((Decimal(loan.loan_amount) for loan in current), _ZERO),
        "approved_limit": Decimal(approved_limit),
        "monthly_salary": Decimal(monthly_salary) if monthly_salary is not None else _ZERO,
        "age": int(age or 0),
        "loans_taken": len(taken),
        "current_loans": len(current),
        "current_year_loans": sum(1 for loan in taken if loan.approved_on and loan.approved_on.year == as_of.year),
        "emis_due": emis_due,
        "emis_paid_on_time": paid,
        "current_emis_total": sum((Decimal(loan.monthly_installment) for loan in current), _ZERO),
    }


def savings_features(transactions: Iterable[tuple[str, Decimal]]) -> dict:
    """Features from ``(transaction_type, amount)`` pairs: balance = sum(CREDIT) - sum(DEBIT) (seed 004)."""
    credit = debit = _ZERO
    credits = debits = 0
    for kind, amount in transactions:
        if kind == "CREDIT":
            credit += Decimal(amount)
            credits += 1
        elif kind == "DEBIT":
            debit += Decimal(amount)
            debits += 1
    return savings_totals(credit, debit, credits, debits)


def savings_totals(credit: Decimal, debit: Decimal, credits: int, debits: int) -> dict:
    """Features from aggregated sums and counts (what one GROUP BY query returns)."""
    return {"balance": credit - debit, "total_credit": credit, "total_debit": debit,
            "transaction_count": credits + debits, "credit_count": credits, "debit_count": debits}


def empty_features(source: str) -> dict:
    """Zero for every feature of ``source`` (a subject without data)."""
    return {item["name"]: 0 for item in SOURCES[source]}
