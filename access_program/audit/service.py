"""Recording, verifying and exporting the audit chain.

hash = SHA-256(prev_hash + canonical JSON of the event), canonical JSON = sorted keys, no spaces,
UTF-8. Appends are serialized: on PostgreSQL by a transaction-scoped advisory lock held until
commit; on SQLite by its single writer lock. The unique ``prev_hash`` makes a fork impossible to
commit on any database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request

from access_program.audit.models import GENESIS_HASH, AuditEvent
from access_program.db import db, utcnow

#: Arbitrary constant naming the advisory lock that serializes appends on PostgreSQL.
AUDIT_LOCK_KEY = 7_310_021

SECRET_KEYS = {"password", "password_hash", "token", "token_hash", "secret", "api_key"}


@dataclass(frozen=True)
class Actor:
    """Who did something: a user, a service token, or the system itself."""

    type: str
    id: int | None
    label: str

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls("system", None, label)


def canonical_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_hash(prev_hash: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()


def _is_secret(key: Any) -> bool:
    key = str(key).lower()
    return key in SECRET_KEYS or "password" in key or "secret" in key


def _scrub(value: Any) -> Any:
    """Redact secret-looking keys at any depth: the chain is public to those who read it."""
    if isinstance(value, dict):
        return {k: ("[redacted]" if _is_secret(k) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)  # Decimal, UUID, enums that are not str …


def _plain_data(data: dict[str, Any]) -> dict[str, Any]:
    """The data as it will read back from the JSON column, so the hash made now is the hash
    recomputed later (dates become ISO strings, keys become strings, tuples lists)."""
    return json.loads(json.dumps(_scrub(data), default=_json_value, allow_nan=False))


def request_id() -> str | None:
    if not has_request_context():
        return None
    if "access_program.request_id" not in request.environ:
        incoming = request.headers.get("X-Request-Id", "")
        request.environ["access_program.request_id"] = incoming[:64] or uuid.uuid4().hex
    return request.environ["access_program.request_id"]


def _client_ip() -> str | None:
    return request.remote_addr if has_request_context() else None


def _lock_chain() -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))


def record(
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: int | str | None,
    *,
    artist_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain in the caller's transaction (never commits)."""
    (event,) = record_many(actor, [Event(action, subject_type, subject_id, artist_id, data)])
    return event


@dataclass(frozen=True)
class Event:
    """One event for ``record_many``."""

    action: str
    subject_type: str
    subject_id: int | str | None
    artist_id: int | None = None
    data: dict[str, Any] | None = None


def record_many(actor: Actor, events: Sequence[Event]) -> list[AuditEvent]:
    """Append events in this order in the caller's transaction (never commits): the chain is
    locked and its head read once, and the rows go in one INSERT. The same events as as many
    ``record`` calls, for a batch of state changes made in one transaction (a payout wave)."""
    if not events:
        return []
    _lock_chain()
    head = db.session.execute(
        sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (head.seq + 1, head.hash) if head else (1, GENESIS_HASH)
    now, rid, ip = utcnow(), request_id(), _client_ip()
    rows = []
    for item in events:
        event = AuditEvent(
            seq=seq,
            occurred_at=now,
            actor_type=actor.type,
            actor_id=actor.id,
            actor_label=actor.label,
            action=item.action,
            subject_type=item.subject_type,
            subject_id=None if item.subject_id is None else str(item.subject_id),
            artist_id=item.artist_id,
            data=_plain_data(item.data or {}),
            request_id=rid,
            ip=ip,
            prev_hash=prev_hash,
        )
        event.hash = prev_hash = compute_hash(prev_hash, event.canonical())
        seq += 1
        rows.append(event)
    db.session.add_all(rows)
    db.session.flush()
    return rows


@dataclass
class VerifyResult:
    ok: bool
    count: int
    head: str
    broken_seq: int | None = None
    problem: str | None = None


def verify_events(events: Iterable[dict[str, Any]]) -> VerifyResult:
    """Recompute the chain over canonical dicts (each with its ``hash``)."""
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for event in events:
        payload = {k: v for k, v in event.items() if k != "hash"}
        if payload.get("seq") != expected_seq:
            # A missing (or out-of-order) event: the chain breaks where it was expected.
            return VerifyResult(False, count, prev, expected_seq, "sequence gap")
        if payload.get("prev_hash") != prev:
            return VerifyResult(False, count, prev, expected_seq, "previous hash mismatch")
        if compute_hash(prev, payload) != event.get("hash"):
            return VerifyResult(False, count, prev, expected_seq, "hash mismatch")
        prev = event["hash"]
        expected_seq += 1
        count += 1
    return VerifyResult(True, count, prev)


def iter_events(batch: int = 1000) -> Iterator[AuditEvent]:
    """Every event in order, as stored (objects already in the session are refreshed)."""
    last = 0
    while True:
        rows = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.seq > last)
            .order_by(AuditEvent.seq)
            .limit(batch)
            .execution_options(populate_existing=True)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def exported(event: AuditEvent) -> dict[str, Any]:
    return {**event.canonical(), "hash": event.hash}


def verify_chain() -> VerifyResult:
    """Recompute every hash from the database."""
    return verify_events(exported(e) for e in iter_events())


def head() -> tuple[int, str]:
    row = db.session.execute(
        sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    return (row.seq, row.hash) if row else (0, GENESIS_HASH)


def query_events(
    *,
    action: str | None = None,
    artist_id: int | None = None,
    since: Any = None,
    until: Any = None,
) -> sa.Select:
    """Events newest first, filtered; ``action`` may be a prefix such as ``grant.``."""
    query = sa.select(AuditEvent).order_by(AuditEvent.seq.desc())
    if action:
        if action.endswith("."):
            query = query.where(AuditEvent.action.startswith(action))
        else:
            query = query.where(AuditEvent.action == action)
    if artist_id is not None:
        query = query.where(AuditEvent.artist_id == artist_id)
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    return query
