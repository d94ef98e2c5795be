"""Small assertions shared by the tests."""

from __future__ import annotations

import re
import threading

import sqlalchemy as sa

from access_program.audit.models import AuditEvent
from access_program.db import db as _db
from access_program.db import unit_of_work


def audit_count(action: str | None = None) -> int:
    query = sa.select(sa.func.count(AuditEvent.seq))
    if action:
        query = query.where(AuditEvent.action == action)
    return _db.session.scalar(query)


def audit_actions_since(seq: int) -> list[str]:
    return list(
        _db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)
        )
    )


def audit_head_seq() -> int:
    return _db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.seq), 0)))


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def at_once(app, calls: list, *, in_unit_of_work: bool = False) -> list:
    """Run each call in its own thread and app context (optionally inside ``unit_of_work()``,
    for service calls), released together by a barrier. A call's exception is returned in its
    place, so the test fails with the cause; a call still running after 60 s fails the test."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i: int, call) -> None:
        with app.app_context():
            barrier.wait(timeout=10)
            try:
                if in_unit_of_work:
                    with unit_of_work():
                        results[i] = call()
                else:
                    results[i] = call()
            except Exception as exc:  # reported, so the test fails with the cause
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a racing call hung"
    return results
