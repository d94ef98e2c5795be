"""Configuration classes, read from the environment.

Pick one with APP_CONFIG=development|testing|production (default: development).
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'access_program.sqlite'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    # flask-smorest / OpenAPI
    API_TITLE = "Artist Early-Access Program API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_REDOC_PATH = "/docs"
    OPENAPI_REDOC_URL = "/static/redoc.standalone.js"
    # Sign-in throttling (Flask-Limiter). Redis in production so every worker shares it.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_FAILURE_LIMIT = os.environ.get("LOGIN_FAILURE_LIMIT", "5 per 5 minutes")
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    # werkzeug's password hashing; tests and the demo's published passwords use a cheap one.
    PASSWORD_HASH_METHOD = os.environ.get("PASSWORD_HASH_METHOD", "scrypt")
    # Invitations
    INVITATION_TTL_DAYS = int(os.environ.get("INVITATION_TTL_DAYS", "14"))
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")
    # Outbox delivery
    SMTP_HOST = os.environ.get("SMTP_HOST")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "25"))
    SMTP_FROM = os.environ.get("SMTP_FROM", "program@localhost")
    # Stripe (payouts); unset STRIPE_API_BASE means Stripe itself.
    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "sk_test_emulator")
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "whsec_emulator")
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE")
    #: Seconds per Stripe HTTP call (the SDK's default 80 s is far too long for a payout run).
    STRIPE_TIMEOUT = float(os.environ.get("STRIPE_TIMEOUT", "20"))
    #: The SDK's own retries (same idempotency key) for connection errors, 409 and 5xx.
    STRIPE_MAX_RETRIES = int(os.environ.get("STRIPE_MAX_RETRIES", "2"))
    #: Seconds a payout's lease lasts while one executor calls Stripe for it; unset: worked out
    #: from the timeout and retries above (long enough for every retry of every call).
    PAYOUT_CLAIM_SECONDS = os.environ.get("PAYOUT_CLAIM_SECONDS")
    #: Proxies in front of the app that set X-Forwarded-For/-Proto/-Host (werkzeug's ProxyFix);
    #: 0 trusts none. Rate limits and the audit trail's addresses use the client's address.
    TRUSTED_PROXY_HOPS = int(os.environ.get("TRUSTED_PROXY_HOPS", "0"))
    TESTING = False


class DevelopmentConfig(Config):
    DEBUG = False
    # `make run` starts the Stripe emulator here.
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "http://127.0.0.1:12111")


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True

    @classmethod
    def check(cls) -> None:
        missing = [name for name in ("SECRET_KEY", "DATABASE_URL") if not os.environ.get(name)]
        if missing:
            raise RuntimeError(
                f"production configuration refuses to start: set {', '.join(missing)}"
            )


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def get_config(name: str | None = None) -> type[Config]:
    name = name or os.environ.get("APP_CONFIG", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(
            f"unknown APP_CONFIG {name!r}; use one of {', '.join(CONFIGS)}"
        ) from None
