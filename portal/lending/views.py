"""Lending pages: the customer's apply/track/loan pages and the officer's queue and review screen."""
from __future__ import annotations

import uuid
from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select

from portal.business_date import current_business_date
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.lending import queries, services
from portal.lending.forms import ApplyForm, DecisionForm, QueueFilterForm, RejectForm
from portal.lending.models import Loan, LoanApplication, Product
from portal.lending.states import ApplicationStatus
from portal.onboarding.consents import check_scoring_allowed
from portal.onboarding.models import Customer
from portal.onboarding.services import customer_for_user
from portal.security import Perm, require_permission

bp = Blueprint("lending", __name__)


# ---- customer -------------------------------------------------------------------------------------------------
def _me() -> Customer:
    customer = customer_for_user(current_user)
    if customer is None:
        abort(404, "There is no customer profile for this login.")
    return customer


def _products(institution_id: int) -> list[Product]:
    return list(db.session.scalars(select(Product).where(Product.institution_id == institution_id,
                                                         Product.active.is_(True)).order_by(Product.id)))


def _assessment(customer: Customer, as_of):
    """The customer's score and current debt, or None while no income is recorded (a customer who signed up
    by OTP has monthly salary 0.00 until the onboarding wizard fills it in)."""
    if customer.monthly_salary <= 0:
        return None
    return services.assess(customer, amount=Decimal("1.00"), tenure=12, interest_rate=Decimal("12"), as_of=as_of)


@bp.get("/me")
@require_permission(Perm.APPLY)
def customer_dashboard():
    customer = _me()
    as_of = current_business_date(customer.institution_id, clock())
    loans = db.session.scalars(queries.customer_loans(customer.id)).all()
    applications = db.session.scalars(select(LoanApplication).where(LoanApplication.customer_id == customer.id)
                                      .order_by(LoanApplication.id.desc()).limit(5)).all()
    assessment = _assessment(customer, as_of)
    return render_template("lending/customer/dashboard.html", customer=customer, loans=loans,
                           applications=applications, assessment=assessment, as_of=as_of)


def _apply_form(customer: Customer) -> ApplyForm:
    form = ApplyForm()
    products = _products(customer.institution_id)
    form.product_id.choices = [(p.id, f"{p.name} — {p.interest_rate}% p.a.") for p in products]
    if not form.idempotency_key.data:
        form.idempotency_key.data = uuid.uuid4().hex
    return form


def _product_or_404(product_id, institution_id) -> Product:
    product = db.session.get(Product, product_id) if product_id else None
    if product is None or product.institution_id != institution_id:
        abort(404, "No such product.")
    return product


@bp.route("/me/apply", methods=["GET", "POST"])
@require_permission(Perm.APPLY)
def apply():
    customer = _me()
    form = _apply_form(customer)
    if request.method == "POST":
        if form.validate_on_submit():
            product = _product_or_404(form.product_id.data, customer.institution_id)
            try:
                app = services.submit_application(customer, product, amount=form.amount.data,
                                                  tenure=form.tenure.data, actor=current_user, clock=clock(),
                                                  idempotency_key=form.idempotency_key.data or None)
            except DomainError as exc:
                db.session.rollback()
                form.amount.errors = [*form.amount.errors, exc.message]
            else:
                db.session.commit()
                flash(f"Application {app.id} submitted. An officer will review it.", "success")
                return redirect(url_for("lending.my_application", application_id=app.id))
        return render_template("lending/customer/apply.html", form=form, customer=customer, check=None), 422
    return render_template("lending/customer/apply.html", form=form, customer=customer, check=None)


@bp.post("/me/apply/check")
@require_permission(Perm.APPLY)
def eligibility_panel():
    """The instant eligibility check shown while the customer fills the form (htmx fragment)."""
    customer = _me()
    form = _apply_form(customer)
    check = error = None
    if form.validate():
        product = _product_or_404(form.product_id.data, customer.institution_id)
        try:
            services.check_product_bounds(product, form.amount.data, form.tenure.data)
            check_scoring_allowed(customer)  # no scoring without the bureau-check consent once asked
            as_of = current_business_date(customer.institution_id, clock())
            check = services.assess(customer, amount=form.amount.data, tenure=form.tenure.data,
                                    interest_rate=product.interest_rate, as_of=as_of)
        except DomainError as exc:
            error = exc.message
    else:
        error = " ".join(e for errs in form.errors.values() for e in errs)
    return render_template("lending/customer/_eligibility.html", check=check, error=error)


