"""Scorecard forms (input shape only; the engine validates expressions and bands when a draft is saved).

The version editor posts its rules and bands as parallel lists (``rule_name``, ``rule_expression``,
``rule_points``, ``rule_weight``, ``rule_note``; ``band_label``, ``band_min``, ``band_max``, ``band_approve``);
``definition_from_form`` turns them into the definition dict the services take, skipping blank rows, and
remembers which form row each rule came from so errors are shown next to the right row.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp

from portal.scoring.features import SOURCE_LABELS

RULE_FIELDS = ("name", "expression", "points", "weight", "note")
BAND_FIELDS = ("label", "min", "max", "approve")


class NewScorecardForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    slug = StringField("Slug", validators=[DataRequired(), Regexp(r"^[a-z0-9][a-z0-9-]{1,58}[a-z0-9]$", message=(
        "3 to 60 lower-case letters, digits and hyphens"))],
        description="Used in the scoring API: /api/v1/scorecards/<slug>/score")
    source = SelectField("Features from", choices=list(SOURCE_LABELS.items()))
    min_score = IntegerField("Minimum score", default=0, validators=[InputRequired(), NumberRange(-100000, 100000)])
    max_score = IntegerField("Maximum score", default=100, validators=[InputRequired(), NumberRange(-100000, 100000)])
    description = TextAreaField("Description", validators=[Length(max=2000)])


class PublishForm(FlaskForm):
    confirm = BooleanField("I have checked the rules and bands; publish this version (it cannot be changed "
                           "afterwards)", validators=[DataRequired(message="Tick the box to confirm.")])


class TransactionImportForm(FlaskForm):
    file = FileField("Transactions CSV (transactions_data_backend.csv)",
                     validators=[FileRequired(message="Choose the transactions CSV file.")],
                     description="Header user,date,transaction_type,amount; one row per transaction.")


def _rows(form, prefix: str, fields: tuple[str, ...]) -> list[dict]:
    columns = {f: form.getlist(f"{prefix}_{f}") for f in fields}
    count = max((len(v) for v in columns.values()), default=0)
    return [{f: (columns[f][i] if i < len(columns[f]) else "") for f in fields} for i in range(count)]


def definition_from_form(form) -> tuple[dict, dict[str, dict[int, int]], list[dict], list[dict]]:
    """``(definition, row_of, rule_rows, band_rows)`` from the editor's form data. ``row_of["rules"]`` /
    ``row_of["bands"]`` map an index in the definition to its row in the form; the raw rows let the page
    re-render what was typed."""
    rule_rows = _rows(form, "rule", RULE_FIELDS)
    band_rows = _rows(form, "band", BAND_FIELDS)
    rules, rule_row_of = [], {}
    for i, row in enumerate(rule_rows):
        if not any(str(row[f]).strip() for f in RULE_FIELDS):
            continue
        rule_row_of[len(rules)] = i
        rules.append({"name": row["name"].strip(), "expression": row["expression"],
                      "points": row["points"].strip() or None, "weight": row["weight"].strip() or None,
                      "note": row["note"].strip()})
    bands, band_row_of = [], {}
    for i, row in enumerate(band_rows):
        if not any(str(row[f]).strip() for f in ("label", "min", "max")):
            continue
        band_row_of[len(bands)] = i
        bands.append({"band": row["label"].strip(), "min": row["min"].strip(), "max": row["max"].strip(),
                      "approve": row["approve"] == "yes"})
    definition = {"base_score": form.get("base_score", "").strip(), "min_score": form.get("min_score", "").strip(),
                  "max_score": form.get("max_score", "").strip(), "rules": rules, "bands": bands}
    return definition, {"rules": rule_row_of, "bands": band_row_of}, rule_rows, band_rows


def rows_of(version) -> tuple[list[dict], list[dict]]:
    """The editor rows of a stored version (rules and bands as the form shows them)."""
    rules = [{"name": r.get("name", ""), "expression": r.get("expression", ""),
              "points": "" if r.get("points") is None else str(r["points"]),
              "weight": "" if r.get("weight") is None else str(r["weight"]), "note": r.get("note", "")}
             for r in version.rules]
    bands = [{"label": b["band"], "min": str(b["min"]), "max": str(b["max"]),
              "approve": "yes" if b.get("approve") else "no"} for b in version.bands]
    return rules, bands


def errors_by_field(issues, row_of: dict[str, dict[int, int]]) -> dict[str, list]:
    """Engine issues keyed by the form's field names (``rule-3-expression``, ``band-1-min``, ``base_score``)."""
    import re

    out: dict[str, list] = {}
    for issue in issues:
        key = issue.field
        m = re.match(r"rules\[(\d+)\]\.(\w+)", key)
        if m:
            index = int(m.group(1))
            key = f"rule-{row_of['rules'].get(index, index)}-{m.group(2)}"
        m = re.match(r"bands\[(\d+)\]\.(\w+)", key)
        if m:
            index = int(m.group(1))
            key = f"band-{row_of['bands'].get(index, index)}-{'label' if m.group(2) == 'band' else m.group(2)}"
        out.setdefault(key, []).append(issue)
    return out


def field_label(key: str) -> str:
    """A person's name for an error key: ``rule-5-expression`` -> "Rule 6 expression", ``base_score`` ->
    "Base score", ``bands`` -> "Bands"."""
    import re

    m = re.match(r"(rule|band)-(\d+)-(\w+)", key)
    if m:
        return f"{m.group(1).capitalize()} {int(m.group(2)) + 1} {m.group(3)}"
    return key.replace("_", " ").capitalize()


def trim_blank(rows: list[dict], fields: tuple[str, ...]) -> list[dict]:
    """``rows`` without the blank rows at the end (the page adds its own empty rows)."""
    rows = list(rows)
    while rows and not any(str(rows[-1].get(f, "")).strip() for f in fields):
        rows.pop()
    return rows
