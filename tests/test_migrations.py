"""The migrations build the whole schema, and the models agree with them (autogenerate finds
nothing), on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import os
import pkgutil
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import access_program
from access_program.db import db as _db


def _import_every_model() -> None:
    """Fill the metadata with every domain's models, whichever tests ran before."""
    for module in pkgutil.iter_modules(access_program.__path__):
        name = f"access_program.{module.name}.models"
        if module.ispkg and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)


_import_every_model()


def _alembic_config(app):
    return app.extensions["migrate"].migrate.get_config()


@pytest.fixture
def migrate_on(app, monkeypatch):
    """Run the project's migrations against another engine than the app's."""

    def run(engine: sa.Engine, action: str, revision: str) -> None:
        shim = SimpleNamespace(engine=engine, metadata=_db.metadata)
        monkeypatch.setattr(app.extensions["migrate"], "db", shim)
        with app.app_context():
            getattr(command, action)(_alembic_config(app), revision)
        monkeypatch.undo()

    return run


def _differences(engine: sa.Engine) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), _db.metadata)


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_there_is_exactly_one_head(app):
    with app.app_context():
        heads = ScriptDirectory.from_config(_alembic_config(app)).get_heads()
    assert len(heads) == 1, f"several Alembic heads, merge them: {heads}"


@pytest.fixture
def fresh_sqlite(tmp_path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    yield engine
    engine.dispose()


def test_sqlite_upgrade_matches_the_models_and_downgrades_to_nothing(fresh_sqlite, migrate_on):
    migrate_on(fresh_sqlite, "upgrade", "head")

    assert _tables(fresh_sqlite) >= {t.name for t in _db.metadata.sorted_tables}
    assert _differences(fresh_sqlite) == []

    migrate_on(fresh_sqlite, "downgrade", "base")

    assert _tables(fresh_sqlite) <= {"alembic_version"}


@pytest.fixture
def fresh_postgres() -> Iterator[sa.Engine]:
    """A database of its own next to the test database, dropped afterwards."""
    url = sa.make_url(os.environ.get("TEST_DATABASE_URL", ""))
    name = f"{url.database}_mig_{uuid.uuid4().hex[:8]}"
    server = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = sa.create_engine(url.set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with server.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()


def _audit_triggers(engine: sa.Engine) -> set[str]:
    with engine.connect() as connection:
        return set(
            connection.scalars(
                sa.text(
                    "SELECT tgname FROM pg_trigger"
                    " WHERE tgrelid = 'audit_events'::regclass AND NOT tgisinternal"
                )
            )
        )


@pytest.mark.postgres
def test_postgres_upgrade_matches_the_models_with_triggers(fresh_postgres, migrate_on):
    migrate_on(fresh_postgres, "upgrade", "head")

    assert _differences(fresh_postgres) == []
    assert _audit_triggers(fresh_postgres) == {
        "audit_events_no_update_delete",
        "audit_events_no_truncate",
    }

    migrate_on(fresh_postgres, "downgrade", "base")

    assert _tables(fresh_postgres) <= {"alembic_version"}


# --- migrations with data in the tables ----------------------------------------------------


def _fill(table: sa.Table, **given) -> dict:
    """A row for ``table``: the given values, and a plain value for every other NOT NULL column
    without a default (the schema as that revision built it, read back by reflection)."""
    row = dict(given)
    for column in table.columns:
        if column.name in row or column.nullable or column.primary_key:
            continue
        if column.server_default is not None:
            continue
        kind = column.type
        if isinstance(kind, sa.Boolean):
            row[column.name] = False
        elif isinstance(kind, sa.Integer):
            row[column.name] = 1
        elif isinstance(kind, sa.DateTime):
            row[column.name] = dt.datetime(2026, 11, 1, 12, 0)
        elif isinstance(kind, sa.Date):
            row[column.name] = dt.date(2026, 11, 1)
        elif isinstance(kind, sa.JSON):
            row[column.name] = {}
        else:
            row[column.name] = column.name[: getattr(kind, "length", None) or 64]
    return row


def _ledger_with_a_correction_and_a_reversal(engine: sa.Engine) -> None:
    """At revision 0003: a credit, its correction (a row pointing at another row of the same
    table), a payout with its debit and a partial reversal."""
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:
        conn.execute(
            t["users"].insert(), _fill(t["users"], id=1, email="a@example.org", role="artist")
        )
        conn.execute(
            t["contributions"].insert(),
            _fill(t["contributions"], id=1, artist_id=1, kind="bug_report", amount_minor=500),
        )
        conn.execute(t["payout_runs"].insert(), _fill(t["payout_runs"], id=1, cohort_id=None))
        conn.execute(
            t["payouts"].insert(),
            _fill(
                t["payouts"], id=1, run_id=1, artist_id=1, amount_minor=500,
                status="reversed", amount_reversed=200,
            ),
        )  # fmt: skip
        entries = t["ledger_entries"]
        for row in (
            dict(id=1, kind="credit", amount_minor=500, contribution_id=1),
            dict(id=2, kind="correction", amount_minor=-500, reverses_entry_id=1),
            dict(id=3, kind="payout", amount_minor=-500, payout_id=1),
            dict(id=4, kind="payout_reversal", amount_minor=200, payout_id=1),
        ):
            conn.execute(entries.insert(), _fill(entries, artist_id=1, currency="USD", **row))


def test_sqlite_ledger_migration_keeps_rows_that_point_at_each_other(fresh_sqlite, migrate_on):
    """0004 rebuilds ledger_entries (batch mode): a correction points at another entry, so the
    rebuild must not trip over foreign keys; existing reversals get their reversed_through."""
    migrate_on(fresh_sqlite, "upgrade", "0003")
    _ledger_with_a_correction_and_a_reversal(fresh_sqlite)

    migrate_on(fresh_sqlite, "upgrade", "head")

    with fresh_sqlite.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, kind, reverses_entry_id, reversed_through FROM ledger_entries")
        ).all()
        assert sorted(tuple(r) for r in rows) == [
            (1, "credit", None, None),
            (2, "correction", 1, None),
            (3, "payout", None, None),
            (4, "payout_reversal", None, 200),
        ]
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # back on afterwards

    migrate_on(fresh_sqlite, "downgrade", "0003")

    with fresh_sqlite.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ledger_entries")).scalar() == 4


@pytest.mark.postgres
def test_postgres_ledger_migration_fills_reversed_through_and_downgrades(
    fresh_postgres, migrate_on
):
    migrate_on(fresh_postgres, "upgrade", "0003")
    _ledger_with_a_correction_and_a_reversal(fresh_postgres)

    migrate_on(fresh_postgres, "upgrade", "head")

    with fresh_postgres.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, kind, reversed_through FROM ledger_entries ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, "credit", None),
        (2, "correction", None),
        (3, "payout", None),
        (4, "payout_reversal", 200),
    ]
    migrate_on(fresh_postgres, "downgrade", "0003")
    with fresh_postgres.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ledger_entries")).scalar() == 4
