"""Bearer-token authentication for the machine API.

``Authorization: Bearer <token>`` is the only credential the API accepts: the Flask-Login session cookie
is never consulted, so a signed-in browser cannot make API calls on a page's behalf (the API is
CSRF-exempt, which is safe only because of this).
"""
from __future__ import annotations

from functools import wraps

from flask import g, request

from portal.api.schemas import error_json
from portal.auth.services import user_for_token
from portal.clock import clock
from portal.security import Perm, has_permission

CHALLENGE = 'Bearer realm="api"'


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def api_auth(*perms: Perm):
    """View decorator: a valid bearer token of an active staff user whose role grants ``Perm.USE_API`` (and
    ``perms``). No or malformed header, unknown or revoked token -> 401; a customer or a role without the
    permissions -> 403. The user is available as ``api_user()``."""
    needed = (Perm.USE_API, *perms)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            token = bearer_token()
            if token is None:
                return error_json("authentication required: send Authorization: Bearer <token>", 401,
                                  {"WWW-Authenticate": CHALLENGE})
            user = user_for_token(token, now=clock().now())
            if user is None:
                return error_json("the bearer token is invalid or revoked", 401,
                                  {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'})
            if not user.is_staff or not all(has_permission(user, perm) for perm in needed):
                return error_json("this token's user may not do this through the API", 403)
            g.api_user = user
            return view(*args, **kwargs)

        return wrapped

    return decorator


def api_user():
    """The user of the current API request's bearer token (set by ``api_auth``)."""
    return g.api_user
