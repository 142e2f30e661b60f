"""Lending pages: the customer's apply/track/loan pages and the officer's queue and review screen."""
from __future__ import annotations

import uuid
from decimal import Decimal

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal.business_date import current_business_date
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import is_htmx, render_page_or_fragment
from portal.lending import offers, queries, review, services
from portal.lending.forms import (
    AcceptOfferForm,
    AnswerForm,
    ApplyForm,
    AssignForm,
    CounterOfferForm,
    DecisionForm,
    DeclineOfferForm,
    EscalateForm,
    InfoRequestForm,
    NoteForm,
    OverrideCheckForm,
    OverrideRequestForm,
    QueueFilterForm,
    RejectForm,
)
from portal.lending.models import Loan, LoanApplication, Product
from portal.lending.sla import ageing
from portal.lending.states import CUSTOMER_WITHDRAWABLE, ApplicationStatus
from portal.onboarding.consents import check_scoring_allowed
from portal.onboarding.models import Customer
from portal.onboarding.services import customer_for_user
from portal.security import Perm, has_permission, require_permission

bp = Blueprint("lending", __name__)


# ---- customer -------------------------------------------------------------------------------------------------
def _me() -> Customer:
    customer = customer_for_user(current_user)
    if customer is None:
        abort(404, "There is no customer profile for this login.")
    return customer


def _products(institution_id: int) -> list[Product]:
    return list(db.session.scalars(select(Product).where(Product.institution_id == institution_id,
                                                         Product.active.is_(True), Product.kind == "term_loan")
                                   .order_by(Product.id)))


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
    waiting = db.session.scalars(select(LoanApplication).where(
        LoanApplication.customer_id == customer.id,
        LoanApplication.status.in_([ApplicationStatus.INFO_REQUESTED.value, ApplicationStatus.OFFERED.value]))
        .order_by(LoanApplication.id)).all()
    assessment = _assessment(customer, as_of)
    return render_template("lending/customer/dashboard.html", customer=customer, loans=loans,
                           applications=applications, assessment=assessment, as_of=as_of, waiting=waiting)


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


def _tracking_context(app: LoanApplication, customer: Customer, **forms) -> dict:
    """What the customer's tracking page shows: the timeline, the open question, the offer and its KFS."""
    offer = app.current_offer
    kfs_html = kfs_digest = None
    if offer is not None and offer.status in ("offered", "accepted"):
        kfs_html, kfs_digest = offers.shown_kfs(offer)
    accept_form = forms.get("accept_form") or AcceptOfferForm()
    accept_form.kfs_digest.data = kfs_digest
    return {"application": app, "customer": customer, "events": review.customer_timeline(app), "offer": offer,
            "offer_open": offer is not None and offer.is_open(clock().now()), "kfs_html": kfs_html,
            "answer_form": forms.get("answer_form") or AnswerForm(), "accept_form": accept_form,
            "decline_form": forms.get("decline_form") or DeclineOfferForm(),
            "can_withdraw": app.status in CUSTOMER_WITHDRAWABLE, "reasons": services.REJECTION_REASONS}


@bp.get("/me/applications/<int:application_id>")
@require_permission(Perm.APPLY)
def my_application(application_id: int):
    """The customer's tracking page; its timeline polls itself (htmx) while the lender works, and the page
    reloads itself (HX-Refresh) when the status moves past ``seen``."""
    customer = _me()
    app = _my_application(application_id, customer)
    seen = request.args.get("seen")
    if is_htmx() and seen and seen != app.status:
        response = make_response("", 200)
        response.headers["HX-Refresh"] = "true"
        return response
    return render_page_or_fragment("lending/customer/application.html", "lending/applications/_timeline.html",
                                   **_tracking_context(app, customer))


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


def _queue_filters(form: QueueFilterForm) -> queries.QueueFilters:
    def value(field):
        return field.data if not field.errors else None

    product = form.product.data or ""
    return queries.QueueFilters(
        status=form.status.data or "open", band=form.band.data or "",
        product_id=int(product) if product.isdigit() else None, min_amount=value(form.min_amount),
        max_amount=value(form.max_amount), min_age=value(form.min_age), max_age=value(form.max_age),
        assigned=form.assigned.data or "")


@bp.get("/staff/applications")
@require_permission(Perm.REVIEW_APPLICATIONS)
def review_queue():
    form = QueueFilterForm(request.args)
    form.status.choices = [("open", "Waiting for a decision"), ("waiting", "Waiting for the customer"),
                           ("all", "All")] + [(s.value, s.value.replace("_", " ").capitalize())
                                              for s in ApplicationStatus if s != ApplicationStatus.DRAFT]
    form.product.choices = [("", "Any product")] + [(str(p.id), p.name)
                                                     for p in _products(current_user.institution_id)]
    form.validate()
    filters = _queue_filters(form)
    sort = form.sort.data if form.sort.data in queries.SORTS else "oldest"
    size = current_app.config.get("PAGE_SIZE", 25)
    base = queries.review_queue(current_user.institution_id, filters=filters, user_id=current_user.id)
    rows = db.session.scalars(queries.keyset_page(base, sort=sort, after=request.args.get("after"), size=size)
                              .options(selectinload(LoanApplication.customer))).all()  # one query, not one per row
    has_more = len(rows) > size
    rows = rows[:size]
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    counts = dict(db.session.execute(queries.status_counts(current_user.institution_id)).all())  # open only
    # decided and final statuses (disbursed, rejected...) are the approval funnel's, for those who may see reports
    funnel_url = (url_for("reports.report", kind="funnel") if has_permission(current_user, Perm.VIEW_REPORTS)
                  else None)
    next_url = None
    if has_more:
        args = {k: v for k, v in request.args.items() if k != "after" and v}
        next_url = url_for("lending.review_queue", **{**args, "after": queries.cursor_for(rows[-1], sort)})
    return render_page_or_fragment("lending/review/queue.html", "lending/review/_queue_table.html",
                                   form=form, rows=rows, total=total, counts=counts, next_url=next_url,
                                   status_filter=filters.status, ageing_of=_ageing_of, funnel_url=funnel_url)


