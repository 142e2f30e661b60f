"""User-administration forms (input shape only; the rules live in ``portal.auth.services``)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from portal.security import STAFF_ROLES, Role

EMAIL = Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter an email address such as name@bank.in.")
#: staff roles in the order of the role select
ROLE_ORDER = [Role.LOAN_OFFICER, Role.RISK_OFFICER, Role.COLLECTIONS, Role.SUPPORT, Role.ADMIN]


def staff_role_choices() -> list[tuple[str, str]]:
    """``(value, label)`` of every staff role (portal.security.STAFF_ROLES), in ``ROLE_ORDER``."""
    ordered = [r for r in ROLE_ORDER if r in STAFF_ROLES] + sorted(STAFF_ROLES - set(ROLE_ORDER))
    return [(r.value, r.label) for r in ordered]


class _AccessFields(FlaskForm):
    # validate_choice=False: an unknown role reaches the service, which names the staff roles (422)
    role = SelectField("Role", choices=[], validate_choice=False,
                       validators=[DataRequired(message="Choose a role.")])
    institution_id = SelectField("Institution", coerce=int, choices=[], validate_choice=False,
                                 description="You can assign staff to your own institution only.")

    def __init__(self, *args, institutions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = staff_role_choices()
        self.institution_id.choices = [(i.id, i.name) for i in institutions]


class NewStaffForm(_AccessFields):
    """A new staff login: email, name, role and institution. No password: the person sets it by a link."""

    email = StringField("Email", validators=[DataRequired(message="Enter the email address."), Length(max=254),
                                             EMAIL])
    display_name = StringField("Full name", validators=[DataRequired(message="Enter the person's name."),
                                                        Length(max=200)])


class AccessForm(_AccessFields):
    """A new role and institution for a staff user, with the reason (audit log)."""

    reason = TextAreaField("Reason (goes into the audit log)",
                           validators=[DataRequired(message="Give a reason: it goes into the audit log."),
                                       Length(min=3, max=500)])


class SetPasswordForm(FlaskForm):
    """The person's own new password, typed twice (set-password link)."""

    password = PasswordField("New password", validators=[DataRequired(message="Choose a password."),
                                                         Length(min=8, max=200,
                                                                message="Use 8 to 200 characters.")],
                             description="At least 8 characters. A passphrase of a few words is easy to remember.")
    confirm = PasswordField("Repeat the password", validators=[
        DataRequired(message="Type the password again."), EqualTo("password", message="The two passwords differ.")])
