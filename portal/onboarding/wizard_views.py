"""The customer's onboarding wizard (``/onboarding/<step>``, htmx step fragments, plain-POST fallback), its
submit with the initial eligibility, and the consents page (``/me/consents``)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.business_date import current_business_date
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import hx_redirect, is_htmx, render_page_or_fragment
from portal.onboarding import bp, consents, wizard
from portal.onboarding.models import Customer
from portal.onboarding.services import customer_for_user
from portal.onboarding.wizard_forms import STEP_FORMS
from portal.security import Perm, require_permission

WITHDRAW_EFFECTS = {
    consents.TERMS: "The lender will treat this as a request to close your relationship: you will not be able to "
                    "apply for new loans. Loans you already have keep running on their terms.",
    consents.KYC_PROCESSING: "The lender will stop processing your identity details and documents, so your KYC "
                             "cannot be completed or renewed.",
    consents.BUREAU_CHECK: "The lender will not check your credit history or score you: you will not be able to "
                           "apply for a new loan or see your indicative limit until you give this consent again. "
                           "Loans you already have are not affected.",
    consents.MARKETING: "You will stop receiving offers and news. Messages about your own loans still come.",
}


def _me() -> Customer:
    customer = customer_for_user(current_user)
    if customer is None:
        abort(404, "There is no customer profile for this login.")
    return customer


def _as_of(customer: Customer):
    return current_business_date(customer.institution_id, clock())


def _step_or_404(step: str) -> str:
    if step not in wizard.STEPS:
        abort(404, "There is no such onboarding step.")
    return step


# ---- rendering ---------------------------------------------------------------------------------------------------
def _form(step: str, customer: Customer, formdata=None):
    form_class = STEP_FORMS.get(step)
    if form_class is None:
        return None
    if formdata is not None:
        form = form_class(formdata=formdata)
    else:
        form = form_class(formdata=None, data=wizard.values_for(customer, step))
    if "aadhaar" in form:
        form.aadhaar.data = ""  # never echo an Aadhaar number back, valid or not
    return form


def _documents_context(customer: Customer) -> dict:
    from portal.onboarding.document_forms import UploadDocumentForm
    from portal.onboarding.documents import current_documents

    return {"documents": current_documents(customer), "upload_form": UploadDocumentForm(formdata=None),
            "missing_documents": wizard.missing_documents(customer)}


def _review_context(customer: Customer) -> dict:
    from portal.onboarding.documents import DOCUMENT_KINDS, current_documents

    active = consents.active_consents(customer)
    summary = {s: wizard.values_for(customer, s) for s in wizard.FORM_STEPS}
    try:
        income = wizard.parse_income(summary["employment"].get("monthly_income", ""))
    except ValueError:
        income = None  # an unsaved draft left with Back: shown as typed
    return {"summary": summary, "monthly_income": income,
            "documents": current_documents(customer), "document_kinds": DOCUMENT_KINDS,
            "consent_texts": consents.current_texts(), "active_consents": active}


def _context(customer: Customer, step: str, *, form=None, errors=None, notice=None, choices=None) -> dict:
    if form is not None and errors:
        for field, message in errors.items():
            if field in form:
                form[field].errors = [message]
    ctx = {"customer": customer, "step": step, "steps": wizard.STEPS, "titles": wizard.STEP_TITLES,
           "short_titles": wizard.STEP_SHORT, "index": wizard.step_index(step),
           "reached_index": wizard.step_index(wizard.reached_step(customer)),
           "previous": wizard.previous_step(step), "form": form, "errors": errors or {}, "notice": notice,
           "employment_types": wizard.EMPLOYMENT_TYPES}
    if step == "identity":
        ctx["is_business"] = wizard.is_business_borrower(customer)
    elif step == "documents":
        ctx.update(_documents_context(customer))
    elif step == "consents":
        ctx["consent_texts"] = consents.current_texts()
        ctx["choices"] = choices if choices is not None else wizard.consent_choices(customer)
    elif step == "review":
        ctx.update(_review_context(customer))
    return ctx


def _render_step(customer: Customer, step: str, *, status: int = 200, push: bool = False, **kwargs):
    if step in STEP_FORMS and kwargs.get("form") is None:
        kwargs["form"] = _form(step, customer)
    response = render_page_or_fragment("onboarding/wizard/step.html", "onboarding/wizard/_step.html", status,
                                       **_context(customer, step, **kwargs))
    if push and is_htmx():
        response.headers["HX-Push-Url"] = url_for("onboarding.wizard_step", step=step)
    return response


def _go_to(customer: Customer, step: str):
    """After a successful POST: htmx gets the step's fragment (and the new URL), a browser a redirect."""
    if is_htmx():
        return _render_step(customer, step, push=True)
    return redirect(url_for("onboarding.wizard_step", step=step), 303)


def _posted_data(step: str) -> dict:
    if step == "consents":
        return {purpose: True for purpose in request.form.getlist("consent")}
    return request.form.to_dict()


# ---- wizard ------------------------------------------------------------------------------------------------------
@bp.get("/onboarding")
@require_permission(Perm.APPLY)
def wizard_start():
    """Resume where the customer stopped (the result page once submitted)."""
    customer = _me()
    if not wizard.is_editable(customer):
        return redirect(url_for("onboarding.wizard_result"))
    return redirect(url_for("onboarding.wizard_step", step=wizard.reached_step(customer)))


