"""Capacity and single-use links under real concurrency (PostgreSQL row locks).

Each thread sends its request through its own test client; Flask pushes an app context per
request in that thread, so every request has its own session and connection, as under gunicorn.
"""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from flask import request, request_finished

from access_program.access.models import Grant
from access_program.accounts import service as accounts
from access_program.audit.models import AuditEvent
from access_program.audit.service import Actor, verify_chain
from access_program.cohorts import service
from access_program.cohorts.models import Invitation, InvitationStatus, Membership
from tests.cohorts import terms_body
from tests.factories import (
    CohortFactory,
    GrantFactory,
    InvitationFactory,
    MembershipFactory,
    TermsFactory,
    UserFactory,
)

pytestmark = pytest.mark.postgres

NEW_PASSWORD = "a long enough password"


#: The twelve invitations of the capacity race.
RACERS = 12


def _row_lock_waiters(engine: sa.Engine) -> int:
    """Backends of this database waiting for a row lock (not the audit chain's advisory lock)."""
    with engine.connect() as connection:
        return connection.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND wait_event IN ('transactionid', 'tuple')"
            )
        )


def _until(condition, seconds: float = 10.0) -> None:
    """Wait for a state of the race, not for an amount of time: re-check ``condition`` as the
    other requests move on, for at most ``seconds`` (then the request simply goes on)."""
    deadline = time.monotonic() + seconds
    moved = threading.Event()
    while not condition() and time.monotonic() < deadline:
        moved.wait(0.002)


@pytest.fixture
def widen_race(monkeypatch, committed_db):
    """Hold each invitation between counting the seats and writing its row until every other
    racing request has counted too or is waiting for a row lock. Without the cohort row lock
    all twelve count the same free seats before any writes (the race happens every time);
    with it, the others are queued on the lock and each request goes on at once."""
    count_seats = service._seats_taken
    counted = []

    def held_count(cohort):
        taken = count_seats(cohort)
        counted.append(taken)
        _until(lambda: len(counted) + _row_lock_waiters(committed_db.engine) >= RACERS)
        return taken

    monkeypatch.setattr(service, "_seats_taken", held_count)


def _admin_headers() -> dict[str, str]:
    """A fresh admin token per request: a shared token would serialize the requests on its own
    row (its first use writes last_used_at) and hide what the cohort lock does."""
    _, plain = accounts.create_token(Actor.system("test"), user=UserFactory(admin=True))
    return {"Authorization": f"Bearer {plain}"}


def _in_parallel(app, calls):
    """Run each (method, url, json, headers) at once, each thread with its own client."""
    barrier = threading.Barrier(len(calls))

    def run(spec):
        method, url, body, headers = spec
        client = app.test_client()
        barrier.wait()
        response = getattr(client, method)(url, json=body, headers=headers)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _chain_is_whole(db) -> None:
    db.session.rollback()
    result = verify_chain()
    assert result.ok, result
    seqs = db.session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert seqs == list(range(1, len(seqs) + 1))


def test_twelve_concurrent_invitations_fill_five_free_seats_exactly(app, committed_db, widen_race):
    db = committed_db
    cohort = CohortFactory(capacity=8)
    for _ in range(3):
        MembershipFactory(cohort=cohort)
    cohort_id = cohort.id
    url = f"/api/v1/cohorts/{cohort_id}/invitations"
    calls = [
        ("post", url, {"emails": [f"artist{n}@example.org"]}, _admin_headers())
        for n in range(RACERS)
    ]
    db.session.commit()

    results = _in_parallel(app, calls)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 5 + [409] * 7, results
    for status, body in results:
        if status == 409:
            assert body["error"]["code"] == "cohort_full"
            assert "cohort full: 8 of 8" in body["error"]["message"]
    db.session.rollback()
    pending = db.session.scalar(
        sa.select(sa.func.count(Invitation.id)).where(
            Invitation.cohort_id == cohort_id, Invitation.status == InvitationStatus.PENDING
        )
    )
    assert pending == 5
    sent = db.session.scalar(
        sa.select(sa.func.count(AuditEvent.seq)).where(AuditEvent.action == "invitation.sent")
    )
    assert sent == 5
    _chain_is_whole(db)


def test_a_link_accepted_twice_at_once_makes_one_artist(app, committed_db):
    db = committed_db
    invitation = InvitationFactory(email="twice@example.org")
    token = invitation.token
    db.session.commit()
    body = {"token": token, "name": "Twice", "password": NEW_PASSWORD, "accept_terms": True}

    results = _in_parallel(app, [("post", "/api/v1/invitations/accept", body, {})] * 4)

    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 410, 410, 410], results
    assert {b["error"]["code"] for s, b in results if s == 410} == {"invitation_accepted"}
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Membership.id))) == 1
    _chain_is_whole(db)


