"""Configuration from the environment.

Classes hold defaults; ``from_env()`` reads the environment (typed parsing, no import-time raise);
``validate()`` is called inside ``create_app`` and refuses unsafe production settings.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class BaseConfig:
    """Settings shared by every environment. Secrets have no default here."""

    ENV_NAME = "base"
    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI = f"sqlite:///{ROOT / 'instance' / 'portal.db'}"
    # hide_parameters: bound values never reach logs or error messages (OTP texts, phone numbers, PII)
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True, "hide_parameters": True}
    REDIS_URL: str | None = None
    # seconds; every Redis connection of the web process (enqueue, rate limits): a Redis host that does not
    # answer fails the call after this long instead of hanging the request (portal/queue.py redis_timeouts)
    REDIS_CONNECT_TIMEOUT = 2.0
    REDIS_SOCKET_TIMEOUT = 3.0
    # "rq": enqueue on Redis; "thread": run in a background thread of this process (no Redis);
    # "eager": run right after the commit, in the same thread (tests).
    JOBS_MODE = "thread"
    PORTAL_TIMEZONE = "Asia/Kolkata"
    WTF_CSRF_TIME_LIMIT = None
    MAX_CONTENT_LENGTH = 60 * 1024 * 1024  # the request cap; uploads have their own, smaller limit
    IMPORT_MAX_BYTES = 20 * 1024 * 1024
    KYC_MAX_BYTES = 5 * 1024 * 1024           # one KYC document upload
    UPLOAD_DIR = str(ROOT / "instance" / "uploads")  # outside static/
    FIELD_ENCRYPTION_KEY: str | None = None   # Fernet key for Aadhaar numbers
    SMS_PROVIDER = "outbox"                   # "outbox": kept in the notifications table (dev inbox shows it)
    # email (portal/notifications/email.py): SMTP_HOST unset -> email stays in the outbox (dev inbox shows it)
    SMTP_HOST: str | None = None
    SMTP_PORT = 25
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_STARTTLS = False
    MAIL_FROM = "Credit Lifecycle Portal <no-reply@portal.invalid>"
    DEV_INBOX = False                         # the development-only page listing sent messages
    RATELIMIT_STORAGE_URI = "memory://"      # Flask-Limiter; from_env() switches it to REDIS_URL when set
    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_HEADERS_ENABLED = True
    # when the Redis storage is unreachable, count limits in this process instead of failing sign-ins (500)
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    OTP_RATE_LIMIT_PHONE = "3 per 10 minutes"  # OTP requests per mobile number
    OTP_RATE_LIMIT_IP = "10 per hour"          # OTP requests per client IP
    OTP_VERIFY_RATE_LIMIT_IP = "30 per hour"   # OTP code submissions per client IP
    OTP_TTL_SECONDS = 300                      # an OTP expires 5 minutes after it is sent
    OTP_MAX_ATTEMPTS = 5                       # wrong codes before the challenge is dead
    LOGIN_MAX_FAILURES = 5                     # consecutive failures before the account is locked
    LOGIN_LOCK_MINUTES = 15
    MFA_REQUIRED_ROLES = ("admin", "risk_officer")  # TOTP is optional for the other staff roles
    MFA_PENDING_SECONDS = 600                  # time between the password step and the TOTP step
    MFA_ISSUER = "Credit Lifecycle Portal"     # shown in the authenticator app
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    DEMO_MODE = False
    PAGE_SIZE = 25
    # review workflow and offers (issue 4)
    REVIEW_SLA_BUSINESS_DAYS = 2               # a decision is due 2 business days after (re)submission
    OFFER_VALID_DAYS = 7                       # an offer expires 7 days after it is made (the expiry job)
    KFS_COOLING_OFF_DAYS = 3                   # the borrower may exit without penalty within this many days
    KFS_GRIEVANCE_CONTACT = ("Grievance Redressal Officer, Default Lender: grievance@lender.example, "
                             "1800-000-0000 (toll-free, 9:30-18:00 IST, Monday to Friday)")
    # payments (issue 5): the gateway's webhook secret (HMAC-SHA256 of the raw body) and the sandbox gateway page
    PAYMENT_WEBHOOK_SECRET: str | None = None
    PAYMENT_WEBHOOK_TOLERANCE_SECONDS = 300    # a webhook whose X-Timestamp is older (or further ahead) is refused
    PAYMENT_SANDBOX = False                    # the in-app sandbox gateway (development, tests, demo)
    PAYMENT_MERCHANT_NAME = "Credit Lifecycle Portal"
    KFS_RECOVERY_CONTACT = ("Collections desk, Default Lender: collections@lender.example, 1800-000-0001; "
                            "recovery agents carry an authorisation letter and contact you only 08:00-19:00")

    def validate(self) -> None:
        """Raise RuntimeError when a required setting is missing."""
        if not self.SECRET_KEY:
            raise RuntimeError("SECRET_KEY must be set (environment variable SECRET_KEY)")
        if not self.FIELD_ENCRYPTION_KEY:
            raise RuntimeError("FIELD_ENCRYPTION_KEY must be set (a Fernet key for Aadhaar numbers)")
        if not (float(self.REDIS_CONNECT_TIMEOUT) > 0 and float(self.REDIS_SOCKET_TIMEOUT) > 0):
            raise RuntimeError("REDIS_CONNECT_TIMEOUT and REDIS_SOCKET_TIMEOUT must be positive numbers of seconds")


class DevConfig(BaseConfig):
    """`make run`: embedded SQLite, jobs in-process, demo data, a development-only secret."""

    ENV_NAME = "development"
    SECRET_KEY = "dev-only-not-secret"
    FIELD_ENCRYPTION_KEY = "ZGV2LW9ubHktbm90LXNlY3JldC1rZXktMzJieXRlcyE="  # development only, not secret
    DEMO_MODE = True
    DEV_INBOX = True
    PAYMENT_WEBHOOK_SECRET = "dev-only-webhook-secret"  # development only, not secret
    PAYMENT_SANDBOX = True


class TestConfig(BaseConfig):
    """The test suite: jobs run eagerly after commit, CSRF on (tests send the token)."""

    ENV_NAME = "test"
    TESTING = True
    SECRET_KEY = "test-only-not-secret"
    FIELD_ENCRYPTION_KEY = "dGVzdC1vbmx5LW5vdC1zZWNyZXQta2V5LTMyYnl0ZSE="  # tests only
    DEV_INBOX = True
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    JOBS_MODE = "eager"
    DEMO_MODE = True
    FAST_PASSWORD_HASHING = True  # argon2 with minimal cost: tests create many users
    PAYMENT_WEBHOOK_SECRET = "test-only-webhook-secret"  # tests only
    PAYMENT_SANDBOX = True


class ProdConfig(BaseConfig):
    """Production: everything from the environment; refuses to start without a secret and a database."""

    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    JOBS_MODE = "rq"

    def validate(self) -> None:
        super().validate()
        if self.SQLALCHEMY_DATABASE_URI.startswith("sqlite"):
            raise RuntimeError("production needs DATABASE_URL pointing at PostgreSQL")
        if not self.REDIS_URL:
            raise RuntimeError("production needs REDIS_URL for the background workers")
        if self.DEV_INBOX:
            raise RuntimeError("the dev inbox (DEV_INBOX) shows one-time passwords: never in production")
        if not self.PAYMENT_WEBHOOK_SECRET:
            raise RuntimeError("PAYMENT_WEBHOOK_SECRET must be set (the payment gateway's webhook signing secret)")
        if self.PAYMENT_SANDBOX and not self.DEMO_MODE:
            raise RuntimeError("the sandbox payment gateway confirms payments without money: only with DEMO_MODE")


CONFIGS = {"development": DevConfig, "test": TestConfig, "production": ProdConfig}


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def from_env(environ: dict | None = None) -> BaseConfig:
    """Build a config object: ``PORTAL_ENV`` picks the class (development by default), then
    ``SECRET_KEY``, ``DATABASE_URL``, ``REDIS_URL``, ``REDIS_CONNECT_TIMEOUT``, ``REDIS_SOCKET_TIMEOUT`` (seconds),
    ``JOBS_MODE``, ``PORTAL_TIMEZONE``, ``DEMO_MODE``,
    ``IMPORT_MAX_BYTES``, ``KYC_MAX_BYTES``, ``PAYMENT_WEBHOOK_SECRET``, ``PAYMENT_SANDBOX`` override it."""
    env = os.environ if environ is None else environ
    cls = CONFIGS.get(env.get("PORTAL_ENV", "development"))
    if cls is None:
        raise RuntimeError(f"PORTAL_ENV must be one of {sorted(CONFIGS)}")
    config = cls()
    if env.get("SECRET_KEY"):
        config.SECRET_KEY = env["SECRET_KEY"]
    if env.get("DATABASE_URL"):
        url = env["DATABASE_URL"]
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://"):]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        config.SQLALCHEMY_DATABASE_URI = url
    for key in ("REDIS_CONNECT_TIMEOUT", "REDIS_SOCKET_TIMEOUT"):
        if env.get(key):
            setattr(config, key, float(env[key]))
    if env.get("REDIS_URL"):
        config.REDIS_URL = env["REDIS_URL"]
        config.JOBS_MODE = "rq"
        config.RATELIMIT_STORAGE_URI = env["REDIS_URL"]
        # Flask-Limiter passes these to redis.from_url: its Redis must not hang a sign-in either
        config.RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": config.REDIS_CONNECT_TIMEOUT,
                                            "socket_timeout": config.REDIS_SOCKET_TIMEOUT}
    if env.get("JOBS_MODE"):
        config.JOBS_MODE = env["JOBS_MODE"]
    if env.get("PORTAL_TIMEZONE"):
        config.PORTAL_TIMEZONE = env["PORTAL_TIMEZONE"]
    if env.get("DEMO_MODE"):
        config.DEMO_MODE = _bool(env["DEMO_MODE"])
    if env.get("FIELD_ENCRYPTION_KEY"):
        config.FIELD_ENCRYPTION_KEY = env["FIELD_ENCRYPTION_KEY"]
    if env.get("PAYMENT_WEBHOOK_SECRET"):
        config.PAYMENT_WEBHOOK_SECRET = env["PAYMENT_WEBHOOK_SECRET"]
    if env.get("PAYMENT_SANDBOX"):
        config.PAYMENT_SANDBOX = _bool(env["PAYMENT_SANDBOX"])
    for key in ("SMTP_HOST", "SMTP_USER", "SMTP_PASSWORD", "MAIL_FROM"):
        if env.get(key):
            setattr(config, key, env[key])
    if env.get("SMTP_PORT"):
        config.SMTP_PORT = int(env["SMTP_PORT"])
    if env.get("SMTP_STARTTLS"):
        config.SMTP_STARTTLS = _bool(env["SMTP_STARTTLS"])
    if env.get("UPLOAD_DIR"):
        config.UPLOAD_DIR = env["UPLOAD_DIR"]
    if env.get("IMPORT_MAX_BYTES"):
        config.IMPORT_MAX_BYTES = int(env["IMPORT_MAX_BYTES"])
    if env.get("KYC_MAX_BYTES"):
        config.KYC_MAX_BYTES = int(env["KYC_MAX_BYTES"])
    return config
