"""The Credit Lifecycle Portal: ``create_app`` builds the Flask app (no I/O at import or start-up)."""
from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path

from flask import Flask, g, has_request_context, request

from portal.clock import SystemClock
from portal.config import BaseConfig, from_env

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(app: Flask) -> None:
    """One log format with the request id in every line (seed 001's trace id)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    if not any(isinstance(f, RequestIdFilter) for h in root.handlers for f in h.filters):
        root.addHandler(handler)
    root.setLevel(logging.INFO if not app.testing else logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def create_app(config: BaseConfig | type | None = None) -> Flask:
    """Build the app. ``config`` is a config object or class; by default it comes from the environment."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static", instance_relative_config=True)
    if config is None:
        config = from_env()
    elif isinstance(config, type):
        config = config()
    config.validate()
    app.config.from_object(config)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and uri != "sqlite://":
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    app.extensions["clock"] = SystemClock(app.config["PORTAL_TIMEZONE"])
    configure_logging(app)
    register_request_id(app)  # first, so every later hook and log line has the request id
    register_extensions(app)
    register_blueprints(app)
    from portal.errors import register_error_handlers

    register_error_handlers(app)
    register_template_helpers(app)
    from portal.cli import register_cli

    register_cli(app)
    return app


def register_extensions(app: Flask) -> None:
    from portal import models  # noqa: F401  (every model registered before the mappers configure)
    from portal.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)  # storage from RATELIMIT_STORAGE_URI (memory://, or Redis when REDIS_URL is set)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"

    @app.teardown_request
    def forget_loaded_user(exc):
        # Flask-Login caches the user on ``g``; a request that reuses an outer app context (a CLI or a
        # test holding one) must not inherit the previous request's user.
        g.pop("_login_user", None)
        g.pop("user_session", None)
        g.pop(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)  # Flask-WTF caches the token on g too

    @login_manager.user_loader
    def load_user(user_key: str):
        """``"<id>:<session_version>"`` from the cookie, plus the cookie's UserSession key: the user only
        while active, at the same session version (a freeze bumps it) and with that session still open."""
        from flask import session

        from portal.auth.models import User
        from portal.auth.sessions import SESSION_KEY, open_session

        try:
            user_id, version = (int(x) for x in user_key.split(":"))
        except ValueError:
            return None
        user = db.session.get(User, user_id)
        if user is None or user.session_version != version or not user.is_active:
            return None
        row = open_session(user.id, session.get(SESSION_KEY))
        if row is None:
            return None
        g.user_session = row
        return user

    @app.before_request
    def track_user_session():
        """Load the signed-in user first thing (so an ended session is anonymous everywhere) and write the
        session's ``last_seen_at`` at most once a minute; that commit holds nothing else, because the
        view has not run yet. The machine API never reads the cookie."""
        from flask_login import current_user

        from portal.auth.sessions import touch_due

        if request.endpoint == "static" or request.path.startswith("/api/"):
            return
        if not current_user.is_authenticated:
            return
        row = g.get("user_session")
        now = app.extensions["clock"].now()
        if row is not None and touch_due(row, now):
            row.last_seen_at = now
            db.session.commit()


def register_request_id(app: Flask) -> None:
    """Every response carries ``X-Request-ID`` (the caller's, when well-formed, else a new one)."""

    @app.before_request
    def assign_request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def add_request_id(response):
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        return response


def register_blueprints(app: Flask) -> None:
    from portal.alerts import bp as alerts_bp
    from portal.alerts import views as _alerts_views  # noqa: F401  (routes of alerts_bp)
    from portal.api import openapi as _openapi  # noqa: F401  (GET /api/v1/openapi.json on api_bp)
    from portal.api import payments as _api_payments  # noqa: F401  (the payment gateway webhook on api_bp)
    from portal.api import scorecards as _api_scorecards  # noqa: F401  (the scoring API on api_bp)
    from portal.api.views import bp as api_bp
    from portal.audit.views import bp as audit_bp
    from portal.auth.views import bp as auth_bp
    from portal.delinquency import bp as delinquency_bp
    from portal.delinquency import views as _delinquency_views  # noqa: F401  (routes of delinquency_bp)
    from portal.extensions import csrf
    from portal.ingest.views import bp as ingest_bp
    from portal.ledger.views import bp as ledger_bp
    from portal.lending.views import bp as lending_bp
    from portal.main.views import bp as main_bp
    from portal.notifications.views import bp as notifications_bp
    from portal.onboarding import bp as onboarding_bp
    from portal.onboarding import views as _onboarding_views  # noqa: F401  (routes of onboarding_bp)
    from portal.onboarding import wizard_views as _wizard_views  # noqa: F401  (the wizard and consents routes)
    from portal.reports import export_views  # noqa: F401  (the exports pages, on the reports blueprint)
    from portal.reports.views import bp as reports_bp
    from portal.scoring.views import bp as scoring_bp
    from portal.servicing.views import bp as servicing_bp
    from portal.support.views import bp as support_bp

    for bp in (main_bp, auth_bp, lending_bp, ingest_bp, reports_bp, audit_bp, api_bp, onboarding_bp, scoring_bp,
               servicing_bp, ledger_bp, support_bp, delinquency_bp):
        app.register_blueprint(bp)
    app.register_blueprint(alerts_bp)
    app.register_blueprint(notifications_bp)  # the bell, /me/notifications, templates, notifications-relay
    if app.config.get("DEV_INBOX"):
        # development and tests only: the page lists sent SMS (OTP codes included); never in production
        from portal.notifications.dev_inbox import bp as dev_inbox_bp

        app.register_blueprint(dev_inbox_bp)
    csrf.exempt(api_bp)


def register_template_helpers(app: Flask) -> None:
    from flask_login import current_user

    from portal.main.nav import nav_items_for
    from portal.money import format_inr

    app.jinja_env.filters["money"] = format_inr

    @app.template_filter("date")
    def format_date(value, fmt: str = "%d %b %Y"):
        return value.strftime(fmt) if value else "—"

    from zoneinfo import ZoneInfo

    local_tz = ZoneInfo(app.config["PORTAL_TIMEZONE"])

    @app.template_filter("localtime")
    def format_local_datetime(value, fmt: str = "%d %b %Y %H:%M %Z"):
        """An aware UTC timestamp shown in the portal's time zone (IST by default)."""
        return value.astimezone(local_tz).strftime(fmt) if value else "—"

    @app.context_processor
    def portal_context():
        from portal.business_date import BusinessDate
        from portal.extensions import db

        business_date = institution_name = None
        if current_user.is_authenticated:
            row = db.session.get(BusinessDate, current_user.institution_id)
            business_date = row.current_on if row else None
            institution_name = current_user.institution.name
        return {
            "business_date": business_date,
            "institution_name": institution_name,
            "nav_items": nav_items_for(current_user, request.endpoint),
            "request_id": g.get("request_id", "-"),
        }
