"""Application, review and offer forms (input shape only; rules live in services)."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, HiddenField, IntegerField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class ApplyForm(FlaskForm):
    product_id = SelectField("Product", coerce=int, validators=[InputRequired()])
    amount = DecimalField("Amount (Rs)", places=2, validators=[
        InputRequired(message="Enter the amount in rupees."), NumberRange(min=1, message="Enter a positive amount.")])
    tenure = IntegerField("Tenure (months)", validators=[
        InputRequired(message="Enter the tenure in months."), NumberRange(min=1, max=600)])
    idempotency_key = HiddenField()


class DecisionForm(FlaskForm):
    note = TextAreaField("Note", id="approve-note", validators=[Optional(), Length(max=2000)])


class RejectForm(FlaskForm):
    reason_code = SelectField("Reason", id="reject-reason-code", choices=[],
                              validators=[DataRequired(message="Choose the reason.")])
    note = TextAreaField("Note for the customer", id="reject-note",
                         validators=[DataRequired(message="Write the reason."), Length(max=2000)])


class CounterOfferForm(FlaskForm):
    amount = DecimalField("Amount (Rs)", places=2, id="counter-amount", validators=[
        InputRequired(message="Enter the amount in rupees."), NumberRange(min=1, message="Enter a positive amount.")])
    interest_rate = DecimalField("Rate (% p.a.)", places=2, id="counter-rate", validators=[
        InputRequired(message="Enter the rate."), NumberRange(min=0, max=100, message="Between 0 and 100.")])
    tenure = IntegerField("Tenure (months)", id="counter-tenure", validators=[
        InputRequired(message="Enter the tenure in months."), NumberRange(min=1, max=600)])
    note = TextAreaField("Note", id="counter-note", validators=[Optional(), Length(max=2000)])


class InfoRequestForm(FlaskForm):
    question = TextAreaField("Question for the customer", id="info-question", validators=[
        DataRequired(message="Write the question."), Length(min=5, max=2000)])


class EscalateForm(FlaskForm):
    reason = TextAreaField("Why escalate", id="escalate-reason", validators=[
        DataRequired(message="Write why you escalate."), Length(min=5, max=2000)])


class OverrideRequestForm(FlaskForm):
    rule = SelectField("Failed rule", id="override-rule", validators=[DataRequired(message="Choose the rule.")],
                       choices=[])
    reason = TextAreaField("Reason for the override", id="override-reason", validators=[
        DataRequired(message="Write the reason."), Length(min=10, max=2000,
                                                          message="Write at least 10 characters.")])


class OverrideCheckForm(FlaskForm):
    decision = SelectField("Decision", choices=[("approve", "Approve"), ("reject", "Reject")],
                           validators=[DataRequired()])
    note = TextAreaField("Checker's note", validators=[Optional(), Length(max=2000)])


class NoteForm(FlaskForm):
    body = TextAreaField("Add a note", id="note-body",
                         validators=[DataRequired(message="Write the note."), Length(max=2000)])


class AssignForm(FlaskForm):
    assignee_id = SelectField("Assign to", id="assignee", coerce=int, validators=[InputRequired()], choices=[])


class AnswerForm(FlaskForm):
    answer = TextAreaField("Your answer", validators=[DataRequired(message="Write your answer."),
                                                      Length(max=2000)])


class AcceptOfferForm(FlaskForm):
    agree = BooleanField("I have read the Key Facts Statement above and I accept this offer on these terms.",
                         validators=[DataRequired(message="Tick the box to confirm you read the Key Facts Statement.")])
    kfs_digest = HiddenField()


class DeclineOfferForm(FlaskForm):
    reason = TextAreaField("Why (optional)", id="decline-reason", validators=[Optional(), Length(max=500)])


class QueueFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField("Status", validators=[Optional()], default="open")
    band = SelectField("Score band", validators=[Optional()],
                       choices=[("", "Any band"), ("AA", "AA"), ("A", "A"), ("B", "B"), ("C", "C"), ("D", "D")])
    product = SelectField("Product", validators=[Optional()], choices=[])
    min_amount = DecimalField("Amount from (Rs)", places=2, validators=[Optional(), NumberRange(min=0)])
    max_amount = DecimalField("Amount to (Rs)", places=2, validators=[Optional(), NumberRange(min=0)])
    min_age = IntegerField("Age from", validators=[Optional(), NumberRange(min=0, max=120)])
    max_age = IntegerField("Age to", validators=[Optional(), NumberRange(min=0, max=120)])
    assigned = SelectField("Officer", validators=[Optional()], choices=[
        ("", "Anyone"), ("me", "Mine"), ("unassigned", "Unassigned")])
    sort = SelectField("Sort", validators=[Optional()], choices=[
        ("oldest", "Oldest first"), ("newest", "Newest first"), ("sla", "Decision due first"),
        ("amount_desc", "Largest amount"), ("amount_asc", "Smallest amount"), ("score_desc", "Highest score")])