def test_invitations_and_acceptances_in_one_cohort_do_not_deadlock(app, committed_db):
    """Acceptance writes audit events (and so takes the chain's lock) and locks the cohort;
    an invitation does both too. Both take the cohort first, so neither waits on the other
    in a cycle: every request succeeds."""
    db = committed_db
    cohort = CohortFactory(capacity=50)
    tokens = [InvitationFactory(cohort=cohort).token for _ in range(6)]
    cohort_id = cohort.id
    calls = []
    for n, token in enumerate(tokens):
        body = {"token": token, "name": f"A{n}", "password": NEW_PASSWORD, "accept_terms": True}
        calls.append(("post", "/api/v1/invitations/accept", body, {}))
        calls.append(
            (
                "post",
                f"/api/v1/cohorts/{cohort_id}/invitations",
                {"emails": [f"more{n}@example.org"]},
                _admin_headers(),
            )
        )
    db.session.commit()

    results = _in_parallel(app, calls)

    assert sorted(status for status, _ in results) == [201] * 12, results
    _chain_is_whole(db)


def test_closing_a_cohort_while_its_invitations_and_grants_change_does_not_deadlock(
    app, committed_db
):
    """Closing locks the rows it will change before it writes its first audit event (which
    holds the chain's lock until commit), so a withdrawal or revocation holding one of those
    rows and waiting for the chain cannot close a cycle with it."""
    db = committed_db
    cohort = CohortFactory()
    invitations = [InvitationFactory(cohort=cohort) for _ in range(4)]
    grants = [GrantFactory(membership=MembershipFactory(cohort=cohort)) for _ in range(4)]
    cohort_id = cohort.id
    revoke = {"category": "misconduct", "reason": "Shared their access with a friend."}
    calls = [("post", f"/api/v1/cohorts/{cohort_id}/close", None, _admin_headers())]
    for invitation, grant in zip(invitations, grants, strict=True):
        calls.append(
            ("post", f"/api/v1/invitations/{invitation.id}/withdraw", None, _admin_headers())
        )
        calls.append(("post", f"/api/v1/grants/{grant.id}/revoke", revoke, _admin_headers()))
    db.session.commit()

    results = _in_parallel(app, calls)

    assert results[0][0] == 200, results[0]
    assert all(status in (200, 409) for status, _ in results[1:]), results
    db.session.rollback()
    assert (
        db.session.scalar(
            sa.select(sa.func.count(Invitation.id)).where(
                Invitation.status == InvitationStatus.PENDING
            )
        )
        == 0
    )
    assert (
        db.session.scalar(sa.select(sa.func.count(Grant.id)).where(Grant.revoked_at.is_(None))) == 0
    )
    # Each invitation withdrawn once and each grant revoked once, by whoever came first.
    actions = db.session.scalars(
        sa.select(AuditEvent.action).where(
            AuditEvent.action.in_(["invitation.withdrawn", "grant.revoked"])
        )
    ).all()
    assert sorted(actions) == ["grant.revoked"] * 4 + ["invitation.withdrawn"] * 4
    _chain_is_whole(db)


def test_an_edit_racing_a_publication_never_changes_published_terms(app, committed_db, monkeypatch):
    db = committed_db
    apply_content = service._apply_terms_content
    published: set[int] = set()

    def note_publication(sender, response, **extra):
        match = re.fullmatch(r"/api/v1/terms/(\d+)/publish", request.path)
        if match:
            published.add(int(match.group(1)))

    def held_apply(terms, *args, **kwargs):
        # Let the publication of the same terms finish first, unless it is queued behind this
        # edit's row lock: without the lock the edit would then write into published terms.
        _until(lambda: terms.id in published or _row_lock_waiters(db.engine) > 0)
        return apply_content(terms, *args, **kwargs)

    monkeypatch.setattr(service, "_apply_terms_content", held_apply)
    request_finished.connect(note_publication, app)
    drafts = [TermsFactory(draft=True) for _ in range(3)]
    edit = {k: v for k, v in terms_body().items() if k != "label"}
    calls = []
    for terms in drafts:
        calls.append(("put", f"/api/v1/terms/{terms.id}", edit, _admin_headers()))
        calls.append(("post", f"/api/v1/terms/{terms.id}/publish", None, _admin_headers()))
    db.session.commit()

    try:
        results = _in_parallel(app, calls)
    finally:
        request_finished.disconnect(note_publication, app)

    assert all(status in (200, 409) for status, _ in results), results
    assert all(status == 200 for status, _ in results[1::2]), results
    db.session.rollback()
    for terms in drafts:
        events = db.session.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.subject_type == "terms", AuditEvent.subject_id == str(terms.id))
            .order_by(AuditEvent.seq)
        ).all()
        assert events[-1] == "terms.published", events
    _chain_is_whole(db)
