"""Forms of the support pages (input shape only; the attachment checks live in ``services.check_attachment``)."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.support.models import CATEGORIES, STATUSES


class OpenTicketForm(FlaskForm):
    category = SelectField("What is it about?", choices=[("", "Choose…"), *CATEGORIES.items()],
                           validators=[DataRequired(message="Choose what the ticket is about.")])
    subject = StringField("Subject", validators=[DataRequired(message="Give the ticket a subject."),
                                                 Length(max=200)])
    body = TextAreaField("Message", validators=[DataRequired(message="Write a message."), Length(max=5000)])
    attachment = FileField("Attachment (optional: PDF, JPEG or PNG, up to 5 MB)")


class CustomerReplyForm(FlaskForm):
    body = TextAreaField("Your reply", validators=[DataRequired(message="Write a message."), Length(max=5000)])
    attachment = FileField("Attachment (optional: PDF, JPEG or PNG, up to 5 MB)")


class StaffReplyForm(FlaskForm):
    body = TextAreaField("Reply", validators=[DataRequired(message="Write a message."), Length(max=5000)])
    internal = BooleanField("Internal note (the customer does not see it)")


class StatusForm(FlaskForm):
    status = SelectField("Status", choices=list(STATUSES.items()))


class ClaimForm(FlaskForm):
    """CSRF only."""


def form_error(form: FlaskForm) -> str:
    if "csrf_token" in form.errors:
        return "This form has expired. Reload the page and try again."
    return " ".join(e for errs in form.errors.values() for e in errs)
