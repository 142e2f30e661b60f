"""The scorecard engine: pure math over plain values (no Flask, no SQLAlchemy).

A scorecard version is ``base``, a score range ``[min_score, max_score]``, declared ``features``, ``rules`` and
``bands``. A rule is ``{"name", "expression", "points" | "weight", "note"}``:

* with ``points``: the expression is a condition; the rule contributes ``points`` when it holds, else 0;
* with ``weight``: the expression is numeric; the rule contributes ``weight x value``.

``score = clamp(round_half_up(base + sum(contributions)), min_score, max_score)``; the band is the one whose
``[min, max]`` holds the score (bands are labelled AA, A, B, C, D by default but are configurable). Every result
carries each rule's contribution so a score can be explained.

Expressions are evaluated by ``simpleeval`` (never ``eval``) over the features, with a small whitelist of
functions (``floor``, ``ceil``, ``round``, ``min``, ``max``, ``abs``, ``clamp``). They are validated when a version
is SAVED: ``validate_expression`` parses them with ``ast`` and checks every node type, name and function against
the whitelist and the declared features, raising ``ExpressionError`` with the line and column of the problem.
So an expression that reaches scoring is known to be well formed; scoring can still meet arithmetic it cannot
do (division by zero), which is recorded on that rule's contribution (0 points, ``error``) rather than raised.

Numbers are exact: features become ``int``/``Decimal`` (floats are converted through their shortest text),
decimal literals in expressions become ``Decimal``.
"""
from __future__ import annotations

import ast
import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, DecimalException, InvalidOperation
from typing import Any

from simpleeval import SimpleEval

__all__ = [
    "DEFAULT_BAND_LABELS",
    "FUNCTIONS",
    "Band",
    "CompiledScorecard",
    "Contribution",
    "DefinitionError",
    "ExpressionError",
    "Issue",
    "MissingFeatures",
    "Rule",
    "ScoreOutcome",
    "compile_scorecard",
    "coerce_feature",
    "validate_expression",
]

DEFAULT_BAND_LABELS = ("AA", "A", "B", "C", "D")
MAX_EXPRESSION_LENGTH = 1000
MAX_RULES = 100


# ------------------------------------------------------------------------------------------------ functions


def _num(value: Any) -> int | Decimal:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _floor(value: Any) -> int:
    value = _num(value)
    return value if isinstance(value, int) else int(value.to_integral_value(rounding=ROUND_FLOOR))


def _ceil(value: Any) -> int:
    value = _num(value)
    return value if isinstance(value, int) else int(value.to_integral_value(rounding=ROUND_CEILING))


def _round(value: Any, places: int = 0) -> int | Decimal:
    """Round half up (the portal's one rounding rule) to ``places`` decimals; whole numbers as int."""
    value = Decimal(_num(value))
    places = int(places)
    if places <= 0:
        return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _clamp(value: Any, low: Any, high: Any) -> int | Decimal:
    return max(_num(low), min(_num(high), _num(value)))


def _min(*values: Any) -> int | Decimal:
    return min(_num(v) for v in values)


def _max(*values: Any) -> int | Decimal:
    return max(_num(v) for v in values)


def _abs(value: Any) -> int | Decimal:
    return abs(_num(value))


FUNCTIONS: dict[str, Any] = {
    "floor": _floor, "ceil": _ceil, "round": _round, "min": _min, "max": _max, "abs": _abs, "clamp": _clamp,
}
_FUNCTION_ARITY = {"floor": (1, 1), "ceil": (1, 1), "round": (1, 2), "min": (1, 20), "max": (1, 20),
                   "abs": (1, 1), "clamp": (3, 3)}
_NAMES = {"True": True, "False": False}

