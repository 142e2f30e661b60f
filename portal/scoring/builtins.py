"""The built-in scorecards (seed 003 ``loan-history``, seed 004 ``savings-balance``), version 1.

The migration ``a4scorecards01`` inserts a frozen copy of these definitions (institution_id NULL, published);
``tests/scoring`` checks that the database and this module agree. The benchmark and the unit tests compile them
without a database.
"""
from __future__ import annotations

LOAN_HISTORY_FEATURES = [
    {"name": "on_time_points", "label": "Points for past loans paid on time (0-40)"},
    {"name": "past_loans_points", "label": "Points for the number of past loans (0-20)"},
    {"name": "current_year_points", "label": "Points for loan activity in the current year (0-20)"},
    {"name": "volume_points", "label": "Points for approved loan volume (0-20)"},
    {"name": "current_loans_total", "label": "Sum of the amounts of current loans (Rs)"},
    {"name": "approved_limit", "label": "Approved limit (Rs)"},
    {"name": "monthly_salary", "label": "Monthly salary (Rs)"},
    {"name": "age", "label": "Age in years (0 if unknown)"},
    {"name": "loans_taken", "label": "Number of loans taken"},
    {"name": "current_loans", "label": "Number of current (running) loans"},
    {"name": "current_year_loans", "label": "Loans approved in the current year"},
    {"name": "emis_due", "label": "EMIs fallen due so far"},
    {"name": "emis_paid_on_time", "label": "EMIs paid on time (capped at EMIs due per loan)"},
    {"name": "current_emis_total", "label": "Sum of the EMIs of current loans (Rs)"},
]
LOAN_HISTORY_RULES = [
    {"name": "Past loans paid on time", "expression": "on_time_points", "points": None, "weight": "1",
     "note": "Seed 003 component (i): 40 x share of due EMIs paid on time"},
    {"name": "Number of past loans", "expression": "past_loans_points", "points": None, "weight": "1",
     "note": "Seed 003 component (ii): 5 per loan up to 4, at the on-time factor"},
    {"name": "Loan activity in the current year", "expression": "current_year_points", "points": None,
     "weight": "1", "note": "Seed 003 component (iii): 20 minus 5 per new loan, at the on-time factor"},
    {"name": "Approved loan volume", "expression": "volume_points", "points": None, "weight": "1",
     "note": "Seed 003 component (iv): 20 x unused share of the approved limit, at the on-time factor"},
    {"name": "Current loans exceed the approved limit", "expression": "current_loans_total > approved_limit",
     "points": -100, "weight": None, "note": "Seed 003: the score is 0 when current loans exceed the limit"},
]
LOAN_HISTORY_BANDS = [
    {"band": "AA", "min": 80, "max": 100, "approve": True},
    {"band": "A", "min": 51, "max": 79, "approve": True},
    {"band": "B", "min": 31, "max": 50, "approve": True},
    {"band": "C", "min": 11, "max": 30, "approve": True},
    {"band": "D", "min": 0, "max": 10, "approve": False},
]
SAVINGS_FEATURES = [
    {"name": "balance", "label": "Balance = sum of CREDIT - sum of DEBIT (Rs)"},
    {"name": "total_credit", "label": "Sum of CREDIT transactions (Rs)"},
    {"name": "total_debit", "label": "Sum of DEBIT transactions (Rs)"},
    {"name": "transaction_count", "label": "Number of transactions"},
    {"name": "credit_count", "label": "Number of CREDIT transactions"},
    {"name": "debit_count", "label": "Number of DEBIT transactions"},
]
SAVINGS_RULES = [
    {"name": "Balance of 10 lakh or more", "expression": "balance >= 1000000", "points": 600, "weight": None,
     "note": "Seed 004: a balance of Rs 10,00,000 or more scores 900"},
    {"name": "Balance between 1 lakh and 10 lakh",
     "expression": "10 * floor((balance - 100000) / 15000) if 100000 < balance < 1000000 else 0",
     "points": None, "weight": "1", "note": "Seed 004: 10 points for every full Rs 15,000 above Rs 1,00,000"},
]
SAVINGS_BANDS = [
    {"band": "AA", "min": 750, "max": 900, "approve": True},
    {"band": "A", "min": 650, "max": 749, "approve": True},
    {"band": "B", "min": 550, "max": 649, "approve": True},
    {"band": "C", "min": 450, "max": 549, "approve": True},
    {"band": "D", "min": 300, "max": 449, "approve": False},
]
BUILTINS = [
    {"slug": "loan-history", "name": "Loan history (seed 003)", "source": "loan_history",
     "description": "0-100 credit score from the customer's loan history: past loans paid on time, number of "
                    "past loans, loan activity in the current year and approved volume; 0 if current loans "
                    "exceed the approved limit.",
     "base_score": 0, "min_score": 0, "max_score": 100,
     "features": LOAN_HISTORY_FEATURES, "rules": LOAN_HISTORY_RULES, "bands": LOAN_HISTORY_BANDS},
    {"slug": "savings-balance", "name": "Savings balance (seed 004)", "source": "savings",
     "description": "300-900 bureau-style score from the savings-transactions CSV: balance = sum of CREDIT - sum "
                    "of DEBIT; 10 lakh or more scores 900; 1 lakh or less 300; otherwise 300 + 10 for every "
                    "full Rs 15,000 above 1 lakh.",
     "base_score": 300, "min_score": 300, "max_score": 900,
     "features": SAVINGS_FEATURES, "rules": SAVINGS_RULES, "bands": SAVINGS_BANDS},
]


BUILTIN_SLUGS = tuple(card["slug"] for card in BUILTINS)


def builtin(slug: str) -> dict:
    """The version-1 definition of a built-in scorecard (a dict the engine's ``compile_scorecard`` accepts)."""
    return next(card for card in BUILTINS if card["slug"] == slug)
