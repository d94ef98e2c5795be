"""The access check's own read path, as it runs in production: real commits (``committed_db``),
the session not bound to a test connection, so the check reads on its own connection outside any
request transaction (``db.read_connection``, autocommit on PostgreSQL).

The rest of the suite runs the same statement inside each test's rolled-back transaction; these
tests make sure the production path sees every commit at once and survives a dropped connection.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from access_program.accounts import service as accounts
from access_program.audit.service import Actor
from access_program.db import READS
from tests.factories import GrantFactory, UserFactory


@pytest.fixture
def tool_token(committed_db) -> str:
    _, plain = accounts.create_token(
        Actor.system("test"), service_name="generation-tool", scopes=["access:check"]
    )
    committed_db.session.commit()
    return plain


@pytest.fixture
def admin_token(committed_db) -> str:
    _, plain = accounts.create_token(Actor.system("test"), user=UserFactory(admin=True))
    committed_db.session.commit()
    return plain


def check(app, token: str, artist_id: int):
    return app.test_client().get(
        f"/api/v1/access/{artist_id}", headers={"Authorization": f"Bearer {token}"}
    )


def test_every_commit_is_seen_by_the_next_check(app, committed_db, tool_token, admin_token):
    grant = GrantFactory()
    committed_db.session.commit()
    admin = app.test_client()
    headers = {"Authorization": f"Bearer {admin_token}"}
    assert check(app, tool_token, grant.user_id).get_json()["allowed"] is True

    started = admin.post(
        "/api/v1/pauses", json={"scope": "global", "reason": "Model update."}, headers=headers
    )
    assert started.status_code == 201
    paused = check(app, tool_token, grant.user_id).get_json()
    assert paused["allowed"] is False
    assert [r["code"] for r in paused["reasons"]] == ["program_paused"]

    ended = admin.post(f"/api/v1/pauses/{started.get_json()['id']}/end", json={}, headers=headers)
    assert ended.status_code == 200
    assert check(app, tool_token, grant.user_id).get_json()["allowed"] is True

    revoked = admin.post(
        f"/api/v1/grants/{grant.id}/revoke",
        json={"category": "other", "reason": "The test ends the grant."},
        headers=headers,
    )
    assert revoked.status_code == 200
    assert check(app, tool_token, grant.user_id).get_json()["allowed"] is False


def test_a_revoked_token_is_refused_by_the_next_check(app, committed_db, tool_token):
    grant = GrantFactory()
    committed_db.session.commit()
    assert check(app, tool_token, grant.user_id).status_code == 200

    token = accounts.resolve_token(tool_token)
    accounts.revoke_token(Actor.system("test"), token)
    committed_db.session.commit()

    refused = check(app, tool_token, grant.user_id)
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "invalid_token"


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_replaced_without_failing_a_check(
    app, committed_db, tool_token
):
    grant = GrantFactory()
    committed_db.session.commit()
    assert check(app, tool_token, grant.user_id).status_code == 200  # a pooled read connection

    # Terminate the read pool's server connections (as a restart or an idle timeout would).
    with committed_db.engines[READS].connect() as reads:
        pid = reads.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    with committed_db.engine.connect() as admin:
        assert admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()

    response = check(app, tool_token, grant.user_id)

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["allowed"] is True


def test_cursor_event_listeners_still_see_the_one_statement(app, committed_db, tool_token):
    """With a listener on the engine (query logging, tracing) the check runs through an
    SQLAlchemy Connection so the listener gets what it expects; it sees one SELECT."""
    grant = GrantFactory()
    committed_db.session.commit()
    artist_id = grant.user_id
    assert check(app, tool_token, artist_id).status_code == 200  # records the token's last use
    engine = committed_db.engines.get(READS) or committed_db.engine
    seen: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        assert isinstance(conn, sa.Connection)
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        response = check(app, tool_token, artist_id)
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)

    assert response.get_json()["allowed"] is True
    assert len(seen) == 1 and seen[0].lstrip().upper().startswith("SELECT")
    assert "api_tokens" in seen[0] and "grants" in seen[0]


def test_a_refused_check_records_no_use_of_the_token(app, committed_db, admin_token):
    """An admin's token lacks access:check: 403, and its last use stays unset (a refused
    request changes nothing)."""
    grant = GrantFactory()
    committed_db.session.commit()

    response = check(app, admin_token, grant.user_id)

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "missing_scope"
    committed_db.session.rollback()
    assert accounts.resolve_token(admin_token).last_used_at is None
