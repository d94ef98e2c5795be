"""The migrations build the whole schema, and the models agree with them (autogenerate finds
nothing), on SQLite and on PostgreSQL."""

from __future__ import annotations

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
