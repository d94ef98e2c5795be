"""GET /api/v1/audit-events: admins read and filter everything, an artist their own record."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from access_program import audit
from access_program.audit import service as audit_service
from access_program.audit.service import Actor
from access_program.db import utcnow
from access_program.extensions import limiter
from tests.factories import UserFactory

SYSTEM = Actor.system("test")
URL = "/api/v1/audit-events"


def _actions(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [event["action"] for event in response.json]


@pytest.fixture
def two_artists(db):
    ann, bob = UserFactory(), UserFactory()
    audit.record(SYSTEM, "grant.created", "grant", 1, artist_id=ann.id)
    audit.record(SYSTEM, "grant.revoked", "grant", 1, artist_id=ann.id, data={"reason": "r"})
    audit.record(SYSTEM, "grant.created", "grant", 2, artist_id=bob.id)
    audit.record(SYSTEM, "cohort.created", "cohort", 1)
    return ann, bob


def test_admin_sees_every_event_newest_first(db, api_client, two_artists):
    admin = api_client(UserFactory(admin=True))

    response = admin.get(URL)

    assert _actions(response) == [
        "token.created", "cohort.created", "grant.created", "grant.revoked", "grant.created",
    ]  # fmt: skip
    seqs = [event["seq"] for event in response.json]
    assert seqs == sorted(seqs, reverse=True)
    assert json.loads(response.headers["X-Pagination"])["total"] == 5
    fields = {"seq", "occurred_at", "actor_type", "actor_label", "action", "subject_type",
              "subject_id", "artist_id", "data", "prev_hash", "hash"}  # fmt: skip
    assert fields <= set(response.json[0])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "grant.created"}, ["grant.created", "grant.created"]),
        ({"action": "grant."}, ["grant.created", "grant.revoked", "grant.created"]),
        ({"action": "nothing.like.this"}, []),
        ({"artist_id": "ann"}, ["grant.revoked", "grant.created"]),
        ({"artist_id": "ann", "action": "grant.revoked"}, ["grant.revoked"]),
    ],
)
def test_admin_filters_by_action_and_artist(db, api_client, two_artists, query, expected):
    ann, _ = two_artists
    admin = api_client(UserFactory(admin=True))
    if "artist_id" in query:
        query = {**query, "artist_id": ann.id}

    assert _actions(admin.get(URL, query_string=query)) == expected


def test_admin_filters_by_time(db, api_client, monkeypatch):
    admin = api_client(UserFactory(admin=True))
    middle = utcnow()
    # The chain's clock, moved a second either side of ``middle``: no sleeping.
    monkeypatch.setattr(audit_service, "utcnow", lambda: middle - dt.timedelta(seconds=1))
    audit.record(SYSTEM, "test.before", "thing", 1)
    monkeypatch.setattr(audit_service, "utcnow", lambda: middle + dt.timedelta(seconds=1))
    audit.record(SYSTEM, "test.after", "thing", 2)
    monkeypatch.undo()

    since = admin.get(URL, query_string={"since": middle.isoformat(), "action": "test."})
    until = admin.get(URL, query_string={"until": middle.isoformat(), "action": "test."})
    naive = admin.get(
        URL, query_string={"since": middle.replace(tzinfo=None).isoformat(), "action": "test."}
    )

    assert _actions(since) == ["test.after"]
    assert _actions(until) == ["test.before"]
    assert _actions(naive) == ["test.after"]  # a time without a zone is UTC


def test_an_artist_reads_only_events_about_themselves(db, api_client, two_artists):
    ann, bob = two_artists
    ann_api = api_client(ann)

    own = ann_api.get(URL)
    asking_for_bob = ann_api.get(URL, query_string={"artist_id": bob.id})

    # Her own token's creation is an event about her too.
    assert _actions(own) == ["token.created", "grant.revoked", "grant.created"]
    assert {event["artist_id"] for event in own.json} == {ann.id}
    assert _actions(asking_for_bob) == _actions(own)


@pytest.mark.parametrize(("who", "status"), [("staff", 403), ("service", 403), ("nobody", 401)])
def test_staff_services_and_strangers_may_not_read_the_log(db, api_client, who, status):
    if who == "staff":
        caller = api_client(UserFactory(staff=True))
    elif who == "service":
        caller = api_client(service="script", scopes=["api"])
    else:
        caller = api_client()
    db.session.commit()

    response = caller.get(URL)

    assert response.status_code == status
    assert set(response.json["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize(
    "query",
    [
        {"since": "yesterday"},
        {"until": "2025-13-45T00:00:00"},
        {"artist_id": "abc"},
        {"artist_id": str(10**30)},
        {"action": "x" * 200},
    ],
)
def test_bad_filters_are_422(db, api_client, query):
    admin = api_client(UserFactory(admin=True))
    db.session.commit()
    response = admin.get(URL, query_string=query)
    assert response.status_code == 422
    assert set(query) <= set(response.json["error"]["details"])


def test_the_log_is_paginated(db, api_client):
    admin = api_client(UserFactory(admin=True))
    for n in range(5):
        audit.record(SYSTEM, "test.append", "thing", n)

    page = admin.get(URL, query_string={"page": 2, "page_size": 2})

    assert page.status_code == 200
    assert len(page.json) == 2
    pagination = json.loads(page.headers["X-Pagination"])
    assert (pagination["total"], pagination["page"]) == (6, 2)


def test_no_password_or_token_ever_reaches_an_event(db, client, api_client, runner):
    limiter.reset()
    admin = api_client(UserFactory(admin=True))
    password = "a very secret password 123"
    created = admin.post(
        "/api/v1/users",
        json={"email": "new@example.org", "name": "New", "role": "admin", "password": password},
    )
    assert created.status_code == 201
    signed_in = client.post(
        "/api/v1/auth/token", json={"email": "new@example.org", "password": password}
    )
    assert signed_in.status_code == 201
    cli = runner.invoke(args=["tokens", "create", "--service", "tool"])
    assert cli.exit_code == 0
    secrets = [password, signed_in.json["token"], cli.output.strip().splitlines()[-1]]

    events = admin.get(URL, query_string={"page_size": 100})

    assert {"user.created", "token.created"} <= set(_actions(events))
    for event in events.json:
        text = json.dumps(event)
        assert not any(secret in text for secret in secrets), event
    limiter.reset()
