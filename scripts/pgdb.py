"""Create (or drop and create) a PostgreSQL database, with the project's own psycopg.

    python scripts/pgdb.py ensure   postgresql+psycopg://postgres@127.0.0.1:5432/NAME
    python scripts/pgdb.py recreate postgresql+psycopg://postgres@127.0.0.1:5432/NAME

Used by `make test-postgres`, `.ci/run` and the benchmarks, so nothing needs psql.
"""

from __future__ import annotations

import sys

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


def _admin_connection(url: str) -> tuple[psycopg.Connection, str]:
    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise SystemExit(f"no database name in {url}")
    conninfo = parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    return psycopg.connect(conninfo, autocommit=True, connect_timeout=10), name


def ensure(url: str, *, drop_first: bool = False) -> str:
    """Make sure the database exists (dropping it first if asked); return its name."""
    conn, name = _admin_connection(url)
    with conn:
        if drop_first:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop(url: str) -> None:
    conn, name = _admin_connection(url)
    with conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("ensure", "recreate", "drop"):
        print(__doc__, file=sys.stderr)
        return 2
    command, url = argv[1], argv[2]
    if command == "drop":
        drop(url)
        print(f"dropped database {make_url(url).database}")
        return 0
    name = ensure(url, drop_first=command == "recreate")
    print(f"database {name} ready" + (" (fresh)" if command == "recreate" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