def _my_application(application_id: int, customer: Customer) -> LoanApplication:
    app = db.session.get(LoanApplication, application_id)
    if app is None or app.customer_id != customer.id:
        abort(404, "No such application.")
    return app


@bp.get("/me/applications")
@require_permission(Perm.APPLY)
def my_applications():
    customer = _me()
    applications = db.session.scalars(select(LoanApplication).where(LoanApplication.customer_id == customer.id)
                                      .order_by(LoanApplication.id.desc())).all()
    return render_template("lending/customer/applications.html", applications=applications, customer=customer)


@bp.get("/me/applications/<int:application_id>")
@require_permission(Perm.APPLY)
def my_application(application_id: int):
    customer = _me()
    app = _my_application(application_id, customer)
    return render_page_or_fragment("lending/customer/application.html", "lending/applications/_timeline.html",
                                   application=app, customer=customer)


@bp.post("/me/applications/<int:application_id>/withdraw")
@require_permission(Perm.APPLY)
def withdraw(application_id: int):
    customer = _me()
    app = _my_application(application_id, customer)
    services.withdraw_application(app, customer=customer, actor=current_user, clock=clock())
    db.session.commit()
    flash(f"Application {app.id} withdrawn.", "info")
    return redirect(url_for("lending.my_application", application_id=app.id))


@bp.get("/me/loans/<int:loan_id>")
@require_permission(Perm.APPLY)
def my_loan(loan_id: int):
    customer = _me()
    loan = db.session.get(Loan, loan_id)
    if loan is None or loan.customer_id != customer.id:
        abort(404, "No such loan.")
    return _loan_page(loan, customer)


def _loan_page(loan: Loan, customer: Customer):
    as_of = current_business_date(loan.institution_id, clock())
    rows, projected = services.loan_schedule(loan, as_of)
    totals = {k: sum((getattr(r, k) for r in rows), Decimal("0.00")) for k in ("principal", "interest", "installment")}
    return render_template("lending/loans/show.html", loan=loan, customer=customer, rows=rows,
                           projected=projected, totals=totals, as_of=as_of)


# ---- staff ----------------------------------------------------------------------------------------------------
def _staff_application(application_id: int) -> LoanApplication:
    app = db.session.get(LoanApplication, application_id)
    if app is None or app.institution_id != current_user.institution_id:
        abort(404, "No such application.")
    return app


@bp.get("/staff/applications")
@require_permission(Perm.REVIEW_APPLICATIONS)
def review_queue():
    form = QueueFilterForm(request.args)
    form.status.choices = [("open", "Waiting for a decision"), ("all", "All")] + [
        (s.value, s.value.replace("_", " ").capitalize()) for s in ApplicationStatus]
    status, band, sort = form.status.data or "open", form.band.data or "", form.sort.data or "oldest"
    size = 25
    base = queries.review_queue(current_user.institution_id, status=status, band=band)
    rows = db.session.scalars(queries.keyset_page(base, sort=sort, after=request.args.get("after"), size=size)).all()
    has_more = len(rows) > size
    rows = rows[:size]
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    counts = dict(db.session.execute(queries.status_counts(current_user.institution_id)).all())
    next_url = None
    if has_more:
        next_url = url_for("lending.review_queue", status=status, band=band, sort=sort,
                           after=queries.cursor_for(rows[-1], sort))
    return render_page_or_fragment("lending/review/queue.html", "lending/review/_queue_table.html",
                                   form=form, rows=rows, total=total, counts=counts, next_url=next_url,
                                   status_filter=status)


