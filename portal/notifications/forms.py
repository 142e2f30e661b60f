"""Forms of the notification pages (input shape only; templates are checked by ``templates.check_template``)."""
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class TemplateDraftForm(FlaskForm):
    """The draft of one template: a subject (email and in-app only) and the message, both Jinja."""

    subject = StringField("Subject", validators=[Optional(), Length(max=200)])
    body = TextAreaField("Message", validators=[DataRequired(message="Write the message."), Length(max=5000)])


class CsrfForm(FlaskForm):
    """A form with only the CSRF token (mark read, publish, preferences: the checkboxes are read by name)."""
