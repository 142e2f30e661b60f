"""Application and decision forms (input shape only; rules live in services)."""
from flask_wtf import FlaskForm
from wtforms import DecimalField, HiddenField, IntegerField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class ApplyForm(FlaskForm):
    product_id = SelectField("Product", coerce=int, validators=[InputRequired()])
    amount = DecimalField("Amount (Rs)", places=2, validators=[
        InputRequired(message="Enter the amount in rupees."), NumberRange(min=1, message="Enter a positive amount.")])
    tenure = IntegerField("Tenure (months)", validators=[
        InputRequired(message="Enter the tenure in months."), NumberRange(min=1, max=600)])
    idempotency_key = HiddenField()


class DecisionForm(FlaskForm):
    note = TextAreaField("Note", validators=[Optional(), Length(max=2000)])


class RejectForm(FlaskForm):
    note = TextAreaField("Reason for rejection", validators=[DataRequired(message="Write the reason."),
                                                             Length(max=2000)])


class QueueFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField("Status", validators=[Optional()], default="open")
    band = SelectField("Score band", validators=[Optional()],
                       choices=[("", "Any band"), ("AA", "AA"), ("A", "A"), ("B", "B"), ("C", "C"), ("D", "D")])
    sort = SelectField("Sort", validators=[Optional()], choices=[
        ("oldest", "Oldest first"), ("newest", "Newest first"), ("amount_desc", "Largest amount"),
        ("score_desc", "Highest score")])