@bp.get("/onboarding/<step>")
@require_permission(Perm.APPLY)
def wizard_step(step: str):
    customer = _me()
    _step_or_404(step)
    if not wizard.is_editable(customer):
        flash("Your profile has been submitted; it can no longer be changed here.", "info")
        return redirect(url_for("onboarding.wizard_result"))
    if not wizard.can_open(customer, step):
        return redirect(url_for("onboarding.wizard_step", step=wizard.reached_step(customer)))
    return _render_step(customer, step)


@bp.post("/onboarding/<step>")
@require_permission(Perm.APPLY)
def wizard_save(step: str):
    customer = _me()
    _step_or_404(step)
    if not wizard.is_editable(customer):
        if step == "documents" and customer.onboarding_submitted_at is not None:
            # After a KYC rejection the customer re-uploads on this step; the upload itself sends the onboarding
            # back for review (documents.refresh_kyc_status -> "submitted"), so Continue leads to the result.
            flash("Your documents are with the officer for KYC review.", "success")
            return hx_redirect(url_for("onboarding.wizard_result"))
        raise DomainError("Your profile has been submitted; it can no longer be changed here.", 409)
    if not wizard.can_open(customer, step):
        return redirect(url_for("onboarding.wizard_step", step=wizard.reached_step(customer)), 303)
    data = _posted_data(step)
    if request.form.get("action") == "back":
        wizard.save_draft(customer, step, data)
        db.session.commit()
        return _go_to(customer, wizard.previous_step(step) or step)
    if step == "review":
        return _go_to(customer, "review")
    try:
        next_step = wizard.save_step(customer, step, data, actor=current_user, now=clock().now(),
                                     ip=request.remote_addr, as_of=_as_of(customer))
    except wizard.StepInvalid as exc:
        db.session.commit()  # keeps a valid Aadhaar number typed beside a wrong field (nothing else was written)
        form = _form(step, customer, formdata=request.form)
        return _render_step(customer, step, status=422, form=form, errors=exc.errors, notice=exc.message,
                            choices={p: True for p in data} if step == "consents" else None)
    except DomainError as exc:
        if exc.http_status != 422:
            raise
        db.session.rollback()
        return _render_step(customer, step, status=422, notice=exc.message)
    db.session.commit()
    return _go_to(customer, next_step)


@bp.post("/onboarding/submit")
@require_permission(Perm.APPLY)
def wizard_submit():
    customer = _me()
    try:
        wizard.submit_onboarding(customer, actor=current_user, now=clock().now(), as_of=_as_of(customer))
    except wizard.StepInvalid as exc:
        db.session.rollback()
        form = _form(exc.step, customer)
        response = _render_step(customer, exc.step, status=422, form=form, errors=exc.errors, notice=exc.message)
        if is_htmx():
            response.headers["HX-Push-Url"] = url_for("onboarding.wizard_step", step=exc.step)
        return response
    except DomainError as exc:
        if exc.http_status != 422:
            raise
        db.session.rollback()
        return _render_step(customer, "documents", status=422, push=True, notice=exc.message)
    db.session.commit()
    flash("Thank you: your profile has been submitted for KYC review.", "success")
    return hx_redirect(url_for("onboarding.wizard_result"))


@bp.get("/onboarding/result")
@require_permission(Perm.APPLY)
def wizard_result():
    """The initial eligibility shown right after onboarding (kept from the submit)."""
    customer = _me()
    result = wizard.stored_eligibility(customer)
    if customer.onboarding_submitted_at is None or result is None:
        return redirect(url_for("onboarding.wizard_start"))
    return render_template("onboarding/wizard/result.html", customer=customer, result=result)


# ---- consents ----------------------------------------------------------------------------------------------------
def _consents_context(customer: Customer) -> dict:
    return {"customer": customer, "texts": consents.current_texts(), "active": consents.active_consents(customer),
            "history": consents.history(customer)}


@bp.get("/me/consents")
@require_permission(Perm.APPLY)
def my_consents():
    customer = _me()
    return render_page_or_fragment("onboarding/consents/index.html", "onboarding/consents/_list.html",
                                   **_consents_context(customer))


@bp.get("/me/consents/<purpose>/withdraw")
@require_permission(Perm.APPLY)
def confirm_withdraw_consent(purpose: str):
    """The confirmation step before a withdrawal: what it changes."""
    customer = _me()
    text = consents.current_text(purpose)
    held = consents.active_consent(customer, purpose)
    if held is None:
        flash(f"You have no active consent for “{text.title}”.", "info")
        return redirect(url_for("onboarding.my_consents"))
    return render_template("onboarding/consents/withdraw.html", customer=customer, text=text, consent=held,
                           effect=WITHDRAW_EFFECTS.get(purpose))


@bp.post("/me/consents/<purpose>/withdraw")
@require_permission(Perm.APPLY)
def withdraw_consent(purpose: str):
    customer = _me()
    text = consents.current_text(purpose)
    consents.withdraw(customer, purpose, now=clock().now(), ip=request.remote_addr)
    db.session.commit()
    flash(f"You withdrew your consent for “{text.title}”.", "info")
    return redirect(url_for("onboarding.my_consents"), 303)


@bp.post("/me/consents/<purpose>/grant")
@require_permission(Perm.APPLY)
def grant_consent(purpose: str):
    customer = _me()
    text = consents.current_text(purpose)
    consents.grant(customer, purpose, now=clock().now(), ip=request.remote_addr)
    db.session.commit()
    flash(f"You gave your consent for “{text.title}” (version {text.version}).", "success")
    return redirect(url_for("onboarding.my_consents"), 303)
