"""Payment forms (input shape only; the rules live in services)."""
from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Regexp

AMOUNT_RANGE = NumberRange(min=Decimal("0.01"), max=Decimal("100000000"),
                           message="Enter an amount between Rs 0.01 and Rs 10,00,00,000.")


class PayForm(FlaskForm):
    """The customer's pay page: the amount (editable), then a confirmation step (``confirmed`` = "1")."""

    amount = DecimalField("Amount to pay (Rs)", places=2, validators=[
        InputRequired(message="Enter the amount in rupees."), AMOUNT_RANGE])
    idempotency_key = HiddenField(validators=[DataRequired(), Length(max=64)])
    confirmed = HiddenField()


class SandboxCheckoutForm(FlaskForm):
    """The sandbox gateway's buttons: pay or fail the payment."""

    outcome = SelectField(choices=[("succeeded", "Pay"), ("failed", "Fail")], validators=[DataRequired()])


class RepaymentForm(FlaskForm):
    """An officer records money received (the reference is the idempotency key)."""

    amount = DecimalField("Amount received (Rs)", places=2, id="repayment-amount", validators=[
        InputRequired(message="Enter the amount in rupees."), AMOUNT_RANGE])
    reference = StringField("Reference (UTR, receipt or cheque number)", id="repayment-reference",
                            description="Used once: the same reference again records nothing new.", validators=[
        DataRequired(message="Enter the payment's reference."), Length(max=60),
        Regexp(r"^[A-Za-z0-9/_.\-]+$", message="Letters, digits and / _ . - only.")])
    confirm = BooleanField("I confirm this money has been received into the lender's account",
                           id="repayment-confirm",
                           validators=[DataRequired(message="Confirm that the money was received.")])


class BounceForm(FlaskForm):
    """An officer marks a succeeded payment as bounced."""

    reason = StringField("Reason for the bounce", validators=[
        DataRequired(message="Write why the payment bounced."), Length(max=160)])
