"""Test setup: one schema per run (built by the migrations), one rolled-back transaction per test.

The database comes from TEST_DATABASE_URL (default: a SQLite file in a temporary folder); CI runs
the suite again with PostgreSQL. Tests marked ``postgres`` need real concurrency; they are
skipped on SQLite, and with REQUIRE_POSTGRES=1 a missing PostgreSQL fails the run instead.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, request_started
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_sqlalchemy.session import Session as FlaskSession
from itsdangerous import URLSafeTimedSerializer

from access_program import create_app
from access_program.accounts import service as accounts
from access_program.accounts.models import User
from access_program.audit.service import Actor
from access_program.db import db as _db

TMP = Path(tempfile.mkdtemp(prefix="access-program-tests-"))
DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{TMP / 'test.sqlite'}"


def _reset_database(url: str) -> None:
    """An empty database to migrate: a new file, or a fresh public schema on PostgreSQL."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    _reset_database(DATABASE_URL)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=DATABASE_URL)
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        for engine in _db.engines.values():  # the default engine and the access check's reads
            engine.dispose()


@pytest.fixture(scope="session")
def is_postgres(app) -> bool:
    with app.app_context():
        return _db.engine.dialect.name == "postgresql"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        return
    if DATABASE_URL.startswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set TEST_DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


class _ConnectionSession(FlaskSession):
    """Flask-SQLAlchemy's session picks the engine itself and would ignore ``bind``: without
    this, every test's commits were real and nothing was rolled back."""

    def get_bind(self, *args, **kwargs):
        return self.bind


@pytest.fixture
def db(app) -> Iterator:
    """The app's session bound to one connection whose outer transaction is rolled back:
    commits inside the test (the request boundary's) only release savepoints."""
    with app.app_context():
        connection = _db.engine.connect()
        outer = connection.begin()
        session = _db._make_scoped_session(
            {
                "bind": connection,
                "join_transaction_mode": "create_savepoint",
                "class_": _ConnectionSession,
            }
        )
        original, _db.session = _db.session, session

        def settle(sender, **extra):
            # Setup made by factories becomes durable (a released savepoint) before each request,
            # so a refused request's rollback undoes only what that request did.
            session.commit()

        request_started.connect(settle, app)
        try:
            yield _db
        finally:
            request_started.disconnect(settle, app)
            session.remove()
            _db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def committed_db(app, is_postgres) -> Iterator:
    """Real commits, for tests with several connections (PostgreSQL); emptied afterwards."""
    with app.app_context():
        yield _db
        _db.session.remove()
        tables = ", ".join(t.name for t in reversed(_db.metadata.sorted_tables))
        with _db.engine.begin() as conn:
            if is_postgres:
                # The append-only triggers refuse TRUNCATE; replica mode skips triggers.
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            else:
                for table in reversed(_db.metadata.sorted_tables):
                    conn.execute(table.delete())


@pytest.fixture
def client(app, db) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app, db):
    return app.test_cli_runner()


# --- helpers -------------------------------------------------------------------------------


class Pages:
    """Drive the HTML pages as a person: sign in as someone, post forms with a CSRF token."""

    def __init__(self, app: Flask, client: FlaskClient):
        self.app = app
        self.client = client

    def login(self, user: User) -> Pages:
        with self.client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        return self

    def csrf(self) -> str:
        with self.client.session_transaction() as session:
            raw = session.setdefault("csrf_token", "test-csrf-token-value-0123456789abcdef")
        return URLSafeTimedSerializer(self.app.secret_key, salt="wtf-csrf-token").dumps(raw)

    def get(self, url: str, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: dict | None = None, **kwargs):
        data = {"csrf_token": self.csrf(), **(data or {})}
        return self.client.post(url, data=data, **kwargs)


@pytest.fixture
def pages(app, client) -> Pages:
    return Pages(app, client)


@pytest.fixture
def login_as(pages):
    return pages.login


@pytest.fixture(autouse=True)
def fresh_user_per_request(app):
    """Load the signed-in user anew in every request, as in production.

    The ``db`` fixture keeps one app context open for the whole test and requests reuse it, so
    Flask-Login's cached ``g._login_user`` would carry one browser's user into the next request
    of another browser (or past a sign-out). Applies to every test.
    """
    from flask import g, request_started

    def forget(sender, **extra):
        g.pop("_login_user", None)

    request_started.connect(forget, app)
    yield
    request_started.disconnect(forget, app)


class Api:
    """JSON API calls with a bearer token."""

    def __init__(self, client: FlaskClient, token: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __getattr__(self, method: str):
        if method not in ("get", "post", "put", "patch", "delete"):
            raise AttributeError(method)

        def call(url: str, json=None, **kwargs):
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return getattr(self.client, method)(url, json=json, headers=headers, **kwargs)

        return call


@pytest.fixture
def api_client(client, db):
    """``api_client(user)`` (a user's token), ``api_client(service="tool")`` or ``api_client()``."""

    def make(user: User | None = None, *, service: str | None = None, scopes=None) -> Api:
        if user is None and service is None:
            return Api(client, None)
        _, plain = accounts.create_token(
            Actor.system("test"), user=user, service_name=service, scopes=scopes
        )
        return Api(client, plain)

    return make
