"""The pure scorecard engine: the built-ins reproduce the seed rules exactly, expressions are validated when
saved (with line and column), evaluated by simpleeval (never eval), and every score carries its contributions."""
from __future__ import annotations

import builtins
import random
from decimal import Decimal

import pytest

from portal.scoring import engine
from portal.scoring.builtins import BUILTINS, builtin
from portal.scoring.engine import DefinitionError, ExpressionError, compile_scorecard, validate_expression

SAVINGS = compile_scorecard(builtin("savings-balance"))
LOAN_HISTORY = compile_scorecard(builtin("loan-history"))


def seed_004(balance) -> int:
    """The seed 004 rule, written out independently of the engine."""
    if balance >= 1_000_000:
        return 900
    if balance <= 100_000:
        return 300
    return 300 + 10 * int((balance - 100_000) // 15_000)


@pytest.mark.parametrize(("balance", "score", "band"), [
    (568450, 610, "B"),          # the README's example
    (100000, 300, "D"), (100001, 300, "D"), (114999, 300, "D"), (115000, 310, "D"),
    (250000, 400, "D"), (385000, 490, "C"), (999999, 890, "AA"), (1000000, 900, "AA"), (5000000, 900, "AA"),
    (0, 300, "D"), (-823373, 300, "D"), (Decimal("115000.00"), 310, "D"), (Decimal("114999.99"), 300, "D"),
])
def test_savings_balance_reproduces_seed_004(balance, score, band):
    outcome = SAVINGS.score({"balance": balance})
    assert (outcome.score, outcome.band) == (score, band)
    assert outcome.score == seed_004(Decimal(balance))
    assert outcome.approve == (score >= 450)  # seed 004: apply needs a score of 450 or more


def test_savings_balance_matches_the_formula_on_many_balances():
    rng = random.Random(4)
    for balance in [rng.randint(-2_000_000, 2_000_000) for _ in range(5000)] + list(range(99_000, 131_000, 7)):
        assert SAVINGS.score({"balance": balance}).score == seed_004(balance), balance


def test_every_score_carries_per_rule_contributions():
    outcome = SAVINGS.score({"balance": 568450})
    assert outcome.base == 300 and outcome.raw_score == 610 and not outcome.clamped
    assert [(c.name, c.value, c.points) for c in outcome.contributions] == [
        ("Balance of 10 lakh or more", False, 0), ("Balance between 1 lakh and 10 lakh", 310, 310)]
    assert outcome.as_dict()["contributions"][1] == {
        "name": "Balance between 1 lakh and 10 lakh",
        "expression": "10 * floor((balance - 100000) / 15000) if 100000 < balance < 1000000 else 0",
        "value": 310, "points": 310, "note": "Seed 004: 10 points for every full Rs 15,000 above Rs 1,00,000",
        "error": None}


def test_loan_history_adds_the_components_and_zeroes_over_the_limit():
    values = {"on_time_points": 36, "past_loans_points": 18, "current_year_points": 14, "volume_points": 9,
              "current_loans_total": Decimal("500000"), "approved_limit": Decimal("600000")}
    outcome = LOAN_HISTORY.score(values)
    assert (outcome.score, outcome.band) == (77, "A")
    over = LOAN_HISTORY.score({**values, "current_loans_total": Decimal("600000.01")})
    assert over.score == 0 and over.band == "D" and over.clamped
    assert over.contributions[-1].points == -100 and over.contributions[-1].value is True


def test_builtins_compile_and_bands_cover_their_range():
    for card in BUILTINS:
        compiled = compile_scorecard(card)
        labels = [b.label for b in compiled.bands]
        assert labels == ["AA", "A", "B", "C", "D"]
        for score in range(compiled.min_score, compiled.max_score + 1):
            compiled.band_for(score)


def test_scoring_never_calls_eval(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("eval must not be used")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    assert compile_scorecard(builtin("savings-balance")).score({"balance": 568450}).score == 610


@pytest.mark.parametrize(("expression", "message", "line", "column"), [
    ("balance >", "syntax error", 1, 10),
    ("balance >= 10 and\n  (salary > 3", "'(' was never closed", 2, 3),
    ("balance >= 10 )", "unmatched ')'", 1, 15),
    ("balance >= 10 and\n  salary >", "syntax error", 2, 11),
    ("balance >= 10 and\n  salery > 1", "unknown feature 'salery'", 2, 3),
    ("balanse >= 100", "unknown feature 'balanse'", 1, 1),
    ("balance >= 100 and income > 5", "unknown feature 'income'", 1, 20),
    ("balance.__class__", "attribute access", 1, 1),
    ("__import__('os').system('id')", "attribute access", 1, 1),
    ("__import__('os')", "function '__import__' is not allowed", 1, 1),
    ("open('/etc/passwd')", "function 'open' is not allowed", 1, 1),
    ("eval('1')", "function 'eval' is not allowed", 1, 1),
    ("(lambda: 1)()", "lambda is not allowed", 1, 2),
    ("balance ** 99999", "powers", 1, 1),
    ("[balance][0]", "not allowed", 1, 1),
    ("'x' * 10", "only numbers", 1, 1),
    ("balance if balance else None", "None is not allowed", 1, 25),
    ("floor(balance, 2)", "floor() takes 1 argument(s), got 2", 1, 1),
    ("max(balance, key=1)", "keyword arguments", 1, 18),
    ("floor", "is a function", 1, 1),
    ("balance = 1", "syntax error", 1, 1),
    ("1 +* 2", "syntax error", 1, 4),
    ("balance > 1e999999", "too large", 1, 11),
    ("balance > 1" + "0" * 40, "too large", 1, 11),
    ("", "empty", 1, 1),
])
def test_bad_expressions_are_refused_with_their_position(expression, message, line, column):
    with pytest.raises(ExpressionError) as caught:
        validate_expression(expression, ["balance", "salary"])
    assert message in caught.value.message
    assert (caught.value.line, caught.value.column) == (line, column), caught.value
    assert f"line {line}, column {column}" in str(caught.value)


@pytest.mark.parametrize("expression", [
    "balance >= 1000000", "10 * floor((balance - 100000) / 15000) if 100000 < balance < 1000000 else 0",
    "clamp(balance / 1000, 0, 50)", "not (balance < 0) and salary > 0.5", "round(balance * 0.035, 2)",
    "max(balance, salary, 0) // 7 % 3", "-balance + +salary", "balance != 0 or True",
    "balance >= 10 and\n  salary > 1",
])
def test_good_expressions_pass(expression):
    validate_expression(expression, ["balance", "salary"])


def test_a_definition_reports_every_issue_with_its_field():
    definition = {"base_score": "x", "min_score": 0, "max_score": 100, "features": ["balance"],
                  "rules": [{"name": "", "expression": "balance >", "points": 5},
                            {"name": "both", "expression": "balance", "points": 1, "weight": 1},
                            {"name": "bad weight", "expression": "balance", "weight": "abc"}],
                  "bands": [{"band": "A", "min": 0, "max": 40, "approve": True},
                            {"band": "B", "min": 50, "max": 100, "approve": False}]}
    with pytest.raises(DefinitionError) as caught:
        compile_scorecard(definition)
    fields = {(i.field, i.line, i.column) for i in caught.value.issues}
    assert ("base_score", None, None) in fields
    assert ("rules[0].name", None, None) in fields
    assert ("rules[0].expression", 1, 10) in fields  # just after "balance >"
    assert ("rules[1].points", None, None) in fields
    assert ("rules[2].weight", None, None) in fields
    assert any(i.field == "bands" and "41 to 49" in i.message for i in caught.value.issues)


@pytest.mark.parametrize(("bands", "message"), [
    ([("A", 0, 60), ("B", 50, 100)], "overlaps"),
    ([("A", 0, 50)], "no band covers scores 51 to 100"),
    ([("A", 0, 120)], "above the maximum"),
    ([("A", 0, 50), ("A", 51, 100)], "used twice"),
    ([("A", 10, 100)], "no band covers scores 0 to 9"),
    ([], "at least one band"),
])
def test_bands_must_cover_the_range_exactly(bands, message):
    definition = {"min_score": 0, "max_score": 100, "features": [], "rules": [],
                  "bands": [{"band": b, "min": lo, "max": hi} for b, lo, hi in bands]}
    with pytest.raises(DefinitionError, match=message):
        compile_scorecard(definition)


def _card(rules, base=0, low=0, high=100):
    return compile_scorecard({"base_score": base, "min_score": low, "max_score": high,
                              "features": ["x", "y"], "rules": rules,
                              "bands": [{"band": "A", "min": low, "max": high, "approve": True}]})


def test_points_for_conditions_weights_for_numbers_rounding_half_up():
    card = _card([{"name": "big", "expression": "x > 10", "points": 7},
                  {"name": "scaled", "expression": "y", "weight": "0.5"}], base=10)
    assert card.score({"x": 11, "y": 5}).score == 20  # 10 + 7 + 2.5 = 19.5 -> 20 (half up)
    assert card.score({"x": 10, "y": 5}).score == 13  # 12.5 -> 13
    assert card.score({"x": 10, "y": 4}).score == 12
    assert card.score({"x": 1000, "y": 1000}).score == 100 and card.score({"x": 1000, "y": 1000}).clamped


def test_decimal_arithmetic_is_exact_and_floats_are_converted_through_their_text():
    card = _card([{"name": "tenth", "expression": "x * 0.1 + y * 0.2", "weight": "10"}])
    outcome = card.score({"x": 0.1, "y": Decimal("0.2")})  # 0.01 + 0.04 = 0.05 exactly, x 10 = 0.5
    assert outcome.contributions[0].value == Decimal("0.05") and outcome.raw_score == Decimal("0.50")
    assert outcome.score == 1


def test_division_by_zero_is_recorded_on_the_rule_not_raised():
    card = _card([{"name": "ratio", "expression": "x / y", "weight": "1"},
                  {"name": "flat", "expression": "True", "points": 5}])
    outcome = card.score({"x": 5, "y": 0})
    assert outcome.score == 5
    assert outcome.contributions[0].points == 0 and outcome.contributions[0].error == "division by zero"


def test_missing_or_non_numeric_features_are_refused():
    card = _card([{"name": "a", "expression": "x + y", "weight": "1"}])
    with pytest.raises(engine.MissingFeatures, match="missing features: y"):
        card.score({"x": 1})
    with pytest.raises(engine.MissingFeatures, match="not numbers: x"):
        card.score({"x": "abc", "y": 1})
    assert card.score({"x": "12", "y": True}).score == 13  # numeric strings and booleans are numbers


def test_feature_names_are_checked():
    with pytest.raises(DefinitionError, match="reserved word"):
        compile_scorecard({"min_score": 0, "max_score": 1, "features": ["floor"], "rules": [],
                           "bands": [{"band": "A", "min": 0, "max": 1}]})
    with pytest.raises(DefinitionError, match="not a valid feature name"):
        compile_scorecard({"min_score": 0, "max_score": 1, "features": ["__class__"], "rules": [],
                           "bands": [{"band": "A", "min": 0, "max": 1}]})
