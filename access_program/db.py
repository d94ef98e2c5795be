"""Declarative base, column types, time helpers and the transaction boundary.

One unit of work per request, command or webhook: services only flush; the request boundary
(``register_transaction_boundary``) commits once when the response is a success and rolls back
otherwise; commands use ``unit_of_work()``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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


#: Execution option of ``read_connection()``: each statement is its own transaction.
SINGLE_STATEMENT = "access_program_single_statement"


@sa.event.listens_for(sa.engine.Engine, "begin")
def _sqlite_begin(connection: sa.engine.Connection) -> None:
    if connection.dialect.name == "sqlite" and not connection.get_execution_options().get(
        SINGLE_STATEMENT
    ):
        # A writer takes the write lock up front, so concurrent writers queue (busy_timeout)
        # instead of failing when a read transaction later tries to write.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _expects_writes() else "BEGIN")


#: Set by unit_of_work(): commands that change data begin their transactions as writers.
_writing: contextvars.ContextVar[bool] = contextvars.ContextVar("writing", default=False)


def _expects_writes() -> bool:
    if has_request_context():
        return request.method not in ("GET", "HEAD", "OPTIONS")
    return _writing.get()


#: Flask-SQLAlchemy bind key of the engine for ``read_first`` on a database server: autocommit
#: and no liveness ping (``read_first`` retries a dropped connection itself).
READS = "reads"


def read_engine_options(uri: str) -> dict | None:
    """The ``SQLALCHEMY_BINDS`` entry for READS, or None for SQLite (in process: the main engine
    serves, and an in-memory database must not get a second engine)."""
    if uri.startswith("sqlite"):
        return None
    return {"url": uri, "isolation_level": "AUTOCOMMIT", "pool_pre_ping": False}


@contextmanager
def read_connection() -> Iterator[sa.Connection]:
    """A connection where each statement is its own transaction, outside the session's (the
    access check's hot path): PostgreSQL in autocommit (one round trip, no BEGIN or COMMIT);
    SQLite with no BEGIN (the driver's autocommit). A single SELECT reads one consistent
    snapshot, taken when it starts, so whatever committed before the request began is seen.

    When the session is bound to a connection rather than an engine (the test suite's
    rolled-back outer transaction), that connection is used: the statement then sees exactly
    what the session sees."""
    # Read from the session's factory rather than the session: creating a session per request
    # costs more than the statement.
    bind = db.session.session_factory.kw.get("bind")
    if isinstance(bind, sa.Connection):
        yield bind
        return
    engine = db.engines.get(READS)
    if engine is not None:
        with engine.connect() as connection:
            yield connection
        return
    with db.engine.connect() as connection:
        connection.execution_options(**{SINGLE_STATEMENT: True})
        yield connection


class Precompiled:
    """A SELECT compiled once per dialect and driver, for the one statement on the hot path
    (the access check). ``Connection.execute`` costs more than the query itself there: hashing
    a large statement's cache key, bind and result processing, and result metadata built on
    every call. ``first_pooled`` runs it on a pooled DBAPI connection (driver errors raised as
    SQLAlchemy's, a dropped connection invalidated, as ``Connection.execute`` would);
    ``first`` through ``Connection.exec_driver_sql``, for when cursor-event listeners must see
    it (``read_first`` picks) and in the test suite's bound connection.

    Parameters are named by their ``bindparam``; datetime values must be timezone-aware (UTC).
    Result columns typed ``UTCDateTime`` come back as aware UTC datetimes and booleans as bools,
    as the ORM gives them; other values as the driver returns them, so keep such statements to
    integers, strings, booleans and UTC timestamps."""

    def __init__(self, statement: sa.Select):
        self.statement = statement
        self._by_dialect: dict[tuple[str, str], tuple] = {}

    def _compile(self, dialect: sa.Dialect) -> tuple:
        compiled = self.statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise TypeError("Precompiled takes no expanding or literal-execute parameters")
        defaults = {name: bind.effective_value for bind, name in compiled.bind_names.items()}
        positional = compiled.positiontup if compiled.positional else None
        columns = list(self.statement.selected_columns)
        row_type = namedtuple("Row", [c.key for c in columns])  # noqa: PYI024
        converters = [
            _utc
            if isinstance(c.type, UTCDateTime)
            else bool
            if isinstance(c.type, sa.Boolean)
            else None
            for c in columns
        ]
        entry = (compiled.string, defaults, positional, row_type, converters)
        self._by_dialect[(dialect.name, dialect.driver)] = entry
        return entry

    def first(self, connection: sa.Connection, **values):
        """The first row (a named tuple) or None, through an SQLAlchemy ``Connection``
        (``exec_driver_sql``: cursor-event listeners get the connection and execution context
        they expect; no compiled-cache lookup, no result processing)."""
        sql, args, entry = self._prepared(connection.dialect, values)
        raw = connection.exec_driver_sql(sql, args).first()
        return self._row(entry, None if raw is None else tuple(raw))

    def first_pooled(self, engine: sa.Engine, **values):
        """The same on a pool connection of ``engine`` without an SQLAlchemy ``Connection``
        (its checkout, transaction bookkeeping and close are most of the cost left). Only when
        the engine has no cursor-event listeners: with listeners, ``first`` runs so that they
        get the ``Connection`` they expect."""
        pooled = engine.raw_connection()  # first: the dialect is initialized on first connect
        try:
            sql, args, entry = self._prepared(engine.dialect, values)
            cursor = pooled.dbapi_connection.cursor()
            try:
                cursor.execute(sql, args)
                row = cursor.fetchone()
            finally:
                cursor.close()
        except engine.dialect.loaded_dbapi.Error as exc:
            invalidated = engine.dialect.is_disconnect(exc, pooled.dbapi_connection, None)
            if invalidated:
                pooled.invalidate(exc)
            raise _wrapped(engine.dialect, sql, args, exc, invalidated) from exc
        finally:
            pooled.close()
        return self._row(entry, row)

    def _prepared(self, dialect: sa.Dialect, values: dict) -> tuple[str, Any, tuple]:
        entry = self._by_dialect.get((dialect.name, dialect.driver)) or self._compile(dialect)
        sql, defaults, positional = entry[:3]
        params = dict(defaults)
        for name, value in values.items():
            if isinstance(value, dt.datetime) and dialect.name == "sqlite":
                # SQLAlchemy's SQLite storage format for DateTime, naive UTC (see UTCDateTime).
                value = value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            params[name] = value
        args = tuple(params[name] for name in positional) if positional is not None else params
        return sql, args, entry

    @staticmethod
    def _row(entry: tuple, raw: tuple | None):
        if raw is None:
            return None
        row_type, converters = entry[3:]
        return row_type(
            *(
                value if convert is None or value is None else convert(value)
                for value, convert in zip(raw, converters, strict=True)
            )
        )


def _wrapped(dialect: sa.Dialect, sql: str, args, exc: Exception, invalidated: bool):
    """A driver error as SQLAlchemy raises it (OperationalError, IntegrityError, …)."""
    return sa.exc.DBAPIError.instance(
        sql,
        args,
        exc,
        dialect.loaded_dbapi.Error,
        connection_invalidated=invalidated,
        dialect=dialect,
    )


def _utc(value) -> dt.datetime:
    if isinstance(value, str):  # SQLite
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def read_first(statement: Precompiled, **values):
    """``statement``'s first row, read where each statement is its own transaction (see
    ``read_connection``); a connection the server dropped (a restart, an idle timeout) is
    replaced and the read tried once more."""
    bind = db.session.session_factory.kw.get("bind")
    if isinstance(bind, sa.Connection):  # the test suite's rolled-back transaction
        return statement.first(bind, **values)
    engine = db.engines.get(READS) or db.engine
    for attempt in (1, 2):
        try:
            if engine.dispatch.before_cursor_execute or engine.dispatch.after_cursor_execute:
                with read_connection() as connection:
                    return statement.first(connection, **values)
            # No BEGIN is sent here: SQLite and the autocommit pool read in autocommit.
            return statement.first_pooled(engine, **values)
        except sa.exc.DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")


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
