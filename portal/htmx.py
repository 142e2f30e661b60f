"""htmx helpers: one template serves the full page and its fragment (STYLE.md, htmx partials)."""
from __future__ import annotations

import json

from flask import make_response, render_template, request


def is_htmx() -> bool:
    """True for an htmx request that wants a fragment (not a boosted page load)."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-Boosted")


def render_page_or_fragment(page: str, fragment: str, status: int = 200, **context):
    """Render ``fragment`` for htmx, else ``page``; both see the same context. Adds ``Vary: HX-Request``."""
    response = make_response(render_template(fragment if is_htmx() else page, **context), status)
    response.headers["Vary"] = "HX-Request"
    return response


def hx_trigger(body, event: str | dict, status: int = 200):
    """Return ``body`` with an ``HX-Trigger`` header naming ``event`` (or a dict of events)."""
    response = make_response(body, status)
    response.headers["HX-Trigger"] = event if isinstance(event, str) else json.dumps(event)
    return response


def hx_redirect(url: str):
    """Tell htmx to navigate to ``url`` (plain requests get a 303)."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    from flask import redirect

    return redirect(url, 303)
