"""KYC documents pages: the customer's documents (upload, self-polling list, download) and the loan officer's
KYC queue and review screen (approve / reject each document). The wizard's routes live in ``wizard_views.py``
on the same blueprint; its documents step includes ``onboarding/documents/_list.html`` and ``_upload_form.html``.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, send_file, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.auth.models import User
from portal.clock import clock
from portal.errors import DomainError
from portal.extensions import db
from portal.htmx import hx_trigger, is_htmx, render_page_or_fragment
from portal.onboarding import bp, documents, queries
from portal.onboarding.document_forms import RejectDocumentForm, UploadDocumentForm
from portal.onboarding.models import Customer, KycDocument
from portal.onboarding.services import customer_for_user
from portal.security import Perm, require_permission

QUEUE_LIMIT = 200


@bp.app_template_global("kyc_current_documents")
def _kyc_current_documents(customer: Customer) -> list[KycDocument]:
    """For fragments included without a ``documents`` list (the wizard's documents step)."""
    return documents.current_documents(customer)


@bp.app_template_filter("filesize")
def _filesize(size: int | None) -> str:
    return documents.human_size(size) if size is not None else "—"


@bp.app_template_global("kyc_document_kinds")
def _kyc_document_kinds() -> dict[str, str]:
    return documents.DOCUMENT_KINDS


def _send_document(doc: KycDocument):
    response = send_file(documents.document_path(doc), mimetype=doc.content_type, as_attachment=False,
                         download_name=doc.original_filename, conditional=False, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _form_error(form: UploadDocumentForm) -> str:
    if "csrf_token" in form.errors:
        return "This form has expired. Reload the page and try again."
    return " ".join(e for errs in form.errors.values() for e in errs)


# ---- customer -------------------------------------------------------------------------------------------------
def _me() -> Customer:
    customer = customer_for_user(current_user)
    if customer is None:
        abort(404, "There is no customer profile for this login.")
    return customer


def _documents_context(customer: Customer, **extra) -> dict:
    return {"customer": customer, "documents": documents.current_documents(customer),
            "history": documents.document_history(customer), **extra}


@bp.get("/me/documents")
@require_permission(Perm.APPLY)
def my_documents():
    customer = _me()
    return render_page_or_fragment("onboarding/documents/index.html", "onboarding/documents/_list.html",
                                   **_documents_context(customer, form=UploadDocumentForm()))


@bp.get("/me/documents/panel")
@require_permission(Perm.APPLY)
def documents_panel():
    """The self-polling list of current documents (fragment)."""
    customer = _me()
    return render_template("onboarding/documents/_list.html", customer=customer,
                           documents=documents.current_documents(customer))


@bp.post("/me/documents")
@require_permission(Perm.APPLY)
def upload_document():
    customer = _me()
    form = UploadDocumentForm()
    status, error = 422, None
    if not form.validate_on_submit():
        error = _form_error(form)
    elif not form.file.data or not getattr(form.file.data, "filename", None):
        error = "Choose the file to upload."
    else:
        try:
            doc = documents.upload_document(customer, kind=form.kind.data, filename=form.file.data.filename,
                                            data=form.file.data.read(), actor=current_user, now=clock().now())
        except DomainError as exc:
            db.session.rollback()
            status, error = exc.http_status, exc.message
        else:
            db.session.commit()
            label = documents.DOCUMENT_KINDS[doc.kind]
            if not is_htmx():
                flash(f"{label} uploaded.", "success")
                return redirect(url_for("onboarding.my_documents"), 303)
            body = render_template("onboarding/documents/_list.html", customer=customer,
                                   documents=documents.current_documents(customer))
            return hx_trigger(body, "kyc-documents-changed")
    if is_htmx():
        if status != 422:  # htmx does not swap other errors: show the message at the top of the page
            raise DomainError(error, status)
        return render_template("onboarding/documents/_upload_form.html", customer=customer, form=form,
                               error=error), 422, {"HX-Retarget": "#kyc-upload-form", "HX-Reswap": "outerHTML"}
    return render_template("onboarding/documents/index.html",
                           **_documents_context(customer, form=form, error=error)), status


@bp.get("/me/documents/<int:document_id>/file")
@require_permission(Perm.APPLY)
def my_document_file(document_id: int):
    return _send_document(documents.customer_document(_me(), document_id))


# ---- staff ----------------------------------------------------------------------------------------------------
def _staff_customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None or customer.institution_id != current_user.institution_id:
        abort(404, "There is no such customer.")
    return customer


def _review_context(customer: Customer, **extra) -> dict:
    return {"customer": customer, "documents": documents.current_documents(customer),
            "history": documents.document_history(customer), "required_kinds": documents.required_kinds(customer),
            "reviewers": _reviewers(customer), "reject_errors": {}, "reject_reasons": {}, **extra}


def _reviewers(customer: Customer) -> dict[int, str]:
    ids = select(KycDocument.reviewed_by_id).where(KycDocument.customer_id == customer.id)
    return dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())


@bp.get("/staff/kyc")
@require_permission(Perm.REVIEW_KYC)
def kyc_queue():
    rows = db.session.execute(queries.kyc_queue(current_user.institution_id).limit(QUEUE_LIMIT + 1)).all()
    return render_template("onboarding/kyc/queue.html", rows=rows[:QUEUE_LIMIT], more=len(rows) > QUEUE_LIMIT)


@bp.get("/staff/kyc/<int:customer_id>")
@require_permission(Perm.REVIEW_KYC)
def kyc_review(customer_id: int):
    customer = _staff_customer(customer_id)
    return render_page_or_fragment("onboarding/kyc/show.html", "onboarding/kyc/_review.html",
                                   **_review_context(customer))


@bp.get("/staff/kyc/documents/<int:document_id>/file")
@require_permission(Perm.REVIEW_KYC)
def staff_document_file(document_id: int):
    return _send_document(documents.institution_document(current_user.institution_id, document_id))


def _after_review(doc: KycDocument, message: str):
    db.session.commit()
    if not is_htmx():
        flash(message, "success")
        return redirect(url_for("onboarding.kyc_review", customer_id=doc.customer_id), 303)
    body = render_template("onboarding/kyc/_review.html", **_review_context(doc.customer, notice=message))
    return hx_trigger(body, "kyc-changed")


@bp.post("/staff/kyc/documents/<int:document_id>/approve")
@require_permission(Perm.REVIEW_KYC)
def approve_document(document_id: int):
    doc = documents.institution_document(current_user.institution_id, document_id)
    documents.approve_document(doc, actor=current_user, now=clock().now())
    return _after_review(doc, f"{documents.DOCUMENT_KINDS.get(doc.kind, doc.kind)} approved.")


@bp.post("/staff/kyc/documents/<int:document_id>/reject")
@require_permission(Perm.REVIEW_KYC)
def reject_document(document_id: int):
    doc = documents.institution_document(current_user.institution_id, document_id)
    form = RejectDocumentForm()
    error = None
    if not form.validate_on_submit():
        error = _form_error(form)
    else:
        try:
            documents.reject_document(doc, reason=form.reason.data, actor=current_user, now=clock().now())
        except DomainError as exc:
            if exc.http_status != 422:
                raise
            db.session.rollback()
            error = exc.message
    if error is None:
        return _after_review(doc, f"{documents.DOCUMENT_KINDS.get(doc.kind, doc.kind)} rejected.")
    context = _review_context(doc.customer, reject_errors={doc.id: error},
                              reject_reasons={doc.id: form.reason.data or ""})
    template = "onboarding/kyc/_review.html" if is_htmx() else "onboarding/kyc/show.html"
    return render_template(template, **context), 422
