"""Forms of the collections pages (input shape only; the rules live in ``services``)."""
from __future__ import annotations

from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, DecimalField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.delinquency.models import ACTION_KINDS, ACTION_OUTCOMES

AMOUNT_RANGE = NumberRange(min=Decimal("0.01"), max=Decimal("100000000"),
                           message="Enter an amount between Rs 0.01 and Rs 10,00,00,000.")


class AssignForm(FlaskForm):
    """Assign the loan to a collections officer ("" unassigns); choices are set by the view."""

    collector = SelectField("Collector", choices=[], validate_choice=True)


class PromiseForm(FlaskForm):
    amount = DecimalField("Amount promised (Rs)", places=2, id="promise-amount", validators=[
        InputRequired(message="Enter the amount promised in rupees."), AMOUNT_RANGE])
    promised_on = DateField("Promised by (date)", id="promise-date",
                            validators=[InputRequired(message="Enter the date the borrower promised to pay by.")])
    note = TextAreaField("Note", id="promise-note", validators=[Optional(), Length(max=500)])


class ActionForm(FlaskForm):
    kind = SelectField("What was done", id="action-kind", choices=[("", "Choose…"), *ACTION_KINDS.items()],
                       validators=[DataRequired(message="Choose what was done.")])
    outcome = SelectField("Outcome", id="action-outcome", choices=[("", "Choose…"), *ACTION_OUTCOMES.items()],
                          validators=[DataRequired(message="Choose the outcome.")])
    offer_amount = DecimalField("Settlement amount offered (Rs, settlement offers only)", places=2,
                                id="action-offer", validators=[Optional(), AMOUNT_RANGE])
    note = TextAreaField("Notes", id="action-note", validators=[DataRequired(message="Write what happened."),
                                                                Length(max=1000)])


class InitiateRecoveryForm(FlaskForm):
    note = TextAreaField("Note (optional)", id="recovery-note", validators=[Optional(), Length(max=500)])


class CompleteRecoveryForm(FlaskForm):
    amount = DecimalField("Amount recovered (Rs)", places=2, id="recovery-amount", validators=[
        InputRequired(message="Enter the amount recovered in rupees."), AMOUNT_RANGE])
    confirm = BooleanField("I confirm this money has been received into the lender's account",
                           id="recovery-confirm",
                           validators=[DataRequired(message="Confirm that the money was received.")])


class ProposeWriteOffForm(FlaskForm):
    reason = TextAreaField("Why write this loan off", id="write-off-reason", validators=[
        DataRequired(message="Write why the loan should be written off."), Length(max=1000)])
    confirm = BooleanField("I propose writing off the whole outstanding balance (a checker must approve)",
                           id="write-off-confirm",
                           validators=[DataRequired(message="Confirm the proposal.")])


class CheckWriteOffForm(FlaskForm):
    decision = SelectField("Decision", choices=[("approve", "Approve"), ("reject", "Reject")],
                           validators=[DataRequired()])
    note = TextAreaField("Note (required to reject)", validators=[Optional(), Length(max=1000)])


def form_error(form: FlaskForm) -> str:
    """The form's errors as one sentence (an expired CSRF token says so)."""
    if "csrf_token" in form.errors:
        return "This form has expired. Reload the page and try again."
    return " ".join(e for errs in form.errors.values() for e in errs)
