"""Forms of the close-of-business admin page (input shape only; the dates and rules are checked by the
service)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField
from wtforms.validators import DataRequired, InputRequired, NumberRange

MAX_DEMO_DAYS = 90


class RunCobForm(FlaskForm):
    """Run (or resume) the close of business of the books' date; the box confirms that the date moves on."""

    confirm = BooleanField("Close the books and move the business date to the next day",
                                validators=[DataRequired(message="Tick the box to confirm.")])


class RunDaysForm(FlaskForm):
    """Demo mode: close the books for the next N business dates in a row, to watch the book age."""

    days = IntegerField("Days", default=30, validators=[InputRequired(message="Enter a number of days."),
                                                        NumberRange(1, MAX_DEMO_DAYS,
                                                                    message=f"From 1 to {MAX_DEMO_DAYS} days.")],
                        description=f"1 to {MAX_DEMO_DAYS}; each day runs the whole close of business.")
    # (its own name: the page also shows RunCobForm, and each checkbox needs its own id for its label)
    confirm_days = BooleanField("Run them one after the other (the business date moves on each time)",
                                validators=[DataRequired(message="Tick the box to confirm.")])
