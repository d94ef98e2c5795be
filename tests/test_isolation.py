"""Each test runs in a transaction that is rolled back: proven by a pair of tests, the second of
which looks for what the first one wrote and committed (pytest runs them in file order)."""

from __future__ import annotations

import sqlalchemy as sa

from access_program import audit
from access_program.accounts import service as accounts
from access_program.accounts.models import User
from access_program.audit.models import AuditEvent
from access_program.audit.service import Actor

EMAIL = "isolation-probe@example.org"
SYSTEM = Actor.system("test")


def _probe_rows(connection) -> tuple[int, int]:
    users = connection.scalar(sa.select(sa.func.count(User.id)).where(User.email == EMAIL))
    events = connection.scalar(
        sa.select(sa.func.count(AuditEvent.seq)).where(AuditEvent.action == "isolation.probe")
    )
    return users, events


def test_first_writes_and_commits(db, api_client):
    user = accounts.create_user(SYSTEM, email=EMAIL, name="Probe", role="staff", password="x" * 12)
    audit.record(SYSTEM, "isolation.probe", "thing", 1)
    db.session.commit()  # what the request boundary and the CLI do
    assert api_client(user).get("/api/v1/me").status_code == 200  # a request commits too

    assert _probe_rows(db.session) == (1, 1)
    with db.engine.connect() as outside:  # another connection sees none of it
        assert _probe_rows(outside) == (0, 0)


def test_second_finds_nothing_of_the_first(db):
    assert _probe_rows(db.session) == (0, 0)
    with db.engine.connect() as outside:
        assert _probe_rows(outside) == (0, 0)
