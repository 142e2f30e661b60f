"""Forms of the KYC documents pages (input shape only; the file checks live in ``documents.check_upload``)."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.onboarding.documents import DOCUMENT_KINDS


class UploadDocumentForm(FlaskForm):
    kind = SelectField("Document", choices=[("", "Choose…"), *DOCUMENT_KINDS.items()],
                       validators=[DataRequired(message="Choose which document this is.")])
    file = FileField("File")


class RejectDocumentForm(FlaskForm):
    reason = TextAreaField("Reason", validators=[DataRequired(message="Give a reason; the customer will see it."),
                                                 Length(max=1000)])
