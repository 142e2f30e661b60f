"""Domain errors and the one error handler that renders them as a page, a fragment or JSON."""
from __future__ import annotations

import logging

from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the business refused the request; ``http_status`` defaults to 422."""

    http_status = 422

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if http_status is not None:
            self.http_status = http_status


class InvalidTransition(DomainError):
    """A status change not in the transition table (422)."""


class PermissionDenied(DomainError):
    """The actor may not do this to this object (403)."""

    http_status = 403


class NotFound(DomainError):
    """The object does not exist or is not visible to the actor (404)."""

    http_status = 404


def wants_json() -> bool:
    """True for the machine API (``/api/``) and for clients that ask for JSON."""
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def error_response(status: int, message: str):
    """Render ``message`` with ``status``: JSON for the API, a fragment for htmx, else a full page."""
    from portal.extensions import db

    db.session.rollback()
    if wants_json():
        return jsonify(error=message, status=status), status
    template = {403: "403", 404: "404", 422: "422", 429: "429"}.get(status, "500" if status >= 500 else "422")
    if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        # show the message at the top of the page instead of replacing whatever the request aimed at
        headers = {"HX-Retarget": "#flash-area", "HX-Reswap": "afterbegin"}
        return render_template("errors/_error_fragment.html", message=message, status=status), status, headers
    return render_template(f"errors/{template}.html", message=message, status=status), status


def register_error_handlers(app) -> None:
    """Install handlers: DomainError -> its status; HTTP errors -> their page; anything else -> 500."""

    @app.errorhandler(DomainError)
    def handle_domain_error(exc: DomainError):
        return error_response(exc.http_status, exc.message)

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        if exc.code and exc.code < 400:
            return exc
        if exc.code == 429:
            # Flask-Limiter's RateLimitExceeded: the route's error_message says what was limited
            return error_response(429, exc.description or "Too many requests. Wait a few minutes and try again.")
        if exc.code == 413:
            limit_mb = (app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
            return error_response(413, f"The upload is too large: at most {limit_mb} MB per request.")
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "Something went wrong on our side. The error was logged with your request id.")
