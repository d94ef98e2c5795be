"""The application factory: reads like a table of contents."""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, Request, Response, jsonify, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.middleware.proxy_fix import ProxyFix

from access_program.db import READS, read_engine_options
from access_program.errors import error_response, register_error_handlers
from access_program.extensions import api, csrf, limiter, login_manager, migrate
from access_program.extensions import db as database
from config import ProductionConfig, get_config


def create_app(config_name: str | None = None, **overrides) -> Flask:
    app = Flask(__name__, template_folder="../templates", instance_relative_config=False)
    config = get_config(config_name)
    if config is ProductionConfig:
        ProductionConfig.check()
    app.config.from_object(config)
    app.config.update(overrides)
    logging.basicConfig(level=logging.INFO)
    hops = int(app.config.get("TRUSTED_PROXY_HOPS") or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_transaction_boundary(app)
    register_template_context(app)
    register_commands(app)
    return app


API_PREFIX = "/api/"


class PageSessionInterface(SecureCookieSessionInterface):
    """The signed session cookie, for pages only. The API authenticates with bearer tokens and is
    exempt from CSRF, so it must never act on a session cookie: its requests get Flask's null
    session (reading it finds nothing; nothing is set), which also skips the cookie's signature
    check on the generation tool's hot path."""

    def open_session(self, app: Flask, request: Request):
        if request.path.startswith(API_PREFIX):
            return self.null_session_class()
        return super().open_session(app, request)


def register_extensions(app: Flask) -> None:
    from access_program.accounts.service import load_session_user

    app.session_interface = PageSessionInterface()

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        # A file needs no liveness ping before each checkout; a server connection does.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            k: v for k, v in app.config["SQLALCHEMY_ENGINE_OPTIONS"].items() if k != "pool_pre_ping"
        }
    reads = read_engine_options(uri)
    if reads is not None:
        app.config["SQLALCHEMY_BINDS"] = {
            READS: reads,
            **(app.config.get("SQLALCHEMY_BINDS") or {}),
        }
    database.init_app(app)
    migrate.init_app(app, database, directory=str(Path(app.root_path).parent / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)  # its request filter skips the access check (extensions.py)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Sign in to see this page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    login_manager.user_loader(load_session_user)
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "description": "API token"}
    )
    api.spec.options["security"] = [{"bearer": []}]


def register_blueprints(app: Flask) -> None:
    from access_program.access.api import blp as access_api
    from access_program.access.routes import bp as access_pages
    from access_program.accounts.api import blp as accounts_api
    from access_program.accounts.routes import bp as accounts_pages
    from access_program.audit.api import blp as audit_api
    from access_program.audit.routes import bp as audit_pages
    from access_program.cohorts.api import blp as cohorts_api
    from access_program.cohorts.routes import bp as cohorts_pages
    from access_program.compensation.api import blp as compensation_api
    from access_program.compensation.routes import bp as compensation_pages
    from access_program.outbox.api import blp as outbox_api
    from access_program.outbox.routes import bp as outbox_pages
    from access_program.payouts.api import blp as payouts_api
    from access_program.payouts.routes import bp as payouts_pages
    from access_program.payouts.webhooks import bp as stripe_webhooks
    from access_program.reviews.api import blp as reviews_api
    from access_program.reviews.routes import bp as reviews_pages
    from access_program.transparency.api import blp as transparency_api
    from access_program.transparency.routes import bp as transparency_pages

    for blueprint in (
        accounts_api,
        cohorts_api,
        access_api,
        audit_api,
        reviews_api,
        outbox_api,
        compensation_api,
        payouts_api,
        transparency_api,
    ):
        csrf.exempt(blueprint)  # bearer tokens only, no cookies: CSRF cannot apply
        api.register_blueprint(blueprint, url_prefix="/api/v1")
    for blueprint in (
        accounts_pages,
        cohorts_pages,
        access_pages,
        audit_pages,
        outbox_pages,
        reviews_pages,
        compensation_pages,
        payouts_pages,
        transparency_pages,
    ):
        app.register_blueprint(blueprint)
    # Stripe signs its webhooks; there is no session cookie to protect with CSRF.
    csrf.exempt(stripe_webhooks)
    app.register_blueprint(stripe_webhooks)

    @app.get("/healthz")
    def healthz():
        """A constant answer: the baseline the access-check benchmark compares against."""
        return jsonify({"status": "ok"})


def register_errorhandlers(app: Flask) -> None:
    # Registered after Api.init_app, so ours replace flask-smorest's JSON-only handler.
    register_error_handlers(app)


def register_transaction_boundary(app: Flask) -> None:
    """One commit per request: on success commit, otherwise roll back."""

    from access_program.accounts.service import discard_token_use, record_token_use

    @app.after_request
    def commit_or_rollback(response: Response) -> Response:
        if response.status_code >= 400:
            discard_token_use()
            if database.session.registry.has():
                database.session.rollback()
            return response
        if not database.session.registry.has():
            # The request never opened a session (the access check reads on its own
            # connection): there is nothing to commit.
            record_token_use()
            return response
        try:
            database.session.commit()
        except (sa.exc.IntegrityError, StaleDataError):
            database.session.rollback()
            app.logger.info("integrity conflict on %s %s", request.method, request.path)
            return error_response(
                409, "conflict", "Someone changed this at the same time. Reload and try again."
            )
        except sa.exc.OperationalError:
            database.session.rollback()
            app.logger.exception("database error on %s %s", request.method, request.path)
            return error_response(503, "unavailable", "The database is busy. Try again.")
        record_token_use()
        return response

    @app.after_request
    def request_id_header(response: Response) -> Response:
        from access_program.audit.service import request_id

        rid = request_id()
        if rid:
            response.headers["X-Request-Id"] = rid
        return response


def register_template_context(app: Flask) -> None:
    from access_program.access.service import open_pauses_for
    from access_program.navigation import nav_items
    from access_program.templating import register_template_helpers

    register_template_helpers(app)

    @app.context_processor
    def layout_context() -> dict:
        if request.path.startswith("/api/"):
            return {}
        user = current_user if current_user.is_authenticated else None
        try:
            pauses = open_pauses_for(user)
        except sa.exc.SQLAlchemyError:
            database.session.rollback()
            pauses = []
        return {"nav_items": nav_items(user), "pause_banners": pauses}


def register_commands(app: Flask) -> None:
    from access_program.access.cli import access_cli
    from access_program.accounts.cli import tokens_cli, users_cli
    from access_program.audit.cli import audit_cli
    from access_program.cohorts.cli import invitations_cli
    from access_program.compensation.cli import compensation_cli
    from access_program.demo import seed_demo_command
    from access_program.outbox.cli import outbox_cli
    from access_program.payouts.cli import payouts_cli
    from access_program.payouts.emulator import stripe_emulator_command
    from access_program.reviews.cli import reviews_cli

    for command in (
        users_cli,
        tokens_cli,
        audit_cli,
        access_cli,
        invitations_cli,
        outbox_cli,
        reviews_cli,
        compensation_cli,
        payouts_cli,
    ):
        app.cli.add_command(command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(stripe_emulator_command)