_OPERATORS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: Decimal(a) / Decimal(b),
    ast.FloorDiv: lambda a, b: _floor(Decimal(a) / Decimal(b)),
    ast.Mod: lambda a, b: a - b * _floor(Decimal(a) / Decimal(b)),
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Gt: lambda a, b: a > b,
    ast.Lt: lambda a, b: a < b,
    ast.GtE: lambda a, b: a >= b,
    ast.LtE: lambda a, b: a <= b,
    ast.Not: lambda a: not a,
    ast.USub: lambda a: -a,
    ast.UAdd: lambda a: +a,
}
_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call,
    ast.Name, ast.Load, ast.Constant, *(op for op in _OPERATORS),
)
_NODE_WORDS = {
    ast.Attribute: "attribute access ('.')", ast.Subscript: "indexing ('[ ]')", ast.Lambda: "lambda",
    ast.Pow: "powers ('**')", ast.BitAnd: "'&'", ast.BitOr: "'|'", ast.BitXor: "'^'", ast.Invert: "'~'",
    ast.LShift: "'<<'", ast.RShift: "'>>'", ast.Is: "'is'", ast.IsNot: "'is not'", ast.In: "'in'",
    ast.NotIn: "'not in'", ast.List: "lists", ast.Tuple: "tuples", ast.Dict: "dicts", ast.Set: "sets",
    ast.JoinedStr: "f-strings", ast.NamedExpr: "':='", ast.ListComp: "comprehensions",
    ast.GeneratorExp: "comprehensions", ast.Starred: "'*'",
}


# ------------------------------------------------------------------------------------------------ validation


@dataclass(frozen=True)
class Issue:
    """One problem in a scorecard definition. ``field`` names where (``rules[2].expression``, ``bands[0].min``,
    ``base_score``); ``line``/``column`` (1-based) point into an expression when known."""

    field: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line else ""
        return f"{self.field}: {self.message}{where}"


class ExpressionError(ValueError):
    """A bad expression, with the 1-based line and column of the problem."""

    def __init__(self, message: str, line: int = 1, column: int = 1):
        super().__init__(f"{message} (line {line}, column {column})")
        self.message, self.line, self.column = message, line, column


