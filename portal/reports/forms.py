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


class ReportFilterForm(FlaskForm):
    """The filters of a report page (GET, so no CSRF token): input shape only. Choices are set by the view;
    product and officer are checked by ``portal.reports.reports.clean_filters`` (404 for another
    institution's), so the form does not refuse them first."""

    class Meta:
        csrf = False

    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])
    product_id = SelectField("Product", choices=[("", "Any product")], default="", validate_choice=False,
                             validators=[Optional()])
    score_band = SelectField("Score band", choices=[("", "Any band")], default="", validators=[Optional()])
    status = SelectField("Status", choices=[("", "Any status")], default="", validators=[Optional()])
    officer_id = SelectField("Officer", choices=[("", "Any officer")], default="", validate_choice=False,
                             validators=[Optional()])
    threshold = SelectField("Past due beyond", choices=[("30", "30 days (30+ DPD)"), ("60", "60 days"),
                                                        ("90", "90 days (NPA)")], default="30",
                            validators=[Optional()])


class ReportExportForm(FlaskForm):
    """Export a report (or the audit log) with the filters shown: the format (CSRF-checked POST); the filters
    come as hidden fields and are checked by the service."""

    format = RadioField("Format", choices=[("xlsx", "XLSX"), ("csv", "CSV")], default="xlsx",
                        validators=[InputRequired(message="Choose a format.")])
