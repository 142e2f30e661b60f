"""Forms of the loan status override (input shape only; the rules are in ``portal.lending.overrides``)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length


class StatusOverrideRequestForm(FlaskForm):
    """The maker's request: the new status (among the allowed ones) and the reason."""

    # validate_choice=False: a status outside the allowed ones reaches the service, which says why (422)
    to_status = SelectField("New status", choices=[], validate_choice=False,
                            validators=[DataRequired(message="Choose the new status.")])
    reason = TextAreaField("Reason", validators=[DataRequired(message="Write the reason for the override."),
                                                 Length(max=2000)],
                           description="At least 10 characters. The checker and the audit log rely on it.")


class StatusOverrideDecisionForm(FlaskForm):
    """The checker's note (required to reject)."""

    note = TextAreaField("Note", validators=[Length(max=2000)])