class DefinitionError(ValueError):
    """A scorecard definition that cannot be saved; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[Issue]):
        self.issues = list(issues)
        super().__init__("; ".join(str(i) for i in self.issues))


class MissingFeatures(ValueError):
    """Features the rules need were not supplied (or were not numbers)."""

    def __init__(self, missing: Iterable[str], invalid: Iterable[str] = ()):
        self.missing, self.invalid = sorted(missing), sorted(invalid)
        parts = []
        if self.missing:
            parts.append("missing features: " + ", ".join(self.missing))
        if self.invalid:
            parts.append("features that are not numbers: " + ", ".join(self.invalid))
        super().__init__("; ".join(parts))


def _position(node: ast.AST) -> tuple[int, int]:
    """1-based line and column of ``node`` in the expression as typed (the parser sees it inside "( ... )")."""
    line, column = getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1
    return line, max(column - 1 if line == 1 else column, 1)


def _fail(message: str, node: ast.AST) -> ExpressionError:
    return ExpressionError(message, *_position(node))


def _parse(expression: str) -> ast.Expression:
    """Parse inside parentheses, so an expression may span lines as typed in a text area; syntax errors get
    the line and column of the expression as typed (past the end -> just after the last character)."""
    try:
        return ast.parse(f"({expression}\n)", mode="eval")
    except SyntaxError as exc:
        lines = expression.split("\n")
        line, column = exc.lineno or 1, exc.offset or 1
        if line == 1:
            column -= 1
        if line > len(lines):
            line, column = len(lines), len(lines[-1]) + 1
        message = (exc.msg or "invalid syntax").split(". Perhaps")[0]
        bracket = _unbalanced_bracket(expression)
        if bracket is not None and ("never closed" in message or "unmatched" in message):
            message, (line, column) = bracket
        raise ExpressionError(f"syntax error: {message}", line, max(column, 1)) from None


def _unbalanced_bracket(expression: str) -> tuple[str, tuple[int, int]] | None:
    """The first ')' without its '(' or the last '(' never closed, with its 1-based line and column."""
    stack: list[tuple[int, int]] = []
    for line_number, text in enumerate(expression.split("\n"), start=1):
        for column, char in enumerate(text, start=1):
            if char == "(":
                stack.append((line_number, column))
            elif char == ")":
                if not stack:
                    return "unmatched ')'", (line_number, column)
                stack.pop()
    return ("'(' was never closed", stack[-1]) if stack else None


def validate_expression(expression: str, features: Iterable[str]) -> ast.Expression:
    """Parse ``expression`` and check it against the whitelist and the declared ``features``.

    Returns the parsed tree (decimal literals already turned into ``Decimal``); raises ``ExpressionError`` with
    the line and column of the first problem: a syntax error, an unknown name, a function that is not allowed
    or called with the wrong number of arguments, or a construct outside arithmetic/comparison/logic.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ExpressionError("the expression is empty")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    declared = set(features)
    tree = _parse(expression)
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            what = _NODE_WORDS.get(type(node), type(node).__name__)
            raise _fail(f"{what} is not allowed in a scorecard expression", node)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or node.value is None:
                if node.value is None:
                    raise _fail("None is not allowed", node)
            elif isinstance(node.value, float):
                if not math.isfinite(node.value):
                    raise _fail("this number is too large", node)
                node.value = Decimal(repr(node.value))
            elif not isinstance(node.value, int):
                raise _fail(f"only numbers are allowed, not {type(node.value).__name__} literals", node)
            elif abs(node.value) > 10**30:
                raise _fail("this number is too large", node)
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                what = _NODE_WORDS.get(type(node.func), "calling this")
                raise _fail(f"{what} is not allowed in a scorecard expression", node.func)
            if node.func.id not in FUNCTIONS:
                raise _fail(f"function {node.func.id!r} is not allowed (use {', '.join(sorted(FUNCTIONS))})",
                            node)
            if node.keywords:
                raise _fail("keyword arguments are not allowed", node.keywords[0].value)
            low, high = _FUNCTION_ARITY[node.func.id]
            if not low <= len(node.args) <= high:
                wanted = str(low) if low == high else f"{low} to {high}"
                raise _fail(f"{node.func.id}() takes {wanted} argument(s), got {len(node.args)}", node)
        elif isinstance(node, ast.Name):
            if node.id in _NAMES:
                continue
            if node.id in FUNCTIONS:
                parent_ok = any(isinstance(p, ast.Call) and p.func is node for p in ast.walk(tree))
                if not parent_ok:
                    raise _fail(f"{node.id!r} is a function; call it as {node.id}(...)", node)
                continue
            if node.id not in declared:
                raise _fail(f"unknown feature {node.id!r}", node)
    return tree


def _parse_number(value: Any, name: str, issues: list[Issue], *, integer: bool = False) -> Any:
    if value is None or value == "":
        issues.append(Issue(name, "is required"))
        return None
    try:
        if isinstance(value, float):
            value = repr(value)
        number = Decimal(str(value).strip().replace(",", ""))
        if not number.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError):
        issues.append(Issue(name, f"{value!r} is not a number"))
        return None
    if integer:
        if number != number.to_integral_value():
            issues.append(Issue(name, "must be a whole number"))
            return None
        return int(number)
    return number


# ------------------------------------------------------------------------------------------------ definition


@dataclass(frozen=True)
class Rule:
    name: str
    expression: str
    points: int | Decimal | None
    weight: Decimal | None
    note: str
    tree: ast.Expression = field(repr=False, compare=False)
    names: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Band:
    label: str
    min: int
    max: int
    approve: bool


@dataclass(frozen=True)
class Contribution:
    """What one rule added: ``value`` the expression's result, ``points`` the contribution to the score."""

    name: str
    expression: str
    value: Any
    points: Decimal
    note: str
    error: str | None = None

    def as_dict(self) -> dict:
        return {"name": self.name, "expression": self.expression, "value": _jsonable(self.value),
                "points": _jsonable(self.points), "note": self.note, "error": self.error}


