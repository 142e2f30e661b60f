"""The upload form of the loan-book import (input shape only; the file checks live in the service)."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired


class ImportForm(FlaskForm):
    customers = FileField("Customers workbook (customer_data.xlsx)",
                          validators=[FileRequired(message="Choose the customers workbook (.xlsx).")],
                          description="Sheet with Customer ID, First Name, Last Name, Age, Phone Number, "
                                      "Monthly Salary, Approved Limit.")
    loans = FileField("Loans workbook (loan_data.xlsx)",
                      validators=[FileRequired(message="Choose the loans workbook (.xlsx).")],
                      description="Sheet with Customer ID, Loan ID, Loan Amount, Tenure, Interest Rate, "
                                  "Monthly payment, EMIs paid on Time, Date of Approval, End Date.")
