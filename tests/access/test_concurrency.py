"""Concurrent requests on PostgreSQL: one open pause per scope, one current grant per member, and
an audit chain that parallel writers never fork or leave with gaps.

Each request runs in its own thread with its own test client, so each has its own app context,
session and database connection, and real commits (``committed_db``), as under gunicorn.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from access_program.access import service
from access_program.access.models import Grant, Pause
from access_program.accounts import service as accounts
from access_program.audit.models import AuditEvent
from access_program.audit.service import Actor, verify_chain
from tests.factories import CohortFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.postgres

TIMEOUT = 30
PAUSES_STARTED = sa.select(AuditEvent.seq).where(AuditEvent.action == "pause.started")


def token_for(user) -> str:
    _, plain = accounts.create_token(Actor.system("test"), user=user)
    return plain


def in_parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; re-raise the first failure."""
    barrier = threading.Barrier(len(calls), timeout=TIMEOUT)
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert not any(t.is_alive() for t in threads), "a request hung (deadlock?)"
    if errors:
        raise errors[0]
    return results


def post(app, token: str, url: str, body: dict) -> tuple[int, dict]:
    response = app.test_client().post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.get_json()


def patch(app, token: str, url: str, body: dict) -> tuple[int, dict]:
    response = app.test_client().patch(url, json=body, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.get_json()


def assert_chain_intact(db) -> int:
    db.session.rollback()  # a fresh snapshot: see every thread's commit
    result = verify_chain()
    assert result.ok, result
    seqs = db.session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert seqs == list(range(1, len(seqs) + 1))
    return len(seqs)


def count(db, query) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))


@pytest.fixture
def two_admin_tokens(committed_db) -> list[str]:
    # Two admins: each request's first use of its token writes last_used_at on its own row.
    return [token_for(UserFactory(admin=True)) for _ in range(2)]


def _pause_body(scope: str, cohort_id: int) -> dict:
    body = {"scope": scope, "reason": f"Race for the {scope} pause."}
    if scope == "cohort":
        body["cohort_id"] = cohort_id
    return body


@pytest.mark.parametrize("scope", ["global", "cohort"])
def test_two_concurrent_pauses_of_one_scope_give_one_201_and_one_409(
    app, committed_db, two_admin_tokens, scope
):
    cohort = CohortFactory()
    MembershipFactory(cohort=cohort)
    committed_db.session.commit()
    body = _pause_body(scope, cohort.id)

    results = in_parallel(
        [lambda t=token: post(app, t, "/api/v1/pauses", body) for token in two_admin_tokens]
    )

    assert sorted(status for status, _ in results) == [201, 409], results
    (conflict,) = [body for status, body in results if status == 409]
    assert conflict["error"]["code"] == "pause_open"
    committed_db.session.rollback()
    assert count(committed_db, sa.select(Pause.id).where(Pause.ended_at.is_(None))) == 1
    assert count(committed_db, PAUSES_STARTED) == 1
    assert_chain_intact(committed_db)


def test_when_both_pass_the_check_the_unique_index_makes_the_loser_a_409(
    app, committed_db, two_admin_tokens, monkeypatch
):
    """Force the race: both requests see "no open pause" before either inserts. The second
    insert waits on the first's uncommitted row, then fails on the unique partial index; that
    must become a 409 (not a 500) and leave no trace."""
    MembershipFactory()
    committed_db.session.commit()
    both_checked = threading.Barrier(2, timeout=TIMEOUT)
    check = service._open_pause

    def racing_check(scope_key):
        found = check(scope_key)
        both_checked.wait()
        return found

    monkeypatch.setattr(service, "_open_pause", racing_check)
    body = {"scope": "global", "reason": "Forced race."}

    results = in_parallel(
        [lambda t=token: post(app, t, "/api/v1/pauses", body) for token in two_admin_tokens]
    )

    assert sorted(status for status, _ in results) == [201, 409], results
    (conflict,) = [body for status, body in results if status == 409]
    assert conflict["error"]["code"] == "pause_open"
    committed_db.session.rollback()
    assert count(committed_db, sa.select(Pause.id)) == 1
    assert count(committed_db, PAUSES_STARTED) == 1
    assert_chain_intact(committed_db)