@dataclass(frozen=True)
class ScoreOutcome:
    score: int
    band: str
    approve: bool
    raw_score: Decimal
    base: int
    contributions: tuple[Contribution, ...]
    clamped: bool

    def contributions_json(self) -> list[dict]:
        return [c.as_dict() for c in self.contributions]

    def as_dict(self) -> dict:
        return {"score": self.score, "band": self.band, "approve": self.approve, "base": self.base,
                "raw_score": _jsonable(self.raw_score), "clamped": self.clamped,
                "contributions": self.contributions_json()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return str(value.normalize())
    return value


def coerce_feature(value: Any) -> int | Decimal:
    """A feature value as an exact number: int/Decimal as they are, bool as 0/1, float through its shortest text,
    numeric strings parsed. Raises ValueError otherwise."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | Decimal):
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError("not a finite number")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise ValueError("not a finite number")
        return number
    raise ValueError(f"a {type(value).__name__} is not a number")


class CompiledScorecard:
    """A validated scorecard version, ready to score. Build with ``compile_scorecard``."""

    def __init__(self, *, base: int, min_score: int, max_score: int, features: tuple[str, ...],
                 rules: tuple[Rule, ...], bands: tuple[Band, ...]):
        self.base, self.min_score, self.max_score = base, min_score, max_score
        self.features, self.rules, self.bands = features, rules, bands
        self.required_features = frozenset().union(*(r.names for r in rules)) if rules else frozenset()
        self._local = threading.local()  # one simpleeval evaluator per thread, reused (names swapped per score)

    def band_for(self, score: int) -> Band:
        for band in self.bands:
            if band.min <= score <= band.max:
                return band
        raise AssertionError(f"no band holds {score}")  # validated: bands cover the range

    def score(self, features: Mapping[str, Any]) -> ScoreOutcome:
        """Score one subject. ``features`` maps names to numbers; raises ``MissingFeatures`` when a feature the
        rules use is absent or not a number."""
        values: dict[str, Any] = dict(_NAMES)
        missing, invalid = [], []
        for name in self.required_features:
            if name not in features or features[name] is None:
                missing.append(name)
                continue
            try:
                values[name] = coerce_feature(features[name])
            except ValueError:
                invalid.append(name)
        if missing or invalid:
            raise MissingFeatures(missing, invalid)
        evaluator = getattr(self._local, "evaluator", None)
        if evaluator is None:
            evaluator = self._local.evaluator = SimpleEval(operators=_OPERATORS, functions=FUNCTIONS, names={})
        evaluator.names = values
        contributions = []
        total = Decimal(self.base)
        for rule in self.rules:
            error = None
            try:
                value = evaluator.eval(rule.expression, previously_parsed=rule.tree.body)
                if rule.points is not None:
                    points = Decimal(rule.points) if value else Decimal(0)
                else:
                    points = rule.weight * Decimal(_num(value))
            except (ZeroDivisionError, DecimalException, TypeError, ValueError, ArithmeticError) as exc:
                value, points = None, Decimal(0)
                error = "division by zero" if isinstance(exc, ZeroDivisionError | DecimalException) else str(exc)
            total += points
            contributions.append(Contribution(rule.name, rule.expression, value, points, rule.note, error))
        rounded = int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        score = max(self.min_score, min(self.max_score, rounded))
        band = self.band_for(score)
        return ScoreOutcome(score=score, band=band.label, approve=band.approve, raw_score=total, base=self.base,
                            contributions=tuple(contributions), clamped=score != rounded)


def compile_scorecard(definition: Mapping[str, Any]) -> CompiledScorecard:
    """Validate a definition ``{"base_score", "min_score", "max_score", "features", "rules", "bands"}`` (the
    shape stored on a scorecard version and posted by the editor) and compile it.

    ``features`` is a list of names or of ``{"name", ...}`` dicts. Raises ``DefinitionError`` listing every
    problem (each expression error with its line and column)."""
    issues: list[Issue] = []
    base = _parse_number(definition.get("base_score", 0), "base_score", issues, integer=True)
    low = _parse_number(definition.get("min_score"), "min_score", issues, integer=True)
    high = _parse_number(definition.get("max_score"), "max_score", issues, integer=True)
    if low is not None and high is not None and low >= high:
        issues.append(Issue("max_score", "must be greater than the minimum score"))

    features: list[str] = []
    for i, item in enumerate(definition.get("features") or []):
        name = item.get("name") if isinstance(item, Mapping) else item
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            issues.append(Issue(f"features[{i}]", f"{name!r} is not a valid feature name"))
        elif name in FUNCTIONS or name in _NAMES:
            issues.append(Issue(f"features[{i}]", f"{name!r} is a reserved word"))
        elif name in features:
            issues.append(Issue(f"features[{i}]", f"{name!r} is declared twice"))
        else:
            features.append(name)

    rules: list[Rule] = []
    raw_rules = definition.get("rules") or []
    if len(raw_rules) > MAX_RULES:
        issues.append(Issue("rules", f"at most {MAX_RULES} rules"))
    for i, raw in enumerate(raw_rules[:MAX_RULES]):
        where = f"rules[{i}]"
        name = str(raw.get("name") or "").strip()
        if not name:
            issues.append(Issue(f"{where}.name", "a rule needs a name"))
        expression = str(raw.get("expression") or "")
        tree = None
        try:
            tree = validate_expression(expression, features)
        except ExpressionError as exc:
            issues.append(Issue(f"{where}.expression", exc.message, exc.line, exc.column))
        has_points = raw.get("points") not in (None, "")
        has_weight = raw.get("weight") not in (None, "")
        points = weight = None
        if has_points == has_weight:
            issues.append(Issue(f"{where}.points", "give either points (for a condition) or a weight "
                                                   "(for a numeric expression), not both or neither"))
        elif has_points:
            points = _parse_number(raw.get("points"), f"{where}.points", issues)
            if points is not None and points == points.to_integral_value():
                points = int(points)
        else:
            weight = _parse_number(raw.get("weight"), f"{where}.weight", issues)
        if tree is not None:
            names = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in features)
            rules.append(Rule(name, expression, points, weight, str(raw.get("note") or ""), tree, names))

    bands = _validate_bands(definition.get("bands") or [], low, high, issues)
    if issues:
        raise DefinitionError(issues)
    return CompiledScorecard(base=base, min_score=low, max_score=high, features=tuple(features),
                             rules=tuple(rules), bands=tuple(bands))


def _validate_bands(raw_bands: list, low: int | None, high: int | None, issues: list[Issue]) -> list[Band]:
    bands: list[Band] = []
    if not raw_bands:
        issues.append(Issue("bands", "at least one band is needed"))
        return bands
    labels: set[str] = set()
    for i, raw in enumerate(raw_bands):
        where = f"bands[{i}]"
        label = str(raw.get("band") or "").strip()
        if not label or len(label) > 10:
            issues.append(Issue(f"{where}.band", "a band needs a label of 1 to 10 characters"))
        elif label in labels:
            issues.append(Issue(f"{where}.band", f"{label!r} is used twice"))
        labels.add(label)
        b_low = _parse_number(raw.get("min"), f"{where}.min", issues, integer=True)
        b_high = _parse_number(raw.get("max"), f"{where}.max", issues, integer=True)
        if b_low is not None and b_high is not None:
            if b_low > b_high:
                issues.append(Issue(f"{where}.max", "must not be below the band's minimum"))
            approve = raw.get("approve")
            approve = approve in (True, "true", "on", "1", "y", "yes", 1)
            bands.append(Band(label, b_low, b_high, approve))
    if low is None or high is None or len(bands) != len(raw_bands):
        return bands
    ordered = sorted(bands, key=lambda b: b.min)
    expected = low
    for band in ordered:
        if band.min > expected:
            issues.append(Issue("bands", f"no band covers scores {expected} to {band.min - 1}"))
        elif band.min < expected:
            issues.append(Issue("bands", f"band {band.label} overlaps another band or starts below "
                                         f"the minimum score {low}"))
        expected = max(expected, band.max + 1)
    if expected <= high:
        issues.append(Issue("bands", f"no band covers scores {expected} to {high}"))
    elif expected > high + 1:
        issues.append(Issue("bands", f"bands go above the maximum score {high}"))
    return bands
