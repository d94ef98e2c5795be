"""Declarative base, column types, time helpers and the transaction boundary.

One unit of work per request, command or webhook: services only flush; the request boundary
(``register_transaction_boundary``) commits once when the response is a success and rolls back
otherwise; commands use ``unit_of_work()``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import has_request_context, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import orm as so

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(so.DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp that is always stored and returned as UTC (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    if not type(dbapi_connection).__module__.startswith("sqlite3"):
        return
    # pysqlite's own transaction handling breaks SAVEPOINT and defers BEGIN until the first
    # write; turn it off and emit BEGIN ourselves (SQLAlchemy's documented recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@sa.event.listens_for(sa.engine.Engine, "begin")
def _sqlite_begin(connection: sa.engine.Connection) -> None:
    if connection.dialect.name == "sqlite":
        # A writer takes the write lock up front, so concurrent writers queue (busy_timeout)
        # instead of failing when a read transaction later tries to write.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _expects_writes() else "BEGIN")


#: Set by unit_of_work(): commands that change data begin their transactions as writers.
_writing: contextvars.ContextVar[bool] = contextvars.ContextVar("writing", default=False)


def _expects_writes() -> bool:
    if has_request_context():
        return request.method not in ("GET", "HEAD", "OPTIONS")
    return _writing.get()


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit everything done inside once, or roll all of it back (commands, scripts)."""
    token = _writing.set(True)
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        _writing.reset(token)
