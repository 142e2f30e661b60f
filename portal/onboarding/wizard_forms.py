"""Forms of the onboarding wizard's steps. They only carry and render the values (labels, input types, kept
values); every rule lives in ``portal.onboarding.wizard`` so the pages and any other caller get the same
answers. CSRF is checked for every POST by Flask-WTF's ``CSRFProtect``."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, SelectField, StringField

from portal.onboarding.wizard import EMPLOYMENT_TYPES, INDIAN_STATES


class _StepForm(FlaskForm):
    class Meta:
        csrf = False  # the page's token travels in the form (forms.csrf) and the hx-headers; CSRFProtect checks it


class PersonalForm(_StepForm):
    first_name = StringField("First name", render_kw={"maxlength": 100})
    last_name = StringField("Last name", render_kw={"maxlength": 100})
    date_of_birth = StringField("Date of birth", render_kw={"type": "date"},
                                description="As on your PAN card. You must be at least 18.")
    email = EmailField("Email address", render_kw={"maxlength": 254})


class ContactForm(_StepForm):
    address_line1 = StringField("Address line 1", render_kw={"maxlength": 200},
                                description="House or flat number, building, street.")
    address_line2 = StringField("Address line 2 (optional)", render_kw={"maxlength": 200},
                                description="Area, locality or landmark.")
    city = StringField("City, town or village", render_kw={"maxlength": 100})
    state = SelectField("State or union territory",
                        choices=[("", "Choose…")] + [(s, s) for s in INDIAN_STATES], validate_choice=False)
    pincode = StringField("PIN code", render_kw={"maxlength": 6, "pattern": "[0-9]*"},
                          description="6 digits.")


class EmploymentForm(_StepForm):
    employment_type = RadioField("How do you earn your income?", choices=list(EMPLOYMENT_TYPES.items()),
                                 validate_choice=False)
    employer_name = StringField("Employer or business name", render_kw={"maxlength": 200})
    monthly_income = StringField("Monthly income (Rs)", render_kw={"maxlength": 20},
                                 description="Take-home income in rupees per month, for example 45000.")


class IdentityForm(_StepForm):
    pan = StringField("PAN", render_kw={"maxlength": 10, "autocapitalize": "characters", "spellcheck": "false"},
                      description="10 characters, as on your PAN card, for example ABCPE1234F.")
    aadhaar = StringField("Aadhaar number", render_kw={"maxlength": 14, "autocomplete": "off", "spellcheck": "false"})
    gstin = StringField("GSTIN", render_kw={"maxlength": 15, "autocapitalize": "characters", "spellcheck": "false"},
                        description="15 characters; it contains your PAN.")


STEP_FORMS: dict[str, type[FlaskForm]] = {"personal": PersonalForm, "contact": ContactForm,
                                          "employment": EmploymentForm, "identity": IdentityForm}