@bp.get("/staff/applications/<int:application_id>")
@require_permission(Perm.REVIEW_APPLICATIONS)
def review_application(application_id: int):
    app = _staff_application(application_id)
    loans = db.session.scalars(queries.customer_loans(app.customer_id)).all()
    return render_template("lending/review/show.html", application=app, loans=loans,
                           approve_form=DecisionForm(), reject_form=RejectForm())


@bp.post("/staff/applications/<int:application_id>/claim")
@require_permission(Perm.REVIEW_APPLICATIONS)
def claim(application_id: int):
    app = _staff_application(application_id)
    services.start_review(app, actor=current_user, clock=clock())
    db.session.commit()
    flash(f"You are reviewing application {app.id}.", "info")
    return redirect(url_for("lending.review_application", application_id=app.id))


@bp.post("/staff/applications/<int:application_id>/approve")
@require_permission(Perm.DECIDE_APPLICATIONS)
def approve(application_id: int):
    app = _staff_application(application_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(422, "The form expired; reload the page and try again.")
    loan = services.approve_application(app, actor=current_user, clock=clock(), note=form.note.data or None)
    db.session.commit()
    flash(f"Application {app.id} approved: loan {loan.id} disbursed.", "success")
    return redirect(url_for("lending.review_application", application_id=app.id))


@bp.post("/staff/applications/<int:application_id>/reject")
@require_permission(Perm.DECIDE_APPLICATIONS)
def reject(application_id: int):
    app = _staff_application(application_id)
    form = RejectForm()
    if not form.validate_on_submit():
        loans = db.session.scalars(queries.customer_loans(app.customer_id)).all()
        return render_template("lending/review/show.html", application=app, loans=loans,
                               approve_form=DecisionForm(), reject_form=form), 422
    services.reject_application(app, actor=current_user, clock=clock(), note=form.note.data)
    db.session.commit()
    flash(f"Application {app.id} rejected.", "info")
    return redirect(url_for("lending.review_application", application_id=app.id))


@bp.get("/staff/customers")
@require_permission(Perm.VIEW_CUSTOMERS)
def customers():
    q = (request.args.get("q") or "").strip()
    after = request.args.get("after", type=int)
    size = 50
    query = select(Customer).where(Customer.institution_id == current_user.institution_id)
    if q:
        like = f"%{q.lower()}%"
        full_name = func.lower(Customer.first_name + " " + Customer.last_name)
        conds = [full_name.like(like), Customer.phone_number.like(like)]
        if q.isdigit():
            conds.append(Customer.id == int(q))
        query = query.where(or_(*conds))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    if after:
        query = query.where(Customer.id > after)
    rows = db.session.scalars(query.order_by(Customer.id).limit(size + 1)).all()
    next_url = url_for("lending.customers", q=q, after=rows[size - 1].id) if len(rows) > size else None
    return render_page_or_fragment("lending/customers/index.html", "lending/customers/_table.html",
                                   rows=rows[:size], total=total, q=q, next_url=next_url)


def _staff_customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None or customer.institution_id != current_user.institution_id:
        abort(404, "No such customer.")
    return customer


@bp.get("/staff/customers/<int:customer_id>")
@require_permission(Perm.VIEW_CUSTOMERS)
def customer_detail(customer_id: int):
    customer = _staff_customer(customer_id)
    as_of = current_business_date(customer.institution_id, clock())
    loans = db.session.scalars(queries.customer_loans(customer.id)).all()
    applications = db.session.scalars(select(LoanApplication).where(LoanApplication.customer_id == customer.id)
                                      .order_by(LoanApplication.id.desc())).all()
    assessment = _assessment(customer, as_of)
    return render_template("lending/customers/show.html", customer=customer, loans=loans,
                           applications=applications, assessment=assessment, as_of=as_of)


@bp.get("/staff/loans/<int:loan_id>")
@require_permission(Perm.VIEW_LOANS)
def loan_detail(loan_id: int):
    loan = db.session.get(Loan, loan_id)
    if loan is None or loan.institution_id != current_user.institution_id:
        abort(404, "No such loan.")
    return _loan_page(loan, loan.customer)
