"""Customer pages of the review workflow on the lending blueprint: answer the officer's question, accept (after
reading the Key Facts Statement) or decline an offer, and download an accepted KFS again."""
from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from portal.clock import clock
from portal.extensions import db
from portal.lending import review, services
from portal.lending.forms import AcceptOfferForm, AnswerForm, DeclineOfferForm
from portal.lending.models import Offer
from portal.lending.views import _me, _my_application, _tracking_context, bp
from portal.security import Perm, require_permission


def _my_offer(offer_id: int, customer) -> Offer:
    offer = db.session.get(Offer, offer_id)
    if offer is None or offer.application.customer_id != customer.id:
        abort(404, "No such offer.")
    return offer


def _page(app, customer, status: int = 422, **forms):
    return render_template("lending/customer/application.html", **_tracking_context(app, customer, **forms)), status


@bp.post("/me/applications/<int:application_id>/answer")
@require_permission(Perm.APPLY)
def answer_question(application_id: int):
    customer = _me()
    app = _my_application(application_id, customer)
    form = AnswerForm()
    if not form.validate_on_submit():
        return _page(app, customer, answer_form=form)
    review.answer_information_request(app, customer=customer, answer=form.answer.data, actor=current_user,
                                      clock=clock())
    db.session.commit()
    flash("Thank you: your answer is with the officer.", "success")
    return redirect(url_for("lending.my_application", application_id=app.id))


@bp.post("/me/offers/<int:offer_id>/accept")
@require_permission(Perm.APPLY)
def accept_offer(offer_id: int):
    customer = _me()
    offer = _my_offer(offer_id, customer)
    form = AcceptOfferForm()
    if not form.validate_on_submit():
        return _page(offer.application, customer, accept_form=form)
    loan = services.accept_offer(offer, customer=customer, shown_digest=form.kfs_digest.data or "",
                                 ip=request.remote_addr, actor=current_user, clock=clock())
    db.session.commit()
    flash(f"Offer accepted: loan {loan.id} disbursed. Your Key Facts Statement is saved with the loan.", "success")
    return redirect(url_for("lending.my_application", application_id=offer.application_id))


@bp.post("/me/offers/<int:offer_id>/decline")
@require_permission(Perm.APPLY)
def decline_offer(offer_id: int):
    customer = _me()
    offer = _my_offer(offer_id, customer)
    form = DeclineOfferForm()
    if not form.validate_on_submit():
        return _page(offer.application, customer, decline_form=form)
    services.decline_offer(offer, customer=customer, actor=current_user, clock=clock(), reason=form.reason.data)
    db.session.commit()
    flash(f"Offer {offer.id} declined.", "info")
    return redirect(url_for("lending.my_application", application_id=offer.application_id))


@bp.get("/me/offers/<int:offer_id>/kfs")
@require_permission(Perm.APPLY)
def my_offer_kfs(offer_id: int):
    """The accepted KFS exactly as it was shown and accepted, as a standalone HTML file (download)."""
    customer = _me()
    offer = _my_offer(offer_id, customer)
    if offer.kfs_html is None:
        abort(404, "This offer was not accepted: there is no accepted Key Facts Statement to download.")
    body = render_template("lending/offers/kfs_download.html", offer=offer, kfs_html=offer.kfs_html)
    response = make_response(body)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="kfs-offer-{offer.id}.html"'
    response.headers["Cache-Control"] = "private, no-store"
    return response
