"""PostgreSQL only: the append-only triggers, and parallel writers that never fork the chain."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from access_program import audit
from access_program.audit.models import AuditEvent
from access_program.audit.service import Actor, verify_chain
from access_program.db import unit_of_work

pytestmark = pytest.mark.postgres

SYSTEM = Actor.system("test")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET data = '{\"n\": 1000}'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ],
    ids=["update", "delete", "truncate"],
)
def test_the_trigger_refuses_changes_to_events(db, statement):
    audit.record(SYSTEM, "test.keep", "thing", 1)

    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(sa.text(statement))

    assert db.session.scalar(sa.select(sa.func.count(AuditEvent.seq))) == 1
    assert verify_chain().ok


def test_parallel_writers_make_one_gapless_chain(app, committed_db):
    threads_count, appends = 8, 10
    start = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with app.app_context():
                start.wait(timeout=30)
                for i in range(appends):
                    with unit_of_work():
                        audit.record(SYSTEM, "test.parallel", "thread", n, data={"i": i})
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    committed_db.session.remove()
    seqs = committed_db.session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert seqs == list(range(1, threads_count * appends + 1))
    per_thread = committed_db.session.execute(
        sa.select(AuditEvent.subject_id, sa.func.count()).group_by(AuditEvent.subject_id)
    ).all()
    assert sorted(count for _, count in per_thread) == [appends] * threads_count
    result = verify_chain()
    assert (result.ok, result.count) == (True, threads_count * appends)
