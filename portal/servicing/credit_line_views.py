"""Credit-line pages (seed 004): the customer applies (rules, score, limit, confirmation), follows the line
(limit, available, balances, the current bill, statement and upcoming dues), draws (with a confirmation step)
and closes it at a zero balance; staff of the institution view any line (VIEW_LOANS).

Rules live in ``portal/servicing/credit_line.py``; these views parse, authorise, call one service and commit.
"""
from __future__ import annotations

import uuid
from decimal import Decimal

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.routing import BuildError
from wtforms import DecimalField, HiddenField
from wtforms.validators import InputRequired, NumberRange

from portal.business_date import current_business_date
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.money import format_inr
from portal.onboarding.services import customer_for_user
from portal.security import Perm, require_permission
from portal.servicing import credit_line
from portal.servicing.views import bp


class CreditLineApplyForm(FlaskForm):
    limit = DecimalField("Credit limit you want (Rs)", places=2, validators=[
        InputRequired(message="Enter the credit limit in rupees."),
        NumberRange(min=1, message="Enter a positive amount.")])
    confirmed = HiddenField()


class DrawdownForm(FlaskForm):
    amount = DecimalField("Amount to draw (Rs)", places=2, validators=[
        InputRequired(message="Enter the amount in rupees."),
        NumberRange(min=Decimal("0.01"), message="Enter a positive amount.")])
    idempotency_key = HiddenField()
    confirmed = HiddenField()


class CloseLineForm(FlaskForm):
    """Only the CSRF token: closing asks nothing else."""


def _me():
    customer = customer_for_user(current_user)
    if customer is None:
        abort(404, "There is no customer profile for this login.")
    return customer


def _pay_url(loan) -> str | None:
    """The pay page of the line when the payments area provides one."""
    try:
        return url_for("servicing.pay_loan", loan_id=loan.id)
    except BuildError:
        return None


def _line_page(loan, *, staff: bool, form: DrawdownForm | None = None, status: int = 200):
    as_of = current_business_date(loan.institution_id, clock())
    if form is None:
        form = DrawdownForm(formdata=None)
        form.idempotency_key.data = uuid.uuid4().hex
    return render_page_or_fragment("servicing/credit_lines/show.html", "servicing/credit_lines/_summary.html",
                                   status=status, loan=loan, customer=loan.customer, view=credit_line.line_view(
                                       loan, as_of), form=form, close_form=CloseLineForm(), staff=staff,
                                   pay_url=None if staff else _pay_url(loan))


@bp.get("/me/credit-lines")
@require_permission(Perm.APPLY)
def my_credit_lines():
    customer = _me()
    return render_template("servicing/credit_lines/index.html", customer=customer,
                           lines=credit_line.lines_of(customer),
                           product=credit_line.credit_line_product(customer.institution_id))


@bp.route("/me/credit-line/apply", methods=["GET", "POST"])
@require_permission(Perm.APPLY)
def apply_credit_line():
    customer = _me()
    product = credit_line.credit_line_product(customer.institution_id)
    if product is None:
        abort(404, "No credit line is offered at the moment.")
    form = CreditLineApplyForm()
    if request.method == "GET":
        form.limit.data = product.max_amount
    context = {"customer": customer, "product": product, "form": form,
               "score": credit_line.latest_savings_score(customer),
               "annual_income": credit_line.annual_income(customer)}
    if request.method == "GET" or not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("servicing/credit_lines/apply.html", checks=None, stage="ask", **context), status
    checks = credit_line.assess(customer, product, form.limit.data)
    if not all(c.passed for c in checks):
        return render_template("servicing/credit_lines/apply.html", checks=checks, stage="ask", **context), 422
    if form.confirmed.data != "yes":
        form.confirmed.data = "yes"
        return render_template("servicing/credit_lines/apply.html", checks=checks, stage="confirm", **context)
    try:
        loan = credit_line.open_credit_line(customer, product, limit=form.limit.data, actor=current_user,
                                            clock=clock())
    except DomainError as exc:
        db.session.rollback()
        form.limit.errors = [*form.limit.errors, exc.message]
        return render_template("servicing/credit_lines/apply.html", checks=checks, stage="ask", **context), \
            exc.http_status
    db.session.commit()
    flash(f"Your credit line {loan.id} is open: you can draw up to {format_inr(loan.credit_limit_amount)}.",
          "success")
    return redirect(url_for("servicing.my_credit_line", loan_id=loan.id), 303)


@bp.get("/me/credit-lines/<int:loan_id>")
@require_permission(Perm.APPLY)
def my_credit_line(loan_id: int):
    loan = credit_line.get_line(loan_id, customer=_me())
    return _line_page(loan, staff=False)


@bp.post("/me/credit-lines/<int:loan_id>/drawdown")
@require_permission(Perm.APPLY)
def drawdown(loan_id: int):
    loan = credit_line.get_line(loan_id, customer=_me())
    form = DrawdownForm()
    if not form.validate_on_submit():
        return _line_page(loan, staff=False, form=form, status=422)
    if form.confirmed.data != "yes":
        as_of = current_business_date(loan.institution_id, clock())
        try:
            amount = credit_line.check_drawdown(loan, form.amount.data, as_of=as_of)
        except DomainError as exc:
            form.amount.errors = [*form.amount.errors, exc.message]
            return _line_page(loan, staff=False, form=form, status=exc.http_status)
        form.confirmed.data = "yes"
        return render_template("servicing/credit_lines/confirm_drawdown.html", loan=loan, form=form, amount=amount,
                               view=credit_line.line_view(loan, as_of),
                               daily=credit_line.daily_interest(amount, loan.interest_rate))
    try:
        txn = credit_line.drawdown(loan, form.amount.data, idempotency_key=form.idempotency_key.data or "",
                                   actor=current_user, clock=clock())
    except DomainError as exc:
        db.session.rollback()
        form.amount.errors = [*form.amount.errors, exc.message]
        return _line_page(loan, staff=False, form=form, status=exc.http_status)
    db.session.commit()
    flash(f"Drawn {format_inr(txn.amount)} from credit line {loan.id}.", "success")
    return redirect(url_for("servicing.my_credit_line", loan_id=loan.id), 303)


@bp.post("/me/credit-lines/<int:loan_id>/close")
@require_permission(Perm.APPLY)
def close_credit_line(loan_id: int):
    loan = credit_line.get_line(loan_id, customer=_me())  # CSRF is checked for every POST (CSRFProtect)
    credit_line.close_credit_line(loan, actor=current_user, clock=clock())
    db.session.commit()
    flash(f"Credit line {loan.id} is closed.", "info")
    return redirect(url_for("servicing.my_credit_line", loan_id=loan.id), 303)


@bp.get("/staff/credit-lines/<int:loan_id>")
@require_permission(Perm.VIEW_LOANS)
def staff_credit_line(loan_id: int):
    loan = credit_line.get_line(loan_id, institution_id=current_user.institution_id)
    return _line_page(loan, staff=True)
