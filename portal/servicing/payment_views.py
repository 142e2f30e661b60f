"""Payment pages (servicing blueprint, see portal/servicing/views.py).

Customer: ``/me/loans/<id>/pay`` (amount due now, editable, then a confirmation step) -> the sandbox gateway
``/sandbox/gateway/<ref>`` (Pay / Fail send a signed webhook in-process) -> back to the loan page;
``/me/loans/<id>/statement``. Staff: ``/staff/loans/<id>/payments`` (record a repayment, mark a payment as
bounced; page or htmx fragment), ``/staff/loans/<id>/statement``. Customers see only their own loans (404
otherwise); staff only their institution's.
"""
from __future__ import annotations

import uuid
from decimal import Decimal

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.business_date import current_business_date
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import hx_redirect, hx_trigger, is_htmx, render_page_or_fragment
from portal.lending.models import Loan
from portal.money import format_inr
from portal.onboarding.services import customer_for_user
from portal.security import Perm, require_permission
from portal.servicing import gateway, services
from portal.servicing.forms import BounceForm, PayForm, RepaymentForm, SandboxCheckoutForm
from portal.servicing.models import Payment
from portal.servicing.views import bp

PAY_PAGE, PAY_FRAGMENT = "servicing/payments/pay.html", "servicing/payments/_pay_form.html"
PANEL_PAGE, PANEL_FRAGMENT = "servicing/payments/officer.html", "servicing/payments/_officer_panel.html"


# ---- loading and authorising -----------------------------------------------------------------------------------
def _my_loan(loan_id: int) -> Loan:
    customer = customer_for_user(current_user)
    loan = db.session.get(Loan, loan_id)
    if customer is None or loan is None or loan.customer_id != customer.id:
        abort(404, "No such loan.")
    return loan


def _staff_loan(loan_id: int) -> Loan:
    loan = db.session.get(Loan, loan_id)
    if loan is None or loan.institution_id != current_user.institution_id:
        abort(404, "No such loan.")
    return loan


def _as_of(loan: Loan):
    return current_business_date(loan.institution_id, clock())


def _sandbox_on() -> bool:
    return bool(current_app.config.get("PAYMENT_SANDBOX"))


# ---- customer: pay, the sandbox gateway, the statement ---------------------------------------------------------
def _pay_context(loan: Loan, form: PayForm, step: str) -> dict:
    return {"loan": loan, "form": form, "step": step, "due_now": services.amount_due_now(loan, _as_of(loan)),
            "as_of": _as_of(loan), "next_due": next((i for i in loan.installments if i.amount_due > 0), None)}


@bp.route("/me/loans/<int:loan_id>/pay", methods=["GET", "POST"])
@require_permission(Perm.APPLY)
def pay_loan(loan_id: int):
    loan = _my_loan(loan_id)
    if not _sandbox_on():
        raise DomainError("Online payment is not available yet: pay at the branch or by bank transfer.", 503)
    form = PayForm()
    if not form.is_submitted():
        services.check_payable(loan)
        form.amount.data = services.amount_due_now(loan, _as_of(loan)) or None
        form.idempotency_key.data = uuid.uuid4().hex
        return render_page_or_fragment(PAY_PAGE, PAY_FRAGMENT, **_pay_context(loan, form, "amount"))
    if not form.validate_on_submit():
        return render_page_or_fragment(PAY_PAGE, PAY_FRAGMENT, 422, **_pay_context(loan, form, "amount"))
    if form.confirmed.data != "1":
        return render_page_or_fragment(PAY_PAGE, PAY_FRAGMENT, **_pay_context(loan, form, "confirm"))
    try:
        payment = services.initiate_gateway_payment(loan, amount=form.amount.data, actor=current_user, clock=clock(),
                                                    idempotency_key=form.idempotency_key.data)
    except DomainError as exc:
        db.session.rollback()
        form.amount.errors = [*form.amount.errors, exc.message]
        return render_page_or_fragment(PAY_PAGE, PAY_FRAGMENT, 422, **_pay_context(loan, form, "amount"))
    db.session.commit()
    return hx_redirect(url_for("servicing.sandbox_gateway", gateway_ref=payment.gateway_ref))


def _my_gateway_payment(gateway_ref: str) -> Payment:
    if not _sandbox_on():
        abort(404)
    payment = db.session.scalar(select(Payment).where(Payment.gateway_ref == gateway_ref[:64]))
    customer = customer_for_user(current_user)
    if payment is None or customer is None or payment.loan.customer_id != customer.id:
        abort(404, "No such payment.")
    return payment


