"""The audit chain (SPEC §3.10): hashes, gapless sequence, verification, secrets kept out."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
import sqlalchemy as sa

from access_program import audit
from access_program.audit.models import GENESIS_HASH, AuditEvent
from access_program.audit.service import Actor, exported, verify_chain, verify_events
from tests.helpers import audit_head_seq

SYSTEM = Actor.system("test")


def _events(db, after: int = 0) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)
        )
    )


def _expected_hash(prev_hash: str, event: dict) -> str:
    """The SPEC's rule, written out independently of the app's code."""
    payload = {k: v for k, v in event.items() if k != "hash"}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def test_each_hash_is_sha256_of_the_previous_hash_and_canonical_json(db):
    start = audit_head_seq()
    audit.record(SYSTEM, "test.first", "thing", 1, data={"b": 2, "a": "é ünïcode"})
    audit.record(Actor("user", 7, "u@example.org"), "test.second", "thing", "x-2", artist_id=7)
    db.session.expire_all()  # read back what the database holds

    first, second = _events(db, start)

    assert first.prev_hash == (GENESIS_HASH if start == 0 else _events(db, start - 1)[0].hash)
    assert first.hash == _expected_hash(first.prev_hash, exported(first))
    assert second.prev_hash == first.hash
    assert second.hash == _expected_hash(first.hash, exported(second))
    assert (second.seq, second.actor_type, second.actor_id) == (first.seq + 1, "user", 7)
    assert second.subject_id == "x-2"
    assert first.data == {"b": 2, "a": "é ünïcode"}


def test_the_canonical_form_has_every_field_but_the_hash(db):
    event = audit.record(SYSTEM, "test.fields", "thing", 1)
    assert set(event.canonical()) == {
        "seq", "occurred_at", "actor_type", "actor_id", "actor_label", "action",
        "subject_type", "subject_id", "artist_id", "data", "request_id", "ip", "prev_hash",
    }  # fmt: skip
    assert event.canonical()["occurred_at"].endswith("Z")


def test_sequence_numbers_are_gapless(db):
    start = audit_head_seq()
    for n in range(5):
        audit.record(SYSTEM, "test.append", "thing", n)
    assert [e.seq for e in _events(db, start)] == list(range(start + 1, start + 6))


def test_dates_and_other_values_hash_as_they_read_back(db):
    """Data is stored as JSON: the hash must cover what reads back, not the Python objects."""
    when = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    audit.record(
        SYSTEM, "test.types", "thing", 1,
        data={"when": when, "day": when.date(), "pair": (1, 2), 3: "int key"},
    )  # fmt: skip
    db.session.expire_all()
    (event,) = _events(db, audit_head_seq() - 1)
    assert event.data == {
        "when": "2025-01-02T03:04:05+00:00", "day": "2025-01-02", "pair": [1, 2], "3": "int key",
    }  # fmt: skip
    assert verify_chain().ok


@pytest.mark.parametrize(
    "data",
    [
        {"password": "hunter2-hunter2"},
        {"new_password": "hunter2-hunter2"},
        {"token": "hunter2-hunter2"},
        {"nested": {"client_secret": "hunter2-hunter2", "kept": 1}},
        {"items": [{"Password": "hunter2-hunter2"}]},
    ],
)
def test_secrets_are_redacted_at_any_depth(db, data):
    event = audit.record(SYSTEM, "test.secret", "thing", 1, data=data)
    assert "hunter2" not in json.dumps(event.data)
    assert "[redacted]" in json.dumps(event.data)


def test_verify_reports_ok_with_count_and_head(db):
    for n in range(3):
        audit.record(SYSTEM, "test.append", "thing", n)
    head = _events(db, audit_head_seq() - 1)[0]

    result = verify_chain()

    assert result.ok
    assert result.count == head.seq
    assert result.head == head.hash


def _chain(n: int) -> list[dict]:
    """A valid exported chain of n events, built with the SPEC's rule."""
    events, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        event = {
            "seq": seq, "occurred_at": "2025-01-01T00:00:00.000000Z", "actor_type": "system",
            "actor_id": None, "actor_label": "test", "action": "test.x", "subject_type": "t",
            "subject_id": str(seq), "artist_id": None, "data": {"n": seq}, "request_id": None,
            "ip": None, "prev_hash": prev,
        }  # fmt: skip
        event["hash"] = prev = _expected_hash(prev, event)
        events.append(event)
    return events


def test_verify_events_accepts_a_valid_chain():
    events = _chain(4)
    result = verify_events(events)
    assert (result.ok, result.count, result.head) == (True, 4, events[-1]["hash"])


def test_verify_events_finds_changed_data():
    events = _chain(4)
    events[2]["data"] = {"n": 99}
    result = verify_events(events)
    assert (result.ok, result.broken_seq, result.count) == (False, 3, 2)


def test_verify_events_finds_a_recomputed_hash_that_breaks_the_link():
    events = _chain(4)
    events[1]["data"] = {"n": 99}
    events[1]["hash"] = _expected_hash(events[1]["prev_hash"], events[1])
    result = verify_events(events)
    assert (result.ok, result.broken_seq) == (False, 3)


def test_verify_events_finds_a_missing_event():
    events = _chain(4)
    del events[1]
    result = verify_events(events)
    assert (result.ok, result.broken_seq) == (False, 2)


def test_verify_events_of_an_empty_chain():
    result = verify_events([])
    assert (result.ok, result.count, result.head) == (True, 0, GENESIS_HASH)


def test_request_id_and_ip_are_recorded_for_a_request(db, api_client):
    from tests.factories import UserFactory

    admin = api_client(UserFactory(admin=True))
    start = audit_head_seq()

    response = admin.post(
        "/api/v1/users",
        json={"email": "s@example.org", "name": "S", "role": "staff", "password": "x" * 12},
        headers={"X-Request-Id": "req-123"},
    )

    assert response.status_code == 201
    assert response.headers["X-Request-Id"] == "req-123"
    (event,) = _events(db, start)
    assert (event.action, event.request_id, event.ip) == ("user.created", "req-123", "127.0.0.1")


def test_a_batch_is_the_same_chain_as_one_record_per_event(db):
    """record_many (a payout wave's events) appends in order, in one INSERT, and the chain it
    leaves verifies like any other; single records before and after continue it."""
    start = audit_head_seq()
    audit.record(SYSTEM, "test.before", "thing", 0)
    batch = audit.record_many(
        SYSTEM,
        [
            audit.Event("test.batch", "thing", n, artist_id=n, data={"n": n, "password": "x"})
            for n in (1, 2, 3)
        ],
    )
    audit.record(SYSTEM, "test.after", "thing", 4)
    db.session.expire_all()

    events = _events(db, start)
    assert [e.action for e in events] == ["test.before", *["test.batch"] * 3, "test.after"]
    assert [e.seq for e in events] == list(range(start + 1, start + 6))
    assert [e.seq for e in batch] == [start + 2, start + 3, start + 4]
    for previous, event in zip(events, events[1:], strict=False):
        assert event.prev_hash == previous.hash
        assert event.hash == _expected_hash(previous.hash, exported(event))
    assert events[2].data == {"n": 2, "password": "[redacted]"}
    assert verify_chain().ok


def test_an_empty_batch_writes_nothing(db):
    start = audit_head_seq()
    assert audit.record_many(SYSTEM, []) == []
    assert audit_head_seq() == start
