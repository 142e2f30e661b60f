"""Sign-in and registration forms (input shape only)."""
from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Regexp, ValidationError


class LoginForm(FlaskForm):
    login = StringField("Email or mobile number", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class RegisterForm(FlaskForm):
    first_name = StringField("First name", validators=[DataRequired(), Length(max=100)])
    last_name = StringField("Last name", validators=[DataRequired(), Length(max=100)])
    age = IntegerField("Age", validators=[DataRequired(), NumberRange(min=18, max=100)])
    phone_number = StringField("Mobile number", validators=[
        DataRequired(), Regexp(r"^[6-9]\d{9}$", message="Enter a 10-digit Indian mobile number.")])
    monthly_income = DecimalField("Monthly income (Rs)", places=2, validators=[
        DataRequired(), NumberRange(min=1, max=100_000_000, message="Enter your monthly income in rupees.")])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, max=200)])


class OtpRequestForm(FlaskForm):
    """Step 1 of OTP sign-in: the mobile number (checked and normalised by ``validate_phone``)."""

    phone = StringField("Mobile number", validators=[DataRequired(message="Enter your mobile number."),
                                                     Length(max=20)],
                        description="A 10-digit Indian mobile number. We send a 6-digit code to it by SMS.")

    def validate_phone(self, field) -> None:
        from portal.auth.otp import normalize_mobile

        try:
            self.normalized_phone = normalize_mobile(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


SIX_DIGITS = Regexp(r"^\s*\d{6}\s*$", message="Enter the 6 digits of the code.")


class OtpVerifyForm(FlaskForm):
    """Step 2 of OTP sign-in: the code from the SMS."""

    code = StringField("6-digit code", validators=[DataRequired(message="Enter the code from the SMS."), SIX_DIGITS])


class MfaCodeForm(FlaskForm):
    """A code from the authenticator app (sign-in step, enrolment confirmation, switching MFA off)."""

    code = StringField("6-digit code from your authenticator app",
                       validators=[DataRequired(message="Enter the code shown in your authenticator app."),
                                   SIX_DIGITS])


class ReasonForm(FlaskForm):
    """Confirmation of an administrative action (freeze, unfreeze, reset MFA) with its reason."""

    reason = TextAreaField("Reason", validators=[DataRequired(message="Give a reason: it goes into the audit log."),
                                                 Length(min=3, max=500)])