@bp.route("/sandbox/gateway/<gateway_ref>", methods=["GET", "POST"])
@require_permission(Perm.APPLY)
def sandbox_gateway(gateway_ref: str):
    """The sandbox checkout: Pay / Fail make the sandbox send its signed webhook (in-process), then the
    customer goes back to the loan page."""
    payment = _my_gateway_payment(gateway_ref)
    form = SandboxCheckoutForm()
    if form.validate_on_submit() and payment.status == "initiated":
        config = current_app.config
        result = gateway.deliver_sandbox_event(payment, status=form.outcome.data, clock=clock(),
                                               secret=config.get("PAYMENT_WEBHOOK_SECRET"),
                                               tolerance_seconds=int(config["PAYMENT_WEBHOOK_TOLERANCE_SECONDS"]))
        if result.http_status < 400:
            db.session.commit()
        else:
            db.session.rollback()
        db.session.refresh(payment)
        flash(*_outcome_message(payment, result))
        return redirect(url_for("lending.my_loan", loan_id=payment.loan_id), 303)
    return render_template("servicing/payments/gateway.html", payment=payment, form=form,
                           merchant=current_app.config.get("PAYMENT_MERCHANT_NAME", "Credit Lifecycle Portal"))


def _outcome_message(payment: Payment, result) -> tuple[str, str]:
    if payment.status == "succeeded":
        parts = payment.allocation or {}
        return (f"Payment received: {_inr(payment.amount)} ({_inr(parts.get('principal', '0'))} principal, "
                f"{_inr(parts.get('interest', '0'))} interest). Thank you.", "success")
    if payment.status == "failed":
        return f"The payment did not go through: {payment.failure_reason}. Nothing was charged.", "danger"
    return f"The gateway's answer could not be used ({result.body.get('error', result.http_status)}).", "danger"


def _inr(value) -> str:
    return format_inr(Decimal(str(value)))


@bp.get("/me/loans/<int:loan_id>/statement")
@require_permission(Perm.APPLY)
def my_statement(loan_id: int):
    loan = _my_loan(loan_id)
    return render_template("servicing/loans/statement.html", loan=loan, back_url=url_for("lending.my_loan",
                                                                                       loan_id=loan.id),
                           statement=services.statement(loan, _as_of(loan)))


# ---- staff: statement, record a repayment, bounce --------------------------------------------------------------
@bp.get("/staff/loans/<int:loan_id>/statement")
@require_permission(Perm.VIEW_LOANS)
def loan_statement(loan_id: int):
    loan = _staff_loan(loan_id)
    return render_template("servicing/loans/statement.html", loan=loan, back_url=url_for("lending.loan_detail",
                                                                                       loan_id=loan.id),
                           statement=services.statement(loan, _as_of(loan)))


def _panel(loan: Loan, status: int = 200, form: RepaymentForm | None = None, notice: str | None = None):
    if form is None:
        form = RepaymentForm(formdata=None)
        form.amount.data = services.amount_due_now(loan, _as_of(loan)) or None
    payments = db.session.scalars(select(Payment).where(Payment.loan_id == loan.id).order_by(Payment.id.desc())).all()
    return render_page_or_fragment(PANEL_PAGE, PANEL_FRAGMENT, status, loan=loan, form=form, payments=payments,
                                   notice=notice, as_of=_as_of(loan), bounce_form=BounceForm(formdata=None),
                                   due_now=services.amount_due_now(loan, _as_of(loan)),
                                   recovery_eligible=services.recovery_eligible(loan))


def _done(loan: Loan, message: str):
    """After a change: the refreshed panel (htmx, with ``loan-changed``) or a redirect to the page."""
    if is_htmx():
        return hx_trigger(_panel(loan, notice=message), "loan-changed")
    flash(message, "success")
    return redirect(url_for("servicing.loan_payments", loan_id=loan.id), 303)


@bp.get("/staff/loans/<int:loan_id>/payments")
@require_permission(Perm.RECORD_REPAYMENTS)
def loan_payments(loan_id: int):
    return _panel(_staff_loan(loan_id))


@bp.post("/staff/loans/<int:loan_id>/payments")
@require_permission(Perm.RECORD_REPAYMENTS)
def record_payment(loan_id: int):
    loan = _staff_loan(loan_id)
    form = RepaymentForm()
    if not form.validate_on_submit():
        return _panel(loan, 422, form)
    try:
        payment = services.record_repayment(loan, amount=form.amount.data, channel="officer", actor=current_user,
                                            idempotency_key=f"officer:{form.reference.data}", clock=clock())
    except DomainError as exc:
        db.session.rollback()
        form.amount.errors = [*form.amount.errors, exc.message]
        return _panel(loan, 422, form)
    db.session.commit()
    if getattr(payment, "is_duplicate", False):
        return _done(loan, f"Reference {form.reference.data} was already recorded as payment {payment.id}: "
                           "nothing new was recorded.")
    return _done(loan, f"Payment {payment.id} of {_inr(payment.amount)} recorded.")


@bp.post("/staff/payments/<int:payment_id>/bounce")
@require_permission(Perm.RECORD_REPAYMENTS)
def bounce_payment(payment_id: int):
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.institution_id != current_user.institution_id:
        abort(404, "No such payment.")
    form = BounceForm()
    if not form.validate_on_submit():
        raise DomainError(next(iter(form.errors.values()))[0])
    services.bounce_payment(payment, actor=current_user, clock=clock(), reason=form.reason.data)
    db.session.commit()
    loan = payment.loan
    message = f"Payment {payment.id} marked as bounced and reversed."
    if services.recovery_eligible(loan):
        message += f" Loan {loan.id} has {loan.bounce_count} bounces: it is eligible for recovery."
    return _done(loan, message)
