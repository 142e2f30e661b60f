"""Forms of the alert pages: input shape only (types, ranges, required); the rule checks that depend on the
kind live in ``engine.check_rule`` (called by ``services.create_rule`` / ``update_rule``)."""
from __future__ import annotations

from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.alerts.engine import KINDS, MAX_THRESHOLD_DAYS, SEVERITIES, STATUSES


def _role_label(role: str) -> str:
    return role.replace("_", " ").capitalize()


class RuleForm(FlaskForm):
    """Create or edit an alert rule. On edit the kind is fixed (a new kind is a new rule)."""

    name = StringField("Name", validators=[DataRequired(message="Give the rule a name."), Length(max=120)])
    kind = SelectField("Raise an alert when", choices=list(KINDS.items()))
    threshold_days = IntegerField("DPD threshold (days)", validators=[Optional(), NumberRange(
        min=1, max=MAX_THRESHOLD_DAYS, message=f"The DPD threshold is 1 to {MAX_THRESHOLD_DAYS} days.")],
        description="DPD rules only: the alert is raised when a loan's DPD reaches this many days.")
    threshold_amount = DecimalField("Prepayment of at least (Rs)", places=2, validators=[Optional(), NumberRange(
        min=Decimal("0.01"), message="The amount must be more than Rs 0.")],
        description="Large prepayment rules only: rupees of principal prepaid in one repayment.")
    severity = SelectField("Severity", choices=list(SEVERITIES.items()))
    roles = SelectMultipleField("Who sees these alerts", choices=[],
                                widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    active = BooleanField("Active", default=True)
    webhook_url = StringField("Webhook URL (optional)", validators=[Optional(), Length(max=500)],
                              description="Each alert of this rule is POSTed here as signed JSON.")
    webhook_secret = PasswordField("Webhook secret", validators=[Optional(), Length(
        min=16, max=200, message="The secret needs 16 to 200 characters.")],
        description="Signs each delivery (HMAC-SHA256). Never shown again after saving; leave empty to keep it.")
    clear_webhook = BooleanField("Remove the webhook")

    def __init__(self, *args, roles: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.roles.choices = [(r, _role_label(r)) for r in roles]


class ResolveForm(FlaskForm):
    note = TextAreaField("How was it resolved?", validators=[
        DataRequired(message="Say how the alert was resolved."), Length(max=2000)])


class AssignForm(FlaskForm):
    assignee_id = SelectField("Assign to", coerce=int, choices=[],
                              validators=[DataRequired(message="Choose a colleague.")])


class ActionForm(FlaskForm):
    """CSRF only (acknowledge, send test)."""


FILTER_STATUSES = {**STATUSES, "all": "All"}


def form_error(form: FlaskForm) -> str:
    """One message for a form that did not validate (an expired CSRF token says so)."""
    if "csrf_token" in form.errors:
        return "This form has expired. Reload the page and try again."
    return " ".join(e for errs in form.errors.values() for e in errs)