def _ageing_of(app: LoanApplication):
    """The SLA ageing badge data of an application waiting for a decision (None otherwise)."""
    if app.sla_due_at is None or app.status not in ("submitted", "scored", "in_review", "escalated"):
        return None
    hours = float(current_app.config.get("REVIEW_SLA_BUSINESS_DAYS", 2)) * 24
    return ageing(app.sla_due_at, clock().now(), sla_hours=hours)


def review_context(app: LoanApplication, **forms) -> dict:
    """Everything the review screen shows (forms may be passed in with their errors)."""
    from portal.onboarding.documents import current_documents

    loans = db.session.scalars(queries.customer_loans(app.customer_id)).all()
    failed = services.failed_checks(app)
    override_form = forms.get("override_form") or OverrideRequestForm()
    override_form.rule.choices = [(c["name"], c["name"].replace("_", " ")) for c in failed]
    reject_form = forms.get("reject_form") or RejectForm()
    reject_form.reason_code.choices = [("", "Choose a reason")] + list(services.REJECTION_REASONS.items())
    assign_form = forms.get("assign_form") or AssignForm()
    assign_form.assignee_id.choices = [(u.id, f"{u.display_name} ({u.role.replace('_', ' ')})")
                                       for u in review.reviewers(app.institution_id)]
    if app.assigned_to_id and not assign_form.assignee_id.data:
        assign_form.assignee_id.data = app.assigned_to_id
    counter_form = forms.get("counter_form") or CounterOfferForm(
        data={"amount": app.amount, "interest_rate": app.corrected_interest_rate, "tenure": app.tenure})
    return {
        "application": app, "loans": loans, "documents": current_documents(app.customer), "failed": failed,
        "overridden": services.overridden_rules(app), "ageing": _ageing_of(app),
        "events": review.staff_timeline(app), "notes": [e for e in app.events if e.kind == "note"],
        "approve_form": forms.get("approve_form") or DecisionForm(), "reject_form": reject_form,
        "counter_form": counter_form, "info_form": forms.get("info_form") or InfoRequestForm(),
        "escalate_form": forms.get("escalate_form") or EscalateForm(), "override_form": override_form,
        "check_form": forms.get("check_form") or OverrideCheckForm(), "note_form": forms.get("note_form") or NoteForm(),
        "assign_form": assign_form, "reasons": services.REJECTION_REASONS,
        "can_decide": has_permission(current_user, Perm.DECIDE_APPLICATIONS) and (
            app.status != "escalated" or has_permission(current_user, Perm.DECIDE_ESCALATIONS)),
        "can_check": has_permission(current_user, Perm.CHECK_OVERRIDES),
    }


@bp.get("/staff/applications/<int:application_id>")
@require_permission(Perm.REVIEW_APPLICATIONS)
def review_application(application_id: int):
    app = _staff_application(application_id)
    return render_template("lending/review/show.html", **review_context(app))


def _back(app: LoanApplication, message: str, category: str = "success"):
    flash(message, category)
    return redirect(url_for("lending.review_application", application_id=app.id))


def _invalid(app: LoanApplication, **forms):
    """Re-render the review screen with a form's errors (422)."""
    return render_template("lending/review/show.html", **review_context(app, **forms)), 422


@bp.post("/staff/applications/<int:application_id>/claim")
@require_permission(Perm.REVIEW_APPLICATIONS)
def claim(application_id: int):
    app = _staff_application(application_id)
    review.claim_application(app, actor=current_user, clock=clock())
    db.session.commit()
    return _back(app, f"You are reviewing application {app.id}.", "info")


@bp.post("/staff/applications/<int:application_id>/approve")
@require_permission(Perm.DECIDE_APPLICATIONS)
def approve(application_id: int):
    app = _staff_application(application_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _invalid(app, approve_form=form)
    offer = services.approve_application(app, actor=current_user, clock=clock(), note=form.note.data or None)
    db.session.commit()
    return _back(app, f"Application {app.id} approved: offer {offer.id} sent to the customer.")


@bp.post("/staff/applications/<int:application_id>/reject")
@require_permission(Perm.DECIDE_APPLICATIONS)
def reject(application_id: int):
    app = _staff_application(application_id)
    form = RejectForm()
    form.reason_code.choices = [("", "Choose a reason")] + list(services.REJECTION_REASONS.items())
    if not form.validate_on_submit():
        return _invalid(app, reject_form=form)
    services.reject_application(app, actor=current_user, clock=clock(), note=form.note.data,
                                reason_code=form.reason_code.data)
    db.session.commit()
    return _back(app, f"Application {app.id} rejected.", "info")


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


@bp.app_template_global("has_perm")
def has_perm(name: str) -> bool:
    """Whether the signed-in user's role grants permission ``name`` (a Perm value), for templates."""
    return has_permission(current_user, Perm(name))


from portal.lending import offer_views as _offer_views  # noqa: E402, F401  (customer: answer, accept, decline)
from portal.lending import override_views as _override_views  # noqa: E402, F401  (admin: loan status override)
from portal.lending import review_views as _review_views  # noqa: E402, F401  (staff: the review steps)
