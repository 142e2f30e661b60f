"""The export request form (input shape only; the service checks statuses, products and the date range)."""
from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectField
from wtforms.validators import InputRequired, Optional

from portal.lending.states import LoanStatus


class ExportForm(FlaskForm):
    format = RadioField("Format", choices=[("xlsx", "Excel workbook (.xlsx)"), ("csv", "CSV (.csv)")],
                        default="xlsx", validators=[InputRequired(message="Choose a format.")])
    status = SelectField("Loan status", choices=[("", "Any status")] + [(s.value, s.value.replace("_", " ").title())
                                                                        for s in LoanStatus],
                         default="", validators=[Optional()])
    product_id = SelectField("Product", choices=[("", "Any product")], default="", validators=[Optional()])
    disbursed_from = DateField("Disbursed from", validators=[Optional()])
    disbursed_to = DateField("Disbursed to", validators=[Optional()])
