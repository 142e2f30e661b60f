"""Sign-in and registration forms (input shape only)."""
from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Regexp


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