def test_two_concurrent_grants_for_one_artist_give_one_201_and_one_409(
    app, committed_db, two_admin_tokens
):
    member = MembershipFactory()
    committed_db.session.commit()
    url = f"/api/v1/artists/{member.user_id}/grants"

    results = in_parallel([lambda t=token: post(app, t, url, {}) for token in two_admin_tokens])

    assert sorted(status for status, _ in results) == [201, 409], results
    committed_db.session.rollback()
    assert count(committed_db, sa.select(Grant.id)) == 1
    assert_chain_intact(committed_db)


def test_two_concurrent_revocations_of_one_grant_give_one_200_and_one_409(
    app, committed_db, two_admin_tokens
):
    member = MembershipFactory()
    grant = service.grant_access(Actor.system("test"), member)
    committed_db.session.commit()
    url = f"/api/v1/grants/{grant.id}/revoke"
    body = {"category": "other", "reason": "Raced."}

    results = in_parallel([lambda t=token: post(app, t, url, body) for token in two_admin_tokens])

    assert sorted(status for status, _ in results) == [200, 409], results
    committed_db.session.rollback()
    revoked = sa.select(AuditEvent.seq).where(AuditEvent.action == "grant.revoked")
    assert count(committed_db, revoked) == 1


WRITERS = 8
OPERATIONS = 10


def test_parallel_writers_leave_a_gapless_chain_that_verifies(app, committed_db):
    """8 threads × 10 audit-writing requests (external id changes, grants, revocations)."""
    writers = []
    for _ in range(WRITERS):
        member = MembershipFactory()
        writers.append((token_for(UserFactory(admin=True)), member.user_id))
    committed_db.session.commit()
    head = assert_chain_intact(committed_db)

    def work(token: str, artist_id: int) -> list[int]:
        statuses = []
        grant_id = None
        for step in range(OPERATIONS):
            if step % 2 == 0:
                status, _ = patch(
                    app,
                    token,
                    f"/api/v1/artists/{artist_id}",
                    {"external_id": f"t{artist_id}-{step}"},
                )
            elif grant_id is None:
                status, body = post(app, token, f"/api/v1/artists/{artist_id}/grants", {})
                grant_id = body.get("id")
            else:
                status, _ = post(
                    app,
                    token,
                    f"/api/v1/grants/{grant_id}/revoke",
                    {"category": "other", "reason": f"Step {step}."},
                )
                grant_id = None
            statuses.append(status)
        return statuses

    results = in_parallel([lambda w=writer: work(*w) for writer in writers])

    assert all(status in (200, 201) for statuses in results for status in statuses), results
    total = assert_chain_intact(committed_db)
    assert total == head + WRITERS * OPERATIONS
    actions = committed_db.session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.seq > head)
    ).all()
    assert sorted(set(actions)) == ["artist.external_id_set", "grant.created", "grant.revoked"]


def test_two_concurrent_ends_of_one_pause_give_one_200_and_one_409(
    app, committed_db, two_admin_tokens
):
    pause = service.start_pause(Actor.system("test"), scope="global", reason="To be ended.")
    committed_db.session.commit()
    url = f"/api/v1/pauses/{pause.id}/end"

    results = in_parallel(
        [lambda t=token: post(app, t, url, {"note": "Done."}) for token in two_admin_tokens]
    )

    assert sorted(status for status, _ in results) == [200, 409], results
    committed_db.session.rollback()
    ended = sa.select(AuditEvent.seq).where(AuditEvent.action == "pause.ended")
    assert count(committed_db, ended) == 1
